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

/** Scratch address words so the key's slices are not copied per record. */
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

export function buildFlowRecord(engine: FlowEngine, id: number, kind: RecordKind, ifName: string, nowUs: number, reason?: EndReasonCode): FlowRecord {
  const t = engine.table;
  const s = engine.state;
  const base = id * KEY_WORDS;
  for (let i = 0; i < 4; i++) {
    addrA[i] = t.keys[base + i]!;
    addrB[i] = t.keys[base + 4 + i]!;
  }
  const portWord = t.keys[base + 8]!;
  const familyProto = t.keys[base + 9]!;
  const version = familyProto >>> 8;
  const proto = familyProto & 0xff;
  const origIsA = s.origEndpoint[id] === 0;
  const origAddr = origIsA ? addrA : addrB;
  const respAddr = origIsA ? addrB : addrA;
  const portA = portWord >>> 16;
  const portB = portWord & 0xffff;
  const origPort = origIsA ? portA : portB;
  const respPort = origIsA ? portB : portA;
  const isIcmp = proto === 1 || proto === 58;
  const hasPorts = proto === 6 || proto === 17 || proto === 132;
  const o = id * 2;
  const r = o + 1;
  const srcIP = formatIp(version, origAddr);
  const dstIP = formatIp(version, respAddr);
  const firstTs = s.firstTs[id]!;
  const lastTs = s.lastTs[id]!;

  const rec: FlowRecord = {
    type: kind,
    ts: formatTs(nowUs),
    tsUs: nowUs,
    if: ifName,
    proto: PROTO_NAMES[proto] ?? String(proto),
    srcIP,
    dstIP,
    communityId: isIcmp
      ? communityId(version, proto, origAddr, respAddr, s.icmpType[id]! & 0xff, s.icmpCode[id]! & 0xff)
      : communityId(version, proto, origAddr, respAddr, origPort, respPort),
    firstTs: formatTs(firstTs),
    lastTs: formatTs(lastTs),
    durationUs: lastTs - firstTs,
    srcPkts: s.pkts[o]!,
    srcBytes: s.bytes[o]!,
    dstPkts: s.pkts[r]!,
    dstBytes: s.bytes[r]!,
    srcPayloadBytes: s.payloadBytes[o]!,
    dstPayloadBytes: s.payloadBytes[r]!,
  };
  if (hasPorts) {
    rec.srcPort = origPort;
    rec.dstPort = respPort;
  }
  if (proto === 6 || proto === 17) {
    const history = s.historyString(id);
    if (history !== '') rec.history = history;
    rec.connState = proto === 6 ? tcpConnState(s, id, history) : udpConnState(s.pkts[o]!, s.pkts[r]!);
  } else {
    rec.connState = 'OTH';
  }
  if (kind === 'flow_end' && reason !== undefined) rec.endReason = END_REASON_NAMES[reason];
  const roles = decideRoles(proto, s.tcpFlagsSeen[o]!, s.tcpFlagsSeen[r]!, origPort, respPort);
  if (roles) {
    const clientIsOrig = roles.clientSide === ORIG;
    rec.clientIP = clientIsOrig ? srcIP : dstIP;
    rec.serverIP = clientIsOrig ? dstIP : srcIP;
    rec.servicePort = clientIsOrig ? respPort : origPort;
    rec.roleMethod = roles.method;
  }
  if (proto === 6) {
    rec.srcTcpFlags = flagString(s.tcpFlagsSeen[o]!);
    rec.dstTcpFlags = flagString(s.tcpFlagsSeen[r]!);
    rec.retransSrc = s.retransmits[o]!;
    rec.retransDst = s.retransmits[r]!;
    rec.outOfOrderSrc = s.outOfOrder[o]!;
    rec.outOfOrderDst = s.outOfOrder[r]!;
    rec.dupAckSrc = s.dupAcks[o]!;
    rec.dupAckDst = s.dupAcks[r]!;
    rec.zeroWindowSrc = s.zeroWindowCount[o]!;
    rec.zeroWindowDst = s.zeroWindowCount[r]!;
    if (s.synTs[id]! >= 0 && s.synAckTs[id]! >= 0) rec.synToSynAckUs = s.synAckTs[id]! - s.synTs[id]!;
    if (s.synAckTs[id]! >= 0 && s.ackTs[id]! >= 0) rec.synAckToAckUs = s.ackTs[id]! - s.synAckTs[id]!;
    if (s.flowFlags[id]! & FlowFlag.FLIPPED) rec.rolesFlipped = true;
  }
  if (isIcmp) {
    rec.icmpType = s.icmpType[id]!;
    rec.icmpCode = s.icmpCode[id]!;
    if (s.icmpId[id]! >= 0) rec.icmpId = s.icmpId[id]!;
  }
  if (s.icmpErrors[id]! > 0) {
    rec.icmpErrors = s.icmpErrors[id]!;
    const cold = s.cold[id];
    if (cold?.icmpErrorType !== undefined) rec.icmpErrorType = cold.icmpErrorType;
    if (cold?.icmpErrorCode !== undefined) rec.icmpErrorCode = cold.icmpErrorCode;
  }
  if (s.vlanOuter[id]! >= 0) rec.vlan = s.vlanOuter[id]!;
  if (s.vlanInner[id]! >= 0) rec.vlanInner = s.vlanInner[id]!;
  if (s.tunnel[id] !== 0) {
    rec.tunnel = TUNNEL_NAMES[s.tunnel[id]!];
    if (s.tunnelId[id]! >= 0) rec.tunnelId = s.tunnelId[id]!;
    const cold = s.cold[id];
    if (cold?.outerSrc && cold.outerDst && cold.outerIpVersion) {
      rec.outerSrcIP = formatIp(cold.outerIpVersion, cold.outerSrc);
      rec.outerDstIP = formatIp(cold.outerIpVersion, cold.outerDst);
    }
  }
  if (s.fragments[id]! > 0) rec.fragments = s.fragments[id]!;
  return rec;
}

/** Zeek's conn_state for UDP: which sides sent anything. */
function udpConnState(origPkts: number, respPkts: number): string {
  if (origPkts > 0) return respPkts > 0 ? 'SF' : 'S0';
  return respPkts > 0 ? 'SHR' : 'OTH';
}
