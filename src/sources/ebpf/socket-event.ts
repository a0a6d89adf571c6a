/**
 * One TCP socket event seen by eBPF (the `processEBPF_<ts>.log` lines of SPEC 3, and the input
 * of process attribution, SPEC 9), and the parser of bpftrace's output lines into it.
 *
 * The parser is the boundary between bpftrace's text and typed data: it never throws, and any
 * line that is not exactly what bpftrace-program.ts prints (another bpftrace message, a cut or
 * garbled line) gives undefined. Addresses are re-formatted here rather than trusted as printed:
 * IPv6 in RFC 5952 form, and an IPv4-mapped address (an IPv6 socket talking IPv4) as the IPv4
 * text, so events join with flows, which carry what was on the wire.
 */
import { isIPv4 } from 'node:net';
import { formatIp } from '../../wire/ip-format.js';
import { parseIp } from '../../wire/ip-parse.js';
import { BYTES_COUNTED, LINE_COLUMNS, OWNER_FROM_LISTENER, OWNER_FROM_SOCKET } from './bpftrace-program.js';
import { monotonicToWallOffsetUs } from './kernel-clock.js';

export type SocketEventKind = 'state' | 'retransmit' | 'receive_reset' | 'send_reset' | 'rtt' | 'destroy' | 'io';

/** The kernel's TCP states (include/net/tcp_states.h), by number: index 0 is not a state. */
export const TCP_STATE_NAMES = [
  undefined,
  'TCP_ESTABLISHED',
  'TCP_SYN_SENT',
  'TCP_SYN_RECV',
  'TCP_FIN_WAIT1',
  'TCP_FIN_WAIT2',
  'TCP_TIME_WAIT',
  'TCP_CLOSE',
  'TCP_CLOSE_WAIT',
  'TCP_LAST_ACK',
  'TCP_LISTEN',
  'TCP_CLOSING',
  'TCP_NEW_SYN_RECV',
] as const;

export type TcpStateName = NonNullable<(typeof TCP_STATE_NAMES)[number]>;

export interface SocketEvent {
  /**
   * `state`: a state change (sock:inet_sock_set_state). `retransmit`: a segment sent again.
   * `receive_reset` / `send_reset`: a RST received / sent. `rtt`: the smoothed RTT, at most once
   * per socket per second. `destroy`: the kernel freed the socket (tcp:tcp_destroy_sock).
   * `io`: the process sent or received data (sock_sendmsg/sock_recvmsg), at most once per socket
   * per second, with the socket's byte totals so far.
   */
  kind: SocketEventKind;
  /**
   * Kernel CLOCK_MONOTONIC time in ns (bpftrace `nsecs`). A double: exact up to 2^53 ns (104 days
   * of uptime), then rounded to a few ns.
   */
  tsNs: number;
  /** Microseconds since the Unix epoch: tsNs / 1000 + the wall − monotonic offset (kernel-clock.ts). */
  tsUs: number;
  /** Thread-group id (what ps calls the pid) of the task the kernel ran the event on, host pid namespace. */
  pid: number;
  /** Thread id of that task. */
  tid: number;
  /** That task's command (at most 15 bytes). */
  comm: string;
  /**
   * Whether pid, tid, comm and cgroupId belong to the socket's user: the event ran in its system
   * call (connect() CLOSE → SYN_SENT, listen() → LISTEN, closing a listener LISTEN → CLOSE,
   * close()/shutdown() → FIN_WAIT1 or CLOSE_WAIT → LAST_ACK, `io`), or the kernel carried that
   * user to it (pidFrom `socket`). Everything else may run in softirq (packet receive, timers),
   * where the task is whichever one happened to be on the CPU: the server side of a handshake,
   * resets, retransmissions, RTT samples. Attribute those through the socket (socketId, the
   * listening socket's owner for accepted connections).
   */
  processContext: boolean;
  /**
   * Set when pid, tid, comm and cgroupId are not the running task's but were carried by the
   * program (bpftrace-program.ts): `socket`, the socket's user at its last system call (connect,
   * close, send, receive); `listener`, the owner of the listener that accepted the connection.
   */
  pidFrom?: 'socket' | 'listener';
  /** cgroup v2 id of that task (bpftrace `cgroup`: the cgroup directory's inode); absent for a
   *  listener older than bpftrace whose cgroup dllt could not see (no cgroup2 mount in view). */
  cgroupId?: number;
  /** Inode of the socket's network namespace (as in `readlink /proc/PID/ns/net`); absent if unknown. */
  netns?: number;
  /**
   * The kernel address of the socket, in hex: equal on every event of one socket while it lives;
   * the kernel may reuse it after `destroy`. Absent on a reset sent for no socket.
   */
  socketId?: string;
  /** Family of localIp/remoteIp: 4 also for an IPv6 socket talking to an IPv4-mapped peer. */
  family: 4 | 6;
  /**
   * The local address; `0.0.0.0` or `::` for a socket bound to every address (a listener) or not
   * bound yet. After a failed connect the kernel clears it, so a client's `destroy` may show the
   * wildcard: join by socketId.
   */
  localIp: string;
  /** Absent while no port is assigned: connect() on an unbound socket reports SYN_SENT before
   *  the kernel picks the port; the next events of the same socketId carry it. */
  localPort?: number;
  /** Absent for sockets with no peer (listeners). */
  remoteIp?: string;
  remotePort?: number;
  /** `state` events. */
  oldState?: TcpStateName;
  newState?: TcpStateName;
  /** The socket's state at a `retransmit`, `receive_reset` or `send_reset` (absent for no socket). */
  state?: TcpStateName;
  /** `rtt`: smoothed round-trip time in µs, and the congestion window in segments. */
  srttUs?: number;
  sndCwnd?: number;
  /** `io` and `destroy` (when the kernel has sock_send_length/sock_recv_length): payload bytes
   *  the socket's users sent and received through system calls so far. */
  sentBytes?: number;
  receivedBytes?: number;
}

