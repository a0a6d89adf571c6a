/**
 * A namespace's TCP sockets through netlink sock_diag (iproute2's `ss`), TIME_WAIT left out by
 * the kernel: how NetnsSockets reads TCP tables, with /proc/<pid>/net/tcp{,6} as the fallback
 * when `nsenter` or `ss` cannot run. docs/design/0005-attribution-cost.md has the numbers.
 *
 * Why: every read of /proc/<pid>/net/tcp or tcp6 walks the kernel's whole established hash
 * (shared by all namespaces: 262,144 buckets here), and formats a row for every socket, TIME_WAIT
 * included. Measured in bench section `attribution` (1,000 connections/s, a busy 2-core machine):
 * 11–13 ms per table even for an empty tcp6, and ~27 ms for the server's ~60,000 TIME_WAIT rows.
 * `ss -tan exclude time-wait` walks the hash in a cheaper loop, drops TIME_WAIT before formatting,
 * and reads both families in one process: ~7 ms with its spawn (~4.5 ms).
 *
 * What is lost: TIME_WAIT sockets on loopback, which /proc reads keep to place a closed loopback
 * connection in its namespace (socket-table.ts); the poll's memory of the socket while it lived
 * usually answers instead.
 */
import { spawnSync } from 'node:child_process';
import { parseSsLine, type TcpState } from '../packetless/ss-parse.js';
import type { SocketEntry } from './socket-table.js';

/** include/net/tcp_states.h. */
const STATE_NUMBER: Record<TcpState, number> = {
  ESTABLISHED: 1,
  SYN_SENT: 2,
  SYN_RECV: 3,
  FIN_WAIT1: 4,
  FIN_WAIT2: 5,
  TIME_WAIT: 6,
  CLOSE: 7,
  CLOSE_WAIT: 8,
  LAST_ACK: 9,
  LISTEN: 10,
  CLOSING: 11,
};

/** Output beyond this is a table we would not want to parse anyway (about 500,000 sockets). */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;
const TIMEOUT_MS = 5_000;

/**
 * The TCP sockets of the namespace `/proc/<pid>/ns/net` names, TIME_WAIT excluded; the reason as
 * a string when `nsenter` or `ss` cannot give them (missing, failed, the process gone).
 */
export function readTcpTableViaSockDiag(procRoot: string, pid: number): SocketEntry[] | string {
  const run = spawnSync('nsenter', [`--net=${procRoot}/${pid}/ns/net`, 'ss', '-tanHeO', 'exclude', 'time-wait'], {
    encoding: 'latin1',
    maxBuffer: MAX_OUTPUT_BYTES,
    timeout: TIMEOUT_MS,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (run.error !== undefined) return `nsenter/ss could not run: ${run.error.message}`;
  if (run.status !== 0) return `nsenter/ss exited with ${run.status ?? run.signal}: ${run.stderr.trim().split('\n')[0] ?? ''}`;
  const entries: SocketEntry[] = [];
  for (const line of run.stdout.split('\n')) {
    const s = line === '' ? undefined : parseSsLine(line);
    if (s === undefined) continue;
    entries.push({
      localIp: s.localIP === '*' ? '::' : s.localIP,
      localPort: s.localPort,
      remoteIp: s.peerIP === '*' ? '::' : s.peerIP,
      remotePort: s.peerPort,
      state: STATE_NUMBER[s.state],
      uid: s.uid ?? 0,
      inode: s.inode ?? 0,
    });
  }
  return entries;
}
