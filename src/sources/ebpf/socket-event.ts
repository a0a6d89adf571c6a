/**
 * One TCP socket event seen by eBPF: the `processEBPF_<ts>.log` lines of SPEC 3, and the input
 * of process attribution (SPEC 9). The worker reads them from dllt-bpfdrain's binary records
 * (drained-event.ts); this is their shape as an object, with the kernel's states by name.
 * Addresses are in RFC 5952 form, and an IPv4-mapped address (an IPv6 socket talking IPv4) as
 * the IPv4 text, so events join with flows, which carry what was on the wire.
 */

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

/** Longer lines are none of bpftrace's messages we read (attached_probes and the like). */
const MAX_JSON_LINE_CHARS = 8192;

/** One line of `bpftrace -f json` output: `{"type": ..., "data": ...}`, or undefined. */
export function parseBpftraceJson(line: string): { type: string; data: unknown } | undefined {
  if (line.length > MAX_JSON_LINE_CHARS || !line.startsWith('{')) return undefined;
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
