/**
 * Packets in, flow lifecycle out. For each decoded packet: build the canonical key, find or
 * create the flow (evicting when the table is full), update counters and TCP state, and move
 * the flow in its timeout class. Time is packet time: the clock only moves forward and every
 * timer (idle, closing, half-open, interim report) is a head check on a time-ordered list.
 * The sink is told about starts, interim updates and ends; it reads the columns to build
 * records, so nothing here allocates per packet.
 */
import type { PacketView } from '../decode/packet-view.js';
import { CLASS_COUNT, FIRST_TO_EVICT_CLASSES, FlowClass, FlowTable, hashKey, KEY_WORDS } from './flow-table.js';
import { FlowFlag, FlowState, HistBit, NO_OFFSET, ORIG, RESP, TcpEndpointState } from './flow-state.js';
import { tcpIsClosed, tcpWasReset, trackTcpSegment } from './tcp-tracker.js';
import { isLikelyServerPort } from './likely-server-ports.js';
import { icmpCounterpart } from '../wire/community-id.js';

export const enum EndReasonCode {
  FIN = 0,
  RST = 1,
  IDLE = 2,
  EVICTED = 3,
  SHUTDOWN = 4,
  EOF = 5,
  REUSED = 6,
  INTERFACE_GONE = 7,
}
export const END_REASON_NAMES = ['fin', 'rst', 'idle', 'evicted', 'shutdown', 'eof', 'reused', 'interface_gone'] as const;

/** Why every open flow ends at once. */
export type FlushReason = EndReasonCode.SHUTDOWN | EndReasonCode.EOF | EndReasonCode.INTERFACE_GONE;

export interface FlowLifecycleSink {
  flowStarted(id: number): void;
  flowUpdated(id: number): void;
  flowEnded(id: number, reason: EndReasonCode): void;
}

export interface FlowTimeouts {
  tcpEstablishedUs: number;
  tcpClosingUs: number;
  tcpHalfOpenUs: number;
  udpUs: number;
  icmpUs: number;
  activeUs: number;
}

export interface FlowEngineOptions {
  maxFlows: number;
  timeouts: FlowTimeouts;
}

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_ICMP6 = 58;

const TCP_SYN = 0x02;
const TCP_ACK = 0x10;

const CH_D = 0x44;
const CH_CARET = 0x5e;

/** How far packet time must advance before the timer lists are scanned again (µs). */
const SWEEP_GRANULARITY_US = 100_000;

export interface FlowEngineCounters {
  packets: number;
  flowsCreated: number;
  flowsEnded: number;
  evictions: number;
  evictionsFirstClass: number;
  tcpReuses: number;
  icmpErrorsAttached: number;
  fragmentsNoFlow: number;
}

export interface FlowEndpoints {
  version: number;
  proto: number;
  origAddr: Int32Array;
  respAddr: Int32Array;
  origPort: number;
  respPort: number;
}

export function newFlowEndpoints(): FlowEndpoints {
  return { version: 0, proto: 0, origAddr: new Int32Array(4), respAddr: new Int32Array(4), origPort: 0, respPort: 0 };
}

export class FlowEngine {
  readonly table: FlowTable;
  readonly state: FlowState;
  readonly counters: FlowEngineCounters = {
    packets: 0,
    flowsCreated: 0,
    flowsEnded: 0,
    evictions: 0,
    evictionsFirstClass: 0,
    tcpReuses: 0,
    icmpErrorsAttached: 0,
    fragmentsNoFlow: 0,
  };
  /** Packet clock in µs: the newest packet time seen (or wall-clock advance when live and idle). */
  clock = 0;
  /** What the last processPacket did, for the analyzers that run after it: the flow it counted
   *  (-1: none), the sending side, whether the flow was created by it, and the two TCP endpoint
   *  states before the segment. An ICMP error attached to a flow sets lastIcmpErrorFlow instead. */
  lastFlow = -1;
  lastSide = 0;
  lastFlowIsNew = false;
  lastPrevOrigState = 0;
  lastPrevRespState = 0;
  /** The sending endpoint's first sequence number before the segment (a SYN with a new ISN
   *  changes it). */
  lastPrevStartSeq = 0;
  lastIcmpErrorFlow = -1;
  private lastSweep = 0;
  private readonly timeoutByClass = new Float64Array(CLASS_COUNT);
  private readonly activeUs: number;
  private readonly key = new Int32Array(KEY_WORDS);
  /** Direction of the current packet relative to the key: 0 = src is endpoint A. */
  private keyDir = 0;
  /** Fragment cache: non-first fragments find the flow of their first fragment. */
  private readonly fragSlots = 4096;
  private readonly fragHash = new Int32Array(this.fragSlots);
  private readonly fragFlow = new Int32Array(this.fragSlots).fill(-1);
  private readonly fragSerial = new Uint32Array(this.fragSlots);

