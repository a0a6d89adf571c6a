/**
 * Builds flow records from snapshots (flow-snapshot.ts) in the record stage. This is where flow
 * strings are made: addresses, Community ID and history, once per flow (cached under the flow's
 * serial until its end), and timestamps per record.
 */
import { communityId } from '../wire/community-id.js';
import { formatIp, writeIpv4 } from '../wire/ip-format.js';
import { TUNNEL_NAMES } from '../decode/status.js';
import { HISTORY_MAX } from '../flow/flow-state.js';
import { FlowFlag } from '../flow/flow-state.js';
import { END_REASON_NAMES } from '../flow/flow-engine.js';
import type { FlowAppInfo, FlowRecord } from './records.js';
import { formatTs, writeTs } from './serialize.js';
import type { LineBytes } from './line-bytes.js';
import { CONN_STATES, Snap, SNAPSHOT_KINDS, SNAPSHOT_STRIDE } from './flow-snapshot.js';
import { HTTP_FIELDS, TLS_FIELDS } from './fields.js';
import type { CompiledRoleRules } from '../analyze/roles/compiled-role-rules.js';
import type { ServerName, ServerNames } from './server-names.js';
import type { FlowEnds } from '../analyze/enrich/flow-ends.js';

const utf8 = new TextEncoder();

export const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmp6' };
const FLAG_LETTERS = 'FSRPAUEC';
const ORIG = 0;
const RESP = 1;

/** TCP flags seen, as letters (`FSRPAUEC` order), for each of the 256 flag bytes. */
const FLAG_STRINGS: readonly string[] = Array.from({ length: 256 }, (_, flags) => {
  let s = '';
  for (let i = 0; i < 8; i++) if (flags & (1 << i)) s += FLAG_LETTERS[i];
  return s;
});

function flagString(flags: number): string {
  return FLAG_STRINGS[flags & 0xff]!;
}

export interface Roles {
  clientSide: number;
  /** The side whose port is the service port: the server's, unless a rule's Assign says otherwise. */
  servicePortSide: number;
  /** A rule's `drop`: the flow gets no flowKey (shodohflo leaves it out of its keyed outputs). */
  drop: boolean;
  /** `syn`, `port<1024`, `lower-port`, `originator` (equal ports, no SYN) or `rule:<name>`. */
  method: string;
  /** `,"roleMethod":` and `method` JSON-quoted, as UTF-8: made once, not per record (a rule
   *  name may hold any character). */
  methodPiece: Uint8Array;
}

