/**
 * Builds flow records from snapshots (flow-snapshot.ts) in the record stage. This is where flow
 * strings are made: addresses, Community ID and history, once per flow (cached under the flow's
 * serial until its end), and timestamps per record.
 */
import { communityId } from '../wire/community-id.js';
import { formatIp } from '../wire/ip-format.js';
import { TUNNEL_NAMES } from '../decode/status.js';
import { HISTORY_MAX } from '../flow/flow-state.js';
import { FlowFlag } from '../flow/flow-state.js';
import { END_REASON_NAMES } from '../flow/flow-engine.js';
import type { FlowRecord } from './records.js';
import { formatTs } from './serialize.js';
import { CONN_STATES, KIND_END, Snap, SNAPSHOT_KINDS, SNAPSHOT_STRIDE } from './flow-snapshot.js';

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmp6' };
const FLAG_LETTERS = 'FSRPAUEC';
const ORIG = 0;
const RESP = 1;

function flagString(flags: number): string {
  let s = '';
  for (let i = 0; i < 8; i++) if (flags & (1 << i)) s += FLAG_LETTERS[i];
  return s;
}

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
    if ((origFlags & 0x12) === 0x02 || (respFlags & 0x12) === 0x12) return ROLE_ORIG_SYN;
    if ((respFlags & 0x12) === 0x02 || (origFlags & 0x12) === 0x12) return ROLE_RESP_SYN;
  } else if (proto !== 17 && proto !== 132) {
    return undefined;
  }
  const origLow = origPort < 1024;
  const respLow = respPort < 1024;
  if (origLow !== respLow) return respLow ? ROLE_ORIG_WELL_KNOWN : ROLE_RESP_WELL_KNOWN;
  if (origPort !== respPort) return respPort < origPort ? ROLE_ORIG_LOWER : ROLE_RESP_LOWER;
  return ROLE_ORIG_ORIGINATOR;
}
const ROLE_ORIG_SYN: Roles = { clientSide: ORIG, method: 'syn' };
const ROLE_RESP_SYN: Roles = { clientSide: RESP, method: 'syn' };
const ROLE_ORIG_WELL_KNOWN: Roles = { clientSide: ORIG, method: 'wellKnownPort' };
const ROLE_RESP_WELL_KNOWN: Roles = { clientSide: RESP, method: 'wellKnownPort' };
const ROLE_ORIG_LOWER: Roles = { clientSide: ORIG, method: 'lowerPort' };
const ROLE_RESP_LOWER: Roles = { clientSide: RESP, method: 'lowerPort' };
const ROLE_ORIG_ORIGINATOR: Roles = { clientSide: ORIG, method: 'originator' };

interface FlowStringSet {
  communityId: string;
  srcIP: string;
  dstIP: string;
}

const addrA = new Int32Array(4);
const addrB = new Int32Array(4);
const outerSrc = new Int32Array(4);
const outerDst = new Int32Array(4);

/** Flows whose strings are kept between their records; beyond it the oldest are dropped (and
 *  made again if needed), so a flood of a million open flows cannot fill the worker's heap. */
const STRING_CACHE_FLOWS = 65_536;

/** Per-flow strings, made at a flow's first record and dropped at its end. */
export class FlowStringCache {
  private readonly bySerial = new Map<number, FlowStringSet>();

  get(n: Float64Array, b: number): FlowStringSet {
    const serial = n[b + Snap.SERIAL]!;
    let set = this.bySerial.get(serial);
    if (set === undefined) {
      set = makeStrings(n, b);
      if (this.bySerial.size >= STRING_CACHE_FLOWS) this.bySerial.delete(this.bySerial.keys().next().value!);
      this.bySerial.set(serial, set);
    }
    if (n[b + Snap.KIND] === KIND_END) this.bySerial.delete(serial);
    return set;
  }

  get size(): number {
    return this.bySerial.size;
  }
}

