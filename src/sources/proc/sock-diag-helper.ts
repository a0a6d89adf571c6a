/**
 * A namespace's TCP sockets through netlink sock_diag, TIME_WAIT left out by the kernel, from
 * dllt-sockdiag (sock-diag.c, built by `npm run build`): how NetnsSockets reads TCP tables, with
 * /proc/<pid>/net/tcp{,6} as the fallback when the helper is missing or fails.
 *
 * Why: every read of /proc/<pid>/net/tcp or tcp6 walks the kernel's whole established hash (shared
 * by all namespaces) and formats a row for every socket, TIME_WAIT included: 11–27 ms per table on
 * a busy node. sock_diag filters TIME_WAIT in the kernel and sends binary rows. `nsenter … ss` got
 * them too but cost 7–30 ms of CPU per table in program starts and cgroup lookups; the helper lives
 * as long as the worker and answers a table in about a millisecond.
 *
 * Synchronous on purpose, like the rest of the attribution worker's reads: requests go to the
 * helper's stdin and answers come from its stdout through two FIFOs (Node cannot make an anonymous
 * pipe it can read synchronously), the answer side polled with short sleeps under a deadline.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SocketEntry } from './socket-table.js';

export const SOCK_DIAG_HELPER = fileURLToPath(new URL('./dllt-sockdiag', import.meta.url));

/** An answer later than this means the helper is stuck: it is stopped and /proc takes over. */
const ANSWER_DEADLINE_MS = 2_000;
const POLL_SLEEP_MS = 0.2;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));
const chunk = Buffer.allocUnsafe(256 * 1024);

export class SockDiagHelper {
  private constructor(
    private readonly child: ChildProcess,
    private readonly requests: number,
    private readonly answers: number,
  ) {}

  /** Starts the helper at `binary`; the reason as a string when it cannot run. */
  static start(binary = SOCK_DIAG_HELPER): SockDiagHelper | string {
    if (!existsSync(binary)) return `${binary} is missing (npm run build makes it when a C compiler is installed)`;
    const dir = mkdtempSync(join(tmpdir(), 'dllt-sockdiag-'));
    try {
      const requestPath = join(dir, 'requests');
      const answerPath = join(dir, 'answers');
      const made = spawnSync('mkfifo', ['-m', '600', requestPath, answerPath], { encoding: 'utf8' });
      if (made.status !== 0) return `mkfifo failed: ${made.error?.message ?? made.stderr.trim()}`;
      // Opening a FIFO read-write never blocks (Linux): those are the helper's ends, closed here
      // once it has them, so a helper that dies leaves EOF and EPIPE behind, not a hang.
      const helperIn = openSync(requestPath, constants.O_RDWR);
      const helperOut = openSync(answerPath, constants.O_RDWR);
      const requests = openSync(requestPath, constants.O_WRONLY | constants.O_NONBLOCK);
      const answers = openSync(answerPath, constants.O_RDONLY | constants.O_NONBLOCK);
      let child: ChildProcess;
      try {
        child = spawn(binary, [], { stdio: [helperIn, helperOut, 'ignore'] });
      } finally {
        closeSync(helperIn);
        closeSync(helperOut);
      }
      // A failed start shows as EOF on the first answer; the worker must not stay alive for it.
      child.on('error', () => undefined);
      child.unref();
      return new SockDiagHelper(child, requests, answers);
    } finally {
      // The FIFOs stay usable through the open descriptors.
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The TCP sockets of the namespace `/proc/<pid>/ns/net` names (`nsPath`), or why not. */
  readTcp(nsPath: string): SocketEntry[] | string {
    try {
      writeSync(this.requests, nsPath + '\n');
    } catch (err) {
      return `dllt-sockdiag is gone (${(err as NodeJS.ErrnoException).code})`;
    }
    let text = '';
    const deadline = Date.now() + ANSWER_DEADLINE_MS;
    for (;;) {
      let n: number;
      try {
        n = readSync(this.answers, chunk, 0, chunk.length, null);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return `dllt-sockdiag's answer could not be read (${(err as NodeJS.ErrnoException).code})`;
        if (Date.now() > deadline) return `dllt-sockdiag gave no answer in ${ANSWER_DEADLINE_MS} ms`;
        Atomics.wait(sleepCell, 0, 0, POLL_SLEEP_MS);
        continue;
      }
      if (n === 0) return `dllt-sockdiag exited${this.child.exitCode !== null ? ` with ${this.child.exitCode}` : ''}`;
      text += chunk.toString('latin1', 0, n);
      const last = lastLineStart(text);
      if (last >= 0 && (text.charCodeAt(last) === 46 || text.charCodeAt(last) === 33)) return parseAnswer(text, last);
    }
  }

  close(): void {
    for (const fd of [this.requests, this.answers]) {
      try {
        closeSync(fd);
      } catch {
        // Closed already.
      }
    }
    this.child.kill();
  }
}

/** Where the last complete line of `text` starts, -1 while it does not end with one. */
function lastLineStart(text: string): number {
  if (text.charCodeAt(text.length - 1) !== 10) return -1;
  return text.lastIndexOf('\n', text.length - 2) + 1;
}

/** The rows of an answer whose last line (at `last`) is "." or "!reason". */
export function parseAnswer(text: string, last: number): SocketEntry[] | string {
  if (text.charCodeAt(last) === 33) return text.slice(last + 1, text.length - 1);
  const entries: SocketEntry[] = [];
  let start = 0;
  while (start < last) {
    const end = text.indexOf('\n', start);
    const f = text.slice(start, end).split(' ');
    start = end + 1;
    if (f.length !== 7) continue;
    entries.push({ state: Number(f[0]), uid: Number(f[1]), inode: Number(f[2]), localIp: f[3]!, localPort: Number(f[4]), remoteIp: f[5]!, remotePort: Number(f[6]) });
  }
  return entries;
}