function makeRoles(clientSide: number, servicePortSide: number, drop: boolean, method: string): Roles {
  return { clientSide, servicePortSide, drop, method, methodPiece: utf8.encode(',"roleMethod":' + JSON.stringify(method)) };
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
const heuristic = (clientSide: number, method: string): Roles => makeRoles(clientSide, 1 - clientSide, false, method);
const ROLE_ORIG_SYN = heuristic(ORIG, 'syn');
const ROLE_RESP_SYN = heuristic(RESP, 'syn');
const ROLE_ORIG_WELL_KNOWN = heuristic(ORIG, 'port<1024');
const ROLE_RESP_WELL_KNOWN = heuristic(RESP, 'port<1024');
const ROLE_ORIG_LOWER = heuristic(ORIG, 'lower-port');
const ROLE_RESP_LOWER = heuristic(RESP, 'lower-port');
const ROLE_ORIG_ORIGINATOR = heuristic(ORIG, 'originator');

interface FlowStringSet {
  communityId: string;
  srcIP: string;
  dstIP: string;
  /** What the operator's role rules (DLLT_ROLE_RULES) decided for the flow, if any rule did. */
  ruleRoles: Roles | undefined;
  /** Looked up once, at the flow's first record with roles, so a name stays for the flow's life. */
  serverNameLooked: boolean;
  serverName: ServerName | undefined;
}

const addrA = new Int32Array(4);
const addrB = new Int32Array(4);
const outerSrc = new Int32Array(4);
const outerDst = new Int32Array(4);

/** Slots of the per-flow string cache (direct-mapped by flow serial): a flow's start and end
 *  records usually meet in it; a collision only means the strings are made again. Bounded, so
 *  a flood of a million open flows cannot fill the worker's heap. */
const STRING_CACHE_SLOTS = 65_536;

/** Per-flow strings (addresses, Community ID, server name), made at a flow's first record and reused. */
export class FlowStringCache {
  /** `rules`: the operator's compiled role rules, evaluated once per flow (its first record).
   *  `names`: server names from DNS answers. */
  constructor(
    private readonly rules?: CompiledRoleRules,
    private readonly names?: ServerNames,
  ) {}

  private readonly serials = new Float64Array(STRING_CACHE_SLOTS).fill(-1);
  private readonly sets: (FlowStringSet | undefined)[] = new Array<FlowStringSet | undefined>(STRING_CACHE_SLOTS).fill(undefined);

  get(n: Float64Array, b: number): FlowStringSet {
    const serial = n[b + Snap.SERIAL]!;
    // Bitwise, not %: a remainder of a double is a call to fmod.
    const slot = serial & (STRING_CACHE_SLOTS - 1);
    if (this.serials[slot] === serial) return this.sets[slot]!;
    const set = makeStrings(n, b, this.rules);
    this.serials[slot] = serial;
    this.sets[slot] = set;
    return set;
  }

  /** The flow's server name (looked up at its first call for the flow). */
  serverNameOf(set: FlowStringSet, client: string, server: string, firstTsUs: number): ServerName | undefined {
    if (!set.serverNameLooked) {
      set.serverNameLooked = true;
      set.serverName = this.names?.nameOf(client, server, firstTsUs);
    }
    return set.serverName;
  }
}

function serverNameJson(name: ServerName): Uint8Array {
  return (name.json ??= utf8.encode(
    ',"serverName":' + JSON.stringify(name.name) +
    (name.chain.length > 1 ? ',"serverNameChain":' + JSON.stringify(name.chain) : '') +
    ',"serverNameTtl":' + name.ttl
  ));
}

function makeStrings(n: Float64Array, b: number, rules: CompiledRoleRules | undefined): FlowStringSet {
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
    ruleRoles: rules !== undefined && rules.decide(version as 4 | 6, proto, origAddr, origPort, respAddr, respPort)
      ? makeRoles(rules.clientSide, rules.servicePortSide, rules.drop, `rule:${rules.ruleName(rules.ruleIndex)}`)
      : undefined,
    serverNameLooked: false,
    serverName: undefined,
  };
}

function historyAt(history: Uint8Array, slot: number, len: number): string {
  let s = '';
  const start = slot * HISTORY_MAX;
  for (let i = 0; i < len; i++) s += String.fromCharCode(history[start + i]!);
  return s;
}

/** What both renderers derive from a snapshot: one module-level scratch object, refilled for
 *  each record, so reading a snapshot allocates nothing. */
const f = {
  b: 0,
  proto: 0,
  origPort: 0,
  respPort: 0,
  isTcp: false,
  isIcmp: false,
  hasPorts: false,
  /** IPv4 flows: the addresses as int32 words, written as digits without their strings. */
  isIpv4: false,
  origWord: 0,
  respWord: 0,
  kind: 'flow_start' as (typeof SNAPSHOT_KINDS)[number],
  kindCode: 0,
  reason: -1,
  nowUs: 0,
  firstTs: 0,
  lastTs: 0,
  historyLen: 0,
  origFlags: 0,
  respFlags: 0,
  roles: undefined as Roles | undefined,
  clientIsOrig: false,
  servicePort: 0,
  serverName: undefined as ServerName | undefined,
  synTs: -1,
  synAckTs: -1,
  ackTs: -1,
  icmpId: -1,
  icmpErrors: 0,
  icmpErrorType: -1,
  icmpErrorCode: -1,
  vlan: -1,
  vlanInner: -1,
  tunnel: 0,
  tunnelId: -1,
  outerVersion: 0,
  fragments: 0,
  strings: undefined as unknown as FlowStringSet,
};

