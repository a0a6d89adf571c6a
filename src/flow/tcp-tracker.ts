/**
 * Per-direction TCP tracking, following Zeek's TCPSessionAdapter::Process so that connState and
 * history can be compared with Zeek's conn.log letter for letter: endpoint initialisation,
 * history letters (once per direction, or again on a new sequence number, or log-10 scaled),
 * window, ack and last-seq updates, the endpoint state machine, and content gaps. On top of that
 * it keeps Wireshark-style counters (retransmissions, out-of-order, duplicate ACKs, zero
 * windows) and handshake times. Module-level functions over typed columns: no allocation.
 *
 * Sequence numbers are int32; every comparison is on the 32-bit difference `(a - b) | 0`.
 * Wrap counting beyond 2^31 bytes per direction is not tracked (the relative numbers are only
 * compared for equality, as Zeek's history logic does).
 */
import type { PacketView } from '../decode/packet-view.js';
import { FlowState, HistBit, HISTORY_MAX, isScaledHistoryPoint, NO_OFFSET, TcpEndpointState as St, timeOffset } from './flow-state.js';
import { TCP_ACK as ACK, TCP_FIN as FIN, TCP_RST as RST, TCP_SYN as SYN } from '../wire/tcp-flags.js';

const TOO_LARGE_SEQ_DELTA = 1048576;

const CH_S = 0x53;
const CH_H = 0x48;
const CH_A = 0x41;
const CH_D = 0x44;
const CH_F = 0x46;
const CH_R = 0x52;
const CH_I = 0x49;
const CH_Q = 0x51;
const CH_T = 0x54;
const CH_W = 0x57;
const CH_G = 0x47;
const CH_CARET = 0x5e;

function setState(s: FlowState, e: number, state: St): void {
  s.epPrevState[e] = s.epState[e]!;
  s.epState[e] = state;
}

function initEndpoint(s: FlowState, e: number, flags: number, seq: number, lastSeq: number): void {
  const state = s.epState[e]!;
  const syn = (flags & SYN) !== 0;
  if (state === St.INACTIVE) {
    if (syn) {
      s.ackSeq[e] = seq;
      s.startSeq[e] = seq;
      s.contigEnd[e] = (seq + 1) | 0;
      s.lastSeq[e] = lastSeq;
    } else {
      // A partial connection: number the stream as though a SYN had been seen, and make sure
      // the first packet is not taken for a duplicate.
      s.ackSeq[e] = (seq - 1) | 0;
      s.startSeq[e] = (seq - 1) | 0;
      s.contigEnd[e] = seq;
      s.lastSeq[e] = seq;
    }
    return;
  }
  if (!syn) return;
  const reinit =
    ((state === St.SYN_SENT || state === St.SYN_ACK_SENT) && seq !== s.startSeq[e]) ||
    state === St.ESTABLISHED ||
    state === St.PARTIAL ||
    (state === St.RESET && s.epPrevState[e] === St.INACTIVE);
  if (reinit) {
    s.startSeq[e] = seq;
    s.ackSeq[e] = seq;
    s.lastSeq[e] = lastSeq;
    s.contigEnd[e] = (seq + 1) | 0;
    s.hasPend[e] = 0;
  }
}

function updateHistory(s: FlowState, id: number, side: number, e: number, flags: number, relSeq: number, len: number): void {
  const bits = (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0) + (flags & RST ? 1 : 0);
  if (bits > 1) {
    if (flags & FIN && flags & RST) s.checkHistory(id, side, HistBit.FIN_RST, CH_I);
    else s.checkHistory(id, side, HistBit.MULTI_FLAG, CH_Q);
    return;
  }
  if (bits === 1) {
    if (flags & SYN) {
      const code = flags & ACK ? CH_H : CH_S;
      if (s.checkHistory(id, side, HistBit.SYN, code) && relSeq !== s.histLastSyn[e]) s.addHistory(id, side, code);
      s.histLastSyn[e] = relSeq;
    }
    if (flags & FIN) {
      const finSeq = (relSeq + len) | 0;
      if (s.checkHistory(id, side, HistBit.FIN, CH_F) && finSeq !== s.histLastFin[e]) s.addHistory(id, side, CH_F);
      s.histLastFin[e] = finSeq;
    }
    if (flags & RST) {
      if (s.checkHistory(id, side, HistBit.RST, CH_R) && relSeq !== s.histLastRst[e]) s.addHistory(id, side, CH_R);
      s.histLastRst[e] = relSeq;
    }
    return;
  }
  if (len > 0) s.checkHistory(id, side, HistBit.DATA, CH_D);
  else if (flags & ACK) s.checkHistory(id, side, HistBit.ACK, CH_A);
}

