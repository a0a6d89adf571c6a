/**
 * The network event detectors of SPEC 6 (00001–00010) and our extensions (00100–00103), run
 * after the flow engine on every packet and on packet-time timers, so a capture file and the
 * live run that made it raise the same events. They read the engine's columns (never write
 * them) and keep their own small per-flow state. An event leaves here as numbers (code, side,
 * value, aux, nodeIP) through EventOutput; the record stage turns it into text.
 *
 * Timers: the half-open check (first SYN + DLLT_PARTIAL_TIMEOUT_S) is a FIFO, because those
 * deadlines come in packet order; stalls and zero windows share one heap with one live entry
 * per flow, re-checked lazily, so data packets never touch it. The earliest deadline of both is
 * kept in a field, so the per-packet check is one comparison (a getter returning a double that
 * V8 does not inline boxes it: a heap number per packet).
 *
 * Application parsing (TLS, HTTP, DNS) is not done here: the AppLayer runs beside the detector
 * (the flow records need it even with events off, DLLT_EVENTS=N) and raises its events through
 * raise(), so they obey the same switches and limits.
 */
import type { PacketView } from '../../decode/packet-view.js';
import type { FlowEngine } from '../../flow/flow-engine.js';
import { KEY_WORDS } from '../../flow/flow-table.js';
import { FlowFlag, NO_OFFSET, ORIG, RESP, TcpEndpointState as St } from '../../flow/flow-state.js';
import { LocalSide, type LocalNet } from '../local-side.js';
import { EventCode } from './catalog.js';
import { endpointKey, ResetStormCounter } from './reset-storm.js';
import { StreamStats } from './stream-stats.js';
import { FlowFifo, TimerHeap } from './timer-heap.js';
import { TCP_ACK as ACK, TCP_RST as RST, TCP_SYN as SYN } from '../../wire/tcp-flags.js';

export interface EventOutput {
  /** Flow `id` (still in the table) raised `code`; `side` is the endpoint that did it (ORIG,
   *  RESP, or -1), `value`/`aux` are code-specific numbers (see formatEventValue). */
  event(id: number, tsUs: number, code: EventCode, side: number, value: number, aux: number, nodeIp: number): void;
}

export interface DetectorOptions {
  maxFlows: number;
  partialTimeoutUs: number;
  staleMinUs: number;
  staleGapFactor: number;
  staleMinDataPkts: number;
  staleStrongUs: number;
  resetStormCount: number;
  resetStormWindowUs: number;
  zeroWindowStallUs: number;
  retransRatePct: number;
  retransMinPkts: number;
  eventsPerFlow: number;
  eventsPerSecond: number;
  /** Codes not to raise. */
  disabled: readonly number[];
  localNets: readonly LocalNet[];
}

const PROTO_TCP = 6;
const SECOND_US = 1_000_000;
const MAX_PARTIAL_QUEUE = 262_144;

/** Per-flow detector flags. */
const enum F {
  SYN_ATTEMPT_DONE = 1,
  RESET_SEEN = 2,
  PARTIAL_DONE = 4,
  STALE1 = 8,
  STALE2 = 16,
  HIGH_RETRANS = 32,
  ICMP_UNREACH = 64,
  ZERO_WINDOW_ORIG = 128,
  ZERO_WINDOW_RESP = 256,
  NO_STREAM_SLOT = 512,
  IGNORED = 1024,
  ENDED = 2048,
}

/** Event codes as dense indexes for the per-code counters. */
const CODE_SLOTS = 16;
function codeIndex(code: number): number {
  return code < 100 ? code : code - 100 + 12;
}

export interface SuppressedCounts {
  /** Events dropped because their flow hit DLLT_EVENTS_PER_FLOW, by code. */
  perFlow: Map<number, number>;
  /** Events dropped by the per-code rate limit (DLLT_EVENTS_PER_S), by code. */
  perSecond: Map<number, number>;
}

