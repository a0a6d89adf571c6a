/**
 * One line of `ss -tinOHepa` (or `ss -tinOHeE`) output to the kernel's TCP socket info as data.
 *
 * Hand-written because Node has no netlink: the only way to the kernel's tcp_info without a
 * native module is the text iproute2's `ss` prints (see ss-reader.ts for why `ss` at all). The
 * format is what iproute2 6.x prints with those flags: state, queues, local and peer
 * `addr:port`, then `users:((...))` (-p), `uid:`/`ino:`/`sk:` (-e), the shutdown arrows (-e) and
 * the tcp_info `key:value` words (-i), all on one line (-O).
 *
 * What `ss` leaves out matters: it prints a tcp_info counter only when it is non-zero, and `uid:`
 * only when it is not root. So an absent counter here means "not printed"; `hasTcpInfo` says
 * whether the line carried tcp_info at all (then an absent counter is zero). Bad lines give
 * undefined, never an exception.
 */
import { parseIp } from '../../wire/ip-parse.js';
import { formatIp } from '../../wire/ip-format.js';

/** Kernel TCP state names (include/net/tcp_states.h). */
export type TcpState =
  | 'ESTABLISHED'
  | 'SYN_SENT'
  | 'SYN_RECV'
  | 'FIN_WAIT1'
  | 'FIN_WAIT2'
  | 'TIME_WAIT'
  | 'CLOSE'
  | 'CLOSE_WAIT'
  | 'LAST_ACK'
  | 'LISTEN'
  | 'CLOSING';

/** `ss` state words; `UNCONN` is how it prints TCP_CLOSE. */
const SS_STATES: Record<string, TcpState> = {
  ESTAB: 'ESTABLISHED',
  'SYN-SENT': 'SYN_SENT',
  'SYN-RECV': 'SYN_RECV',
  'FIN-WAIT-1': 'FIN_WAIT1',
  'FIN-WAIT-2': 'FIN_WAIT2',
  'TIME-WAIT': 'TIME_WAIT',
  UNCONN: 'CLOSE',
  'CLOSE-WAIT': 'CLOSE_WAIT',
  'LAST-ACK': 'LAST_ACK',
  LISTEN: 'LISTEN',
  CLOSING: 'CLOSING',
};

export interface SocketUser {
  /** From /proc/<pid>/stat as `ss` reads it: cut at the first `)`, at most 15 bytes. */
  comm: string;
  pid: number;
  fd: number;
}

export interface TcpSocketInfo {
  state: TcpState;
  recvQ: number;
  sendQ: number;
  /** Canonical text (RFC 5952); IPv4-mapped IPv6 as plain IPv4 (see v4Mapped); `*` for any. */
  localIP: string;
  /** 0 for `*`. */
  localPort: number;
  /** Interface the socket is bound to or the address is scoped to (`%eth0`). */
  localScope?: string;
  peerIP: string;
  peerPort: number;
  /** The addresses were printed as ::ffff:a.b.c.d (an IPv4 peer on an IPv6 socket). */
  v4Mapped: boolean;
  /** Processes holding the socket (-p); absent when none was found (not yet accepted, orphaned, closed). */
  users?: SocketUser[];
  /** Socket owner's uid (-e); 0 for a socket with an inode and no `uid:` word. */
  uid?: number;
  /** Socket inode (-e); 0 for sockets no file refers to (orphaned, time-wait, not yet accepted). */
  inode?: number;
  /** Socket cookie (-e `sk:`), hex as printed: stable for the socket's whole life, time-wait included. */
  cookie?: string;
  /** `timer:(name,...)`: on, keepalive, timewait, persist. */
  timer?: string;
  /** Shutdown arrows (-e): the receive side is shut (FIN received, or shutdown(SHUT_RD)). */
  rcvShutdown?: boolean;
  /** The send side is shut (FIN queued or sent). */
  sndShutdown?: boolean;
  /** The line carried tcp_info (-i): counters absent from it are zero. */
  hasTcpInfo: boolean;
  /** tcpi_rtt / tcpi_rttvar / tcpi_min_rtt, microseconds. */
  srttUs?: number;
  rttvarUs?: number;
  minRttUs?: number;
  rtoMs?: number;
  /** `retrans:<cur>/<total>`: segments now awaiting retransmission / retransmitted over the life. */
  retransCurrent?: number;
  retransTotal?: number;
  /** Payload bytes transmitted, retransmissions included (tcpi_bytes_sent). */
  bytesSent?: number;
  /** Sequence space acknowledged by the peer: counts our SYN (when we connected) and FIN. */
  bytesAcked?: number;
  /** Sequence space received in order: counts the peer's FIN. */
  bytesReceived?: number;
  /** Payload bytes retransmitted (tcpi_bytes_retrans). */
  bytesRetrans?: number;
  segsOut?: number;
  segsIn?: number;
  dataSegsOut?: number;
  dataSegsIn?: number;
  /** Milliseconds since the last data sent / received / ack received. */
  lastSndMs?: number;
  lastRcvMs?: number;
  lastAckMs?: number;
  unacked?: number;
  lost?: number;
  cwnd?: number;
  mss?: number;
}