  constructor(
    opts: FlowEngineOptions,
    private readonly sink: FlowLifecycleSink,
  ) {
    this.table = new FlowTable(opts.maxFlows);
    this.state = new FlowState(opts.maxFlows);
    const t = opts.timeouts;
    this.timeoutByClass[FlowClass.TCP_EMBRYONIC] = t.tcpHalfOpenUs;
    this.timeoutByClass[FlowClass.TCP_MIDSTREAM_ONE] = t.tcpEstablishedUs;
    this.timeoutByClass[FlowClass.TCP_ESTABLISHED] = t.tcpEstablishedUs;
    this.timeoutByClass[FlowClass.TCP_CLOSING] = t.tcpClosingUs;
    this.timeoutByClass[FlowClass.UDP_ONE] = t.udpUs;
    this.timeoutByClass[FlowClass.UDP] = t.udpUs;
    this.timeoutByClass[FlowClass.OTHER_ONE] = t.udpUs;
    this.timeoutByClass[FlowClass.OTHER] = t.udpUs;
    this.timeoutByClass[FlowClass.ICMP_ONE] = t.icmpUs;
    this.timeoutByClass[FlowClass.ICMP] = t.icmpUs;
    this.activeUs = t.activeUs;
  }

  /** Moves the clock to `nowUs` (never backwards) and runs the timers that are due. */
  advanceClock(nowUs: number): void {
    if (nowUs > this.clock) this.clock = nowUs;
    if (this.clock - this.lastSweep >= SWEEP_GRANULARITY_US) this.sweep();
  }

  /** Accounts one decoded IP packet (view.status OK). */
  processPacket(v: PacketView): void {
    this.counters.packets++;
    this.lastFlow = -1;
    this.lastIcmpErrorFlow = -1;
    this.advanceClock(v.tsUs);
    const proto = v.ipProto;
    if (v.hasQuoted && this.attachIcmpError(v)) return;
    if (v.isFragment && v.fragOffset !== 0) {
      this.accountFragment(v);
      return;
    }
    this.buildKey(v);
    let id = this.table.find(this.key);
    const s = this.state;
    if (id >= 0 && proto === PROTO_TCP && this.isNewConnectionOnOldTuple(id, v)) {
      const closed = tcpIsClosed(s, id);
      this.endFlow(id, closed ? (tcpWasReset(s, id) ? EndReasonCode.RST : EndReasonCode.FIN) : EndReasonCode.REUSED);
      this.counters.tcpReuses++;
      id = -1;
    }
    const isNew = id < 0;
    if (isNew) id = this.createFlow(v);
    const side = this.keyDir === s.origEndpoint[id] ? ORIG : RESP;
    const e = id * 2 + side;
    this.countPacket(id, e, v);
    s.payloadBytes[e]! += v.payloadLen;
    if (v.isFragment) {
      const cold = s.coldOf(id);
      cold.fragments = (cold.fragments ?? 0) + 1;
      this.rememberFragment(v, id);
    }
    let cls: FlowClass;
    this.lastFlow = id;
    this.lastSide = side;
    this.lastFlowIsNew = isNew;
    if (proto === PROTO_TCP) {
      s.tcpFlagsSeen[e]! |= v.tcpFlags;
      this.lastPrevOrigState = s.epState[id * 2]!;
      this.lastPrevRespState = s.epState[id * 2 + 1]!;
      this.lastPrevStartSeq = s.startSeq[e]!;
      trackTcpSegment(s, id, side, v);
      cls = this.tcpClass(id);
    } else if (proto === PROTO_UDP) {
      s.checkHistory(id, side, HistBit.DATA, CH_D);
      cls = s.pkts[id * 2]! + s.pkts[id * 2 + 1]! > 1 ? FlowClass.UDP : FlowClass.UDP_ONE;
    } else if (proto === PROTO_ICMP || proto === PROTO_ICMP6) {
      cls = s.pkts[id * 2]! + s.pkts[id * 2 + 1]! > 1 ? FlowClass.ICMP : FlowClass.ICMP_ONE;
    } else {
      cls = s.pkts[id * 2]! + s.pkts[id * 2 + 1]! > 1 ? FlowClass.OTHER : FlowClass.OTHER_ONE;
    }
    this.table.touch(id, cls, this.clock);
    if (isNew) this.sink.flowStarted(id);
  }