export class EventDetector {
  private readonly flags: Uint16Array;
  private readonly synCount: Uint8Array;
  private readonly eventCount: Uint8Array;
  private readonly streamSlot: Int32Array;
  private readonly streams: StreamStats;
  private readonly partialQueue: FlowFifo;
  private readonly timers: TimerHeap;
  private readonly resets: ResetStormCounter;
  private readonly local: LocalSide;
  private readonly disabled = new Uint8Array(CODE_SLOTS);
  private readonly windowStart = new Float64Array(CODE_SLOTS);
  private readonly windowCount = new Uint32Array(CODE_SLOTS);
  private readonly suppressedPerFlow = new Float64Array(CODE_SLOTS);
  private readonly suppressedPerSecond = new Float64Array(CODE_SLOTS);
  /** Flows the timers could not watch (pools at their bounds). */
  unwatched = 0;
  /** While a timer fires: its deadline, the event's time (packet time has moved past it). */
  private timerTsUs = -1;
  /** No timer is due before this (a lower bound: entries may be stale). */
  private nextDue = Infinity;

  constructor(
    private readonly engine: FlowEngine,
    private readonly opts: DetectorOptions,
    private readonly out: EventOutput,
  ) {
    const n = opts.maxFlows;
    this.flags = new Uint16Array(n);
    this.synCount = new Uint8Array(n);
    this.eventCount = new Uint8Array(n);
    this.streamSlot = new Int32Array(n).fill(-1);
    this.streams = new StreamStats(n);
    // Bounded below the flow cap: only a flood holds more embryonic flows than this within the
    // half-open window, and a flow whose entry is dropped still gets its 00006 when it ends.
    this.partialQueue = new FlowFifo(Math.min(n, MAX_PARTIAL_QUEUE));
    this.timers = new TimerHeap(1024, n * 2);
    this.resets = new ResetStormCounter(opts.resetStormCount, opts.resetStormWindowUs);
    this.local = new LocalSide(opts.localNets);
    for (const code of opts.disabled) this.disabled[codeIndex(code)] = 1;
  }

  /** AVOID_LIVENESS_PROBE matched flow `id`: it raises no more events. */
  ignore(id: number): void {
    this.flags[id]! |= F.IGNORED;
  }

  /** Before engine.processPacket for a packet at `tsUs`: timers due by then fire first, so the
   *  packet that ends a silence cannot hide it. */
  beforePacket(tsUs: number): void {
    if (tsUs >= this.nextDue) this.runTimers(tsUs);
  }

  /** After engine.processPacket(v). */
  onPacket(v: PacketView): void {
    const e = this.engine;
    if (e.lastIcmpErrorFlow >= 0) this.icmpError(e.lastIcmpErrorFlow, v);
    const id = e.lastFlow;
    if (id >= 0) {
      if (e.lastFlowIsNew) this.flowCreated(id, v);
      if (v.ipProto === PROTO_TCP) this.tcpSegment(id, e.lastSide, v);
    }
  }

  /** Timers on the clock alone (live mode: the interface is quiet). */
  onClock(): void {
    this.runTimers(this.engine.clock);
  }

  /** The engine is about to end flow `id`: settle what its end decides. */
  flowEnding(id: number): void {
    const s = this.engine.state;
    this.settleSynAttempt(id);
    if (!(this.flags[id]! & F.PARTIAL_DONE) && s.synTs[id] !== NO_OFFSET && this.engine.clock >= this.partialDeadline(id)) {
      this.timerTsUs = this.partialDeadline(id);
      this.checkPartial(id);
      this.timerTsUs = -1;
    }
    const slot = this.streamSlot[id]!;
    if (slot >= 0) {
      this.checkRetransRate(id, slot, ORIG);
      this.checkRetransRate(id, slot, RESP);
      this.streams.release(slot);
      this.streamSlot[id] = -1;
    }
    this.flags[id]! |= F.ENDED;
    // The half-open queue's head just went stale: drop it at the next packet, as a stale head
    // is dropped as soon as it is seen.
    if (this.partialQueue.size > 0 && this.partialQueue.headFlow === id) this.nextDue = -Infinity;
  }

