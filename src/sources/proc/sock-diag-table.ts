/**
 * A namespace's TCP sockets through netlink sock_diag (iproute2's `ss`), TIME_WAIT left out by
 * the kernel, for namespaces where /proc/<pid>/net/tcp is too dear to read.
 *
 * Why: /proc formats every TIME_WAIT row on every read, and a client opening 1,000 connections/s
 * keeps ~60,000 of them (a minute's worth). Measured on this machine kind: reading such a table
 * took ~27 ms of kernel time, read five times a second by the poll and again by the passes
 * (bench section `attribution`); `ss ... exclude time-wait` drops them inside the kernel before
 * formatting anything, and costs a spawn (~4.5 ms) plus the hash walk both pay (~2.5 ms).
 * In a namespace with few TIME_WAIT rows /proc stays cheaper and needs no other program, so
 * NetnsSockets switches a namespace here only while its /proc table is full of them.
 *
 * What is lost: TIME_WAIT sockets on loopback, which /proc reads keep to place a closed loopback
 * connection in its namespace (socket-table.ts); in such a namespace the poll's memory of the
 * socket while it lived usually answers instead.
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
