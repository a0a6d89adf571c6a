/**
 * Live capture: a pcap stream from `dllt-capture` (libpcap, our helper in pcap-capture.c) or,
 * when that was not built, from `tcpdump -U -w -`, fed into the pcap push parser.
 *
 * Why a separate process and not a libpcap binding (docs/design/0001-capture-mechanism.md):
 * reading the kernel ring happens in that process, on another core, and our JS thread only
 * parses 64 KiB pipe chunks — measured ~0.9 µs of main-thread CPU per packet against ~2.7 µs for
 * the npm `pcap` binding's per-packet callback. Why our helper before tcpdump: tcpdump needs -U
 * to hand a packet over on a quiet link, and -U is one pipe write per packet; the helper writes
 * once per batch of ring blocks, which doubled the rate dllt captures without drops. Both report
 * the kernel's counters the same way: SIGUSR1 makes them print them on stderr, and they print
 * them once more when they exit.
 *
 * If the pipeline falls behind, the pipe fills, the capture process blocks, the kernel ring (-B)
 * fills and the kernel drops: those drops are exactly what the stats report.
 *
 * Packets come in ring blocks (not --immediate-mode, which doubled the per-packet cost), so on a
 * quiet link a packet reaches the handler up to ~1 s after it was captured; its timestamp is
 * the capture time regardless. stop() waits out that block timeout before ending the capture
 * process, so no packet captured before the stop is lost.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import type { PacketHandler } from './packet-handler.js';
import { PcapStreamParser } from './pcap-stream.js';
import { describeInterfaces, readInterface } from './interfaces.js';
import { findExecutable, isExecutable } from '../util/executables.js';

export interface LiveCaptureOptions {
  ifname: string;
  snaplen: number;
  promisc: boolean;
  /** BPF expression, passed to tcpdump (libpcap compiles it). */
  filter?: string;
  /** How often kernel counters are reported; 10 s when 0 or absent. */
  statsIntervalMs: number;
  /** Kernel ring buffer (tcpdump -B). 32 MiB absorbed a 2 M-packet burst at full sender speed
   *  with no drop in the measurement, where the 2 MiB default dropped. */
  bufferMiB?: number;
  /** Hand each packet over as it arrives (tcpdump --immediate-mode): no delay on a quiet link, but
   *  about twice the CPU per packet in tcpdump and in our process (one pipe write and read per
   *  packet), which halved the rate dllt sustained without drops. Default off: the kernel hands
   *  packets over in ring blocks, when a block fills or BLOCK_TIMEOUT_MS after its first packet. */
  immediate?: boolean;
  /** Capture with this tcpdump (tests); by default dllt-capture, else tcpdump from PATH, /usr/sbin, /usr/bin, /sbin. */
  tcpdumpPath?: string;
}

export interface CaptureStats {
  /** Packets the kernel handed to the capture socket ("received by filter"). */
  received: number;
  /** Packets the kernel dropped because the capture buffer was full. */
  dropped: number;
  /** Packets the interface (driver) dropped, when the driver reports it. */
  ifDropped?: number;
  /** True for the last report, made when the capture ends. */
  final: boolean;
}

/** Why a capture could not start or stopped by itself; matches the DLLT_ERR_* catalog codes. */
export type LiveCaptureFailure =
  | 'DLLT_ERR_CAPTURE_TOOL_MISSING'
  | 'DLLT_ERR_CAPTURE_NO_INTERFACE'
  | 'DLLT_ERR_CAPTURE_PERMISSION'
  | 'DLLT_ERR_CONFIG_INVALID'
  | 'DLLT_ERR_INTERNAL';

export const DEFAULT_STATS_INTERVAL_MS = 10_000;
export const DEFAULT_BUFFER_MIB = 32;
/** After SIGTERM the capture process flushes and exits at once; this only guards against a wedged child. */
const STOP_GRACE_MS = 5_000;
/** tcpdump's packet-buffer timeout (1000 ms, fixed in tcpdump) plus a margin: without immediate
 *  mode the kernel retires a partly filled ring block this long after its first packet. */
