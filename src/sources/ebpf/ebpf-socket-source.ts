/**
 * Runs the socket-event bpftrace program (bpftrace-program.ts) as a child process, and beside it
 * dllt-bpfdrain (bpf-drain.c), which empties the program's event map every DRAIN_INTERVAL_MS;
 * hands the events over one by one, in kernel time order within each batch (USE_EBPF=Y, SPEC 9).
 *
 * bpftrace runs with `-f json`: each message is one JSON line, so its `attached_probes` line is
 * told apart without guessing at free text. bpftrace compiles the program against the kernel's
 * BTF first: that takes seconds (about 3.5–5 s measured here, 2 cores), and start() reports it.
 * bpftrace 0.17 prints that line just before it makes its maps and attaches the probes, so the
 * drain starts then and waits for the map, and start() resolves once the drain has found it.
 *
 * The program is built for the running kernel from its tracepoint format files, so a kernel
 * lacking a tracepoint or a field loses only that probe (named in the start result) rather than
 * the whole source.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { buildBpftraceProgram, EVENT_KEY_BYTES, EVENT_KINDS, EVENT_MAP } from './bpftrace-program.js';
import { checkEbpf, findBpftrace, tracefsDir } from './ebpf-availability.js';
import { monotonicToWallOffsetUs } from './kernel-clock.js';
import { parseBpftraceJson } from './socket-event.js';
import { DRAINED_EVENT_BYTES, DrainedEvent, RECORD_TAG } from './drained-event.js';

export const BPF_DRAIN_HELPER = fileURLToPath(new URL('./dllt-bpfdrain', import.meta.url));

export interface EbpfSocketSourceOptions {
  /** bpftrace to run instead of the first found in PATH and the usual directories. */
  bpftracePath?: string;
  /** A program to run instead of the one built for this kernel: for tests and diagnostics. It
   *  stores its events as the built one does (bpftrace-program.ts). */
  program?: string;
  /** The drain helper to run instead of the one `npm run build` puts beside this module. */
  drainPath?: string;
  /** Give up when the probes are not attached this long after the start (default 60 s). */
  attachTimeoutMs?: number;
  /** Capacity of each map of the program (default MAP_KEYS_MAX): small in the test that fills
   *  the event map. */
  mapKeysMax?: number;
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
  /** Output lines (bpftrace's) and records (the drain's) that were none we know. */
  unparsedLines: number;
  /** Drains that found the event map full: the kernel could not store events in between. */
  fullMaps: number;
}

const DEFAULT_ATTACH_TIMEOUT_MS = 60_000;
/** After SIGINT bpftrace detaches and exits within a second, unless it is still attaching. */
const STOP_GRACE_MS = 5_000;
/** How often the wall − monotonic offset is checked against the clock (follows clock steps). */
const CLOCK_REFRESH_MS = 10_000;
/** At most one "map full" problem report per this long; the count keeps adding up. */
const FULL_REPORT_INTERVAL_MS = 10_000;
/**
 * How often the drain empties the event map: the delay events see before dllt has them (flows
 * reach attribution about a second after their first packet). The map holds
 * BPFTRACE_MAP_KEYS_MAX events, so at this interval it takes over 650,000 events a second to
 * fill it. Each drain walks the whole map: 50 ms cost the drain 0.19 s of CPU in the bench's
 * 20 s at 1,000 connections/s, 100 ms 0.12 s.
 */
const DRAIN_INTERVAL_MS = 100;
/** A stopping drain takes its last batch and exits at once; this only guards a wedged one. */
const DRAIN_STOP_GRACE_MS = 2_000;
const STDERR_KEEP_CHARS = 4_000;
/** A line (bpftrace's) or record (the drain's) this long without its end is none of ours:
 *  dropped, counted. */
const MAX_PENDING_CHARS = 64 * 1024;

/**
 * Map capacity (BPFTRACE_MAP_KEYS_MAX, bpftrace's default 4096): the event map's, and the
 * per-socket maps' (sockets beyond it get no rtt/io events until others are destroyed). The
 * program prints nothing, so bpftrace's perf rings (BPFTRACE_PERF_RB_PAGES) keep their default.
 */