const KINDS: ReadonlySet<string> = new Set<SocketEventKind>(['state', 'retransmit', 'receive_reset', 'send_reset', 'rtt', 'destroy', 'io']);

const AF_INET = 2;
const AF_INET6 = 10;

/** Longer lines cannot come from our program (addresses, numbers and a 15-byte comm). */
const MAX_LINE_CHARS = 4096;

const COLUMN = Object.fromEntries(LINE_COLUMNS.map((name, i) => [name, i])) as Record<(typeof LINE_COLUMNS)[number], number>;
const FIXED_COLUMNS = LINE_COLUMNS.length - 1;

/**
 * Where each column of the line being parsed starts and ends, found with indexOf and reused:
 * splitting every line into an array of strings, and testing each number with a regular
 * expression, were most of the attribution worker's time at 1,000 connections/s (9 events each).
 */
const columnStart = new Int32Array(LINE_COLUMNS.length);
const columnEnd = new Int32Array(LINE_COLUMNS.length);

/** Finds the columns of `text`; false when it has fewer than LINE_COLUMNS (comm takes the rest). */
function findColumns(text: string): boolean {
  let start = 0;
  for (let i = 0; i < FIXED_COLUMNS; i++) {
    const tab = text.indexOf('\t', start);
    if (tab < 0) return false;
    columnStart[i] = start;
    columnEnd[i] = tab;
    start = tab + 1;
  }
  columnStart[FIXED_COLUMNS] = start;
  columnEnd[FIXED_COLUMNS] = text.length;
  return true;
}

const column = (text: string, i: number): string => text.slice(columnStart[i], columnEnd[i]);