  /** Suppressed counts since the last call (for a notification), or undefined if none. */
  takeSuppressed(): SuppressedCounts | undefined {
    let any = false;
    const perFlow = new Map<number, number>();
    const perSecond = new Map<number, number>();
    for (let i = 0; i < CODE_SLOTS; i++) {
      const code = i < 12 ? i : i - 12 + 100;
      if (this.suppressedPerFlow[i]! > 0) perFlow.set(code, this.suppressedPerFlow[i]!);
      if (this.suppressedPerSecond[i]! > 0) perSecond.set(code, this.suppressedPerSecond[i]!);
      any ||= this.suppressedPerFlow[i]! > 0 || this.suppressedPerSecond[i]! > 0;
    }
    this.suppressedPerFlow.fill(0);
    this.suppressedPerSecond.fill(0);
    return any ? { perFlow, perSecond } : undefined;
  }

  private flowCreated(id: number, v: PacketView): void {
    const pureSyn = v.ipProto === PROTO_TCP && (v.tcpFlags & (SYN | ACK | RST)) === SYN;
    this.flags[id] = 0;
    this.synCount[id] = pureSyn ? 1 : 0;
    this.eventCount[id] = 0;
    this.streamSlot[id] = -1;
    if (pureSyn) {
      if (this.partialQueue.push(id, this.engine.state.serial[id]!)) this.due(this.partialDeadline(id));
      else this.unwatched++;
    }
  }

  private tcpSegment(id: number, side: number, v: PacketView): void {
    const e = this.engine;
    const tcpFlags = v.tcpFlags;
    const prevOrig = e.lastPrevOrigState;
    const prevResp = e.lastPrevRespState;

    if ((tcpFlags & (SYN | ACK | RST)) === SYN && side === ORIG && !e.lastFlowIsNew && prevOrig === St.SYN_SENT) {
      if (v.seq === e.lastPrevStartSeq) {
        if (this.synCount[id]! < 255) this.synCount[id]!++;
      } else {
        // A new ISN is a new attempt on the same tuple: settle the old one first.
        this.settleSynAttempt(id);
        this.flags[id]! &= ~F.SYN_ATTEMPT_DONE;
        this.synCount[id] = 1;
      }
    } else if ((tcpFlags & (SYN | ACK)) === (SYN | ACK) && side === RESP) {
      this.settleSynAttempt(id);
    }

    if (tcpFlags & RST) {
      this.reset(id, side, prevOrig, prevResp);
      return;
    }

    if (this.isEstablished(id, prevOrig, prevResp) && (v.payloadLen > 0 || v.window === 0 || this.streamSlot[id]! >= 0)) this.streamSegment(id, side, v);
  }

  private reset(id: number, side: number, prevOrig: number, prevResp: number): void {
    if (this.flags[id]! & F.RESET_SEEN || prevOrig === St.RESET || prevResp === St.RESET) return;
    this.flags[id]! |= F.RESET_SEEN;
    if (side === RESP && prevOrig === St.SYN_SENT && prevResp === St.INACTIVE) {
      this.settleSynAttempt(id);
      this.raise(id, EventCode.TCP_SYN_RESET, RESP, this.synCount[id]!, 0);
    } else if (this.isEstablished(id, prevOrig, prevResp) && !(prevOrig === St.CLOSED && prevResp === St.CLOSED)) {
      this.raise(id, EventCode.TCP_RESET, side, side, 0);
    }
    this.countReset(id);
  }

  /** The handshake completed, or a flow picked up mid-stream has seen both sides. */
  private isEstablished(id: number, prevOrig: number, prevResp: number): boolean {
    const flowFlags = this.engine.state.flowFlags[id]!;
    if (flowFlags & FlowFlag.HANDSHAKE_DONE) return true;
    return (flowFlags & FlowFlag.MIDSTREAM) !== 0 && prevOrig !== St.INACTIVE && prevResp !== St.INACTIVE;
  }