  /**
   * A packet whose TCP header was cut short still belongs to its conversation: count it against
   * the flow it names (ports were readable) without touching TCP state; never create a flow.
   * Returns whether a flow took it.
   */
  accountTruncated(v: PacketView): boolean {
    this.advanceClock(v.tsUs);
    this.buildKey(v);
    const id = this.table.find(this.key);
    if (id < 0) return false;
    const s = this.state;
    const e = id * 2 + (this.keyDir === s.origEndpoint[id] ? ORIG : RESP);
    this.countPacket(id, e, v);
    this.table.touch(id, this.table.flowClass[id]! as FlowClass, this.clock);
    return true;
  }

  /** Packet and wire-byte counters of endpoint `e` and the flow's last packet time. */
  private countPacket(id: number, e: number, v: PacketView): void {
    const s = this.state;
    s.pkts[e]!++;
    s.bytes[e]! += v.wireLen;
    if (v.tsUs > s.lastTs[id]!) s.lastTs[id] = v.tsUs;
  }

  /** Ends every open flow: `shutdown` (live), `eof` (file) or `interface_gone` (the monitored
   *  interface vanished), unless a flow already closed. Returns how many ended with `reason`. */
  flushAll(reason: FlushReason): number {
    const t = this.table;
    let withReason = 0;
    for (let c = 0; c < CLASS_COUNT; c++) {
      while (t.listHead[c] !== -1) {
        const id = t.listHead[c]!;
        const closing = c === FlowClass.TCP_CLOSING;
        if (!closing) withReason++;
        this.endFlow(id, closing ? this.closingReason(id) : reason);
      }
    }
    return withReason;
  }

  /** Flow `id`'s endpoints, originator first, into `out` (cold paths: file names, messages). */
  endpointsOf(id: number, out: FlowEndpoints = newFlowEndpoints()): FlowEndpoints {
    const keys = this.table.keys;
    const k = id * KEY_WORDS;
    const familyProto = keys[k + 9]!;
    out.version = familyProto >>> 8;
    out.proto = familyProto & 0xff;
    const origIsA = this.state.origEndpoint[id] === 0;
    for (let i = 0; i < 4; i++) {
      out.origAddr[i] = keys[k + (origIsA ? i : 4 + i)]!;
      out.respAddr[i] = keys[k + (origIsA ? 4 + i : i)]!;
    }
    const portA = keys[k + 8]! >>> 16;
    const portB = keys[k + 8]! & 0xffff;
    out.origPort = origIsA ? portA : portB;
    out.respPort = origIsA ? portB : portA;
    return out;
  }

  /** Number of flows currently in the table. */
  get activeFlows(): number {
    return this.table.count;
  }

  private sweep(): void {
    this.lastSweep = this.clock;
    const t = this.table;
    const now = this.clock;
    for (let c = 0; c < CLASS_COUNT; c++) {
      const timeout = this.timeoutByClass[c]!;
      for (;;) {
        const id = t.listHead[c]!;
        if (id === -1 || t.lastClock[id]! + timeout > now) break;
        this.endFlow(id, c === FlowClass.TCP_CLOSING ? this.closingReason(id) : EndReasonCode.IDLE);
      }
    }
    for (;;) {
      const id = t.reportHead;
      if (id === -1 || t.lastReportClock[id]! + this.activeUs > now) break;
      if (t.lastClock[id]! > t.lastReportClock[id]!) this.sink.flowUpdated(id);
      t.reported(id, now);
    }
  }

  private closingReason(id: number): EndReasonCode {
    return tcpWasReset(this.state, id) ? EndReasonCode.RST : EndReasonCode.FIN;
  }

  private endFlow(id: number, reason: EndReasonCode): void {
    this.sink.flowEnded(id, reason);
    this.table.remove(id);
    this.counters.flowsEnded++;
  }