const MAP_KEYS_MAX = 65_536;

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
  private drain: ChildProcessByStdio<Writable, Readable, Readable> | undefined;
  private stopping = false;
  private wallOffsetUs = 0;
  private clockTimer: NodeJS.Timeout | undefined;
  private lastFullReport = 0;
  /** The event map's size, as the drain found it. */
  private mapCapacity = 0;
  private readonly counters: EbpfSourceStats = { events: 0, unparsedLines: 0, fullMaps: 0 };
  private readonly killOnExit = (): void => {
    this.child?.kill('SIGKILL');
    this.drain?.kill('SIGKILL');
  };

  constructor(private readonly opts: EbpfSocketSourceOptions = {}) {}

  /** bpftrace's pid while it runs. */
  get pid(): number | undefined {
    return this.child?.exitCode === null ? this.child.pid : undefined;
  }

  /** The drain's pid while it runs. */
  get drainPid(): number | undefined {
    return this.drain?.exitCode === null ? this.drain.pid : undefined;
  }

  stats(): EbpfSourceStats {
    return { ...this.counters };
  }

  /**
   * Starts bpftrace and the drain; resolves once the probes are attached and the drain has found
   * the event map, or with the reason it could not (a failed checkEbpf(), a missing drain helper,
   * bpftrace's or the drain's own error text). Events then go to onEvent as they are read, each
   * in the same DrainedEvent, valid during the call (toSocketEvent() keeps one); onProblem hears
   * of a full event map and, once, of bpftrace or the drain ending while not stopped.
   */
  start(onEvent: (e: DrainedEvent) => void, onProblem: (reason: string) => void): Promise<EbpfStartResult> {
    if (this.child) return Promise.resolve({ ok: false, reason: 'USE_EBPF=Y: the eBPF socket source is already started' });
    const check = checkEbpf(this.opts.bpftracePath !== undefined ? { bpftracePath: this.opts.bpftracePath } : {});
    if (!check.ok) return Promise.resolve(check);
    const drainPath = this.opts.drainPath ?? BPF_DRAIN_HELPER;
    if (!existsSync(drainPath)) {
      return Promise.resolve({ ok: false, reason: `USE_EBPF=Y: ${drainPath} is missing (npm run build makes it when a C compiler is installed); using /proc` });
    }
    const built = this.opts.program === undefined ? buildBpftraceProgram((tp) => readTracepointFields(tp)) : undefined;
    const program = this.opts.program ?? built!.text;
    this.stopping = false;
    this.wallOffsetUs = monotonicToWallOffsetUs();
    this.clockTimer = setInterval(() => (this.wallOffsetUs = monotonicToWallOffsetUs()), CLOCK_REFRESH_MS).unref();

    const startedAt = performance.now();
    const child = spawn(findBpftrace(this.opts.bpftracePath)!, ['-f', 'json', '-B', 'line', '-e', program], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BPFTRACE_MAP_KEYS_MAX: String(this.opts.mapKeysMax ?? MAP_KEYS_MAX) },
    });
    this.child = child;
    process.on('exit', this.killOnExit);

    return new Promise<EbpfStartResult>((resolve) => {
      let attached = false;
      let drainReady = false;
      let settled = false;
      let stderr = '';
      /** Why the drain ended while bpftrace ran: bpftrace is stopped, and this is the news. */
      let drainFailure: string | undefined;
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
        this.drain?.kill('SIGKILL');
        failStart(`bpftrace did not attach its probes within ${this.attachTimeoutMs() / 1000} s`);
      }, this.attachTimeoutMs());

      const onText = (record: string): void => {
        switch (record.charCodeAt(0)) {
          case 43: // "+CAPACITY": the map is found
            drainReady = true;
            this.mapCapacity = Number(record.slice(1));
            settle({ ok: true, startupMs: Math.round(performance.now() - startedAt), omitted: built?.omitted ?? [] });
            return;
          case 33: // "!": the drain cannot go on
            drainFailure = `dllt-bpfdrain: ${record.slice(1)}`;
            return;
          case 35: // "#full"
            this.countFull(onProblem);
            return;
          case 63: // "?": a listener could not be told to the kernel
            onProblem(`eBPF: ${record.slice(1)}: connections accepted by listeners older than bpftrace are credited at their first use instead`);
            return;
          default:
            this.counters.unparsedLines++;
        }
      };
      const event = new DrainedEvent();
      const onEventRecord = (bytes: Uint8Array, view: DataView, at: number): void => {
        if (!event.read(bytes, view, at, this.wallOffsetUs)) {
          this.counters.unparsedLines++;
          return;
        }
        this.counters.events++;
        onEvent(event);
      };

      const startDrain = (): void => {
        const drain = spawn(drainPath, [String(child.pid), EVENT_MAP, String(EVENT_KEY_BYTES), String(DRAIN_INTERVAL_MS), ...EVENT_KINDS], {
          stdio: ['pipe', 'pipe', 'pipe'],
        });
        this.drain = drain;
        forEachDrainRecord(drain.stdout, onEventRecord, onText, () => this.counters.unparsedLines++);
        let drainStderr = '';
        drain.stderr.setEncoding('utf8');
        drain.stderr.on('data', (chunk: string) => (drainStderr = (drainStderr + chunk).slice(-STDERR_KEEP_CHARS)));
        drain.stdin.on('error', () => undefined);
        drain.on('error', (err) => (drainFailure = `cannot run dllt-bpfdrain: ${err.message}`));
        drain.on('close', (code, signal) => {
          this.drain = undefined;
          if (this.stopping) return;
          const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
          drainFailure ??= `dllt-bpfdrain ${how}${drainStderr.trim() !== '' ? `: ${drainStderr.trim()}` : ''}`;
          // Without its drain, bpftrace would only fill the map: it goes too, and says why.
          void interruptThenKill(child);
        });
      };

      const onLine = (line: string): void => {
        if (line.trim() === '') return;
        const msg = parseBpftraceJson(line);
        if (msg === undefined) {
          this.counters.unparsedLines++;
          return;
        }
        if (msg.type === 'attached_probes' && !attached) {
          attached = true;
          startDrain();
        }
        // Map dumps at exit and other bpftrace messages carry nothing we use.
      };

      forEachRecord(child.stdout, '\n', onLine, () => this.counters.unparsedLines++);
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_KEEP_CHARS);
      });
      child.on('error', (err) => {
        if (!attached) failStart(`cannot run bpftrace: ${err.message}`);
      });
      child.on('close', (code, signal) => {
        const said = meaningfulStderr(stderr);
        const how = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
        this.drain?.stdin.end();
        if (!drainReady) {
          if (drainFailure !== undefined) failStart(drainFailure);
          else if (this.stopping) failStart('stopped before bpftrace attached its probes');
          else failStart(said !== '' ? `bpftrace failed: ${said}` : `bpftrace ${how} before attaching its probes`);
          return;
        }
        const wasStopping = this.stopping;
        this.cleanupAfterExit();
        if (drainFailure !== undefined) onProblem(`eBPF socket events stopped: ${drainFailure}`);
        else if (!wasStopping) onProblem(`eBPF socket events stopped: bpftrace ${how}${said !== '' ? `: ${said}` : ''}`);
      });
    });
  }

  /**
   * Tells the kernel who owns a listener that was listening before bpftrace attached (the drain
   * puts it into the program's listener map), so that the connections it accepts carry their
   * owner as those of listeners seen starting do (pidFrom `listener`), instead of costing an `io`
   * event each at their first use. A listen() seen since wins. `comm` as /proc/PID/comm has it;
   * `cgroupId` undefined when dllt cannot see the cgroup2 hierarchy (its events then have none).
   */
  seedListener(l: { netns: number; port: number; pid: number; cgroupId: number | undefined; comm: string }): void {
    const stdin = this.drain?.stdin;
    if (stdin === undefined || !stdin.writable) return;
    // The kernel keeps 15 bytes of a command; a newline would end the drain's line.
    const comm = l.comm.replace(/[\n\t]/g, ' ');
    stdin.write(`L\t${l.netns}\t${l.port}\t${l.pid}\t${l.pid}\t${l.cgroupId ?? 0}\t${comm}\n`);
  }

  /**
   * Stops the drain (its stdin closed: it takes the last events and exits), then bpftrace
   * (SIGINT, then SIGKILL after a grace period); resolves once both have exited.
   */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.cleanupAfterExit();
      return;
    }
    this.stopping = true;
    const drain = this.drain;
    if (drain !== undefined) {
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => drain.kill('SIGKILL'), DRAIN_STOP_GRACE_MS);
        drain.once('close', () => {
          clearTimeout(force);
          resolve();
        });
        drain.stdin.end();
      });
    }
    await interruptThenKill(child);
  }

  private attachTimeoutMs(): number {
    return this.opts.attachTimeoutMs ?? DEFAULT_ATTACH_TIMEOUT_MS;
  }

  private countFull(onProblem: (reason: string) => void): void {
    this.counters.fullMaps++;
    const now = performance.now();
    if (now - this.lastFullReport < FULL_REPORT_INTERVAL_MS && this.lastFullReport !== 0) return;
    this.lastFullReport = now;
    onProblem(
      `eBPF: the event map was full at ${this.counters.fullMaps} drain(s) so far: socket events may have been lost (more than ${this.mapCapacity} in ${DRAIN_INTERVAL_MS} ms)`,
    );
  }

  private cleanupAfterExit(): void {
    if (this.clockTimer) clearInterval(this.clockTimer);
    this.clockTimer = undefined;
    process.off('exit', this.killOnExit);
    this.child = undefined;
  }
}

