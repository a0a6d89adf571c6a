/**
 * The first question of each UDP port-53 flow, for event 00103. Only a query that gets no
 * answer needs its name, and nearly every query is answered within milliseconds, so the query
 * is kept as bytes and decoded only if its question is asked for: in a fixed pool of slots,
 * one per flow waiting for its answer, indexed by flow id. The common case (query, answer)
 * decodes nothing and allocates nothing, where a decoded question per flow (objects and a
 * name string living until the flow's idle timeout) was most of what the packet thread kept
 * alive with events on. A query too large for a slot, or one arriving while every slot is in
 * use, is decoded at once, as it always was.
 *
 * Which question counts: the flow's first query that decodes with a question; a failure answer
 * (NXDOMAIN...) replaces it with the answer's own question and rcode.
 */
import type { FlowAppInfo } from '../../record/records.js';
import { parseDnsMessage } from '../../app/dns/dns-message.js';

/** The largest query kept as bytes: a 253-character name with EDNS and a cookie fits. */
export const DNS_QUERY_SLOT_BYTES = 512;
const NO_SLOT = -1;

/** The flow's app info for the first question of the DNS message in data[start..end), if any. */
function questionInfo(data: Uint8Array, start: number, end: number): FlowAppInfo | undefined {
  const q = parseDnsMessage(data, start, end)?.questions[0];
  return q === undefined ? undefined : { dns: { query: q.name, qtype: q.type } };
}

export class DnsQueries {
  /** Per flow id: the slot holding its undecoded query, or NO_SLOT. */
  private readonly slotOf: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly lengths: Uint16Array;
  private readonly freeSlots: Int32Array;
  private freeCount: number;
  /** Per flow id: its question, once decoded (or given by a failure answer). */
  private readonly decided = new Map<number, FlowAppInfo>();

  constructor(maxFlows: number, slots: number) {
    this.slotOf = new Int32Array(maxFlows).fill(NO_SLOT);
    this.bytes = new Uint8Array(slots * DNS_QUERY_SLOT_BYTES);
    this.lengths = new Uint16Array(slots);
    this.freeSlots = Int32Array.from({ length: slots }, (_v, i) => slots - 1 - i);
    this.freeCount = slots;
  }

  /** A query of flow `id` in data[start..end) (header checked by the caller). */
  query(id: number, data: Uint8Array, start: number, end: number): void {
    if (this.question(id) !== undefined) return;
    const len = end - start;
    if (len <= DNS_QUERY_SLOT_BYTES && this.freeCount > 0) {
      const slot = this.freeSlots[--this.freeCount]!;
      const at = slot * DNS_QUERY_SLOT_BYTES;
      for (let i = 0; i < len; i++) this.bytes[at + i] = data[start + i]!;
      this.lengths[slot] = len;
      this.slotOf[id] = slot;
      return;
    }
    const info = questionInfo(data, start, end);
    if (info !== undefined) this.decided.set(id, info);
  }

  /** A failure answer named the question: it replaces the query's. */
  failed(id: number, info: FlowAppInfo): void {
    this.release(id);
    this.decided.set(id, info);
  }

  /** The flow got an answer: its query will never be asked for (see question()). */
  answered(id: number): void {
    this.release(id);
  }

  /** The flow's question, decoding its kept query the first time. Asked for only while the flow
   *  has had no packet from the server (an answer of any kind makes it irrelevant). */
  question(id: number): FlowAppInfo | undefined {
    const slot = this.slotOf[id]!;
    if (slot !== NO_SLOT) {
      const at = slot * DNS_QUERY_SLOT_BYTES;
      const info = questionInfo(this.bytes, at, at + this.lengths[slot]!);
      this.release(id);
      if (info !== undefined) this.decided.set(id, info);
    }
    return this.decided.size === 0 ? undefined : this.decided.get(id);
  }

  /** The flow ended: forget it. */
  forget(id: number): void {
    this.release(id);
    if (this.decided.size > 0) this.decided.delete(id);
  }

  private release(id: number): void {
    const slot = this.slotOf[id]!;
    if (slot === NO_SLOT) return;
    this.slotOf[id] = NO_SLOT;
    this.freeSlots[this.freeCount++] = slot;
  }
}