export type SnapshotView = typeof f;

/** What the application parsers add to a flow's records. */
export interface FlowExtras {
  /** The flow's application info (never given for flow_start: it is made at the first packet). */
  app: FlowAppInfo | undefined;
}

const NO_EXTRAS: FlowExtras = { app: undefined };

export function readSnapshot(n: Float64Array, slot: number, strings: FlowStringCache): SnapshotView {
  const b = slot * SNAPSHOT_STRIDE;
  f.b = b;
  f.proto = n[b + Snap.PROTO]!;
  const origIsA = n[b + Snap.ORIG_IS_A] === 1;
  f.origPort = origIsA ? n[b + Snap.PORT_A]! : n[b + Snap.PORT_B]!;
  f.respPort = origIsA ? n[b + Snap.PORT_B]! : n[b + Snap.PORT_A]!;
  f.isTcp = f.proto === 6;
  f.isIcmp = f.proto === 1 || f.proto === 58;
  f.hasPorts = f.isTcp || f.proto === 17 || f.proto === 132;
  f.isIpv4 = n[b + Snap.VERSION] === 4;
  f.origWord = origIsA ? n[b + Snap.ADDR_A]! : n[b + Snap.ADDR_B]!;
  f.respWord = origIsA ? n[b + Snap.ADDR_B]! : n[b + Snap.ADDR_A]!;
  f.strings = strings.get(n, b);
  const kindCode = n[b + Snap.KIND]!;
  // Event snapshots have no record kind: reading past the table would deoptimize this function.
  if (kindCode < SNAPSHOT_KINDS.length) {
    f.kind = SNAPSHOT_KINDS[kindCode]!;
    f.kindCode = kindCode;
  }
  f.reason = n[b + Snap.REASON]!;
  f.nowUs = n[b + Snap.NOW_US]!;
  f.firstTs = n[b + Snap.FIRST_TS]!;
  f.lastTs = n[b + Snap.LAST_TS]!;
  f.historyLen = n[b + Snap.HISTORY_LEN]!;
  f.origFlags = n[b + Snap.ORIG_TCP_FLAGS]!;
  f.respFlags = n[b + Snap.RESP_TCP_FLAGS]!;
  f.roles = f.strings.ruleRoles ?? decideRoles(f.proto, f.origFlags, f.respFlags, f.origPort, f.respPort);
  f.clientIsOrig = f.roles?.clientSide === ORIG;
  f.servicePort = f.roles?.servicePortSide === ORIG ? f.origPort : f.respPort;
  f.serverName = f.roles === undefined
    ? undefined
    : f.clientIsOrig
      ? strings.serverNameOf(f.strings, f.strings.srcIP, f.strings.dstIP, f.firstTs)
      : strings.serverNameOf(f.strings, f.strings.dstIP, f.strings.srcIP, f.firstTs);
  f.synTs = n[b + Snap.SYN_TS]!;
  f.synAckTs = n[b + Snap.SYNACK_TS]!;
  f.ackTs = n[b + Snap.ACK_TS]!;
  f.icmpId = n[b + Snap.ICMP_ID]!;
  f.icmpErrors = n[b + Snap.ICMP_ERRORS]!;
  f.icmpErrorType = n[b + Snap.ICMP_ERROR_TYPE]!;
  f.icmpErrorCode = n[b + Snap.ICMP_ERROR_CODE]!;
  f.vlan = n[b + Snap.VLAN]!;
  f.vlanInner = n[b + Snap.VLAN_INNER]!;
  f.tunnel = n[b + Snap.TUNNEL]!;
  f.tunnelId = n[b + Snap.TUNNEL_ID]!;
  f.outerVersion = n[b + Snap.OUTER_VERSION]!;
  if (f.outerVersion !== 0) {
    for (let i = 0; i < 4; i++) {
      outerSrc[i] = n[b + Snap.OUTER_SRC + i]!;
      outerDst[i] = n[b + Snap.OUTER_DST + i]!;
    }
  }
  f.fragments = n[b + Snap.FRAGMENTS]!;
  return f;
}