/** Zeek's update_last_seq: returns the delta and counts retransmitted payload ('T'). */
function updateLastSeq(s: FlowState, id: number, side: number, e: number, seqOnePast: number, flags: number, len: number): number {
  const delta = (seqOnePast - s.lastSeq[e]!) | 0;
  if (flags & (SYN | RST) && (delta > TOO_LARGE_SEQ_DELTA || delta < -TOO_LARGE_SEQ_DELTA)) {
    // An outlandish SYN/RST sequence number is not trusted.
  } else if (flags & FIN && s.lastSeq[e] === ((s.startSeq[e]! + 1) | 0)) {
    s.lastSeq[e] = seqOnePast;
  } else if (s.epState[e] === St.RESET) {
    // Nothing after a RST is trusted.
  } else if (delta > 0) {
    s.lastSeq[e] = seqOnePast;
  } else if (len > 0) {
    const n = ++s.rxmtCount[e]!;
    if (isScaledHistoryPoint(n)) s.addHistory(id, side, CH_T);
  }
  return delta;
}

/**
 * Tracks the contiguous edge of the stream as captured, to tell retransmissions from
 * hole-filling segments and to find content gaps. As in Zeek, a segment whose payload the
 * snaplen cut is not delivered: its bytes count as missing when the peer acknowledges them.
 */
function trackStreamCoverage(s: FlowState, e: number, seq: number, len: number, capLen: number, flags: number, delta: number): void {
  if (len <= 0 || flags & RST) {
    if (flags & FIN && ((seq + len - s.contigEnd[e]!) | 0) === 0) s.contigEnd[e] = (seq + len + 1) | 0;
    return;
  }
  if (capLen < len) {
    if (delta <= 0) s.retransmits[e]!++;
    return;
  }
  const end = (seq + len) | 0;
  const contig = s.contigEnd[e]!;
  if (((end - contig) | 0) <= 0) {
    s.retransmits[e]!++;
  } else if (((seq - contig) | 0) <= 0) {
    let newEnd = end;
    if (s.hasPend[e] && ((s.pendStart[e]! - newEnd) | 0) <= 0) {
      if (((s.pendEnd[e]! - newEnd) | 0) > 0) newEnd = s.pendEnd[e]!;
      s.hasPend[e] = 0;
    }
    s.contigEnd[e] = newEnd;
    if (delta <= 0) s.outOfOrder[e]!++;
  } else {
    // A hole before this segment: remember the segment as the pending range.
    if (delta <= 0) s.outOfOrder[e]!++;
    if (!s.hasPend[e]) {
      s.hasPend[e] = 1;
      s.pendStart[e] = seq;
      s.pendEnd[e] = end;
    } else if (((seq - s.pendEnd[e]!) | 0) <= 0 && ((end - s.pendStart[e]!) | 0) >= 0) {
      if (((seq - s.pendStart[e]!) | 0) < 0) s.pendStart[e] = seq;
      if (((end - s.pendEnd[e]!) | 0) > 0) s.pendEnd[e] = end;
    }
  }
  if (flags & FIN && ((end - s.contigEnd[e]!) | 0) === 0) s.contigEnd[e] = (end + 1) | 0;
}

/** The peer acknowledged up to `ack`: bytes of its stream we never saw are a content gap ('G'). */
function ackReceived(s: FlowState, id: number, dataSide: number, d: number, ack: number, flags: number): void {
  const missing = (ack - s.contigEnd[d]!) | 0;
  if (missing <= 0 || missing > TOO_LARGE_SEQ_DELTA) return;
  const dataState = s.epState[d]!;
  const ackerState = s.epState[d ^ 1]!;
  s.contigEnd[d] = ack;
  if (s.hasPend[d] && ((s.pendEnd[d]! - ack) | 0) <= 0) s.hasPend[d] = 0;
  // Zeek does not report gaps for partial connections nor ones revealed by a closing FIN/RST.
  if (flags & (FIN | RST)) return;
  if (dataState === St.PARTIAL || ackerState === St.PARTIAL) return;
  if (dataState === St.CLOSED || dataState === St.RESET || dataState === St.INACTIVE) return;
  const n = ++s.gapCount[d]!;
  if (isScaledHistoryPoint(n)) s.addHistory(id, dataSide, CH_G);
}