  /** 00010: reset connections per server endpoint (the responder's IP:port). */
  private countReset(id: number): void {
    const t = this.engine.table;
    const k = id * KEY_WORDS;
    const respIsA = this.engine.state.origEndpoint[id] === 1;
    const ports = t.keys[k + 8]!;
    const respPort = respIsA ? ports >>> 16 : ports & 0xffff;
    const version = t.keys[k + 9]! >>> 8;
    const key = endpointKey(version, t.keys, k + (respIsA ? 0 : 4), respPort);
    const n = this.resets.count(key, this.engine.clock);
    if (n > 0) this.raise(id, EventCode.TCP_RESET_ABNORMAL, -1, n, 0, true);
  }

  /** 00001 is raised once per attempt, when its SYN count is final. */
  private settleSynAttempt(id: number): void {
    if (this.flags[id]! & F.SYN_ATTEMPT_DONE) return;
    this.flags[id]! |= F.SYN_ATTEMPT_DONE;
    const n = this.synCount[id]!;
    if (n >= 2) this.raise(id, EventCode.TCP_SYN_RETRANS, ORIG, n, 0);
  }

  private partialDeadline(id: number): number {
    const s = this.engine.state;
    return s.firstTs[id]! + s.synTs[id]! + this.opts.partialTimeoutUs;
  }

  private checkPartial(id: number): void {
    if (this.flags[id]! & F.PARTIAL_DONE) return;
    this.flags[id]! |= F.PARTIAL_DONE;
    const s = this.engine.state;
    if (s.flowFlags[id]! & FlowFlag.HANDSHAKE_DONE || this.flags[id]! & F.RESET_SEEN) return;
    const origState = s.epState[id * 2]!;
    if (origState !== St.SYN_SENT && origState !== St.SYN_ACK_SENT && origState !== St.ESTABLISHED) return;
    this.settleSynAttempt(id);
    const answered = s.synAckTs[id] !== NO_OFFSET;
    this.raise(id, EventCode.TCP_PARTIAL_CONNECTION, answered ? RESP : ORIG, answered ? 1 : 0, 0);
  }

  private streamSegment(id: number, side: number, v: PacketView): void {
    let slot = this.streamSlot[id]!;
    if (slot < 0) {
      if (this.flags[id]! & F.NO_STREAM_SLOT) return;
      slot = this.streams.allocate(id);
      if (slot < 0) {
        this.flags[id]! |= F.NO_STREAM_SLOT;
        this.unwatched++;
        return;
      }
      this.streamSlot[id] = slot;
    }
    const st = this.streams;
    const s = this.engine.state;
    const ix = slot * 2 + side;
    const now = v.tsUs;
    if (v.window === 0) {
      if (st.zeroWindowSince[ix] === 0) {
        st.zeroWindowSince[ix] = now;
        this.schedule(id, slot, now + this.opts.zeroWindowStallUs);
      }
    } else if (st.zeroWindowSince[ix] !== 0) {
      st.zeroWindowSince[ix] = 0;
      this.flags[id]! &= side === ORIG ? ~F.ZERO_WINDOW_ORIG : ~F.ZERO_WINDOW_RESP;
    }
    if (v.payloadLen <= 0) return;
    st.payloadPkts[ix]!++;
    const retrans = s.retransmits[id * 2 + side]!;
    if (retrans !== st.retransSeen[ix]) {
      st.retransSeen[ix] = retrans;
      if (this.flags[id]! & F.STALE1 && !(this.flags[id]! & F.STALE2)) {
        this.flags[id]! |= F.STALE2;
        this.raise(id, EventCode.TCP_ESTABLISHED_STALE2, side, 4 + side, 0);
      }
      this.checkRetransRate(id, slot, side);
      return;
    }
    const n = st.newDataPkts[ix]!;
    if (n === 0) {
      st.firstData[ix] = now;
    } else {
      const gap = now - st.lastData[ix]!;
      st.gapUs[ix] = n === 1 ? gap : st.gapUs[ix]! * 0.875 + gap * 0.125;
    }
    st.lastData[ix] = now;
    st.newDataPkts[ix] = n + 1;
    if (this.flags[id]! & F.STALE1) {
      // Data flows again: a later silence is a new stall.
      this.flags[id]! &= ~(F.STALE1 | F.STALE2);
    }
    if (this.isStreaming(ix)) this.schedule(id, slot, now + this.earlyThreshold(ix));
  }