/** What attribution needs of a new flow (SPEC 9): TCP and UDP only, with its roles. */
export interface FlowEndsView extends FlowEnds {
  serial: number;
  communityId: string;
  firstTsUs: number;
}

export function flowEndsFromSnapshot(nums: Float64Array, slot: number, strings: FlowStringCache): FlowEndsView | undefined {
  const r = readSnapshot(nums, slot, strings);
  if (r.proto !== 6 && r.proto !== 17) return undefined;
  return {
    serial: nums[r.b + Snap.SERIAL]!,
    proto: r.proto,
    srcIP: r.strings.srcIP,
    srcPort: r.origPort,
    dstIP: r.strings.dstIP,
    dstPort: r.respPort,
    clientIsSrc: r.roles === undefined || r.clientIsOrig,
    communityId: r.strings.communityId,
    firstTsUs: r.firstTs,
  };
}

/** Absent means absent: JSON leaves undefined properties out. */
const ABSENT = undefined;

/**
 * The record of snapshot `slot`. Every property is assigned in FLOW_FIELDS order in one literal,
 * absent ones as undefined, so all flow records share one shape.
 */
export function flowRecordFromSnapshot(nums: Float64Array, history: Uint8Array, slot: number, ifName: string, strings: FlowStringCache, extras: FlowExtras = NO_EXTRAS): FlowRecord {
  const r = readSnapshot(nums, slot, strings);
  const n = nums;
  const b = r.b;
  const { communityId: cid, srcIP, dstIP } = r.strings;
  const roles = r.roles;
  const clientIsOrig = r.clientIsOrig;
  return {
    type: r.kind,
    ts: formatTs(r.nowUs),
    tsUs: r.nowUs,
    if: ifName,
    proto: PROTO_NAMES[r.proto] ?? String(r.proto),
    srcIP,
    srcPort: r.hasPorts ? r.origPort : ABSENT,
    dstIP,
    dstPort: r.hasPorts ? r.respPort : ABSENT,
    communityId: cid,
    firstTs: formatTs(r.firstTs),
    lastTs: formatTs(r.lastTs),
    durationUs: r.lastTs - r.firstTs,
    srcPkts: n[b + Snap.ORIG_PKTS]!,
    srcBytes: n[b + Snap.ORIG_BYTES]!,
    dstPkts: n[b + Snap.RESP_PKTS]!,
    dstBytes: n[b + Snap.RESP_BYTES]!,
    srcPayloadBytes: n[b + Snap.ORIG_PAYLOAD]!,
    dstPayloadBytes: n[b + Snap.RESP_PAYLOAD]!,
    connState: CONN_STATES[n[b + Snap.CONN_STATE]!],
    history: r.historyLen > 0 ? historyAt(history, slot, r.historyLen) : ABSENT,
    endReason: r.kind === 'flow_end' && r.reason >= 0 ? END_REASON_NAMES[r.reason] : ABSENT,
    clientIP: roles ? (clientIsOrig ? srcIP : dstIP) : ABSENT,
    serverIP: roles ? (clientIsOrig ? dstIP : srcIP) : ABSENT,
    servicePort: roles ? r.servicePort : ABSENT,
    roleMethod: roles ? roles.method : ABSENT,
    flowKey: roles && !roles.drop ? `${clientIsOrig ? srcIP : dstIP};${clientIsOrig ? dstIP : srcIP};${r.servicePort};flow` : ABSENT,
    rolesFlipped: n[b + Snap.FLOW_FLAGS]! & FlowFlag.FLIPPED ? true : ABSENT,
    srcTcpFlags: r.isTcp ? flagString(r.origFlags) : ABSENT,
    dstTcpFlags: r.isTcp ? flagString(r.respFlags) : ABSENT,
    retransSrc: r.isTcp ? n[b + Snap.ORIG_RETRANS]! : ABSENT,
    retransDst: r.isTcp ? n[b + Snap.RESP_RETRANS]! : ABSENT,
    outOfOrderSrc: r.isTcp ? n[b + Snap.ORIG_OOO]! : ABSENT,
    outOfOrderDst: r.isTcp ? n[b + Snap.RESP_OOO]! : ABSENT,
    dupAckSrc: r.isTcp ? n[b + Snap.ORIG_DUPACK]! : ABSENT,
    dupAckDst: r.isTcp ? n[b + Snap.RESP_DUPACK]! : ABSENT,
    zeroWindowSrc: r.isTcp ? n[b + Snap.ORIG_ZEROWIN]! : ABSENT,
    zeroWindowDst: r.isTcp ? n[b + Snap.RESP_ZEROWIN]! : ABSENT,
    synToSynAckUs: r.isTcp && r.synTs >= 0 && r.synAckTs >= 0 ? r.synAckTs - r.synTs : ABSENT,
    synAckToAckUs: r.isTcp && r.synAckTs >= 0 && r.ackTs >= 0 ? r.ackTs - r.synAckTs : ABSENT,
    icmpType: r.isIcmp ? n[b + Snap.ICMP_TYPE]! : ABSENT,
    icmpCode: r.isIcmp ? n[b + Snap.ICMP_CODE]! : ABSENT,
    icmpId: r.isIcmp && r.icmpId >= 0 ? r.icmpId : ABSENT,
    icmpErrors: r.icmpErrors > 0 ? r.icmpErrors : ABSENT,
    icmpErrorType: r.icmpErrors > 0 && r.icmpErrorType >= 0 ? r.icmpErrorType : ABSENT,
    icmpErrorCode: r.icmpErrors > 0 && r.icmpErrorCode >= 0 ? r.icmpErrorCode : ABSENT,
    vlan: r.vlan >= 0 ? r.vlan : ABSENT,
    vlanInner: r.vlanInner >= 0 ? r.vlanInner : ABSENT,
    tunnel: r.tunnel !== 0 ? TUNNEL_NAMES[r.tunnel] : ABSENT,
    tunnelId: r.tunnel !== 0 && r.tunnelId >= 0 ? r.tunnelId : ABSENT,
    outerSrcIP: r.outerVersion !== 0 ? formatIp(r.outerVersion, outerSrc) : ABSENT,
    outerDstIP: r.outerVersion !== 0 ? formatIp(r.outerVersion, outerDst) : ABSENT,
    fragments: r.fragments > 0 ? r.fragments : ABSENT,
    tls: extras.app?.tls,
    http: extras.app?.http,
    serverName: r.serverName?.name,
    serverNameChain: r.serverName !== undefined && r.serverName.chain.length > 1 ? [...r.serverName.chain] : ABSENT,
    serverNameTtl: r.serverName?.ttl,
  };
}