function updateStateMachine(s: FlowState, e: number, p: number, isOrig: boolean, flags: number, len: number): void {
  const state = s.epState[e]!;
  switch (state) {
    case St.INACTIVE: {
      if (flags & SYN) {
        if (isOrig) {
          setState(s, e, flags & ACK ? St.SYN_ACK_SENT : St.SYN_SENT);
        } else {
          if (s.epState[p] === St.SYN_SENT) setState(s, p, St.ESTABLISHED);
          setState(s, e, St.ESTABLISHED);
        }
      }
      if (flags & FIN) setState(s, e, St.CLOSED);
      if (flags & RST) setState(s, e, St.RESET);
      if (s.epState[e] === St.INACTIVE) {
        const origState = s.epState[isOrig ? e : p]!;
        if (!isOrig && len === 0 && origState === St.SYN_SENT) {
          // Some stacks ACK a SYN before answering it; that is not a partial connection.
        } else if (flags & ACK && s.epState[p] === St.ESTABLISHED) {
          setState(s, e, St.ESTABLISHED);
        } else {
          setState(s, e, St.PARTIAL);
        }
      }
      break;
    }
    case St.SYN_SENT:
    case St.SYN_ACK_SENT:
      if (flags & FIN) setState(s, e, St.CLOSED);
      if (flags & RST) setState(s, e, St.RESET);
      break;
    case St.ESTABLISHED:
    case St.PARTIAL:
      if (flags & SYN && state === St.PARTIAL && s.epState[p] === St.INACTIVE && !(flags & ACK)) {
        setState(s, e, St.SYN_SENT);
      }
      if (flags & FIN && !(flags & RST)) {
        setState(s, e, St.CLOSED);
        if (s.epState[p] === St.RESET && s.epPrevState[p] === St.CLOSED) setState(s, p, St.CLOSED);
      }
      if (flags & RST) setState(s, e, St.RESET);
      break;
    case St.CLOSED:
      if (flags & RST && s.epState[p] !== St.CLOSED) setState(s, e, St.RESET);
      break;
    default:
      break;
  }
}

/**
 * Updates the TCP state of flow `id` for one segment from `side` (0 originator, 1 responder).
 */
export function trackTcpSegment(s: FlowState, id: number, side: number, v: PacketView): void {
  const e = id * 2 + side;
  const p = e ^ 1;
  const isOrig = side === 0;
  const flags = v.tcpFlags;
  const seq = v.seq;
  const ack = v.ack;
  const len = v.payloadLen;
  const tsUs = v.tsUs;

  let segLen = len;
  if (flags & SYN) segLen++;
  if (flags & FIN) segLen++;
  if (flags & RST) segLen -= len;
  const seqOnePast = (seq + segLen) | 0;

  initEndpoint(s, e, flags, seq, seqOnePast);
  const relSeq = (seq - s.startSeq[e]!) | 0;
  updateHistory(s, id, side, e, flags, relSeq, len);

  // Zero windows (Zeek's 'W', and our counter). Boring with or after a RST, or after the peer's FIN.
  if (v.window === 0 && !(flags & RST) && s.epState[p] !== St.CLOSED && s.epState[e] !== St.RESET) {
    const n = ++s.zeroWindowCount[e]!;
    if (isScaledHistoryPoint(n)) s.addHistory(id, side, CH_W);
  }

  if (flags & FIN && s.finCount[e]! < 255) s.finCount[e]!++;

  let peerWasInactive = false;
  if (flags & ACK) {
    if (s.epState[p] === St.INACTIVE) {
      peerWasInactive = true;
      s.startSeq[p] = (ack - 1) | 0;
      s.ackSeq[p] = (ack - 1) | 0;
      s.lastSeq[p] = (ack - 1) | 0;
      s.contigEnd[p] = ack;
    } else if (!(flags & RST)) {
      const deltaAck = (ack - s.ackSeq[p]!) | 0;
      if (!(ack === 0 && deltaAck > TOO_LARGE_SEQ_DELTA) && deltaAck > 0) s.ackSeq[p] = ack;
    }
  }

  const delta = updateLastSeq(s, id, side, e, seqOnePast, flags, len);
  trackStreamCoverage(s, e, seq, len, v.payloadCapLen, flags, delta);

  // Duplicate ACK: a bare ACK repeating the last ack number and window while data is outstanding.
  if ((flags & (SYN | FIN | RST | ACK)) === ACK && len === 0) {
    if (ack === s.lastAckNo[e] && v.window === s.lastWindow[e] && ((s.lastSeq[p]! - ack) | 0) > 0) s.dupAcks[e]!++;
  }
  if (flags & ACK) {
    s.lastAckNo[e] = ack;
    s.lastWindow[e] = v.window;
  }

  updateStateMachine(s, e, p, isOrig, flags, len);

  if (flags & ACK && !peerWasInactive) ackReceived(s, id, side ^ 1, p, ack, flags);

  // Handshake times: first SYN, the SYN-ACK answering it, and the originator's ACK completing it.
  if (flags & SYN) {
    if (!(flags & ACK)) {
      if (isOrig && s.synTs[id] === NO_OFFSET) s.synTs[id] = timeOffset(s, id, tsUs);
    } else if (!isOrig && s.synTs[id] !== NO_OFFSET && s.synAckTs[id] === NO_OFFSET) {
      s.synAckTs[id] = timeOffset(s, id, tsUs);
    }
  } else if (isOrig && flags & ACK && s.synAckTs[id] !== NO_OFFSET && s.ackTs[id] === NO_OFFSET && !(flags & RST)) {
    s.ackTs[id] = timeOffset(s, id, tsUs);
  }
}