/**
 * SIGINT (bpftrace detaches and exits within a second), then SIGKILL if it has not exited after
 * STOP_GRACE_MS: a bpftrace still attaching its probes lets SIGINT wait. Resolves once it has.
 */
function interruptThenKill(child: ChildProcessByStdio<null, Readable, Readable>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    child.once('close', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGINT');
  });
}

/**
 * Calls `each` with every `separator`-ended record of `stream` (UTF-8), and what is left at its
 * end; a record longer than MAX_PENDING_CHARS without its separator is dropped (`onOverlong`).
 */
function forEachRecord(stream: Readable, separator: string, each: (record: string) => void, onOverlong: () => void): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const records = (pending + chunk).split(separator);
    pending = records.pop() ?? '';
    for (const r of records) each(r);
    if (pending.length > MAX_PENDING_CHARS) {
      onOverlong();
      pending = '';
    }
  });
  stream.on('end', () => {
    if (pending !== '') each(pending);
    pending = '';
  });
}

/**
 * Calls `onEvent` with every binary event record of the drain's `stream` (RECORD_TAG, then
 * DRAINED_EVENT_BYTES in all) where it lies in the chunk read, and `onText` with every
 * NUL-ended text record; a text record longer than MAX_PENDING_CHARS without its NUL is dropped
 * (`onOverlong`). Only a record cut by a chunk's end is copied.
 */
export function forEachDrainRecord(
  stream: Readable,
  onEvent: (bytes: Uint8Array, view: DataView, at: number) => void,
  onText: (text: string) => void,
  onOverlong: () => void,
): void {
  let pending: Buffer | undefined;
  stream.on('data', (chunk: Buffer) => {
    const bytes = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
    pending = undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    let at = 0;
    while (at < bytes.length) {
      if (bytes[at] === RECORD_TAG) {
        if (at + DRAINED_EVENT_BYTES > bytes.length) break;
        onEvent(bytes, view, at);
        at += DRAINED_EVENT_BYTES;
        continue;
      }
      const end = bytes.indexOf(0, at);
      if (end < 0) break;
      onText(bytes.toString('utf8', at, end));
      at = end + 1;
    }
    if (at === bytes.length) return;
    if (bytes.length - at > MAX_PENDING_CHARS) {
      onOverlong();
      return;
    }
    pending = Buffer.from(bytes.subarray(at));
  });
  stream.on('end', () => {
    if (pending !== undefined && pending.length > 0) onOverlong();
    pending = undefined;
  });
}