  /** A direction "carrying data" (SPEC 6): enough new-data segments over at least the early
   *  floor, so one request/response on an idle keep-alive connection never counts. */
  private isStreaming(ix: number): boolean {
    const st = this.streams;
    return st.newDataPkts[ix]! >= this.opts.staleMinDataPkts && st.lastData[ix]! - st.firstData[ix]! >= this.opts.staleMinUs;
  }

  /** Whole µs: deadlines are `lastData + threshold` and must compare exactly with the silence
   *  measured at them, or a deadline that rounds down would be re-armed at itself forever. */
  private earlyThreshold(ix: number): number {
    const byGap = Math.ceil(this.opts.staleGapFactor * this.streams.gapUs[ix]!);
    return byGap > this.opts.staleMinUs ? byGap : this.opts.staleMinUs;
  }

  private strongThreshold(ix: number): number {
    const triple = 3 * this.earlyThreshold(ix);
    return triple > this.opts.staleStrongUs ? triple : this.opts.staleStrongUs;
  }

  /** Keeps the flow's one heap entry at the earliest deadline it needs. */
  private schedule(id: number, slot: number, deadline: number): void {
    const due = this.streams.due[slot]!;
    if (due !== 0 && due <= deadline) return;
    if (!this.timers.push(deadline, id, this.engine.state.serial[id]!)) {
      this.unwatched++;
      return;
    }
    this.due(deadline);
    this.streams.due[slot] = deadline;
  }

  /** A timer was added for `deadline`. */
  private due(deadline: number): void {
    if (deadline < this.nextDue) this.nextDue = deadline;
  }

  private runTimers(now: number): void {
    const s = this.engine.state;
    const q = this.partialQueue;
    while (q.size > 0) {
      const id = q.headFlow;
      if (s.serial[id] !== q.headSerial || this.flags[id]! & F.ENDED || s.synTs[id] === NO_OFFSET) {
        q.shift();
        continue;
      }
      const deadline = this.partialDeadline(id);
      if (deadline > now) break;
      q.shift();
      this.timerTsUs = deadline;
      this.checkPartial(id);
    }
    const h = this.timers;
    while (h.nextDeadline <= now) {
      const deadline = h.nextDeadline;
      const id = h.topFlow;
      const serial = h.topSerial;
      h.pop();
      const slot = this.streamSlot[id]!;
      if (s.serial[id] !== serial || slot < 0 || this.streams.due[slot] !== deadline) continue;
      this.streams.due[slot] = 0;
      this.timerTsUs = deadline;
      this.checkStalls(id, slot, deadline);
    }
    this.timerTsUs = -1;
    // The queue's head is live here (stale heads were dropped above); flowEnding says when it
    // no longer is.
    const queued = q.size > 0 ? this.partialDeadline(q.headFlow) : Infinity;
    this.nextDue = queued < h.nextDeadline ? queued : h.nextDeadline;
  }

