/**
 * A flow's state at one moment, packed as numbers into a transferable batch. The per-packet
 * thread only copies columns here (no strings, no objects); turning snapshots into records
 * (addresses, Community ID, timestamps, JSON) happens in the record stage, in a worker thread
 * for the CLI. One snapshot is SNAPSHOT_STRIDE doubles plus HISTORY_MAX bytes of history.
 */
import { KEY_WORDS } from '../flow/flow-table.js';
import { HISTORY_MAX, NO_OFFSET } from '../flow/flow-state.js';
import { tcpConnState } from '../flow/tcp-tracker.js';
import type { EndReasonCode, FlowEngine } from '../flow/flow-engine.js';

export const enum Snap {
  KIND = 0,
  REASON = 1,
  NOW_US = 2,
  SERIAL = 3,
  IFACE = 4,
  VERSION = 5,
  PROTO = 6,
  ORIG_IS_A = 7,
  ADDR_A = 8,
  ADDR_B = 12,
  PORT_A = 16,
  PORT_B = 17,
  FIRST_TS = 18,
  LAST_TS = 19,
  ORIG_PKTS = 20,
  RESP_PKTS = 21,
  ORIG_BYTES = 22,
  RESP_BYTES = 23,
  ORIG_PAYLOAD = 24,
  RESP_PAYLOAD = 25,
  CONN_STATE = 26,
  FLOW_FLAGS = 27,
  ORIG_TCP_FLAGS = 28,
  RESP_TCP_FLAGS = 29,
  ORIG_RETRANS = 30,
  RESP_RETRANS = 31,
  ORIG_OOO = 32,
  RESP_OOO = 33,
  ORIG_DUPACK = 34,
  RESP_DUPACK = 35,
  ORIG_ZEROWIN = 36,
  RESP_ZEROWIN = 37,
  SYN_TS = 38,
  SYNACK_TS = 39,
  ACK_TS = 40,
  ICMP_TYPE = 41,
  ICMP_CODE = 42,
  ICMP_ID = 43,
  ICMP_ERRORS = 44,
  ICMP_ERROR_TYPE = 45,
  ICMP_ERROR_CODE = 46,
  VLAN = 47,
  VLAN_INNER = 48,
  TUNNEL = 49,
  TUNNEL_ID = 50,
  OUTER_VERSION = 51,
  OUTER_SRC = 52,
  OUTER_DST = 56,
  FRAGMENTS = 60,
  HISTORY_LEN = 61,
  /** Event snapshots only (KIND_EVENT): the detector's numbers (EventOutput.event). */
  EV_CODE = 62,
  EV_SIDE = 63,
  EV_VALUE = 64,
  EV_AUX = 65,
  EV_NODE_IP = 66,
}
export const SNAPSHOT_STRIDE = 67;

export const SNAPSHOT_KINDS = ['flow_start', 'flow_update', 'flow_end'] as const;
export type SnapshotKind = (typeof SNAPSHOT_KINDS)[number];
export const KIND_START = 0;
export const KIND_UPDATE = 1;
export const KIND_END = 2;
/** A network event on the flow: the flow's numbers at that moment plus the EV_ slots. */
export const KIND_EVENT = 3;

/** Zeek conn_state names, indexed by the code a snapshot carries. */
export const CONN_STATES = ['S0', 'S1', 'SF', 'REJ', 'S2', 'S3', 'RSTO', 'RSTR', 'RSTOS0', 'RSTRH', 'SH', 'SHR', 'OTH'] as const;
const CONN_STATE_CODE = new Map<string, number>(CONN_STATES.map((s, i) => [s, i]));

/** Flows per snapshot batch handed to the record stage. */
export const BATCH_FLOWS = 1024;
export const BATCH_NUMS_BYTES = BATCH_FLOWS * SNAPSHOT_STRIDE * 8;
export const BATCH_HISTORY_BYTES = BATCH_FLOWS * HISTORY_MAX;

/** Arrays for one batch, over the given buffers (shared with a worker) or fresh ones. */
export function newBatchArrays(nums?: ArrayBufferLike, history?: ArrayBufferLike): { nums: Float64Array; history: Uint8Array } {
  return {
    nums: nums ? new Float64Array(nums) : new Float64Array(BATCH_FLOWS * SNAPSHOT_STRIDE),
    history: history ? new Uint8Array(history) : new Uint8Array(BATCH_HISTORY_BYTES),
  };
}

/** Snapshots of up to BATCH_FLOWS flows, written into arrays the record stage lends. */
export class SnapshotBatch {
  count = 0;
  readonly capacity = BATCH_FLOWS;

  constructor(
    readonly nums: Float64Array,
    readonly history: Uint8Array,
  ) {}

  get full(): boolean {
    return this.count >= this.capacity;
  }
}

/**
 * Appends flow `id` to the batch. `serial` identifies the flow for its whole life (the record
 * stage caches its strings under it). Copies only numbers; conn_state is decided here because it
 * needs the endpoint states, which the snapshot does not carry.
 */
