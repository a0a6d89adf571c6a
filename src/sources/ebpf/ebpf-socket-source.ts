/**
 * Runs the socket-event bpftrace program (bpftrace-program.ts) as a child process and hands its
 * events over one by one (USE_EBPF=Y, SPEC 9).
 *
 * bpftrace runs with `-f json`: each message is one JSON line, so the line that says the probes
 * are attached (start() waits for it), lost-event reports and our printf lines are told apart
 * without guessing at free text. bpftrace compiles the program against the kernel's BTF before it
 * attaches: that takes seconds (about 3.5 s measured here, 2 cores), and start() reports it.
 *
 * The program is built for the running kernel from its tracepoint format files, so a kernel
 * lacking a tracepoint or a field loses only that probe (named in the start result) rather than
 * the whole source.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Readable } from 'node:stream';
import { buildBpftraceProgram } from './bpftrace-program.js';
import { checkEbpf, findBpftrace, tracefsDir } from './ebpf-availability.js';
import { monotonicToWallOffsetUs } from './kernel-clock.js';
import { parseBpftraceData, parseBpftraceJson, type SocketEvent } from './socket-event.js';

export interface EbpfSocketSourceOptions {
  /** bpftrace to run instead of the first found in PATH and the usual directories. */
  bpftracePath?: string;
  /** A program to run instead of the one built for this kernel: for tests and diagnostics. */
  program?: string;
  /** Give up when the probes are not attached this long after the start (default 60 s). */
  attachTimeoutMs?: number;
}

export type EbpfStartResult =
  | {
      ok: true;
      /** From spawning bpftrace to its report that every probe is attached. */
      startupMs: number;
      /** Tracepoints this kernel lacks, left out of the program. */
      omitted: string[];
    }
  | { ok: false; reason: string };

export interface EbpfSourceStats {
  events: number;
  /** Output lines that were neither an event nor a bpftrace message we know. */
  unparsedLines: number;
  /** Events the kernel dropped because bpftrace's ring buffer was full (bpftrace's count). */
  lostEvents: number;
}

const DEFAULT_ATTACH_TIMEOUT_MS = 60_000;
/** After SIGINT bpftrace detaches and exits within a second; this only guards a wedged child. */
const STOP_GRACE_MS = 5_000;
/** How often the wall − monotonic offset is checked against the clock (follows clock steps). */
const CLOCK_REFRESH_MS = 10_000;
/** At most one "lost events" problem report per this long; the count keeps adding up. */
const LOST_REPORT_INTERVAL_MS = 10_000;
const STDERR_KEEP_CHARS = 4_000;
/** A line this long without its newline is no bpftrace message of ours: dropped, counted. */
const MAX_PENDING_CHARS = 64 * 1024;

/**
 * Per-socket map capacity (BPFTRACE_MAP_KEYS_MAX, bpftrace's default 4096): sockets beyond it
 * get no rtt/io lines until others are destroyed. Per-CPU ring pages (BPFTRACE_PERF_RB_PAGES,
 * default 64) absorb the events that arrive while bpftrace waits for a CPU: with 256 pages it
 * lost events at 1,000 connections/s on a busy 2-core machine (bench section `attribution`), and
 * every loss sends attribution back to /proc for a while. So the rings share RING_BUDGET_BYTES,
 * as many pages per CPU as fit (a power of two, 256 to 4,096: 16 MiB each on a 2-core node,
 * 1 MiB on a 64-core one).
 */
const RING_BUDGET_BYTES = 64 * 1024 * 1024;
const PAGE_BYTES = 4096;

export function ringPagesPerCpu(cpus: number): number {
  let pages = 4096;
  while (pages > 256 && pages * PAGE_BYTES * Math.max(1, cpus) > RING_BUDGET_BYTES) pages /= 2;
  return pages;
}

const BPFTRACE_ENV = { BPFTRACE_MAP_KEYS_MAX: '65536', BPFTRACE_PERF_RB_PAGES: String(ringPagesPerCpu(cpus().length)) };

/** bpftrace cannot raise the locked-memory limit without CAP_SYS_RESOURCE; since Linux 5.11
 *  BPF memory is charged to the cgroup instead, so the message is noise. */
const HARMLESS_STDERR = /couldn't set RLIMIT_MEMLOCK/;

/** Field names of a tracepoint from its format file, or undefined when it does not exist. */
export function readTracepointFields(tracepoint: string, dir = tracefsDir()): ReadonlySet<string> | undefined {
  const [category, name] = tracepoint.split(':');
  if (!category || !name) return undefined;
  let text: string;
  try {
    text = readFileSync(`${dir}/events/${category}/${name}/format`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = new Set<string>();
  for (const m of text.matchAll(/\bfield:[^;]*?([A-Za-z_]\w*)\s*(?:\[[^\]]*\])?\s*;/g)) fields.add(m[1]!);
  return fields;
}

/** bpftrace's message in one line: its ERROR lines when it printed any (not the source excerpt
 *  and ~~~ underline after them), else every line but the harmless one. */
function meaningfulStderr(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !HARMLESS_STDERR.test(l));
  const errors = lines.filter((l) => l.includes('ERROR'));
  return (errors.length > 0 ? errors : lines).join(' / ');
}

export class EbpfSocketSource {
  private child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  private stopping = false;
  private wallOffsetUs = 0;
  private clockTimer: NodeJS.Timeout | undefined;
  private lastLostReport = 0;
  private readonly counters: EbpfSourceStats = { events: 0, unparsedLines: 0, lostEvents: 0 };
  private readonly killOnExit = (): void => {
    this.child?.kill('SIGKILL');
  };