function makeStrings(n: Float64Array, b: number): FlowStringSet {
  for (let i = 0; i < 4; i++) {
    addrA[i] = n[b + Snap.ADDR_A + i]!;
    addrB[i] = n[b + Snap.ADDR_B + i]!;
  }
  const version = n[b + Snap.VERSION]!;
  const proto = n[b + Snap.PROTO]!;
  const origIsA = n[b + Snap.ORIG_IS_A] === 1;
  const origAddr = origIsA ? addrA : addrB;
  const respAddr = origIsA ? addrB : addrA;
  const origPort = origIsA ? n[b + Snap.PORT_A]! : n[b + Snap.PORT_B]!;
  const respPort = origIsA ? n[b + Snap.PORT_B]! : n[b + Snap.PORT_A]!;
  const isIcmp = proto === 1 || proto === 58;
  return {
    communityId: isIcmp
      ? communityId(version, proto, origAddr, respAddr, n[b + Snap.ICMP_TYPE]! & 0xff, n[b + Snap.ICMP_CODE]! & 0xff)
      : communityId(version, proto, origAddr, respAddr, origPort, respPort),
    srcIP: formatIp(version, origAddr),
    dstIP: formatIp(version, respAddr),
  };
}

function historyAt(history: Uint8Array, slot: number, len: number): string {
  let s = '';
  const start = slot * HISTORY_MAX;
  for (let i = 0; i < len; i++) s += String.fromCharCode(history[start + i]!);
  return s;
}

/** Absent means absent: JSON leaves undefined properties out. */
const ABSENT = undefined;

/**
 * The record of snapshot `slot`. Every property is assigned in FLOW_FIELDS order in one literal,
 * absent ones as undefined, so all flow records share one shape and serialize without reordering.
 */