/** Column `i` as an unsigned decimal of 1 to 20 digits; undefined for anything else. */
function unsignedAt(text: string, i: number): number | undefined {
  const start = columnStart[i]!;
  const end = columnEnd[i]!;
  if (end === start || end - start > 20) return undefined;
  let value = 0;
  for (let at = start; at < end; at++) {
    const digit = text.charCodeAt(at) - 48;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  // Up to 15 digits the sum is exact; longer ones are rounded as Number() rounds them.
  return end - start <= 15 ? value : Number(text.slice(start, end));
}

/** The rule documented on SocketEvent.processContext. */
export function runsInProcessContext(kind: SocketEventKind, oldState?: TcpStateName, newState?: TcpStateName): boolean {
  if (kind === 'io') return true;
  if (kind !== 'state') return false;
  switch (newState) {
    case 'TCP_SYN_SENT':
      return oldState === 'TCP_CLOSE';
    case 'TCP_LISTEN':
    case 'TCP_FIN_WAIT1':
      return true;
    case 'TCP_LAST_ACK':
      return oldState === 'TCP_CLOSE_WAIT';
    case 'TCP_CLOSE':
      return oldState === 'TCP_LISTEN';
    default:
      return false;
  }
}

function stateName(n: number | undefined): TcpStateName | undefined {
  return n === undefined ? undefined : TCP_STATE_NAMES[n];
}

/** An address as printed by the program, parsed for `family` (2 or 10); undefined when it is not one. */
function parseAddress(text: string | undefined, family: number): Int32Array | undefined {
  const ip = text === undefined ? undefined : parseIp(text);
  return ip && ip.version === (family === AF_INET ? 4 : 6) ? ip.words : undefined;
}

const isMapped = (w: Int32Array): boolean => w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
const isZero = (w: Int32Array): boolean => w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0;

/**
 * The two addresses as text in one family: an IPv6 socket whose peer is IPv4-mapped is an IPv4
 * connection on the wire, so both ends become IPv4 (its unspecified `::` becomes 0.0.0.0).
 * Undefined for a mapped address facing a real IPv6 one, which no socket has.
 */
function addressPair(local: Int32Array, remote: Int32Array): { family: 4 | 6; local: string; remote: string } | undefined {
  const mappedOrZero = (w: Int32Array): boolean => isMapped(w) || isZero(w);
  if (!isMapped(local) && !isMapped(remote)) return { family: 6, local: formatIp(6, local), remote: formatIp(6, remote) };
  if (!mappedOrZero(local) || !mappedOrZero(remote)) return undefined;
  return { family: 4, local: formatIp(4, Int32Array.of(local[3]!)), remote: formatIp(4, Int32Array.of(remote[3]!)) };
}

/** bpftrace's ntop() prints dotted quads without leading zeros, the text isIPv4 accepts and
 *  formatIp writes, so valid IPv4 text is kept as it is (most lines; no parse and re-format). */
function ipv4Pair(local: string, remote: string): { family: 4; local: string; remote: string } | undefined {
  return isIPv4(local) && isIPv4(remote) ? { family: 4, local, remote } : undefined;
}

function ipv6Pair(local: string | undefined, remote: string | undefined): ReturnType<typeof addressPair> {
  const localWords = parseAddress(local, AF_INET6);
  const remoteWords = parseAddress(remote, AF_INET6);
  return localWords === undefined || remoteWords === undefined ? undefined : addressPair(localWords, remoteWords);
}

const isUnspecified = (ip: string): boolean => ip === '0.0.0.0' || ip === '::';

/**
 * The payload of one printf line of the program (the `data` string of bpftrace's `-f json`
 * output), or undefined when it is not one. `wallOffsetUs`: see kernel-clock.ts.
 */
export function parseBpftraceData(data: string, wallOffsetUs: number): SocketEvent | undefined {
  if (data.length > MAX_LINE_CHARS) return undefined;
  const text = data.endsWith('\n') ? data.slice(0, -1) : data;
  if (!findColumns(text)) return undefined;
  const kind = column(text, COLUMN.kind);
  if (!KINDS.has(kind)) return undefined;
  const tsNs = unsignedAt(text, COLUMN.tsNs);
  const pid = unsignedAt(text, COLUMN.pid);
  const tid = unsignedAt(text, COLUMN.tid);
  const cgroupId = unsignedAt(text, COLUMN.cgroupId);
  const netns = unsignedAt(text, COLUMN.netns);
  const familyCode = unsignedAt(text, COLUMN.family);
  const localPort = unsignedAt(text, COLUMN.localPort);
  const remotePort = unsignedAt(text, COLUMN.remotePort);
  const a = unsignedAt(text, COLUMN.a);
  const b = unsignedAt(text, COLUMN.b);
  const c = unsignedAt(text, COLUMN.c);
  const socket = column(text, COLUMN.socket);
  if (
    tsNs === undefined ||
    pid === undefined ||
    tid === undefined ||
    cgroupId === undefined ||
    netns === undefined ||
    localPort === undefined ||
    remotePort === undefined ||
    a === undefined ||
    b === undefined ||
    c === undefined ||
    (familyCode !== AF_INET && familyCode !== AF_INET6) ||
    !/^[0-9a-f]{1,16}$/.test(socket) ||
    localPort > 0xffff ||
    remotePort > 0xffff
  ) {
    return undefined;
  }
  const ips =
    familyCode === AF_INET
      ? ipv4Pair(column(text, COLUMN.localIp4), column(text, COLUMN.remoteIp4))
      : ipv6Pair(column(text, COLUMN.localIp6), column(text, COLUMN.remoteIp6));
  if (ips === undefined) return undefined;

  const ev: SocketEvent = {
    kind: kind as SocketEventKind,
    tsNs,
    tsUs: Math.round(tsNs / 1000 + wallOffsetUs),
    pid,
    tid,
    comm: text.slice(columnStart[FIXED_COLUMNS]),
    processContext: false,
    family: ips.family,
    localIp: ips.local,
  };
  if (cgroupId !== 0) ev.cgroupId = cgroupId;
  if (netns !== 0) ev.netns = netns;
  if (socket !== '0') ev.socketId = socket;
  if (localPort !== 0) ev.localPort = localPort;
  if (!isUnspecified(ips.remote)) ev.remoteIp = ips.remote;
  if (remotePort !== 0) ev.remotePort = remotePort;
  if (ev.kind === 'state' || ev.kind === 'destroy') {
    if ((c & OWNER_FROM_SOCKET) !== 0) ev.pidFrom = 'socket';
    else if ((c & OWNER_FROM_LISTENER) !== 0) ev.pidFrom = 'listener';
  }
  switch (ev.kind) {
    case 'state': {
      const oldState = stateName(a);
      const newState = stateName(b);
      if (oldState === undefined || newState === undefined) return undefined;
      ev.oldState = oldState;
      ev.newState = newState;
      break;
    }
    case 'retransmit':
    case 'receive_reset':
    case 'send_reset': {
      const state = stateName(a);
      if (state !== undefined) ev.state = state;
      break;
    }
    case 'rtt':
      ev.srttUs = a;
      ev.sndCwnd = b;
      break;
    case 'io':
      ev.sentBytes = a;
      ev.receivedBytes = b;
      break;
    case 'destroy':
      // The program counted bytes (the kernel has sock_send_length/sock_recv_length).
      if ((c & BYTES_COUNTED) !== 0) {
        ev.sentBytes = a;
        ev.receivedBytes = b;
      }
      break;
  }
  ev.processContext = ev.pidFrom === 'socket' || runsInProcessContext(ev.kind, ev.oldState, ev.newState);
  return ev;
}

/** One line of `bpftrace -f json` output: `{"type": ..., "data": ...}`, or undefined. */
export function parseBpftraceJson(line: string): { type: string; data: unknown } | undefined {
  if (line.length > MAX_LINE_CHARS * 2 || !line.startsWith('{')) return undefined;
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof msg !== 'object' || msg === null) return undefined;
  const { type, data } = msg as { type?: unknown; data?: unknown };
  return typeof type === 'string' ? { type, data } : undefined;
}

/**
 * A whole line of `bpftrace -f json` stdout to an event; undefined for anything else (other
 * message types, blank, cut or garbled lines). `wallOffsetUs` defaults to one measured now.
 */
export function parseBpftraceLine(line: string, wallOffsetUs = monotonicToWallOffsetUs()): SocketEvent | undefined {
  const msg = parseBpftraceJson(line.trim());
  if (msg === undefined || msg.type !== 'printf' || typeof msg.data !== 'string') return undefined;
  return parseBpftraceData(msg.data, wallOffsetUs);
}
