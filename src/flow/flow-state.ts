/**
 * Per-flow counters and per-endpoint TCP state in typed-array columns, indexed by flow id (and
 * by `id * 2 + side` for endpoint columns, side 0 = originator, 1 = responder). Hot state lives
 * here; rarely used extras (tunnel endpoints, ICMP error details, later SNI and process data) go
 * in the `cold` side array, filled on first use. Allocated once at the flow cap.
 */

export const ORIG = 0;
export const RESP = 1;

/** Zeek's TCP endpoint states (analyzer/protocol/tcp/TCP_Endpoint.h), same numbering. */
export const enum TcpEndpointState {
  INACTIVE = 0,
  SYN_SENT = 1,
  SYN_ACK_SENT = 2,
  PARTIAL = 3,
  ESTABLISHED = 4,
  CLOSED = 5,
  RESET = 6,
}

/** Flow-level flag bits. */
export const enum FlowFlag {
  /** Roles were flipped when the flow was created (Zeek's '^'). */
  FLIPPED = 1,
  /** The three-way handshake completed (SYN, SYN-ACK, ACK from the originator). */
  HANDSHAKE_DONE = 2,
  /** The first packet was not a SYN from the originator (mid-stream start). */
  MIDSTREAM = 4,
}

/** Per-endpoint history bits (Zeek's HIST_* for one side). */
export const enum HistBit {
  SYN = 1,
  FIN = 2,
  RST = 4,
  FIN_RST = 8,
  DATA = 16,
  ACK = 32,
  MULTI_FLAG = 64,
}

export const HISTORY_MAX = 24;

/** An absent time offset (see FlowState.synTs). */
export const NO_OFFSET = -0x80000000;

/** µs after the flow's first packet as a 32-bit offset, or NO_OFFSET when it does not fit. */
export function timeOffset(s: FlowState, id: number, tsUs: number): number {
  const d = tsUs - s.firstTs[id]!;
  return d > -0x7fffffff && d < 0x7fffffff ? d | 0 : NO_OFFSET;
}

export interface ColdInfo {
  /** ICMP errors that quoted this flow (rare: kept off the hot columns). */
  icmpErrors?: number;
  /** IP fragments of this flow. */
  fragments?: number;
  /** ICMP flows: type, code and echo identifier of the first packet. */
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  /** VXLAN/Geneve VNI or GRE key of a tunnelled flow. */
  tunnelId?: number;
  outerIpVersion?: number;
  outerSrc?: Int32Array;
  outerDst?: Int32Array;
  icmpErrorType?: number;
  icmpErrorCode?: number;
}

export class FlowState {
  /** Unique for the flow's whole life, across slot reuse (records cache strings under it; the
   *  fragment cache checks it); wraps after 2^32 flows. */
  readonly serial: Uint32Array;
  readonly firstTs: Float64Array;
  readonly lastTs: Float64Array;
  /** Which canonical endpoint (0 = A, 1 = B) is the originator. */
  readonly origEndpoint: Uint8Array;
  readonly flowFlags: Uint8Array;
  readonly ifaceId: Uint16Array;
  readonly vlanOuter: Int16Array;
  readonly vlanInner: Int16Array;
  readonly tunnel: Uint8Array;
  /** Handshake packet times as µs after the flow's first packet (32 bits: 35 minutes either
   *  way); NO_OFFSET until seen or when out of that range. */
  readonly synTs: Int32Array;
  readonly synAckTs: Int32Array;
  readonly ackTs: Int32Array;
  readonly history: Uint8Array;
  readonly historyLen: Uint8Array;
  /** Zeek's hist_seen: bits 0–15 originator, 16–31 responder. */
  readonly historySeen: Int32Array;
  readonly cold: (ColdInfo | undefined)[];

  // Per endpoint: index id * 2 + side.
  readonly pkts: Uint32Array;
  readonly bytes: Float64Array;
  readonly payloadBytes: Float64Array;
  readonly tcpFlagsSeen: Uint8Array;
  readonly epState: Uint8Array;
  readonly epPrevState: Uint8Array;
  readonly startSeq: Int32Array;
  readonly lastSeq: Int32Array;
  readonly ackSeq: Int32Array;
  readonly finCount: Uint8Array;
  readonly histLastSyn: Int32Array;
  readonly histLastFin: Int32Array;
  readonly histLastRst: Int32Array;
  /** Zeek's scaled history counters: 'T' retransmitted payload, 'W' zero window, 'G' gap. */
  readonly rxmtCount: Uint32Array;
  readonly zeroWindowCount: Uint32Array;
  readonly gapCount: Uint32Array;
  /** Our own counters (Wireshark's sense): already-seen data, hole-filling data, duplicate ACKs. */
  readonly retransmits: Uint32Array;
  readonly outOfOrder: Uint32Array;
  readonly dupAcks: Uint32Array;
  readonly lastAckNo: Int32Array;
  readonly lastWindow: Int32Array;
  /** Sequence number up to which this endpoint's stream was seen without holes, plus one pending
   *  out-of-order range beyond it. */
  readonly contigEnd: Int32Array;
  readonly pendStart: Int32Array;
  readonly pendEnd: Int32Array;
  readonly hasPend: Uint8Array;