export function flowRecordFromSnapshot(nums: Float64Array, history: Uint8Array, slot: number, ifName: string, strings: FlowStringCache): FlowRecord {
  const n = nums;
  const b = slot * SNAPSHOT_STRIDE;
  const proto = n[b + Snap.PROTO]!;
  const origIsA = n[b + Snap.ORIG_IS_A] === 1;
  const origPort = origIsA ? n[b + Snap.PORT_A]! : n[b + Snap.PORT_B]!;
  const respPort = origIsA ? n[b + Snap.PORT_B]! : n[b + Snap.PORT_A]!;
  const isTcp = proto === 6;
  const isIcmp = proto === 1 || proto === 58;
  const hasPorts = isTcp || proto === 17 || proto === 132;
  const { communityId: cid, srcIP, dstIP } = strings.get(n, b);
  const kind = SNAPSHOT_KINDS[n[b + Snap.KIND]!]!;
  const reason = n[b + Snap.REASON]!;
  const nowUs = n[b + Snap.NOW_US]!;
  const firstTs = n[b + Snap.FIRST_TS]!;
  const lastTs = n[b + Snap.LAST_TS]!;
  const historyLen = n[b + Snap.HISTORY_LEN]!;
  const origFlags = n[b + Snap.ORIG_TCP_FLAGS]!;
  const respFlags = n[b + Snap.RESP_TCP_FLAGS]!;
  const roles = decideRoles(proto, origFlags, respFlags, origPort, respPort);
  const clientIsOrig = roles?.clientSide === ORIG;
  const synTs = n[b + Snap.SYN_TS]!;
  const synAckTs = n[b + Snap.SYNACK_TS]!;
  const ackTs = n[b + Snap.ACK_TS]!;
  const icmpErrors = n[b + Snap.ICMP_ERRORS]!;
  const tunnel = n[b + Snap.TUNNEL]!;
  const tunnelId = n[b + Snap.TUNNEL_ID]!;
  const outerVersion = n[b + Snap.OUTER_VERSION]!;
  if (outerVersion !== 0) {
    for (let i = 0; i < 4; i++) {
      outerSrc[i] = n[b + Snap.OUTER_SRC + i]!;
      outerDst[i] = n[b + Snap.OUTER_DST + i]!;
    }
  }
  const vlan = n[b + Snap.VLAN]!;
  const vlanInner = n[b + Snap.VLAN_INNER]!;
  const fragments = n[b + Snap.FRAGMENTS]!;
  const icmpId = n[b + Snap.ICMP_ID]!;
  return {
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
    srcPkts: n[b + Snap.ORIG_PKTS]!,
    srcBytes: n[b + Snap.ORIG_BYTES]!,
    dstPkts: n[b + Snap.RESP_PKTS]!,
    dstBytes: n[b + Snap.RESP_BYTES]!,
    srcPayloadBytes: n[b + Snap.ORIG_PAYLOAD]!,
    dstPayloadBytes: n[b + Snap.RESP_PAYLOAD]!,
    connState: CONN_STATES[n[b + Snap.CONN_STATE]!],
    history: historyLen > 0 ? historyAt(history, slot, historyLen) : ABSENT,
    endReason: kind === 'flow_end' && reason >= 0 ? END_REASON_NAMES[reason] : ABSENT,
    clientIP: roles ? (clientIsOrig ? srcIP : dstIP) : ABSENT,
    serverIP: roles ? (clientIsOrig ? dstIP : srcIP) : ABSENT,
    servicePort: roles ? (clientIsOrig ? respPort : origPort) : ABSENT,
    roleMethod: roles ? roles.method : ABSENT,
    rolesFlipped: n[b + Snap.FLOW_FLAGS]! & FlowFlag.FLIPPED ? true : ABSENT,
    srcTcpFlags: isTcp ? flagString(origFlags) : ABSENT,
    dstTcpFlags: isTcp ? flagString(respFlags) : ABSENT,
    retransSrc: isTcp ? n[b + Snap.ORIG_RETRANS]! : ABSENT,
    retransDst: isTcp ? n[b + Snap.RESP_RETRANS]! : ABSENT,
    outOfOrderSrc: isTcp ? n[b + Snap.ORIG_OOO]! : ABSENT,
    outOfOrderDst: isTcp ? n[b + Snap.RESP_OOO]! : ABSENT,
    dupAckSrc: isTcp ? n[b + Snap.ORIG_DUPACK]! : ABSENT,
    dupAckDst: isTcp ? n[b + Snap.RESP_DUPACK]! : ABSENT,
    zeroWindowSrc: isTcp ? n[b + Snap.ORIG_ZEROWIN]! : ABSENT,
    zeroWindowDst: isTcp ? n[b + Snap.RESP_ZEROWIN]! : ABSENT,
    synToSynAckUs: isTcp && synTs >= 0 && synAckTs >= 0 ? synAckTs - synTs : ABSENT,
    synAckToAckUs: isTcp && synAckTs >= 0 && ackTs >= 0 ? ackTs - synAckTs : ABSENT,
    icmpType: isIcmp ? n[b + Snap.ICMP_TYPE]! : ABSENT,
    icmpCode: isIcmp ? n[b + Snap.ICMP_CODE]! : ABSENT,
    icmpId: isIcmp && icmpId >= 0 ? icmpId : ABSENT,
    icmpErrors: icmpErrors > 0 ? icmpErrors : ABSENT,
    icmpErrorType: icmpErrors > 0 && n[b + Snap.ICMP_ERROR_TYPE]! >= 0 ? n[b + Snap.ICMP_ERROR_TYPE]! : ABSENT,
    icmpErrorCode: icmpErrors > 0 && n[b + Snap.ICMP_ERROR_CODE]! >= 0 ? n[b + Snap.ICMP_ERROR_CODE]! : ABSENT,
    vlan: vlan >= 0 ? vlan : ABSENT,
    vlanInner: vlanInner >= 0 ? vlanInner : ABSENT,
    tunnel: tunnel !== 0 ? TUNNEL_NAMES[tunnel] : ABSENT,
    tunnelId: tunnel !== 0 && tunnelId >= 0 ? tunnelId : ABSENT,
    outerSrcIP: outerVersion !== 0 ? formatIp(outerVersion, outerSrc) : ABSENT,
    outerDstIP: outerVersion !== 0 ? formatIp(outerVersion, outerDst) : ABSENT,
    fragments: fragments > 0 ? fragments : ABSENT,
    tls: ABSENT,
    http: ABSENT,
    serverName: ABSENT,
  };
}