export function appendSnapshot(batch: SnapshotBatch, engine: FlowEngine, id: number, serial: number, kind: number, reason: EndReasonCode | -1, nowUs: number): void {
  const t = engine.table;
  const s = engine.state;
  const n = batch.nums;
  const b = batch.count * SNAPSHOT_STRIDE;
  const k = id * KEY_WORDS;
  const o = id * 2;
  const r = o + 1;
  const familyProto = t.keys[k + 9]!;
  const proto = familyProto & 0xff;
  n[b + Snap.KIND] = kind;
  n[b + Snap.REASON] = reason;
  n[b + Snap.NOW_US] = nowUs;
  n[b + Snap.SERIAL] = serial;
  n[b + Snap.IFACE] = s.ifaceId[id]!;
  n[b + Snap.VERSION] = familyProto >>> 8;
  n[b + Snap.PROTO] = proto;
  n[b + Snap.ORIG_IS_A] = s.origEndpoint[id] === 0 ? 1 : 0;
  for (let i = 0; i < 4; i++) {
    n[b + Snap.ADDR_A + i] = t.keys[k + i]!;
    n[b + Snap.ADDR_B + i] = t.keys[k + 4 + i]!;
  }
  n[b + Snap.PORT_A] = t.keys[k + 8]! >>> 16;
  n[b + Snap.PORT_B] = t.keys[k + 8]! & 0xffff;
  n[b + Snap.FIRST_TS] = s.firstTs[id]!;
  n[b + Snap.LAST_TS] = s.lastTs[id]!;
  n[b + Snap.ORIG_PKTS] = s.pkts[o]!;
  n[b + Snap.RESP_PKTS] = s.pkts[r]!;
  n[b + Snap.ORIG_BYTES] = s.bytes[o]!;
  n[b + Snap.RESP_BYTES] = s.bytes[r]!;
  n[b + Snap.ORIG_PAYLOAD] = s.payloadBytes[o]!;
  n[b + Snap.RESP_PAYLOAD] = s.payloadBytes[r]!;
  const historyLen = proto === 6 || proto === 17 ? s.historyLen[id]! : 0;
  const hb = batch.count * HISTORY_MAX;
  const hs = id * HISTORY_MAX;
  for (let i = 0; i < historyLen; i++) batch.history[hb + i] = s.history[hs + i]!;
  n[b + Snap.HISTORY_LEN] = historyLen;
  n[b + Snap.CONN_STATE] =
    proto === 6
      ? CONN_STATE_CODE.get(tcpConnState(s, id))!
      : proto === 17
        ? CONN_STATE_CODE.get(s.pkts[o]! > 0 ? (s.pkts[r]! > 0 ? 'SF' : 'S0') : s.pkts[r]! > 0 ? 'SHR' : 'OTH')!
        : CONN_STATE_CODE.get('OTH')!;
  n[b + Snap.FLOW_FLAGS] = s.flowFlags[id]!;
  n[b + Snap.ORIG_TCP_FLAGS] = s.tcpFlagsSeen[o]!;
  n[b + Snap.RESP_TCP_FLAGS] = s.tcpFlagsSeen[r]!;
  n[b + Snap.ORIG_RETRANS] = s.retransmits[o]!;
  n[b + Snap.RESP_RETRANS] = s.retransmits[r]!;
  n[b + Snap.ORIG_OOO] = s.outOfOrder[o]!;
  n[b + Snap.RESP_OOO] = s.outOfOrder[r]!;
  n[b + Snap.ORIG_DUPACK] = s.dupAcks[o]!;
  n[b + Snap.RESP_DUPACK] = s.dupAcks[r]!;
  n[b + Snap.ORIG_ZEROWIN] = s.zeroWindowCount[o]!;
  n[b + Snap.RESP_ZEROWIN] = s.zeroWindowCount[r]!;
  const first = s.firstTs[id]!;
  n[b + Snap.SYN_TS] = s.synTs[id] === NO_OFFSET ? -1 : first + s.synTs[id]!;
  n[b + Snap.SYNACK_TS] = s.synAckTs[id] === NO_OFFSET ? -1 : first + s.synAckTs[id]!;
  n[b + Snap.ACK_TS] = s.ackTs[id] === NO_OFFSET ? -1 : first + s.ackTs[id]!;
  const cold = s.cold[id];
  n[b + Snap.ICMP_TYPE] = cold?.icmpType ?? -1;
  n[b + Snap.ICMP_CODE] = cold?.icmpCode ?? -1;
  n[b + Snap.ICMP_ID] = cold?.icmpId ?? -1;
  n[b + Snap.ICMP_ERRORS] = cold?.icmpErrors ?? 0;
  n[b + Snap.ICMP_ERROR_TYPE] = cold?.icmpErrorType ?? -1;
  n[b + Snap.ICMP_ERROR_CODE] = cold?.icmpErrorCode ?? -1;
  n[b + Snap.VLAN] = s.vlanOuter[id]!;
  n[b + Snap.VLAN_INNER] = s.vlanInner[id]!;
  n[b + Snap.TUNNEL] = s.tunnel[id]!;
  n[b + Snap.TUNNEL_ID] = cold?.tunnelId ?? -1;
  const outer = s.tunnel[id] !== 0 && cold?.outerSrc && cold.outerDst ? cold : undefined;
  n[b + Snap.OUTER_VERSION] = outer?.outerIpVersion ?? 0;
  for (let i = 0; i < 4; i++) {
    n[b + Snap.OUTER_SRC + i] = outer ? outer.outerSrc![i]! : 0;
    n[b + Snap.OUTER_DST + i] = outer ? outer.outerDst![i]! : 0;
  }
  n[b + Snap.FRAGMENTS] = cold?.fragments ?? 0;
  batch.count++;
}

/** Appends an event on flow `id`: the flow's snapshot at `nowUs` plus the event's numbers. */
export function appendEventSnapshot(batch: SnapshotBatch, engine: FlowEngine, id: number, nowUs: number, code: number, side: number, value: number, aux: number, nodeIp: number): void {
  const b = batch.count * SNAPSHOT_STRIDE;
  appendSnapshot(batch, engine, id, engine.state.serial[id]!, KIND_EVENT, -1, nowUs);
  const n = batch.nums;
  n[b + Snap.EV_CODE] = code;
  n[b + Snap.EV_SIDE] = side;
  n[b + Snap.EV_VALUE] = value;
  n[b + Snap.EV_AUX] = aux;
  n[b + Snap.EV_NODE_IP] = nodeIp;
}