/** The constant parts of flow JSON lines, encoded once: copying bytes beats reading chars. */
const J = {
  tsUs: ascii('","tsUs":'),
  dstIP: ascii(',"dstIP":"'),
  communityId: ascii(',"communityId":"'),
  firstTs: ascii('","firstTs":"'),
  lastTs: ascii('","lastTs":"'),
  durationUs: ascii('","durationUs":'),
  history: ascii(',"history":"'),
  clientIP: ascii(',"clientIP":"'),
  serverIP: ascii('","serverIP":"'),
  servicePort: ascii('","servicePort":'),
  flowKey: ascii(',"flowKey":"'),
  flowSuffix: ascii(';flow"'),
  rolesFlipped: ascii(',"rolesFlipped":true'),
  tunnel: ascii(',"tunnel":"'),
  outerSrcIP: ascii(',"outerSrcIP":"'),
  outerDstIP: ascii('","outerDstIP":"'),
  srcPort: ascii(',"srcPort":'),
  dstPort: ascii(',"dstPort":'),
  srcPkts: ascii(',"srcPkts":'),
  srcBytes: ascii(',"srcBytes":'),
  dstPkts: ascii(',"dstPkts":'),
  dstBytes: ascii(',"dstBytes":'),
  srcPayloadBytes: ascii(',"srcPayloadBytes":'),
  dstPayloadBytes: ascii(',"dstPayloadBytes":'),
  retransSrc: ascii(',"retransSrc":'),
  retransDst: ascii(',"retransDst":'),
  outOfOrderSrc: ascii(',"outOfOrderSrc":'),
  outOfOrderDst: ascii(',"outOfOrderDst":'),
  dupAckSrc: ascii(',"dupAckSrc":'),
  dupAckDst: ascii(',"dupAckDst":'),
  zeroWindowSrc: ascii(',"zeroWindowSrc":'),
  zeroWindowDst: ascii(',"zeroWindowDst":'),
  synToSynAckUs: ascii(',"synToSynAckUs":'),
  synAckToAckUs: ascii(',"synAckToAckUs":'),
  icmpType: ascii(',"icmpType":'),
  icmpCode: ascii(',"icmpCode":'),
  icmpId: ascii(',"icmpId":'),
  icmpErrors: ascii(',"icmpErrors":'),
  icmpErrorType: ascii(',"icmpErrorType":'),
  icmpErrorCode: ascii(',"icmpErrorCode":'),
  vlan: ascii(',"vlan":'),
  vlanInner: ascii(',"vlanInner":'),
  tunnelId: ascii(',"tunnelId":'),
  fragments: ascii(',"fragments":'),
};