/** Appends `,"key":value` for a number field only when it is present (not ABSENT). */
function num(key: string, v: number | undefined): string {
  return v === undefined ? '' : ',"' + key + '":' + v;
}
function str(key: string, v: string | undefined): string {
  return v === undefined ? '' : ',"' + key + '":"' + v + '"';
}

/**
 * The JSON line of snapshot `slot`, written straight from the numbers: the file path's fast
 * lane, with no record object and no JSON.stringify (their garbage and generic walk cost ~10 µs
 * per record). Must equal flowToJsonLine(flowRecordFromSnapshot(...)) byte for byte; a test
 * checks it on the corpus. `ifJson` is the interface name already JSON-quoted.
 */
export function flowJsonLineFromSnapshot(nums: Float64Array, history: Uint8Array, slot: number, ifJson: string, strings: FlowStringCache): string {
  const n = nums;
  const b = slot * SNAPSHOT_STRIDE;
  const proto = n[b + Snap.PROTO]!;
  const origIsA = n[b + Snap.ORIG_IS_A] === 1;
  const origPort = origIsA ? n[b + Snap.PORT_A]! : n[b + Snap.PORT_B]!;
  const respPort = origIsA ? n[b + Snap.PORT_B]! : n[b + Snap.PORT_A]!;
  const isTcp = proto === 6;
  const isIcmp = proto === 1 || proto === 58;
  const hasPorts = isTcp || proto === 17 || proto === 132;
  const set = strings.get(n, b);
  const kind = SNAPSHOT_KINDS[n[b + Snap.KIND]!]!;
  const reason = n[b + Snap.REASON]!;
  const nowUs = n[b + Snap.NOW_US]!;
  const firstTs = n[b + Snap.FIRST_TS]!;
  const lastTs = n[b + Snap.LAST_TS]!;
  const historyLen = n[b + Snap.HISTORY_LEN]!;
  const origFlags = n[b + Snap.ORIG_TCP_FLAGS]!;
  const respFlags = n[b + Snap.RESP_TCP_FLAGS]!;
  const roles = decideRoles(proto, origFlags, respFlags, origPort, respPort);
  const clientIsOrig = roles?.clientSide === ORIG;
  const synTs = n[b + Snap.SYN_TS]!;
  const synAckTs = n[b + Snap.SYNACK_TS]!;
  const ackTs = n[b + Snap.ACK_TS]!;
  const icmpErrors = n[b + Snap.ICMP_ERRORS]!;
  const tunnel = n[b + Snap.TUNNEL]!;
  const tunnelId = n[b + Snap.TUNNEL_ID]!;
  const outerVersion = n[b + Snap.OUTER_VERSION]!;
  let line =
    '{"type":"' + kind + '","ts":"' + formatTs(nowUs) + '","tsUs":' + nowUs + ',"if":' + ifJson +
    ',"proto":"' + (PROTO_NAMES[proto] ?? String(proto)) + '","srcIP":"' + set.srcIP + '"' +
    (hasPorts ? ',"srcPort":' + origPort : '') + ',"dstIP":"' + set.dstIP + '"' + (hasPorts ? ',"dstPort":' + respPort : '') +
    ',"communityId":"' + set.communityId + '","firstTs":"' + formatTs(firstTs) + '","lastTs":"' + formatTs(lastTs) +
    '","durationUs":' + (lastTs - firstTs) +
    ',"srcPkts":' + n[b + Snap.ORIG_PKTS]! + ',"srcBytes":' + n[b + Snap.ORIG_BYTES]! +
    ',"dstPkts":' + n[b + Snap.RESP_PKTS]! + ',"dstBytes":' + n[b + Snap.RESP_BYTES]! +
    ',"srcPayloadBytes":' + n[b + Snap.ORIG_PAYLOAD]! + ',"dstPayloadBytes":' + n[b + Snap.RESP_PAYLOAD]! +
    ',"connState":"' + CONN_STATES[n[b + Snap.CONN_STATE]!] + '"' +
    (historyLen > 0 ? ',"history":"' + historyAt(history, slot, historyLen) + '"' : '') +
    str('endReason', kind === 'flow_end' && reason >= 0 ? END_REASON_NAMES[reason] : ABSENT);
  if (roles) {
    line +=
      ',"clientIP":"' + (clientIsOrig ? set.srcIP : set.dstIP) + '","serverIP":"' + (clientIsOrig ? set.dstIP : set.srcIP) +
      '","servicePort":' + (clientIsOrig ? respPort : origPort) + ',"roleMethod":"' + roles.method + '"';
  }
  if (n[b + Snap.FLOW_FLAGS]! & FlowFlag.FLIPPED) line += ',"rolesFlipped":true';
  if (isTcp) {
    line +=
      ',"srcTcpFlags":"' + flagString(origFlags) + '","dstTcpFlags":"' + flagString(respFlags) +
      '","retransSrc":' + n[b + Snap.ORIG_RETRANS]! + ',"retransDst":' + n[b + Snap.RESP_RETRANS]! +
      ',"outOfOrderSrc":' + n[b + Snap.ORIG_OOO]! + ',"outOfOrderDst":' + n[b + Snap.RESP_OOO]! +
      ',"dupAckSrc":' + n[b + Snap.ORIG_DUPACK]! + ',"dupAckDst":' + n[b + Snap.RESP_DUPACK]! +
      ',"zeroWindowSrc":' + n[b + Snap.ORIG_ZEROWIN]! + ',"zeroWindowDst":' + n[b + Snap.RESP_ZEROWIN]! +
      num('synToSynAckUs', synTs >= 0 && synAckTs >= 0 ? synAckTs - synTs : ABSENT) +
      num('synAckToAckUs', synAckTs >= 0 && ackTs >= 0 ? ackTs - synAckTs : ABSENT);
  }
  if (isIcmp) {
    const icmpId = n[b + Snap.ICMP_ID]!;
    line += ',"icmpType":' + n[b + Snap.ICMP_TYPE]! + ',"icmpCode":' + n[b + Snap.ICMP_CODE]! + num('icmpId', icmpId >= 0 ? icmpId : ABSENT);
  }
  if (icmpErrors > 0) {
    const t = n[b + Snap.ICMP_ERROR_TYPE]!;
    const c = n[b + Snap.ICMP_ERROR_CODE]!;
    line += ',"icmpErrors":' + icmpErrors + num('icmpErrorType', t >= 0 ? t : ABSENT) + num('icmpErrorCode', c >= 0 ? c : ABSENT);
  }
  const vlan = n[b + Snap.VLAN]!;
  const vlanInner = n[b + Snap.VLAN_INNER]!;
  line += num('vlan', vlan >= 0 ? vlan : ABSENT) + num('vlanInner', vlanInner >= 0 ? vlanInner : ABSENT);
  if (tunnel !== 0) line += ',"tunnel":"' + TUNNEL_NAMES[tunnel] + '"' + num('tunnelId', tunnelId >= 0 ? tunnelId : ABSENT);
  if (outerVersion !== 0) {
    for (let i = 0; i < 4; i++) {
      outerSrc[i] = n[b + Snap.OUTER_SRC + i]!;
      outerDst[i] = n[b + Snap.OUTER_DST + i]!;
    }
    line += ',"outerSrcIP":"' + formatIp(outerVersion, outerSrc) + '","outerDstIP":"' + formatIp(outerVersion, outerDst) + '"';
  }
  const fragments = n[b + Snap.FRAGMENTS]!;
  return line + num('fragments', fragments > 0 ? fragments : ABSENT) + '}\n';
}
