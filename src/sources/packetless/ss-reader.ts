/**
 * Reads the kernel's TCP socket table (with tcp_info, owners and cookies) of one network
 * namespace by running iproute2's `ss`, and follows socket destruction with `ss -E`.
 *
 * Why `ss`: the data lives behind netlink sock_diag, which Node cannot speak without a native
 * module. Measured on this machine (2 cores, Node 20, iproute2 6.1; 30 polls each, CPU = user+sys
 * of Node plus the reaped children):
 *
 * | how, per poll (wall / CPU)                                | 11 sockets    | 2,001 sockets |
 * | -------------------------------------------------------- | ------------- | ------------- |
 * | spawn `nsenter --net=NS ss -tinOHeap` (chosen)           | 11 / 11.5 ms  | 67 / 68 ms    |
 * | the same without `-p`                                    | 8 / 8.4 ms    | 36 / 39 ms    |
 * | spawn floor (`nsenter --net=NS true`)                    | 4.5 / 4.4 ms  | —             |
 * | long-lived `sh` in the namespace running `ss` per poll   | 11 / 10 ms    | 78 / 77 ms    |
 * | read `/proc/PID/net/tcp{,6}` (no rtt, bytes or owner)    | 9 / 9 ms      | 19 / 19 ms    |
 *
 * A long-lived shell saves only the spawn (~4 ms) and adds a process per namespace and a framing
 * protocol; /proc/net/tcp walks the whole (host-wide) hash table on every read and lacks the
 * counters; a Python netlink helper would add a runtime the agent's image need not have. So: one
 * async spawn per namespace per poll, parsed line by line as it streams in. Node's share, spawn
 * and parsing included: 2–3 ms for a few sockets, 40–60 ms for 2,000 (parseSsLine ≈ 10 µs a
 * line; measured while other work loaded the machine, so ±50 %). `-p` costs a scan of every
 * process's fds on the host (half of `ss`'s time at 2,000 sockets), paid per namespace; it is what
 * gives pid/comm without a second /proc walk.
 *
 * `ss -E` (a long-lived `ss` per namespace, idle when nothing closes) prints each socket's final
 * tcp_info as the kernel destroys it: exact last counters, and connections that open and close
 * between two polls. Its output is block-buffered, hence `stdbuf -oL`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync, statSync } from 'node:fs';
import { parseSsLine, type TcpSocketInfo } from './ss-parse.js';

/** A network namespace to watch: a process inside it (a pod's), a name under /run/netns, or neither for our own. */
export interface NamespaceRef {
  pid?: number;
  name?: string;
}

export interface WatchedNetns {
  /** The namespace's inode (`net:[N]`): its identity, shared by every process inside it. */
  inode: number;
  /** What `nsenter --net=` opens. */
  path: string;
  /** For messages: `pid 1234`, `netns foo` or `own`. */
  label: string;
  ref: NamespaceRef;
  /** It is the namespace this process runs in: `ss` runs without nsenter. */
  own: boolean;
}

export interface SsSnapshot {
  /** Wall time the `ss` run started, µs since the epoch. */
  startedUs: number;
  sockets: TcpSocketInfo[];
  /** Lines that did not parse. */
  badLines: number;
  /** More sockets than the cap: the rest were not read. */
  truncated: boolean;
  /** Why the read failed (nothing in `sockets` is trustworthy as a full table then). */
  error?: string;
}

export const SS_POLL_ARGS = ['-tinOHeap'];
export const SS_DESTROY_ARGS = ['-tinOHeE'];
const SELF_NETNS = '/proc/self/ns/net';
/** A chunk of output without a newline longer than this is not `ss` output. */
const MAX_PENDING_CHARS = 1 << 20;

function nsInodeFromLink(path: string): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(path));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resolves what to watch; a string says why it cannot be (no such process, bad name...). */
export function resolveNetns(ref: NamespaceRef = {}): WatchedNetns | string {
  const ownInode = nsInodeFromLink(SELF_NETNS);
  if (ref.pid !== undefined && ref.name !== undefined) return 'give a pid or a namespace name, not both';
  let inode: number | undefined;
  let path: string;
  let label: string;
  if (ref.pid !== undefined) {
    if (!Number.isInteger(ref.pid) || ref.pid <= 0) return `pid ${String(ref.pid)} is not a process id`;
    path = `/proc/${ref.pid}/ns/net`;
    label = `pid ${ref.pid}`;
    inode = nsInodeFromLink(path);
    if (inode === undefined) return `${label}: no such process, or its namespace cannot be read (needs root)`;
  } else if (ref.name !== undefined) {
    if (!/^[A-Za-z0-9_.-]{1,255}$/.test(ref.name) || ref.name === '.' || ref.name === '..') return `netns name ${JSON.stringify(ref.name)} is not valid`;
    path = `/run/netns/${ref.name}`;
    label = `netns ${ref.name}`;
    try {
      inode = statSync(path).ino;
    } catch {
      return `${label}: no such named network namespace (${path})`;
    }
  } else {
    if (ownInode === undefined) return `cannot read ${SELF_NETNS}`;
    path = SELF_NETNS;
    label = 'own';
    inode = ownInode;
  }
  return { inode, path, label, ref, own: inode === ownInode };
}