function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

/** Pieces that take a value from a small table, made per value: one copy instead of three writes. */
const KIND_HEADS = SNAPSHOT_KINDS.map((kind) => ascii(`{"type":"${kind}","ts":"`));
const CONN_STATE_PIECES = CONN_STATES.map((state) => ascii(`,"connState":"${state}"`));
const END_REASON_PIECES = END_REASON_NAMES.map((reason) => ascii(`,"endReason":"${reason}"`));
const SRC_FLAGS_PIECES = FLAG_STRINGS.map((flags) => ascii(`,"srcTcpFlags":"${flags}","dstTcpFlags":"`));
const DST_FLAGS_PIECES = FLAG_STRINGS.map((flags) => ascii(`${flags}"`));

/** The TCP counters of a flow without trouble (the usual case), in one piece. */
const TCP_COUNTERS_ZERO = ascii(
  ',"retransSrc":0,"retransDst":0,"outOfOrderSrc":0,"outOfOrderDst":0,"dupAckSrc":0,"dupAckDst":0,"zeroWindowSrc":0,"zeroWindowDst":0',
);

function allZero(n: Float64Array, from: number, to: number): boolean {
  for (let i = from; i <= to; i++) if (n[i] !== 0) return false;
  return true;
}

/** `,"if":<ifJson>,"proto":"<name>","srcIP":"` per protocol number, for the interface name last
 *  seen (a run writes one, or a few in turn). */
let headsIfJson = '';
let ifProtoHeads: (Uint8Array | undefined)[] = [];

function ifProtoHead(ifJson: string, proto: number): Uint8Array {
  if (ifJson !== headsIfJson) {
    headsIfJson = ifJson;
    ifProtoHeads = [];
  }
  return (ifProtoHeads[proto] ??= utf8.encode(`,"if":${ifJson},"proto":"${PROTO_NAMES[proto] ?? String(proto)}","srcIP":"`));
}

/** An address: IPv4 straight from its word (what formatIp makes), IPv6 from its string. */
function address(out: LineBytes, isIpv4: boolean, word: number, text: string): void {
  if (isIpv4) {
    out.reserve(15);
    out.length = writeIpv4(out.bytes, out.length, word);
  } else {
    out.text(text);
  }
}

/** Writes `,"key":value` for a number field only when it is present (not ABSENT). */
function num(out: LineBytes, key: Uint8Array, v: number | undefined): void {
  if (v === undefined) return;
  out.raw(key);
  out.number(v);
}

/**
 * The JSON line of snapshot `slot` as UTF-8 bytes into `out` (from its start), written straight
 * from the numbers: the file path's fast lane, with no record object, no JSON.stringify and no
 * line string (their garbage and generic walk cost ~10 µs per record). Must equal
 * toJsonLine(flowRecordFromSnapshot(...)) byte for byte; a test checks it on the corpus.
 * `ifJson` is the interface name already JSON-quoted.
 */
