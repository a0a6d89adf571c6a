/**
 * Builds flow records from snapshots (flow-snapshot.ts) in the record stage. This is where flow
 * strings are made: addresses, Community ID and history, once per flow (cached under the flow's
 * serial until its end), and timestamps per record.
 */
import { COMMUNITY_ID_LENGTH, communityIdChars, communityIdString } from '../wire/community-id.js';
import { formatIp } from '../wire/ip-format.js';
import { AddressTexts } from './address-texts.js';
import { TUNNEL_NAMES } from '../decode/status.js';
import { HISTORY_MAX } from '../flow/flow-state.js';
import { FlowFlag } from '../flow/flow-state.js';
import { END_REASON_NAMES } from '../flow/flow-engine.js';
import type { FlowAppInfo, FlowRecord } from './records.js';
import { formatTs, writeTs } from './serialize.js';
import { packWords, piece, unpackWords, type LineBytes, type Piece } from './line-bytes.js';
import { CONN_STATES, Snap, SNAPSHOT_KINDS, SNAPSHOT_STRIDE } from './flow-snapshot.js';
import { HTTP_FIELDS, TLS_FIELDS } from './fields.js';
import type { CompiledRoleRules } from '../analyze/roles/compiled-role-rules.js';
import type { ServerName, ServerNames } from './server-names.js';
import type { FlowEnds } from '../analyze/enrich/flow-ends.js';

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
  /** `,"roleMethod":` and `method` JSON-quoted: made once, not per record (a rule name may hold
   *  any character). */
  methodPiece: Piece;
}