export const BLOCK_TIMEOUT_MS = 1_100;

/** dllt's own capture program, built by `npm run build` when libpcap's headers are installed. */
export const CAPTURE_HELPER = fileURLToPath(new URL('./dllt-capture', import.meta.url));

export interface CaptureProgram {
  path: string;
  /** dllt-capture, which writes once per batch of ring blocks; else tcpdump, which needs -U. */
  helper: boolean;
}

/** What reads the interface: `tcpdumpPath` when given, else dllt-capture, else tcpdump; undefined when none is there. */
export function captureProgram(tcpdumpPath?: string): CaptureProgram | undefined {
  if (tcpdumpPath === undefined && isExecutable(CAPTURE_HELPER)) return { path: CAPTURE_HELPER, helper: true };
  const tcpdump = findTcpdump(tcpdumpPath);
  return tcpdump === undefined ? undefined : { path: tcpdump, helper: false };
}

/** tcpdump's executable, or undefined when it is not installed. */
export function findTcpdump(explicit?: string): string | undefined {
  return findExecutable('tcpdump', explicit);
}

/** The command line for these options (exported for tests and the docs); dllt-capture takes
 *  tcpdump's options and flushes every batch by itself. */
export function captureArgs(opts: LiveCaptureOptions, helper: boolean): string[] {
  const args = [
    '-i', opts.ifname,
    // tcpdump: one write per packet, or a packet on a quiet link waits in stdio's buffer.
    ...(helper ? [] : ['-U']),
    '-w', '-',
    '-s', String(opts.snaplen),
    '-B', String((opts.bufferMiB ?? DEFAULT_BUFFER_MIB) * 1024),
    // No name lookups: the machine may have no resolver, and they would stall startup.
    '-n',
  ];
  if (opts.immediate) args.push('--immediate-mode');
  if (!opts.promisc) args.push('-p');
  if (opts.filter !== undefined && opts.filter.trim() !== '') args.push('--', opts.filter);
  return args;
}

/** Makes the capture program's error line an operator's message: what happened and what to do. */
export function classifyCaptureError(stderr: string, ifname: string, program?: string): { code: LiveCaptureFailure; message: string } {
  const line = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.includes('listening on') && !/packets? (captured|received|dropped)/.test(l))
    .join('; ');
  if (/permission|not permitted|EPERM|EACCES/i.test(line)) {
    return {
      code: 'DLLT_ERR_CAPTURE_PERMISSION',
      message: `no permission to capture on ${ifname} (${line}): run dllt as root, or give it CAP_NET_RAW and CAP_NET_ADMIN (setcap cap_net_raw,cap_net_admin=eip ${program ?? '"$(command -v tcpdump)"'})`,
    };
  }
  if (/disappeared|went down|No such device|doesn't exist|does not exist|ENODEV|ENXIO/i.test(line)) {
    return {
      code: 'DLLT_ERR_CAPTURE_NO_INTERFACE',
      message: `interface ${ifname} vanished or does not exist (${line}); interfaces now: ${describeInterfaces() || 'none'}`,
    };
  }
  if (/syntax error|filter expression|can't parse filter|bpf/i.test(line)) {
    return { code: 'DLLT_ERR_CONFIG_INVALID', message: `invalid --filter (BPF): ${line}` };
  }
  return { code: 'DLLT_ERR_INTERNAL', message: `${program === undefined ? 'tcpdump' : basename(program)} failed on ${ifname}: ${line || 'no message'}` };
}

/**
 * Forwards packets unchanged and names the interface: the pcap stream's header carries no name.
 * A class with one shape keeps the per-packet call monomorphic.
 */
class NamingHandler implements PacketHandler {
  constructor(
    private readonly inner: PacketHandler,
    private readonly ifname: string,
  ) {}

  onPacket(data: Uint8Array, dv: DataView, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number, ifaceId: number): void {
    this.inner.onPacket(data, dv, start, capLen, wireLen, tsUs, linkType, ifaceId);
  }

  onInterface(ifaceId: number, linkType: number, _name: string, snapLen: number): void {
    this.inner.onInterface(ifaceId, linkType, this.ifname, snapLen);
  }