  constructor(private readonly opts: EbpfSocketSourceOptions = {}) {}

  /** bpftrace's pid while it runs. */
  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  stats(): EbpfSourceStats {
    return { ...this.counters };
  }

  /**
   * Starts bpftrace; resolves once its probes are attached, or with the reason it could not
   * (a failed checkEbpf(), or bpftrace's own error text). Events then go to onEvent as they are
   * read; onProblem hears of lost events and, once, of bpftrace ending while not stopped.
   */
  start(onEvent: (e: SocketEvent) => void, onProblem: (reason: string) => void): Promise<EbpfStartResult> {
    if (this.child) return Promise.resolve({ ok: false, reason: 'USE_EBPF=Y: the eBPF socket source is already started' });
    const check = checkEbpf(this.opts.bpftracePath !== undefined ? { bpftracePath: this.opts.bpftracePath } : {});
    if (!check.ok) return Promise.resolve(check);
    const built = this.opts.program === undefined ? buildBpftraceProgram((tp) => readTracepointFields(tp)) : undefined;
    const program = this.opts.program ?? built!.text;
    this.stopping = false;
    this.wallOffsetUs = monotonicToWallOffsetUs();
    this.clockTimer = setInterval(() => (this.wallOffsetUs = monotonicToWallOffsetUs()), CLOCK_REFRESH_MS).unref();

    const startedAt = performance.now();
    const child = spawn(findBpftrace(this.opts.bpftracePath)!, ['-f', 'json', '-B', 'line', '-e', program], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...BPFTRACE_ENV },
    });
    this.child = child;
    process.on('exit', this.killOnExit);

    return new Promise<EbpfStartResult>((resolve) => {
      let attached = false;
      let settled = false;
      let stderr = '';
      let pending = '';
      const settle = (r: EbpfStartResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(attachTimer);
        resolve(r);
      };
      const failStart = (what: string): void => {
        this.cleanupAfterExit();
        settle({ ok: false, reason: `USE_EBPF=Y: ${what}; using /proc` });
      };
      const attachTimer = setTimeout(() => {
        child.kill('SIGKILL');
        failStart(`bpftrace did not attach its probes within ${this.attachTimeoutMs() / 1000} s`);
      }, this.attachTimeoutMs());

      const onLine = (line: string): void => {
        if (line.trim() === '') return;
        const msg = parseBpftraceJson(line);
        if (msg === undefined) {
          this.counters.unparsedLines++;
          return;
        }
        switch (msg.type) {
          case 'printf': {
            const ev = typeof msg.data === 'string' ? parseBpftraceData(msg.data, this.wallOffsetUs) : undefined;
            if (ev === undefined) {
              this.counters.unparsedLines++;
              return;
            }
            this.counters.events++;
            onEvent(ev);
            return;
          }
          case 'attached_probes':
            attached = true;
            settle({ ok: true, startupMs: Math.round(performance.now() - startedAt), omitted: built?.omitted ?? [] });
            return;
          case 'lost_events':
            this.countLost(msg.data, onProblem);
            return;
          default:
            // Map dumps at exit and other bpftrace messages carry nothing we use.
            return;
        }
      };

      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        const lines = (pending + chunk).split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) onLine(line);
        if (pending.length > MAX_PENDING_CHARS) {
          this.counters.unparsedLines++;
          pending = '';
        }
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_KEEP_CHARS);
      });
      child.on('error', (err) => {
        if (!attached) failStart(`cannot run bpftrace: ${err.message}`);
      });
      child.on('close', (code, signal) => {
        if (pending !== '') onLine(pending);
        pending = '';
        const said = meaningfulStderr(stderr);
        const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
        if (!attached) {
          if (this.stopping) failStart('stopped before bpftrace attached its probes');
          else failStart(said !== '' ? `bpftrace failed: ${said}` : `bpftrace ${how} before attaching its probes`);
          return;
        }
        const wasStopping = this.stopping;
        this.cleanupAfterExit();
        if (!wasStopping) onProblem(`eBPF socket events stopped: bpftrace ${how}${said !== '' ? `: ${said}` : ''}`);
      });
    });
  }

  /** Stops bpftrace (SIGINT, then SIGKILL after a grace period) and resolves once it has exited. */
  stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.cleanupAfterExit();
      return Promise.resolve();
    }
    this.stopping = true;
    return new Promise((resolve) => {
      const force = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      child.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGINT');
    });
  }

  private attachTimeoutMs(): number {
    return this.opts.attachTimeoutMs ?? DEFAULT_ATTACH_TIMEOUT_MS;
  }

  private countLost(data: unknown, onProblem: (reason: string) => void): void {
    const events = (data as { events?: unknown } | null)?.events;
    if (typeof events !== 'number' || !Number.isFinite(events) || events <= 0) return;
    this.counters.lostEvents += events;
    const now = performance.now();
    if (now - this.lastLostReport < LOST_REPORT_INTERVAL_MS && this.lastLostReport !== 0) return;
    this.lastLostReport = now;
    onProblem(`eBPF: the kernel dropped ${this.counters.lostEvents} socket events so far (bpftrace's buffer was full)`);
  }

  private cleanupAfterExit(): void {
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.clockTimer = undefined;
    process.off('exit', this.killOnExit);
    this.child = undefined;
  }
}