  private checkStalls(id: number, slot: number, now: number): void {
    const st = this.streams;
    const s = this.engine.state;
    let next = Infinity;
    for (let side = 0; side < 2; side++) {
      const ix = slot * 2 + side;
      const since = st.zeroWindowSince[ix]!;
      if (since === 0) continue;
      const bit = side === ORIG ? F.ZERO_WINDOW_ORIG : F.ZERO_WINDOW_RESP;
      if (now - since >= this.opts.zeroWindowStallUs) {
        if (!(this.flags[id]! & bit)) {
          this.flags[id]! |= bit;
          this.raise(id, EventCode.TCP_ZERO_WINDOW_STALL, side, side, now - since);
        }
      } else if (since + this.opts.zeroWindowStallUs < next) {
        next = since + this.opts.zeroWindowStallUs;
      }
    }
    const closing = s.finCount[id * 2]! + s.finCount[id * 2 + 1]! > 0 || this.flags[id]! & F.RESET_SEEN;
    if (!closing) {
      let silentMask = 0;
      let strongMask = 0;
      for (let side = 0; side < 2; side++) {
        const ix = slot * 2 + side;
        if (!this.isStreaming(ix)) continue;
        const silence = now - st.lastData[ix]!;
        const early = this.earlyThreshold(ix);
        const strong = this.strongThreshold(ix);
        if (silence >= early) silentMask |= 1 << side;
        if (silence >= strong) strongMask |= 1 << side;
        const pending = silence < early ? st.lastData[ix]! + early : silence < strong ? st.lastData[ix]! + strong : Infinity;
        if (pending < next) next = pending;
      }
      if (silentMask !== 0 && !(this.flags[id]! & F.STALE1)) {
        this.flags[id]! |= F.STALE1;
        this.raise(id, EventCode.TCP_ESTABLISHED_STALE, silentMask === 3 ? -1 : silentMask - 1, silentMask, 0);
      }
      if (strongMask !== 0 && this.flags[id]! & F.STALE1 && !(this.flags[id]! & F.STALE2)) {
        this.flags[id]! |= F.STALE2;
        this.raise(id, EventCode.TCP_ESTABLISHED_STALE2, strongMask === 3 ? -1 : strongMask - 1, strongMask, 0);
      }
    }
    if (next !== Infinity) this.schedule(id, slot, next);
  }

  private checkRetransRate(id: number, slot: number, side: number): void {
    if (this.flags[id]! & F.HIGH_RETRANS) return;
    const pkts = this.streams.payloadPkts[slot * 2 + side]!;
    if (pkts < this.opts.retransMinPkts) return;
    const retrans = this.engine.state.retransmits[id * 2 + side]!;
    const pct = (retrans * 100) / pkts;
    if (pct < this.opts.retransRatePct) return;
    this.flags[id]! |= F.HIGH_RETRANS;
    this.raise(id, EventCode.TCP_HIGH_RETRANS, side, Math.round(pct), retrans);
  }

  private icmpError(id: number, v: PacketView): void {
    const unreachable = (v.ipVersion === 4 && v.icmpType === 3) || (v.ipVersion === 6 && v.icmpType === 1);
    if (!unreachable || this.flags[id]! & F.ICMP_UNREACH) return;
    this.flags[id]! |= F.ICMP_UNREACH;
    this.raise(id, EventCode.ICMP_UNREACHABLE, -1, v.ipVersion === 4 ? v.icmpCode : 256 + v.icmpCode, 0);
  }

  /**
   * The single exit of every event, the AppLayer's too: switched-off codes, flows marked ignored
   * (AVOID_LIVENESS_PROBE), the per-flow cap and the per-code rate limit are applied here.
   */
  raise(id: number, code: EventCode, side: number, value: number, aux: number, aggregate = false): void {
    const i = codeIndex(code);
    if (this.disabled[i] || this.flags[id]! & F.IGNORED) return;
    if (!aggregate && this.eventCount[id]! >= this.opts.eventsPerFlow) {
      this.suppressedPerFlow[i]!++;
      return;
    }
    const now = this.engine.clock;
    if (now - this.windowStart[i]! >= SECOND_US) {
      this.windowStart[i] = now;
      this.windowCount[i] = 0;
    }
    if (this.windowCount[i]! >= this.opts.eventsPerSecond) {
      this.suppressedPerSecond[i]!++;
      return;
    }
    this.windowCount[i]!++;
    if (this.eventCount[id]! < 255) this.eventCount[id]!++;
    const t = this.engine.table;
    const k = id * KEY_WORDS;
    const origIsA = this.engine.state.origEndpoint[id] === 0;
    const nodeIp = this.local.nodeIp(t.keys[k + 9]! >>> 8, t.keys, k + (origIsA ? 0 : 4), k + (origIsA ? 4 : 0));
    this.out.event(id, this.timerTsUs >= 0 ? this.timerTsUs : now, code, side, value, aux, nodeIp);
  }
}