/** The namespace is still the one we resolved (a pod's pid may exit, and its number be reused). */
export function netnsStillThere(ns: WatchedNetns): boolean {
  if (ns.ref.name !== undefined) {
    try {
      return statSync(ns.path).ino === ns.inode;
    } catch {
      return false;
    }
  }
  return nsInodeFromLink(ns.path) === ns.inode;
}

function commandFor(ns: WatchedNetns, argv: string[]): [string, string[]] {
  if (ns.own) return [argv[0]!, argv.slice(1)];
  return ['nsenter', [`--net=${ns.path}`, ...argv]];
}

function spawnFailure(err: NodeJS.ErrnoException, cmd: string): string {
  if (err.code === 'ENOENT') return `${cmd} not found (install ${cmd === 'nsenter' ? 'util-linux' : 'iproute2'})`;
  return `${cmd}: ${err.message}`;
}

/**
 * Feeds complete lines of a child's stdout to `onLine`; returns false from `onLine` to stop reading.
 * Text is decoded as UTF-8 across chunk boundaries.
 */
function readLines(child: ChildProcess, onLine: (line: string) => boolean, onOverflow: () => void): void {
  let pending = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    pending += chunk;
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
      const line = pending.slice(start, nl);
      start = nl + 1;
      if (!onLine(line)) {
        pending = '';
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        return;
      }
    }
    pending = pending.slice(start);
    if (pending.length > MAX_PENDING_CHARS) {
      pending = '';
      onOverflow();
    }
  });
}

/** First line of a child's stderr, for messages. */
function collectStderr(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => {
    if (text.length < 4096) text += d;
  });
  return () => text.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
}

export interface ReadOptions {
  /** Stop reading after this many socket lines (the rest is dropped, `truncated` set). */
  maxSockets: number;
  /** Kill `ss` after this long. */
  timeoutMs: number;
  /** `ss` arguments; SS_POLL_ARGS by default. */
  args?: string[];
}

/** One `ss` run in the namespace: every TCP socket, listeners and time-wait included. */
export function readTcpSockets(ns: WatchedNetns, opts: ReadOptions): Promise<SsSnapshot> {
  const snapshot: SsSnapshot = { startedUs: Date.now() * 1000, sockets: [], badLines: 0, truncated: false };
  const [cmd, args] = commandFor(ns, ['ss', ...(opts.args ?? SS_POLL_ARGS)]);
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      snapshot.error = spawnFailure(err as NodeJS.ErrnoException, cmd);
      resolve(snapshot);
      return;
    }
    const stderr = collectStderr(child);
    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    const timer = setTimeout(() => {
      snapshot.error = `ss in ${ns.label} took longer than ${opts.timeoutMs} ms`;
      kill();
    }, opts.timeoutMs);
    readLines(
      child,
      (line) => {
        if (line.trim() === '') return true;
        if (snapshot.sockets.length >= opts.maxSockets) {
          snapshot.truncated = true;
          kill();
          return false;
        }
        const info = parseSsLine(line);
        if (info) snapshot.sockets.push(info);
        else snapshot.badLines++;
        return true;
      },
      () => {
        snapshot.error = `ss in ${ns.label} printed a line longer than ${MAX_PENDING_CHARS} characters`;
        kill();
      },
    );
    child.on('error', (err) => {
      clearTimeout(timer);
      snapshot.error ??= spawnFailure(err, cmd);
      resolve(snapshot);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (snapshot.error === undefined && !snapshot.truncated && code !== 0) {
        const why = stderr() || (signal ? `killed by ${signal}` : `exit code ${String(code)}`);
        snapshot.error = `ss in ${ns.label} failed: ${why}`;
      }
      resolve(snapshot);
    });
  });
}

/**
 * `ss -E` in the namespace: each TCP socket's last tcp_info as the kernel destroys it. `onSocket`
 * gets every parsed line, `onExit` once with the reason when the monitor ends without stop().
 */
export class DestroyMonitor {
  private readonly child: ChildProcess | undefined;
  private stopped = false;

  constructor(
    readonly ns: WatchedNetns,
    onSocket: (info: TcpSocketInfo, atUs: number) => void,
    onExit: (reason: string) => void,
  ) {
    const [cmd, args] = commandFor(ns, ['stdbuf', '-oL', 'ss', ...SS_DESTROY_ARGS]);
    let exited = false;
    const exit = (reason: string): void => {
      if (exited || this.stopped) return;
      exited = true;
      onExit(reason);
    };
    try {
      this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      queueMicrotask(() => exit(spawnFailure(err as NodeJS.ErrnoException, cmd)));
      return;
    }
    const child = this.child;
    const stderr = collectStderr(child);
    readLines(
      child,
      (line) => {
        const info = parseSsLine(line);
        if (info) onSocket(info, Date.now() * 1000);
        return true;
      },
      () => child.kill('SIGKILL'),
    );
    child.on('error', (err) => exit(spawnFailure(err, cmd)));
    child.on('close', (code, signal) => {
      exit(`ss -E in ${ns.label} ended: ${stderr() || (signal ? `killed by ${signal}` : `exit code ${String(code)}`)}`);
    });
  }

  /** The `ss -E` process, which lives inside the watched namespace. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Still receiving events. */
  get running(): boolean {
    return !this.stopped && this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  stop(): void {
    this.stopped = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }
}