  onSourceError(offset: number, message: string): void {
    this.inner.onSourceError(offset, message);
  }
}

const RE_RECEIVED = /(\d+) packets? received by filter/;
const RE_DROPPED = /(\d+) packets? dropped by kernel/;
const RE_IFDROPPED = /(\d+) packets? dropped by interface/;

export class LiveCapture {
  private readonly opts: LiveCaptureOptions;
  private readonly parser: PcapStreamParser;
  private readonly onStats: (s: CaptureStats) => void;
  private readonly onFatal: (message: string, code: LiveCaptureFailure) => void;
  private child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  /** What reads the interface, once started. */
  private program: CaptureProgram | undefined;
  private statsTimer: NodeJS.Timeout | undefined;
  /** Everything the capture process said on stderr that is not a stats line: the error, if it fails. */
  private stderrText = '';
  private stderrPartial = '';
  private stats: CaptureStats = { received: 0, dropped: 0, final: false };
  /** A "dropped by kernel" count was read and not yet reported. */
  private statsPending = false;
  /** The capture process printed "listening on": its SIGUSR1 handler is installed (before, USR1 kills it). */
  private listening = false;
  private stopping = false;
  private finished = false;
  private fatalSent = false;
  private exited: Promise<void> = Promise.resolve();
  private readonly listeningWaiters: ((ok: boolean) => void)[] = [];

  constructor(
    opts: LiveCaptureOptions,
    handler: PacketHandler,
    onStats: (s: CaptureStats) => void,
    onFatal: (message: string, code: LiveCaptureFailure) => void,
  ) {
    this.opts = opts;
    this.parser = new PcapStreamParser(new NamingHandler(handler, opts.ifname));
    this.onStats = onStats;
    this.onFatal = onFatal;
  }

  /** Packets handed to the handler so far. */
  get packets(): number {
    return this.parser.packets;
  }

  /** Resolves true once the capture process has the interface open, false if the capture failed or ended first. */
  whenListening(): Promise<boolean> {
    if (this.listening) return Promise.resolve(true);
    if (this.finished) return this.exited.then(() => false);
    return new Promise((resolve) => this.listeningWaiters.push(resolve));
  }