/** Zeek's TCP_Endpoint::Size(): payload bytes from sequence numbers (used for REJ). */
function endpointSize(s: FlowState, e: number): number {
  const p = e ^ 1;
  const start = s.startSeq[e]!;
  const ackS = s.ackSeq[e]!;
  const noDataAcked = ackS === start || ackS === ((start + 1) | 0);
  if (s.epPrevState[e] === St.SYN_SENT && s.epState[e] === St.RESET && s.epState[p] === St.INACTIVE && !noDataAcked) {
    return 0;
  }
  const last = s.lastSeq[e]!;
  const top = ((last - ackS) | 0) > 0 ? last : ackS;
  let size = (top - start) >>> 0;
  if (size !== 0) size--;
  if (s.finCount[e]! > 0 && size !== 0) size--;
  return size;
}

/**
 * Zeek's RSTOS0 history test, `^?S[^HAFGIQ]*R`, on the flow's history bytes: after an optional
 * `^` and an `S`, an `R` comes before any of H, A, F, G, I, Q.
 */
export function historyIsRstos0(s: FlowState, id: number): boolean {
  const start = id * HISTORY_MAX;
  const end = start + s.historyLen[id]!;
  let i = start;
  if (i < end && s.history[i] === CH_CARET) i++;
  if (i >= end || s.history[i] !== CH_S) return false;
  for (i++; i < end; i++) {
    const c = s.history[i]!;
    if (c === CH_R) return true;
    if (c === CH_H || c === CH_A || c === CH_F || c === CH_G || c === CH_I || c === CH_Q) return false;
  }
  return false;
}

/** Zeek's conn_state for a TCP flow (base/protocols/conn/main.zeek). */
export function tcpConnState(s: FlowState, id: number): string {
  const oe = id * 2;
  const re = oe + 1;
  const os = s.epState[oe]!;
  const rs = s.epState[re]!;
  const oInactive = os === St.INACTIVE || os === St.PARTIAL;
  const rInactive = rs === St.INACTIVE || rs === St.PARTIAL;
  if (rs === St.RESET) {
    if (os === St.SYN_SENT || os === St.SYN_ACK_SENT || (os === St.RESET && endpointSize(s, oe) === 0 && endpointSize(s, re) === 0)) {
      return 'REJ';
    }
    return oInactive ? 'RSTRH' : 'RSTR';
  }
  if (os === St.RESET) {
    if (rInactive) return historyIsRstos0(s, id) ? 'RSTOS0' : 'OTH';
    return 'RSTO';
  }
  if (rs === St.CLOSED && os === St.CLOSED) return 'SF';
  if (os === St.CLOSED) return rInactive ? 'SH' : 'S2';
  if (rs === St.CLOSED) return oInactive ? 'SHR' : 'S3';
  if (os === St.SYN_SENT && rs === St.INACTIVE) return 'S0';
  if (os === St.ESTABLISHED && rs === St.ESTABLISHED) return 'S1';
  return 'OTH';
}

/** True once the TCP flow is over: a RST from either side, or FINs from both. */
export function tcpIsClosed(s: FlowState, id: number): boolean {
  const os = s.epState[id * 2]!;
  const rs = s.epState[id * 2 + 1]!;
  return os === St.RESET || rs === St.RESET || (os === St.CLOSED && rs === St.CLOSED);
}

export function tcpWasReset(s: FlowState, id: number): boolean {
  return s.epState[id * 2] === St.RESET || s.epState[id * 2 + 1] === St.RESET;
}