/** Longer lines are not `ss` output (its longest are ~1.5 KiB plus the users list). */
const MAX_LINE_CHARS = 65536;

type NumericKey =
  | 'rtoMs'
  | 'bytesSent'
  | 'bytesAcked'
  | 'bytesReceived'
  | 'bytesRetrans'
  | 'segsOut'
  | 'segsIn'
  | 'dataSegsOut'
  | 'dataSegsIn'
  | 'lastSndMs'
  | 'lastRcvMs'
  | 'lastAckMs'
  | 'unacked'
  | 'lost'
  | 'cwnd'
  | 'mss';

/** tcp_info words printed as `key:<non-negative number>`. */
const NUMERIC_KEYS = new Map<string, NumericKey>([
  ['rto', 'rtoMs'],
  ['bytes_sent', 'bytesSent'],
  ['bytes_acked', 'bytesAcked'],
  ['bytes_received', 'bytesReceived'],
  ['bytes_retrans', 'bytesRetrans'],
  ['segs_out', 'segsOut'],
  ['segs_in', 'segsIn'],
  ['data_segs_out', 'dataSegsOut'],
  ['data_segs_in', 'dataSegsIn'],
  ['lastsnd', 'lastSndMs'],
  ['lastrcv', 'lastRcvMs'],
  ['lastack', 'lastAckMs'],
  ['unacked', 'unacked'],
  ['lost', 'lost'],
  ['cwnd', 'cwnd'],
  ['mss', 'mss'],
]);

/**
 * The words after the two addresses that matter here: `key:value` for the keys above and the -e
 * ones, and the shutdown arrows. Everything else (`bbr:(...)`, `wscale:`, `send 1bps`, cgroup...)
 * is skipped by the regex engine; the leading space keeps `mrtt:` inside `bbr:(...)` and
 * `rcv_rtt:` from matching `rtt:`.
 */
const TAIL_WORD =
  / (rto|rtt|minrtt|retrans|bytes_sent|bytes_acked|bytes_received|bytes_retrans|segs_out|segs_in|data_segs_out|data_segs_in|lastsnd|lastrcv|lastack|unacked|lost|cwnd|mss|uid|ino|sk|timer):([^ ]+)| ([<-]-[>-])(?= |$)/g;