  constructor(capacity: number) {
    const n = capacity;
    const e = capacity * 2;
    this.serial = new Uint32Array(n);
    this.firstTs = new Float64Array(n);
    this.lastTs = new Float64Array(n);
    this.origEndpoint = new Uint8Array(n);
    this.flowFlags = new Uint8Array(n);
    this.ifaceId = new Uint16Array(n);
    this.vlanOuter = new Int16Array(n);
    this.vlanInner = new Int16Array(n);
    this.tunnel = new Uint8Array(n);
    this.synTs = new Int32Array(n);
    this.synAckTs = new Int32Array(n);
    this.ackTs = new Int32Array(n);
    this.history = new Uint8Array(n * HISTORY_MAX);
    this.historyLen = new Uint8Array(n);
    this.historySeen = new Int32Array(n);
    this.cold = new Array<ColdInfo | undefined>(0);

    this.pkts = new Uint32Array(e);
    this.bytes = new Float64Array(e);
    this.payloadBytes = new Float64Array(e);
    this.tcpFlagsSeen = new Uint8Array(e);
    this.epState = new Uint8Array(e);
    this.epPrevState = new Uint8Array(e);
    this.startSeq = new Int32Array(e);
    this.lastSeq = new Int32Array(e);
    this.ackSeq = new Int32Array(e);
    this.finCount = new Uint8Array(e);
    this.histLastSyn = new Int32Array(e);
    this.histLastFin = new Int32Array(e);
    this.histLastRst = new Int32Array(e);
    this.rxmtCount = new Uint32Array(e);
    this.zeroWindowCount = new Uint32Array(e);
    this.gapCount = new Uint32Array(e);
    this.retransmits = new Uint32Array(e);
    this.outOfOrder = new Uint32Array(e);
    this.dupAcks = new Uint32Array(e);
    this.lastAckNo = new Int32Array(e);
    this.lastWindow = new Int32Array(e);
    this.contigEnd = new Int32Array(e);
    this.pendStart = new Int32Array(e);
    this.pendEnd = new Int32Array(e);
    this.hasPend = new Uint8Array(e);
  }

  /** Zeroes a flow's columns when its slot is reused. */
  clear(id: number): void {
    this.firstTs[id] = 0;
    this.lastTs[id] = 0;
    this.origEndpoint[id] = 0;
    this.flowFlags[id] = 0;
    this.ifaceId[id] = 0;
    this.vlanOuter[id] = -1;
    this.vlanInner[id] = -1;
    this.tunnel[id] = 0;
    this.synTs[id] = NO_OFFSET;
    this.synAckTs[id] = NO_OFFSET;
    this.ackTs[id] = NO_OFFSET;
    this.historyLen[id] = 0;
    this.historySeen[id] = 0;
    if (id < this.cold.length) this.cold[id] = undefined;
    for (let side = 0; side < 2; side++) {
      const e = id * 2 + side;
      this.pkts[e] = 0;
      this.bytes[e] = 0;
      this.payloadBytes[e] = 0;
      this.tcpFlagsSeen[e] = 0;
      this.epState[e] = TcpEndpointState.INACTIVE;
      this.epPrevState[e] = TcpEndpointState.INACTIVE;
      this.startSeq[e] = 0;
      this.lastSeq[e] = 0;
      this.ackSeq[e] = 0;
      this.finCount[e] = 0;
      this.histLastSyn[e] = 0;
      this.histLastFin[e] = 0;
      this.histLastRst[e] = 0;
      this.rxmtCount[e] = 0;
      this.zeroWindowCount[e] = 0;
      this.gapCount[e] = 0;
      this.retransmits[e] = 0;
      this.outOfOrder[e] = 0;
      this.dupAcks[e] = 0;
      this.lastAckNo[e] = 0;
      this.lastWindow[e] = -1;
      this.contigEnd[e] = 0;
      this.pendStart[e] = 0;
      this.pendEnd[e] = 0;
      this.hasPend[e] = 0;
    }
  }

  coldOf(id: number): ColdInfo {
    while (this.cold.length <= id) this.cold.push(undefined);
    let c = this.cold[id];
    if (c === undefined) {
      c = {};
      this.cold[id] = c;
    }
    return c;
  }

  /** Appends a history letter (upper case for the originator). Bounded at HISTORY_MAX. */
  addHistory(id: number, side: number, upperCode: number): void {
    const len = this.historyLen[id]!;
    if (len >= HISTORY_MAX) return;
    this.history[id * HISTORY_MAX + len] = side === ORIG ? upperCode : upperCode | 0x20;
    this.historyLen[id] = len + 1;
  }

  /** Zeek's CheckHistory: records the letter the first time; returns whether it was seen before. */
  checkHistory(id: number, side: number, bit: HistBit, upperCode: number): boolean {
    const mask = side === ORIG ? bit : bit << 16;
    const seen = this.historySeen[id]!;
    if ((seen & mask) === 0) {
      this.historySeen[id] = seen | mask;
      this.addHistory(id, side, upperCode);
      return false;
    }
    return true;
  }

  historyString(id: number): string {
    const len = this.historyLen[id]!;
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(this.history[id * HISTORY_MAX + i]!);
    return s;
  }
}

/** Zeek's ScaledHistoryEntry threshold test: true at counts 1, 10, 100, 1000... */
export function isScaledHistoryPoint(count: number): boolean {
  while (count >= 10 && count % 10 === 0) count /= 10;
  return count === 1;
}
