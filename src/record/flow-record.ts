/**
 * Builds flow records from the engine's columns at emission time (flow start, interim update,
 * end). This is the only place flow strings (addresses, history, Community ID) are made.
 */
import { communityId } from '../wire/community-id.js';
import { formatIp } from '../wire/ip-format.js';
import { TUNNEL_NAMES } from '../decode/status.js';
import { KEY_WORDS } from '../flow/flow-table.js';
import { FlowFlag, ORIG, RESP } from '../flow/flow-state.js';
import { tcpConnState } from '../flow/tcp-tracker.js';
import { END_REASON_NAMES, EndReasonCode, type FlowEngine } from '../flow/flow-engine.js';
import type { FlowRecord } from './records.js';
import { formatTs } from './serialize.js';

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmp6' };
const FLAG_LETTERS = 'FSRPAUEC';

function flagString(flags: number): string {
  let s = '';
  for (let i = 0; i < 8; i++) if (flags & (1 << i)) s += FLAG_LETTERS[i];
  return s;
}

/** Scratch address words so the key's slices are not copied per flow. */
const addrA = new Int32Array(4);
const addrB = new Int32Array(4);

export type RecordKind = 'flow_start' | 'flow_update' | 'flow_end';

export interface Roles {
  clientSide: number;
  method: string;
}

/**
 * Client/server per SPEC 8: the SYN sender is the client (or the SYN-ACK sender the server);
 * else the side with a port below 1024 is the server; else the lower port is the server's.
 */
export function decideRoles(proto: number, origFlags: number, respFlags: number, origPort: number, respPort: number): Roles | undefined {
  if (proto === 6) {
    if ((origFlags & 0x12) === 0x02 || (respFlags & 0x12) === 0x12) return { clientSide: ORIG, method: 'syn' };
    if ((respFlags & 0x12) === 0x02 || (origFlags & 0x12) === 0x12) return { clientSide: RESP, method: 'syn' };
  } else if (proto !== 17 && proto !== 132) {
    return undefined;
  }
  const origLow = origPort < 1024;
  const respLow = respPort < 1024;
  if (origLow !== respLow) return { clientSide: respLow ? ORIG : RESP, method: 'wellKnownPort' };
  if (origPort !== respPort) return { clientSide: respPort < origPort ? ORIG : RESP, method: 'lowerPort' };
  return { clientSide: ORIG, method: 'originator' };
}

/**
 * Strings that do not change during a flow's life, made once at its first record and reused
 * for its updates and end (Community ID hashing and address formatting are the costly part).
 */
export class FlowStrings {
  private readonly communityIds: (string | undefined)[] = [];
  private readonly srcIPs: (string | undefined)[] = [];
  private readonly dstIPs: (string | undefined)[] = [];

  get(engine: FlowEngine, id: number): { communityId: string; srcIP: string; dstIP: string } {
    let cid = this.communityIds[id];
    if (cid === undefined) this.fill(engine, id);
    cid = this.communityIds[id]!;
    return { communityId: cid, srcIP: this.srcIPs[id]!, dstIP: this.dstIPs[id]! };
  }

  /** The flow ended: its slot will belong to another flow. */
  forget(id: number): void {
    this.communityIds[id] = undefined;
  }

  private fill(engine: FlowEngine, id: number): void {
    const t = engine.table;
    const s = engine.state;
    const base = id * KEY_WORDS;
    for (let i = 0; i < 4; i++) {
      addrA[i] = t.keys[base + i]!;
      addrB[i] = t.keys[base + 4 + i]!;
    }
    const portWord = t.keys[base + 8]!;
    const version = t.keys[base + 9]! >>> 8;
    const proto = t.keys[base + 9]! & 0xff;
    const origIsA = s.origEndpoint[id] === 0;
    const origAddr = origIsA ? addrA : addrB;
    const respAddr = origIsA ? addrB : addrA;
    const origPort = origIsA ? portWord >>> 16 : portWord & 0xffff;
    const respPort = origIsA ? portWord & 0xffff : portWord >>> 16;
    const isIcmp = proto === 1 || proto === 58;
    this.communityIds[id] = isIcmp
      ? communityId(version, proto, origAddr, respAddr, s.icmpType[id]! & 0xff, s.icmpCode[id]! & 0xff)
      : communityId(version, proto, origAddr, respAddr, origPort, respPort);
    this.srcIPs[id] = formatIp(version, origAddr);
    this.dstIPs[id] = formatIp(version, respAddr);
  }
}

/** Absent means absent: JSON.stringify leaves undefined properties out. */
const ABSENT = undefined;

/**
 * One flow record from the columns. Every property is assigned in FLOW_FIELDS order in a single
 * literal, absent ones as undefined (which JSON leaves out), so all flow records share one shape
 * and serialize without reordering.
 */