const USER_ENTRY = /\("([^)]*)",pid=(\d+),fd=(\d+)\)/y;
const COOKIE = /^[0-9a-f]{1,16}$/;
const TIMER = /^\(([a-z]+),/;
const RETRANS = /^(\d{1,10})\/(\d{1,10})$/;

/** A plain decimal (ss prints counters as integers and times as %g, never with exponents here). */
function nonNegative(text: string): number | undefined {
  const c = text.charCodeAt(0);
  if (!(c >= 48 && c <= 57)) return undefined;
  const n = Number(text);
  return Number.isFinite(n) ? n : undefined;
}

function integer(text: string): number | undefined {
  const n = nonNegative(text);
  return n !== undefined && Number.isSafeInteger(n) ? n : undefined;
}

/** Milliseconds as `ss` prints them (%g) to whole microseconds. */
function msToUs(text: string): number | undefined {
  const ms = nonNegative(text);
  return ms === undefined ? undefined : Math.round(ms * 1000);
}

interface Endpoint {
  ip: string;
  port: number;
  scope?: string;
  mapped: boolean;
}

/** `1.2.3.4:80`, `[::1]:80`, `[fe80::1]%eth0:80`, `127.0.0.53%lo:53`, `*:80`, `0.0.0.0:*`. */
function parseEndpoint(text: string): Endpoint | undefined {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return undefined;
  const portText = text.slice(colon + 1);
  const port = portText === '*' ? 0 : integer(portText);
  if (port === undefined || port > 65535) return undefined;
  let addr = text.slice(0, colon);
  let scope: string | undefined;
  const percent = addr.indexOf('%');
  if (percent >= 0) {
    scope = addr.slice(percent + 1);
    addr = addr.slice(0, percent);
    if (scope === '') return undefined;
  }
  if (addr.startsWith('[')) {
    if (!addr.endsWith(']')) return undefined;
    addr = addr.slice(1, -1);
  }
  const address = addr === '*' ? ANY : canonicalAddress(addr);
  if (!address) return undefined;
  const endpoint: Endpoint = { ip: address.ip, port, mapped: address.mapped };
  if (scope !== undefined) endpoint.scope = scope;
  return endpoint;
}

interface Address {
  ip: string;
  mapped: boolean;
}

const ANY: Address = { ip: '*', mapped: false };
/** A table repeats the same few addresses thousands of times: validate and canonicalize each once. */
const addressCache = new Map<string, Address | null>();
const ADDRESS_CACHE_MAX = 4096;

function canonicalAddress(text: string): Address | undefined {
  const cached = addressCache.get(text);
  if (cached !== undefined) return cached ?? undefined;
  const parsed = parseIp(text);
  let address: Address | null = null;
  if (parsed) {
    const w = parsed.words;
    address =
      parsed.version === 6 && w[0] === 0 && w[1] === 0 && w[2] === 0xffff
        ? { ip: formatIp(4, Int32Array.of(w[3]!, 0, 0, 0)), mapped: true }
        : { ip: formatIp(parsed.version, w), mapped: false };
  }
  if (addressCache.size >= ADDRESS_CACHE_MAX) addressCache.clear();
  addressCache.set(text, address);
  return address ?? undefined;
}

/** Cuts ` users:((...))` out of the line: process names may hold spaces, so it goes before splitting. */
function extractUsers(line: string): { rest: string; users?: SocketUser[] } | undefined {
  const start = line.indexOf(' users:((');
  if (start < 0) return { rest: line };
  const users: SocketUser[] = [];
  let pos = start + ' users:('.length;
  for (;;) {
    USER_ENTRY.lastIndex = pos;
    const m = USER_ENTRY.exec(line);
    if (!m) return undefined;
    users.push({ comm: m[1]!, pid: Number(m[2]), fd: Number(m[3]) });
    pos = USER_ENTRY.lastIndex;
    if (line[pos] === ',') {
      pos++;
      continue;
    }
    if (line[pos] !== ')') return undefined;
    return { rest: line.slice(0, start) + line.slice(pos + 1), users };
  }
}

/** Parses one output line; undefined for a header, a blank line or anything that is not a TCP socket line. */
export function parseSsLine(line: string): TcpSocketInfo | undefined {
  if (typeof line !== 'string' || line.length > MAX_LINE_CHARS) return undefined;
  const cut = extractUsers(line);
  if (!cut) return undefined;
  // `ss` pads lines to the widest one with spaces; each would be a place the word regex tries.
  const text = cut.rest.trimEnd();
  const head: string[] = [];
  let pos = 0;
  while (head.length < 5) {
    while (text.charCodeAt(pos) === 32) pos++;
    if (pos >= text.length) return undefined;
    let end = text.indexOf(' ', pos);
    if (end < 0) end = text.length;
    head.push(text.slice(pos, end));
    pos = end;
  }
  const state = SS_STATES[head[0]!];
  const recvQ = integer(head[1]!);
  const sendQ = integer(head[2]!);
  const local = parseEndpoint(head[3]!);
  const peer = parseEndpoint(head[4]!);
  if (state === undefined || recvQ === undefined || sendQ === undefined || !local || !peer) return undefined;

  const info: TcpSocketInfo = {
    state,
    recvQ,
    sendQ,
    localIP: local.ip,
    localPort: local.port,
    peerIP: peer.ip,
    peerPort: peer.port,
    v4Mapped: local.mapped || peer.mapped,
    hasTcpInfo: false,
  };
  if (local.scope !== undefined) info.localScope = local.scope;
  if (cut.users) info.users = cut.users;

  TAIL_WORD.lastIndex = pos;
  for (let m = TAIL_WORD.exec(text); m; m = TAIL_WORD.exec(text)) {
    if (m[3] !== undefined) {
      info.rcvShutdown = m[3][0] === '-';
      info.sndShutdown = m[3][2] === '-';
    } else {
      readWord(info, m[1]!, m[2]!);
    }
  }
  // `ss` omits `uid:0`; a socket with a file (inode) always has an owner, so absent means root.
  if (info.inode !== undefined && info.inode > 0 && info.uid === undefined) info.uid = 0;
  return info;
}

function readWord(info: TcpSocketInfo, key: string, value: string): void {
  const numericKey = NUMERIC_KEYS.get(key);
  if (numericKey !== undefined) {
    const n = nonNegative(value);
    if (n !== undefined) info[numericKey] = n;
    info.hasTcpInfo = true;
    return;
  }
  switch (key) {
    case 'uid': {
      const n = integer(value);
      if (n !== undefined) info.uid = n;
      return;
    }
    case 'ino': {
      const n = integer(value);
      if (n !== undefined) info.inode = n;
      return;
    }
    case 'sk':
      if (COOKIE.test(value)) info.cookie = value;
      return;
    case 'timer': {
      const m = TIMER.exec(value);
      if (m) info.timer = m[1]!;
      return;
    }
    case 'rtt': {
      info.hasTcpInfo = true;
      const slash = value.indexOf('/');
      const s = msToUs(value.slice(0, slash));
      const v = msToUs(value.slice(slash + 1));
      if (slash > 0 && s !== undefined && v !== undefined) {
        info.srttUs = s;
        info.rttvarUs = v;
      }
      return;
    }
    case 'minrtt': {
      info.hasTcpInfo = true;
      const n = msToUs(value);
      if (n !== undefined) info.minRttUs = n;
      return;
    }
    case 'retrans': {
      info.hasTcpInfo = true;
      const m = RETRANS.exec(value);
      if (m) {
        info.retransCurrent = Number(m[1]);
        info.retransTotal = Number(m[2]);
      }
      return;
    }
  }
}