export function writeFlowJsonLine(out: LineBytes, nums: Float64Array, history: Uint8Array, slot: number, ifJson: string, strings: FlowStringCache, extras: FlowExtras = NO_EXTRAS): void {
  const r = readSnapshot(nums, slot, strings);
  const n = nums;
  const b = r.b;
  const set = r.strings;
  const roles = r.roles;
  out.length = 0;
  out.raw(KIND_HEADS[r.kindCode]!);
  writeTs(out, r.nowUs);
  out.raw(J.tsUs);
  out.number(r.nowUs);
  out.raw(ifProtoHead(ifJson, r.proto));
  address(out, r.isIpv4, r.origWord, set.srcIP);
  out.ascii(0x22);
  if (r.hasPorts) num(out, J.srcPort, r.origPort);
  out.raw(J.dstIP);
  address(out, r.isIpv4, r.respWord, set.dstIP);
  out.ascii(0x22);
  if (r.hasPorts) num(out, J.dstPort, r.respPort);
  out.raw(J.communityId);
  out.text(set.communityId);
  out.raw(J.firstTs);
  writeTs(out, r.firstTs);
  out.raw(J.lastTs);
  writeTs(out, r.lastTs);
  out.raw(J.durationUs);
  out.number(r.lastTs - r.firstTs);
  num(out, J.srcPkts, n[b + Snap.ORIG_PKTS]!);
  num(out, J.srcBytes, n[b + Snap.ORIG_BYTES]!);
  num(out, J.dstPkts, n[b + Snap.RESP_PKTS]!);
  num(out, J.dstBytes, n[b + Snap.RESP_BYTES]!);
  num(out, J.srcPayloadBytes, n[b + Snap.ORIG_PAYLOAD]!);
  num(out, J.dstPayloadBytes, n[b + Snap.RESP_PAYLOAD]!);
  out.raw(CONN_STATE_PIECES[n[b + Snap.CONN_STATE]!]!);
  if (r.historyLen > 0) {
    out.raw(J.history);
    out.latin1(history, slot * HISTORY_MAX, r.historyLen);
    out.ascii(0x22);
  }
  const endReason = r.kind === 'flow_end' && r.reason >= 0 ? END_REASON_PIECES[r.reason] : ABSENT;
  if (endReason !== undefined) out.raw(endReason);
  if (roles) {
    const client = r.clientIsOrig ? set.srcIP : set.dstIP;
    const server = r.clientIsOrig ? set.dstIP : set.srcIP;
    const clientWord = r.clientIsOrig ? r.origWord : r.respWord;
    const serverWord = r.clientIsOrig ? r.respWord : r.origWord;
    out.raw(J.clientIP);
    address(out, r.isIpv4, clientWord, client);
    out.raw(J.serverIP);
    address(out, r.isIpv4, serverWord, server);
    out.raw(J.servicePort);
    out.number(r.servicePort);
    out.raw(roles.methodPiece);
    // Addresses and digits only: nothing to escape.
    if (!roles.drop) {
      out.raw(J.flowKey);
      address(out, r.isIpv4, clientWord, client);
      out.ascii(0x3b);
      address(out, r.isIpv4, serverWord, server);
      out.ascii(0x3b);
      out.number(r.servicePort);
      out.raw(J.flowSuffix);
    }
  }
  if (n[b + Snap.FLOW_FLAGS]! & FlowFlag.FLIPPED) out.raw(J.rolesFlipped);
  if (r.isTcp) {
    out.raw(SRC_FLAGS_PIECES[r.origFlags & 0xff]!);
    out.raw(DST_FLAGS_PIECES[r.respFlags & 0xff]!);
    if (allZero(n, b + Snap.ORIG_RETRANS, b + Snap.RESP_ZEROWIN)) {
      out.raw(TCP_COUNTERS_ZERO);
    } else {
      num(out, J.retransSrc, n[b + Snap.ORIG_RETRANS]!);
      num(out, J.retransDst, n[b + Snap.RESP_RETRANS]!);
      num(out, J.outOfOrderSrc, n[b + Snap.ORIG_OOO]!);
      num(out, J.outOfOrderDst, n[b + Snap.RESP_OOO]!);
      num(out, J.dupAckSrc, n[b + Snap.ORIG_DUPACK]!);
      num(out, J.dupAckDst, n[b + Snap.RESP_DUPACK]!);
      num(out, J.zeroWindowSrc, n[b + Snap.ORIG_ZEROWIN]!);
      num(out, J.zeroWindowDst, n[b + Snap.RESP_ZEROWIN]!);
    }
    num(out, J.synToSynAckUs, r.synTs >= 0 && r.synAckTs >= 0 ? r.synAckTs - r.synTs : ABSENT);
    num(out, J.synAckToAckUs, r.synAckTs >= 0 && r.ackTs >= 0 ? r.ackTs - r.synAckTs : ABSENT);
  }
  if (r.isIcmp) {
    num(out, J.icmpType, n[b + Snap.ICMP_TYPE]!);
    num(out, J.icmpCode, n[b + Snap.ICMP_CODE]!);
    num(out, J.icmpId, r.icmpId >= 0 ? r.icmpId : ABSENT);
  }
  if (r.icmpErrors > 0) {
    num(out, J.icmpErrors, r.icmpErrors);
    num(out, J.icmpErrorType, r.icmpErrorType >= 0 ? r.icmpErrorType : ABSENT);
    num(out, J.icmpErrorCode, r.icmpErrorCode >= 0 ? r.icmpErrorCode : ABSENT);
  }
  num(out, J.vlan, r.vlan >= 0 ? r.vlan : ABSENT);
  num(out, J.vlanInner, r.vlanInner >= 0 ? r.vlanInner : ABSENT);
  if (r.tunnel !== 0) {
    out.raw(J.tunnel);
    out.text(TUNNEL_NAMES[r.tunnel]!);
    out.ascii(0x22);
    num(out, J.tunnelId, r.tunnelId >= 0 ? r.tunnelId : ABSENT);
  }
  if (r.outerVersion !== 0) {
    out.raw(J.outerSrcIP);
    out.text(formatIp(r.outerVersion, outerSrc));
    out.raw(J.outerDstIP);
    out.text(formatIp(r.outerVersion, outerDst));
    out.ascii(0x22);
  }
  num(out, J.fragments, r.fragments > 0 ? r.fragments : ABSENT);
  const app = extras.app;
  if (app?.tls !== undefined) writeNestedJson(out, TLS_HEAD, app.tls, TLS_FIELDS);
  if (app?.http !== undefined) writeNestedJson(out, HTTP_HEAD, app.http, HTTP_FIELDS);
  if (r.serverName !== undefined) out.raw(serverNameJson(r.serverName));
  out.ascii(0x7d);
  out.ascii(0x0a);
}

const TLS_HEAD = utf8.encode(',"tls":{"');
const HTTP_HEAD = utf8.encode(',"http":{"');
const NEXT_KEY = utf8.encode(',"');
const KEY_END = utf8.encode('":');

/** `head` (`,"name":{"`) then the object's present fields in the documented order, `}`: what
 *  JSON.stringify with the field list as replacer writes, without its generic walk; nothing
 *  when no field is present. Written piece by piece: a fragment built by concatenation is a
 *  rope, and reading a rope a character at a time costs several times a flat string. */
function writeNestedJson<T extends object>(out: LineBytes, head: Uint8Array, o: T, fields: readonly (keyof T & string)[]): void {
  let any = false;
  for (const key of fields) {
    const v = o[key];
    if (v === undefined) continue;
    out.raw(any ? NEXT_KEY : head);
    out.text(key);
    out.raw(KEY_END);
    out.text(JSON.stringify(v));
    any = true;
  }
  if (any) out.ascii(0x7d);
}