  private createFlow(v: PacketView): number {
    const t = this.table;
    if (t.isFull) {
      const victim = t.evictionCandidate();
      this.counters.evictions++;
      if (t.flowClass[victim]! < FIRST_TO_EVICT_CLASSES) this.counters.evictionsFirstClass++;
      this.endFlow(victim, EndReasonCode.EVICTED);
    }
    const proto = v.ipProto;
    const initialClass =
      proto === PROTO_TCP
        ? (v.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN
          ? FlowClass.TCP_EMBRYONIC
          : FlowClass.TCP_MIDSTREAM_ONE
        : proto === PROTO_UDP
          ? FlowClass.UDP_ONE
          : proto === PROTO_ICMP || proto === PROTO_ICMP6
            ? FlowClass.ICMP_ONE
            : FlowClass.OTHER_ONE;
    const id = t.insert(this.key, hashKey(this.key), initialClass, this.clock);
    const s = this.state;
    s.clear(id);
    this.counters.flowsCreated++;
    s.serial[id] = this.counters.flowsCreated >>> 0;
    s.firstTs[id] = v.tsUs;
    s.lastTs[id] = v.tsUs;
    s.ifaceId[id] = v.ifaceId;
    s.vlanOuter[id] = v.vlanOuter;
    s.vlanInner[id] = v.vlanInner;
    s.tunnel[id] = v.tunnel;
    if (v.tunnel !== 0) {
      const cold = s.coldOf(id);
      if (v.tunnelId >= 0) cold.tunnelId = v.tunnelId;
      cold.outerIpVersion = v.outerIpVersion;
      cold.outerSrc = Int32Array.from(v.outerSrc);
      cold.outerDst = Int32Array.from(v.outerDst);
    }
    if (proto === PROTO_ICMP || proto === PROTO_ICMP6) {
      const cold = s.coldOf(id);
      cold.icmpType = v.icmpType;
      cold.icmpCode = v.icmpCode;
      if (v.icmpId >= 0) cold.icmpId = v.icmpId;
    }
    const flip = this.shouldFlip(v);
    s.origEndpoint[id] = flip ? this.keyDir ^ 1 : this.keyDir;
    if (proto === PROTO_TCP && (v.tcpFlags & (TCP_SYN | TCP_ACK)) !== TCP_SYN) s.flowFlags[id]! |= FlowFlag.MIDSTREAM;
    if (flip) {
      s.flowFlags[id]! |= FlowFlag.FLIPPED;
      s.addHistory(id, ORIG, CH_CARET);
    }
    return id;
  }

  /** Zeek's WantConnection role heuristic: a flow that does not start with a SYN, seen from a
   *  likely server port, is flipped so the originator is the client. */
  private shouldFlip(v: PacketView): boolean {
    const sp = v.srcPort;
    const dp = v.dstPort;
    if (v.ipProto === PROTO_TCP) {
      const f = v.tcpFlags;
      if ((f & (TCP_SYN | TCP_ACK)) === TCP_SYN) return false;
      if (!isLikelyServerPort(PROTO_TCP, sp)) return false;
      if (isLikelyServerPort(PROTO_TCP, dp)) return !(f & TCP_SYN) && sp < dp;
      return true;
    }
    if (v.ipProto === PROTO_UDP) return isLikelyServerPort(PROTO_UDP, sp) && !isLikelyServerPort(PROTO_UDP, dp);
    return false;
  }

  /** A SYN from the originator on a tuple that is closed, or that carries a new ISN after the
   *  handshake, is a new connection (port reuse while the server holds TIME_WAIT). */
  private isNewConnectionOnOldTuple(id: number, v: PacketView): boolean {
    if ((v.tcpFlags & (TCP_SYN | TCP_ACK)) !== TCP_SYN) return false;
    const s = this.state;
    const side = this.keyDir === s.origEndpoint[id] ? ORIG : RESP;
    if (tcpIsClosed(s, id)) return true;
    if (side !== ORIG) return false;
    const st = s.epState[id * 2]!;
    const attemptInProgress = st === TcpEndpointState.SYN_SENT || st === TcpEndpointState.SYN_ACK_SENT;
    return !attemptInProgress && v.seq !== s.startSeq[id * 2];
  }

  private tcpClass(id: number): FlowClass {
    const s = this.state;
    if (tcpIsClosed(s, id)) return FlowClass.TCP_CLOSING;
    if (s.ackTs[id] !== NO_OFFSET) s.flowFlags[id]! |= FlowFlag.HANDSHAKE_DONE;
    const flags = s.flowFlags[id]!;
    if (flags & FlowFlag.HANDSHAKE_DONE) return FlowClass.TCP_ESTABLISHED;
    if (flags & FlowFlag.MIDSTREAM) {
      return s.pkts[id * 2]! + s.pkts[id * 2 + 1]! > 1 ? FlowClass.TCP_ESTABLISHED : FlowClass.TCP_MIDSTREAM_ONE;
    }
    return FlowClass.TCP_EMBRYONIC;
  }

  /** Canonical key: the lower (address, port) endpoint first; keyDir says where src went. */
  private buildKey(v: PacketView): void {
    let sp = v.srcPort;
    let dp = v.dstPort;
    const proto = v.ipProto;
    if (proto === PROTO_ICMP || proto === PROTO_ICMP6) {
      const type = v.icmpType & 0xff;
      const counterpart = icmpCounterpart(proto, type);
      if (v.icmpId >= 0 && (type === 8 || type === 0 || type === 128 || type === 129)) {
        sp = v.icmpId;
        dp = v.icmpId;
      } else {
        sp = type;
        dp = counterpart >= 0 ? counterpart : v.icmpCode & 0xff;
      }
    }
    this.fillKey(v.ipVersion, proto, v.src, v.dst, sp, dp);
  }

  private fillKey(version: number, proto: number, src: Int32Array, dst: Int32Array, sp: number, dp: number): void {
    const k = this.key;
    let srcFirst = true;
    for (let i = 0; i < 4; i++) {
      const a = src[i]! >>> 0;
      const b = dst[i]! >>> 0;
      if (a !== b) {
        srcFirst = a < b;
        break;
      }
      if (i === 3) srcFirst = sp <= dp;
    }
    const first = srcFirst ? src : dst;
    const second = srcFirst ? dst : src;
    k[0] = first[0]!;
    k[1] = first[1]!;
    k[2] = first[2]!;
    k[3] = first[3]!;
    k[4] = second[0]!;
    k[5] = second[1]!;
    k[6] = second[2]!;
    k[7] = second[3]!;
    k[8] = srcFirst ? (sp << 16) | dp : (dp << 16) | sp;
    k[9] = (version << 8) | proto;
    this.keyDir = srcFirst ? 0 : 1;
  }

  private attachIcmpError(v: PacketView): boolean {
    this.fillKey(v.quotedIpVersion, v.quotedProto, v.quotedSrc, v.quotedDst, v.quotedSrcPort, v.quotedDstPort);
    const id = this.table.find(this.key);
    if (id < 0) return false;
    const s = this.state;
    const cold = s.coldOf(id);
    cold.icmpErrors = (cold.icmpErrors ?? 0) + 1;
    cold.icmpErrorType = v.icmpType;
    cold.icmpErrorCode = v.icmpCode;
    if (v.tsUs > s.lastTs[id]!) s.lastTs[id] = v.tsUs;
    this.counters.icmpErrorsAttached++;
    this.lastIcmpErrorFlow = id;
    return true;
  }

  private fragmentSlot(v: PacketView): number {
    let h = Math.imul(v.fragId ^ v.ipProto, 0x9e3779b1);
    for (let i = 0; i < 4; i++) h = Math.imul(h ^ v.src[i]! ^ (v.dst[i]! * 31), 0x85ebca6b);
    return (h ^ (h >>> 15)) & 0x7fffffff;
  }

  private rememberFragment(v: PacketView, id: number): void {
    const h = this.fragmentSlot(v);
    const slot = h & (this.fragSlots - 1);
    this.fragHash[slot] = h;
    this.fragFlow[slot] = id;
    this.fragSerial[slot] = this.state.serial[id]!;
  }

  private accountFragment(v: PacketView): void {
    const h = this.fragmentSlot(v);
    const slot = h & (this.fragSlots - 1);
    const id = this.fragFlow[slot]!;
    if (id < 0 || this.fragHash[slot] !== h || this.fragSerial[slot] !== this.state.serial[id]) {
      this.counters.fragmentsNoFlow++;
      return;
    }
    const s = this.state;
    const side = this.sideOfAddresses(id, v);
    if (side < 0) {
      this.counters.fragmentsNoFlow++;
      return;
    }
    const e = id * 2 + side;
    this.countPacket(id, e, v);
    const cold = s.coldOf(id);
    cold.fragments = (cold.fragments ?? 0) + 1;
    this.table.touch(id, this.table.flowClass[id]! as FlowClass, this.clock);
  }

  /** Which side of flow `id` sent packet v, judged by addresses only; -1 if it is not this flow. */
  private sideOfAddresses(id: number, v: PacketView): number {
    const keys = this.table.keys;
    const base = id * KEY_WORDS;
    let srcIsA = true;
    let srcIsB = true;
    for (let i = 0; i < 4; i++) {
      if (keys[base + i] !== v.src[i]) srcIsA = false;
      if (keys[base + 4 + i] !== v.src[i]) srcIsB = false;
    }
    if (!srcIsA && !srcIsB) return -1;
    const endpoint = srcIsA ? 0 : 1;
    return endpoint === this.state.origEndpoint[id] ? ORIG : RESP;
  }
}