function makeRoles(clientSide: number, servicePortSide: number, drop: boolean, method: string): Roles {
  return { clientSide, servicePortSide, drop, method, methodPiece: piece(',"roleMethod":' + JSON.stringify(method)) };
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

/**
 * A flow's strings. One object per cache slot, refilled in place for the slot's next flow: a
 * flow's first record then allocates no more than the strings not made before, instead of an
 * object that lives until the flow ends (in the worker's small young generation, such objects
 * are copied and promoted by every collection). Read it right after FlowStringCache.get.
 */
class FlowStringSet {
  srcIP = '';
  dstIP = '';
  /** What the operator's role rules (DLLT_ROLE_RULES) decided for the flow, if any rule did. */
  ruleRoles: Roles | undefined = undefined;
  /** Looked up once, at the flow's first record with roles, so a name stays for the flow's life. */
  serverNameLooked = false;
  serverName: ServerName | undefined = undefined;
  /** The Community ID as text, '' until asked. */
  idText = '';

  /** The flow's Community ID is `COMMUNITY_ID_LENGTH` bytes packed in idWords[idAt...]. */
  constructor(
    private readonly idWords: Float64Array,
    readonly idAt: number,
  ) {}

  /** Made from its bytes when first asked: JSON lines copy the bytes and never need the string. */
  get communityId(): string {
    if (this.idText === '') this.idText = communityIdString(unpackWords(this.idWords, this.idAt, COMMUNITY_ID_LENGTH));
    return this.idText;
  }
}

const addrA = new Int32Array(4);
const addrB = new Int32Array(4);
const outerSrc = new Int32Array(4);
const outerDst = new Int32Array(4);

/** Slots of the per-flow string cache (direct-mapped by flow serial): a flow's start and end
 *  records usually meet in it; a collision only means the strings are made again. Bounded, so
 *  a flood of a million open flows cannot fill the worker's heap. */
const STRING_CACHE_SLOTS = 65_536;
const ID_WORDS = Math.ceil(COMMUNITY_ID_LENGTH / 8);

/** Per-flow strings (addresses, Community ID, server name), made at a flow's first record and reused. */
export class FlowStringCache {
  /** `rules`: the operator's compiled role rules, evaluated once per flow (its first record).
   *  `names`: server names from DNS answers. */
  constructor(
    private readonly rules?: CompiledRoleRules,
    private readonly names?: ServerNames,
  ) {}

  private readonly serials = new Float64Array(STRING_CACHE_SLOTS).fill(-1);
  /** Each slot's Community ID packed as words (packWords): copied into every JSON line of the
   *  flow without a per-flow array. */
  readonly idWords = new Float64Array(STRING_CACHE_SLOTS * ID_WORDS);
  private readonly addresses = new AddressTexts();
  private readonly sets: (FlowStringSet | undefined)[] = new Array<FlowStringSet | undefined>(STRING_CACHE_SLOTS).fill(undefined);

  get(n: Float64Array, b: number): FlowStringSet {
    const serial = n[b + Snap.SERIAL]!;
    // Bitwise, not %: a remainder of a double is a call to fmod.
    const slot = serial & (STRING_CACHE_SLOTS - 1);
    const set = (this.sets[slot] ??= new FlowStringSet(this.idWords, slot * ID_WORDS));
    if (this.serials[slot] !== serial) {
      fillStrings(set, n, b, this.rules, this.addresses, this.idWords);
      this.serials[slot] = serial;
    }
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

function serverNameJson(name: ServerName): Piece {
  return (name.json ??= piece(
    ',"serverName":' + JSON.stringify(name.name) +
    (name.chain.length > 1 ? ',"serverNameChain":' + JSON.stringify(name.chain) : '') +
    ',"serverNameTtl":' + name.ttl
  ));
}

function fillStrings(set: FlowStringSet, n: Float64Array, b: number, rules: CompiledRoleRules | undefined, addresses: AddressTexts, idWords: Float64Array): void {
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
  const id = isIcmp
    ? communityIdChars(version, proto, origAddr, respAddr, n[b + Snap.ICMP_TYPE]! & 0xff, n[b + Snap.ICMP_CODE]! & 0xff)
    : communityIdChars(version, proto, origAddr, respAddr, origPort, respPort);
  packWords(id, COMMUNITY_ID_LENGTH, idWords, set.idAt);
  set.idText = '';
  set.srcIP = addresses.of(version, origAddr);
  set.dstIP = addresses.of(version, respAddr);
  set.ruleRoles = rules !== undefined && rules.decide(version as 4 | 6, proto, origAddr, origPort, respAddr, respPort)
    ? makeRoles(rules.clientSide, rules.servicePortSide, rules.drop, `rule:${rules.ruleName(rules.ruleIndex)}`)
    : undefined;
  set.serverNameLooked = false;
  set.serverName = undefined;
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
  tsUs: piece('","tsUs":'),
  dstIP: piece(',"dstIP":"'),
  communityId: piece(',"communityId":"'),
  firstTs: piece('","firstTs":"'),
  lastTs: piece('","lastTs":"'),
  durationUs: piece('","durationUs":'),
  srcPkts: piece(',"srcPkts":'),
  srcBytes: piece(',"srcBytes":'),
  dstPkts: piece(',"dstPkts":'),
  dstBytes: piece(',"dstBytes":'),
  srcPayloadBytes: piece(',"srcPayloadBytes":'),
  dstPayloadBytes: piece(',"dstPayloadBytes":'),
  history: piece(',"history":"'),
  clientIP: piece(',"clientIP":"'),
  serverIP: piece('","serverIP":"'),
  servicePort: piece('","servicePort":'),
  flowKey: piece(',"flowKey":"'),
  flowSuffix: piece(';flow"'),
  rolesFlipped: piece(',"rolesFlipped":true'),
  tunnel: piece(',"tunnel":"'),
  outerSrcIP: piece(',"outerSrcIP":"'),
  outerDstIP: piece('","outerDstIP":"'),
  srcPort: piece(',"srcPort":'),
  dstPort: piece(',"dstPort":'),
  synToSynAckUs: piece(',"synToSynAckUs":'),
  synAckToAckUs: piece(',"synAckToAckUs":'),
  icmpType: piece(',"icmpType":'),
  icmpCode: piece(',"icmpCode":'),
  icmpId: piece(',"icmpId":'),
  icmpErrors: piece(',"icmpErrors":'),
  icmpErrorType: piece(',"icmpErrorType":'),
  icmpErrorCode: piece(',"icmpErrorCode":'),
  vlan: piece(',"vlan":'),
  vlanInner: piece(',"vlanInner":'),
  tunnelId: piece(',"tunnelId":'),
  fragments: piece(',"fragments":'),
};

/** Pieces that take a value from a small table, made per value: one copy instead of three writes. */
const KIND_HEADS = SNAPSHOT_KINDS.map((kind) => piece(`{"type":"${kind}","ts":"`));
const CONN_STATE_PIECES = CONN_STATES.map((state) => piece(`,"connState":"${state}"`));
const END_REASON_PIECES = END_REASON_NAMES.map((reason) => piece(`,"endReason":"${reason}"`));
const SRC_FLAGS_PIECES = FLAG_STRINGS.map((flags) => piece(`,"srcTcpFlags":"${flags}","dstTcpFlags":"`));
const DST_FLAGS_PIECES = FLAG_STRINGS.map((flags) => piece(`${flags}"`));

/** The TCP counters' names, in line order: their columns, ORIG_RETRANS to RESP_ZEROWIN, are in the same order. */
const TCP_COUNTER_NAMES = ['retransSrc', 'retransDst', 'outOfOrderSrc', 'outOfOrderDst', 'dupAckSrc', 'dupAckDst', 'zeroWindowSrc', 'zeroWindowDst'];
const TCP_COUNTER_KEYS = TCP_COUNTER_NAMES.map((name) => piece(`,"${name}":`));

/** The TCP counters of a flow without trouble (the usual case), in one piece. */
const TCP_COUNTERS_ZERO = piece(TCP_COUNTER_NAMES.map((name) => `,"${name}":0`).join(''));

function allZero(n: Float64Array, from: number, to: number): boolean {
  for (let i = from; i <= to; i++) if (n[i] !== 0) return false;
  return true;
}

/** `,"if":<ifJson>,"proto":"<name>","srcIP":"` per protocol number, for the interface name last
 *  seen (a run writes one, or a few in turn). */
let headsIfJson = '';
let ifProtoHeads: (Piece | undefined)[] = [];

function ifProtoHead(ifJson: string, proto: number): Piece {
  if (ifJson !== headsIfJson) {
    headsIfJson = ifJson;
    ifProtoHeads = [];
  }
  return (ifProtoHeads[proto] ??= piece(`,"if":${ifJson},"proto":"${PROTO_NAMES[proto] ?? String(proto)}","srcIP":"`));
}

/** An address: IPv4 straight from its word (what formatIp makes), IPv6 from its string. */
function address(out: LineBytes, isIpv4: boolean, word: number, text: string): void {
  if (isIpv4) out.ipv4(word);
  else out.text(text);
}

/**
 * Appends the JSON line of snapshot `slot` to `out` as UTF-8 bytes (a whole line, ended with
 * endLine), written straight from the numbers: the file path's fast lane, with no record object,
 * no JSON.stringify and no line string (their garbage and generic walk cost ~10 µs per record).
 * Must equal toJsonLine(flowRecordFromSnapshot(...)) byte for byte; a test checks it on the
 * corpus. `ifJson` is the interface name already JSON-quoted.
 *
 * Written in parts, each optimized on its own: V8 inlines small callees up to a budget per
 * optimized function, and one function writing the whole line ran out of it after a third of
 * its ~60 writes, leaving the rest as calls (and timestamps boxed into heap numbers to pass).
 */
export function writeFlowJsonLine(out: LineBytes, nums: Float64Array, history: Uint8Array, slot: number, ifJson: string, strings: FlowStringCache, extras: FlowExtras = NO_EXTRAS): void {
  const r = readSnapshot(nums, slot, strings);
  writeEnds(out, r, ifJson, strings);
  writeTimesAndCounts(out, r, nums, history, slot);
  if (r.roles !== undefined) writeRoles(out, r, r.roles);
  if (nums[r.b + Snap.FLOW_FLAGS]! & FlowFlag.FLIPPED) out.piece(J.rolesFlipped);
  if (r.isTcp) writeTcp(out, r, nums);
  if (r.isIcmp || r.icmpErrors > 0 || r.vlan >= 0 || r.vlanInner >= 0 || r.tunnel !== 0 || r.outerVersion !== 0 || r.fragments > 0) writeRareFields(out, r, nums);
  const app = extras.app;
  if (app?.tls !== undefined) writeNestedJson(out, TLS_KEYS, app.tls, TLS_FIELDS);
  if (app?.http !== undefined) writeNestedJson(out, HTTP_KEYS, app.http, HTTP_FIELDS);
  if (r.serverName !== undefined) out.piece(serverNameJson(r.serverName));
  out.ascii(0x7d);
  out.ascii(0x0a);
  out.endLine();
}

/** From the record type to the Community ID: who talks to whom. */
function writeEnds(out: LineBytes, r: SnapshotView, ifJson: string, strings: FlowStringCache): void {
  const set = r.strings;
  out.piece(KIND_HEADS[r.kindCode]!);
  writeTs(out, r.nowUs);
  out.field(J.tsUs, r.nowUs);
  out.piece(ifProtoHead(ifJson, r.proto));
  address(out, r.isIpv4, r.origWord, set.srcIP);
  out.ascii(0x22);
  if (r.hasPorts) out.field(J.srcPort, r.origPort);
  out.piece(J.dstIP);
  address(out, r.isIpv4, r.respWord, set.dstIP);
  out.ascii(0x22);
  if (r.hasPorts) out.field(J.dstPort, r.respPort);
  out.piece(J.communityId);
  out.words(strings.idWords, set.idAt, ID_WORDS, COMMUNITY_ID_LENGTH);
}

/** firstTs to endReason. */
function writeTimesAndCounts(out: LineBytes, r: SnapshotView, n: Float64Array, history: Uint8Array, slot: number): void {
  const b = r.b;
  out.piece(J.firstTs);
  writeTs(out, r.firstTs);
  out.piece(J.lastTs);
  writeTs(out, r.lastTs);
  out.field(J.durationUs, r.lastTs - r.firstTs);
  out.field(J.srcPkts, n[b + Snap.ORIG_PKTS]!);
  out.field(J.srcBytes, n[b + Snap.ORIG_BYTES]!);
  out.field(J.dstPkts, n[b + Snap.RESP_PKTS]!);
  out.field(J.dstBytes, n[b + Snap.RESP_BYTES]!);
  out.field(J.srcPayloadBytes, n[b + Snap.ORIG_PAYLOAD]!);
  out.field(J.dstPayloadBytes, n[b + Snap.RESP_PAYLOAD]!);
  out.piece(CONN_STATE_PIECES[n[b + Snap.CONN_STATE]!]!);
  if (r.historyLen > 0) {
    out.piece(J.history);
    out.latin1(history, slot * HISTORY_MAX, r.historyLen);
    out.ascii(0x22);
  }
  if (r.kind === 'flow_end' && r.reason >= 0) out.piece(END_REASON_PIECES[r.reason]!);
}

/** clientIP to flowKey. */
function writeRoles(out: LineBytes, r: SnapshotView, roles: Roles): void {
  const set = r.strings;
  const client = r.clientIsOrig ? set.srcIP : set.dstIP;
  const server = r.clientIsOrig ? set.dstIP : set.srcIP;
  const clientWord = r.clientIsOrig ? r.origWord : r.respWord;
  const serverWord = r.clientIsOrig ? r.respWord : r.origWord;
  out.piece(J.clientIP);
  address(out, r.isIpv4, clientWord, client);
  out.piece(J.serverIP);
  address(out, r.isIpv4, serverWord, server);
  out.field(J.servicePort, r.servicePort);
  out.piece(roles.methodPiece);
  // Addresses and digits only: nothing to escape.
  if (!roles.drop) {
    out.piece(J.flowKey);
    address(out, r.isIpv4, clientWord, client);
    out.ascii(0x3b);
    address(out, r.isIpv4, serverWord, server);
    out.ascii(0x3b);
    out.number(r.servicePort);
    out.piece(J.flowSuffix);
  }
}

/** TCP flags, counters and handshake times. */
function writeTcp(out: LineBytes, r: SnapshotView, n: Float64Array): void {
  const b = r.b;
  out.piece(SRC_FLAGS_PIECES[r.origFlags & 0xff]!);
  out.piece(DST_FLAGS_PIECES[r.respFlags & 0xff]!);
  if (allZero(n, b + Snap.ORIG_RETRANS, b + Snap.RESP_ZEROWIN)) {
    out.piece(TCP_COUNTERS_ZERO);
  } else {
    for (let i = 0; i < TCP_COUNTER_KEYS.length; i++) out.field(TCP_COUNTER_KEYS[i]!, n[b + Snap.ORIG_RETRANS + i]!);
  }
  if (r.synTs >= 0 && r.synAckTs >= 0) out.field(J.synToSynAckUs, r.synAckTs - r.synTs);
  if (r.synAckTs >= 0 && r.ackTs >= 0) out.field(J.synAckToAckUs, r.ackTs - r.synAckTs);
}

/** ICMP, VLAN, tunnel and fragment fields, each written only when present. */
function writeRareFields(out: LineBytes, r: SnapshotView, n: Float64Array): void {
  const b = r.b;
  if (r.isIcmp) {
    out.field(J.icmpType, n[b + Snap.ICMP_TYPE]!);
    out.field(J.icmpCode, n[b + Snap.ICMP_CODE]!);
    if (r.icmpId >= 0) out.field(J.icmpId, r.icmpId);
  }
  if (r.icmpErrors > 0) {
    out.field(J.icmpErrors, r.icmpErrors);
    if (r.icmpErrorType >= 0) out.field(J.icmpErrorType, r.icmpErrorType);
    if (r.icmpErrorCode >= 0) out.field(J.icmpErrorCode, r.icmpErrorCode);
  }
  if (r.vlan >= 0) out.field(J.vlan, r.vlan);
  if (r.vlanInner >= 0) out.field(J.vlanInner, r.vlanInner);
  if (r.tunnel !== 0) {
    out.piece(J.tunnel);
    out.text(TUNNEL_NAMES[r.tunnel]!);
    out.ascii(0x22);
    if (r.tunnelId >= 0) out.field(J.tunnelId, r.tunnelId);
  }
  if (r.outerVersion !== 0) {
    out.piece(J.outerSrcIP);
    out.text(formatIp(r.outerVersion, outerSrc));
    out.piece(J.outerDstIP);
    out.text(formatIp(r.outerVersion, outerDst));
    out.ascii(0x22);
  }
  if (r.fragments > 0) out.field(J.fragments, r.fragments);
}

/** For each field of a nested object: its key after the object's head (`,"tls":{"sni":`),
 *  for the first field present, and after another field (`,"sni":`). */
interface NestedKeys {
  first: Piece[];
  next: Piece[];
}

function nestedKeys(name: string, fields: readonly string[]): NestedKeys {
  return {
    first: fields.map((key) => piece(`,"${name}":{"${key}":`)),
    next: fields.map((key) => piece(`,"${key}":`)),
  };
}

const TLS_KEYS = nestedKeys('tls', TLS_FIELDS);
const HTTP_KEYS = nestedKeys('http', HTTP_FIELDS);

/** The object's present fields in the documented order as `,"name":{...}`: what JSON.stringify
 *  with the field list as replacer writes, without its generic walk; nothing when no field is
 *  present. */
function writeNestedJson<K extends string>(out: LineBytes, keys: NestedKeys, o: Partial<Record<K, string>>, fields: readonly K[]): void {
  let any = false;
  for (let i = 0; i < fields.length; i++) {
    const v = o[fields[i]!];
    if (v === undefined) continue;
    out.piece(any ? keys.next[i]! : keys.first[i]!);
    out.jsonString(v);
    any = true;
  }
  if (any) out.ascii(0x7d);
}