export function buildFlowRecord(
  engine: FlowEngine,
  strings: FlowStrings,
  id: number,
  kind: RecordKind,
  ifName: string,
  nowUs: number,
  reason?: EndReasonCode,
): FlowRecord {
  const t = engine.table;
  const s = engine.state;
  const base = id * KEY_WORDS;
  const portWord = t.keys[base + 8]!;
  const proto = t.keys[base + 9]! & 0xff;
  const origIsA = s.origEndpoint[id] === 0;
  const origPort = origIsA ? portWord >>> 16 : portWord & 0xffff;
  const respPort = origIsA ? portWord & 0xffff : portWord >>> 16;
  const isTcp = proto === 6;
  const isIcmp = proto === 1 || proto === 58;
  const hasPorts = isTcp || proto === 17 || proto === 132;
  const o = id * 2;
  const r = o + 1;
  const { communityId: cid, srcIP, dstIP } = strings.get(engine, id);
  const firstTs = s.firstTs[id]!;
  const lastTs = s.lastTs[id]!;
  const history = isTcp || proto === 17 ? s.historyString(id) : '';
  const connState = isTcp ? tcpConnState(s, id, history) : proto === 17 ? udpConnState(s.pkts[o]!, s.pkts[r]!) : 'OTH';
  const roles = decideRoles(proto, s.tcpFlagsSeen[o]!, s.tcpFlagsSeen[r]!, origPort, respPort);
  const clientIsOrig = roles?.clientSide === ORIG;
  const cold = s.cold[id];
  const hasTunnel = s.tunnel[id] !== 0;
  const outer = hasTunnel && cold?.outerSrc && cold.outerDst && cold.outerIpVersion ? cold : undefined;
  const rec: FlowRecord = {
    type: kind,
    ts: formatTs(nowUs),
    tsUs: nowUs,
    if: ifName,
    proto: PROTO_NAMES[proto] ?? String(proto),
    srcIP,
    srcPort: hasPorts ? origPort : ABSENT,
    dstIP,
    dstPort: hasPorts ? respPort : ABSENT,
    communityId: cid,
    firstTs: formatTs(firstTs),
    lastTs: formatTs(lastTs),
    durationUs: lastTs - firstTs,
    srcPkts: s.pkts[o]!,
    srcBytes: s.bytes[o]!,
    dstPkts: s.pkts[r]!,
    dstBytes: s.bytes[r]!,
    srcPayloadBytes: s.payloadBytes[o]!,
    dstPayloadBytes: s.payloadBytes[r]!,
    connState,
    history: history === '' ? ABSENT : history,
    endReason: kind === 'flow_end' && reason !== undefined ? END_REASON_NAMES[reason] : ABSENT,
    clientIP: roles ? (clientIsOrig ? srcIP : dstIP) : ABSENT,
    serverIP: roles ? (clientIsOrig ? dstIP : srcIP) : ABSENT,
    servicePort: roles ? (clientIsOrig ? respPort : origPort) : ABSENT,
    roleMethod: roles ? roles.method : ABSENT,
    rolesFlipped: s.flowFlags[id]! & FlowFlag.FLIPPED ? true : ABSENT,
    srcTcpFlags: isTcp ? flagString(s.tcpFlagsSeen[o]!) : ABSENT,
    dstTcpFlags: isTcp ? flagString(s.tcpFlagsSeen[r]!) : ABSENT,
    retransSrc: isTcp ? s.retransmits[o]! : ABSENT,
    retransDst: isTcp ? s.retransmits[r]! : ABSENT,
    outOfOrderSrc: isTcp ? s.outOfOrder[o]! : ABSENT,
    outOfOrderDst: isTcp ? s.outOfOrder[r]! : ABSENT,
    dupAckSrc: isTcp ? s.dupAcks[o]! : ABSENT,
    dupAckDst: isTcp ? s.dupAcks[r]! : ABSENT,
    zeroWindowSrc: isTcp ? s.zeroWindowCount[o]! : ABSENT,
    zeroWindowDst: isTcp ? s.zeroWindowCount[r]! : ABSENT,
    synToSynAckUs: isTcp && s.synTs[id]! >= 0 && s.synAckTs[id]! >= 0 ? s.synAckTs[id]! - s.synTs[id]! : ABSENT,
    synAckToAckUs: isTcp && s.synAckTs[id]! >= 0 && s.ackTs[id]! >= 0 ? s.ackTs[id]! - s.synAckTs[id]! : ABSENT,
    icmpType: isIcmp ? s.icmpType[id]! : ABSENT,
    icmpCode: isIcmp ? s.icmpCode[id]! : ABSENT,
    icmpId: isIcmp && s.icmpId[id]! >= 0 ? s.icmpId[id]! : ABSENT,
    icmpErrors: s.icmpErrors[id]! > 0 ? s.icmpErrors[id]! : ABSENT,
    icmpErrorType: s.icmpErrors[id]! > 0 ? cold?.icmpErrorType : ABSENT,
    icmpErrorCode: s.icmpErrors[id]! > 0 ? cold?.icmpErrorCode : ABSENT,
    vlan: s.vlanOuter[id]! >= 0 ? s.vlanOuter[id]! : ABSENT,
    vlanInner: s.vlanInner[id]! >= 0 ? s.vlanInner[id]! : ABSENT,
    tunnel: hasTunnel ? TUNNEL_NAMES[s.tunnel[id]!] : ABSENT,
    tunnelId: hasTunnel && s.tunnelId[id]! >= 0 ? s.tunnelId[id]! : ABSENT,
    outerSrcIP: outer ? formatIp(outer.outerIpVersion!, outer.outerSrc!) : ABSENT,
    outerDstIP: outer ? formatIp(outer.outerIpVersion!, outer.outerDst!) : ABSENT,
    fragments: s.fragments[id]! > 0 ? s.fragments[id]! : ABSENT,
    tls: ABSENT,
    http: ABSENT,
    serverName: ABSENT,
  };
  return rec;
}

/** Zeek's conn_state for UDP: which sides sent anything. */
function udpConnState(origPkts: number, respPkts: number): string {
  if (origPkts > 0) return respPkts > 0 ? 'SF' : 'S0';
  return respPkts > 0 ? 'SHR' : 'OTH';
}