  /** Starts the capture process; problems are reported through onFatal (never thrown), then the capture is over. */
  start(): void {
    if (this.child || this.finished) return;
    const program = captureProgram(this.opts.tcpdumpPath);
    if (program === undefined) {
      this.fail('DLLT_ERR_CAPTURE_TOOL_MISSING', 'no capture program: dllt-capture was not built and tcpdump is not installed; install tcpdump with `apt-get install tcpdump` (or libpcap-dev and gcc, then `npm run build`)');
      return;
    }
    if (!readInterface(this.opts.ifname)) {
      this.fail('DLLT_ERR_CAPTURE_NO_INTERFACE', `no such interface: ${this.opts.ifname}; interfaces here: ${describeInterfaces() || 'none'}`);
      return;
    }
    this.program = program;
    const child = spawn(program.path, captureArgs(this.opts, program.helper), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => this.parser.feed(chunk));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => this.onStderr(text));
    this.exited = new Promise<void>((resolve) => {
      // 'close' comes after stdout and stderr have ended: every packet and the final counters are in.
      child.on('close', (code, signal) => {
        this.onClose(code, signal);
        resolve();
      });
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code === 'ENOENT' ? 'DLLT_ERR_CAPTURE_TOOL_MISSING' : err.code === 'EACCES' ? 'DLLT_ERR_CAPTURE_PERMISSION' : 'DLLT_ERR_INTERNAL';
      const hint = code === 'DLLT_ERR_CAPTURE_TOOL_MISSING' ? ': install it with `apt-get install tcpdump`' : '';
      this.fail(code, `cannot run ${program.path}: ${err.message}${hint}`);
    });
    const every = this.opts.statsIntervalMs > 0 ? this.opts.statsIntervalMs : DEFAULT_STATS_INTERVAL_MS;
    this.statsTimer = setInterval(() => this.requestStats(), every);
  }

  /** Stops the capture process, delivers every packet it had, reports the final counters; resolves after. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.clearTimer();
    const child = this.child;
    if (!child || this.finished) return this.exited;
    // Packets in a ring block the kernel has not yet handed over would die with the capture
    // process: wait until every block holding packets from before the stop has been retired and
    // read. A vanished interface took its ring with it: there is nothing left to wait for.
    const ringAlive = this.listening && readInterface(this.opts.ifname) !== undefined;
    if (!this.opts.immediate && ringAlive) await new Promise((r) => setTimeout(r, BLOCK_TIMEOUT_MS));
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const guard = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    try {
      await this.exited;
    } finally {
      clearTimeout(guard);
    }
  }

  private requestStats(): void {
    const child = this.child;
    if (!child || !this.listening || child.exitCode !== null || child.pid === undefined) return;
    child.kill('SIGUSR1');
  }

  private onStderr(text: string): void {
    const lines = (this.stderrPartial + text).split('\n');
    this.stderrPartial = lines.pop() ?? '';
    for (const line of lines) this.onStderrLine(line);
  }

  private onStderrLine(line: string): void {
    if (line.includes('listening on')) {
      this.listening = true;
      this.settleListening(true);
      return;
    }
    // SIGUSR1 prints one line ("N packets captured, N packets received by filter, N packets
    // dropped by kernel"); the exit report puts each count on a line of its own.
    let stats = false;
    let m = RE_RECEIVED.exec(line);
    if (m) {
      this.stats.received = Number(m[1]);
      stats = true;
    }
    m = RE_IFDROPPED.exec(line);
    if (m) {
      this.stats.ifDropped = Number(m[1]);
      stats = true;
    }
    m = RE_DROPPED.exec(line);
    if (m) {
      this.stats.dropped = Number(m[1]);
      this.statsPending = true;
      // A SIGUSR1 report is one line with every count. The block the capture process prints as
      // it exits has each count on a line of its own, also when it exits by itself (the
      // interface vanished): that is the final report, made once, from onClose.
      if (!this.stopping && RE_RECEIVED.test(line)) setImmediate(() => this.flushStats(false));
      return;
    }
    if (stats) return;
    if (/packets? captured/.test(line)) return;
    if (this.stderrText.length < 4096) this.stderrText += line + '\n';
  }

  private flushStats(final: boolean): void {
    if (!this.statsPending && !final) return;
    this.statsPending = false;
    if (this.finished && !final) return;
    const s: CaptureStats = { received: this.stats.received, dropped: this.stats.dropped, final };
    if (this.stats.ifDropped !== undefined) s.ifDropped = this.stats.ifDropped;
    this.onStats(s);
  }

  private onClose(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stderrPartial !== '') {
      this.onStderrLine(this.stderrPartial);
      this.stderrPartial = '';
    }
    this.parser.end();
    this.clearTimer();
    if (this.finished) return;
    this.finished = true;
    this.settleListening(false);
    const clean = code === 0 || (this.stopping && (signal === 'SIGTERM' || code === 143));
    if (!clean) {
      const { code: failure, message } = classifyCaptureError(this.stderrText, this.opts.ifname, this.program?.path);
      this.sendFatal(failure, message);
    }
    // Counters exist only once the capture process had the interface open.
    if (this.listening) this.flushStats(true);
  }

  private settleListening(ok: boolean): void {
    for (const w of this.listeningWaiters.splice(0)) w(ok);
  }

  private fail(code: LiveCaptureFailure, message: string): void {
    this.clearTimer();
    this.finished = true;
    // Reported on the next tick so that a caller's code after start() has run first; stop() and
    // whenListening() settle only after the report.
    this.exited = new Promise((resolve) =>
      process.nextTick(() => {
        this.sendFatal(code, message);
        this.settleListening(false);
        resolve();
      }),
    );
  }

  private sendFatal(code: LiveCaptureFailure, message: string): void {
    if (this.fatalSent) return;
    this.fatalSent = true;
    this.onFatal(message, code);
  }

  private clearTimer(): void {
    if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
    this.statsTimer = undefined;
  }
}
