/**
 * What `read` and `capture` share: the run's output directory, the record worker that owns its
 * files, the start banner, notifications, the human-readable summary (stdout and
 * outputfile.txt) and the closing report.
 */
import { join } from 'node:path';
import type { NotifLevel } from '../record/records.js';
import { describeConfig, formatCidr, formatHeaderMatch, type Config } from './config.js';
import { DlltError } from './errors.js';
import { loadRoleRules } from '../analyze/roles/load.js';
import { compileRoleRules } from '../analyze/roles/compiled-role-rules.js';
import { RoleRulesError } from '../analyze/roles/role-rules-error.js';
import { Pipeline } from './pipeline.js';
import type { LocalNet } from '../analyze/local-side.js';
import { WorkerRecordStage, type WorkerInit } from './worker-record-stage.js';
import { InlineFileStage } from './inline-file-stage.js';
import { usableCpus } from './usable-cpus.js';
import { VERSION } from './version.js';

const MIB = 1024 * 1024;

/** How long /proc is searched for a new flow's processes, and how often while flows wait: a
 *  pass re-reads the tables of new flows' namespaces, and a busy server's is thousands of rows,
 *  so passes are few (a flow is already up to ~2 s late; its server end has a listener). */
const ATTRIBUTION_DEADLINE_MS = 3000;
const ATTRIBUTION_PASS_MS = 250;
/** Live capture delivers a flow up to ~2 s after its first packet; polls catch shorter sockets. */
const ATTRIBUTION_POLL_MS = 200;

export class RunContext {
  readonly pipeline: Pipeline;
  private readonly startedWallMs = Date.now();

  private constructor(
    readonly config: Config,
    readonly dir: string,
    /** The record's `if` value. */
    readonly ifName: string,
    private readonly stage: InlineFileStage | WorkerRecordStage,
    localNets: readonly LocalNet[],
    /** Where records are made, and why: said in the start notification. */
    private readonly threads: { usableCpus: number; recordThread: 'packet' | 'worker' },
  ) {
    this.pipeline = new Pipeline(config, stage, ifName, localNets, dir);
  }

  /**
   * Starts the record worker on `<out>/logs/<dirName>/`: its file sink creates the directory and
   * fails with DLLT_ERR_OUTPUT_UNWRITABLE (or DLLT_ERR_DISK_FULL) when it cannot. `dirName` is
   * `dllt<ifindex>` for live capture, the capture file's base name for `read`. Live capture
   * starts once the files are open; a file is read while the worker starts, and close() fails
   * with the worker's error if they never opened. A file read with one usable CPU has no worker:
   * its files are opened here, and open() fails with the sink's error.
   */
  static async open(config: Config, dirName: string, ifName: string, localNets: readonly LocalNet[] = [], live = false): Promise<RunContext> {
    const dir = join(config.outRoot, 'logs', dirName);
    const roleRules = await loadRules(config, localNets);
    const init = {
      roleRules,
      dnsNameMinS: config.dnsNameMinS,
      // Only live traffic is this host's: a capture file's flows happened elsewhere, or long ago.
      attribution: live && config.attribution ? { procRoot: '/proc', podsDir: config.kubeletPodsDir, deadlineMs: ATTRIBUTION_DEADLINE_MS, passMs: ATTRIBUTION_PASS_MS, pollMs: ATTRIBUTION_POLL_MS, useEbpf: config.useEbpf } : undefined,
      sink: { dir, format: config.format, rotateBytes: config.rotateMb * MIB, maxDiskBytes: config.maxDiskMb * MIB, flushIntervalMs: config.flushIntervalMs },
      startTimeMs: Date.now(),
      ifName,
    };
    const onWarning = (text: string): void => {
      if (!config.quiet) process.stderr.write(text + '\n');
    };
    // A file read on one CPU makes its records on the packet thread (docs/design/0003): a
    // worker would only take turns with it. Live capture keeps the worker on any CPU count, so
    // a slow disk never stops the thread that empties the kernel's buffer.
    const cpus = usableCpus();
    const onPacketThread = !live && cpus <= 1;
    const stage = onPacketThread ? new InlineFileStage(init, onWarning) : WorkerRecordStage.start(init, onWarning);
    if (live) await stage.ready;
    return new RunContext(config, dir, ifName, stage, localNets, { usableCpus: cpus, recordThread: onPacketThread ? 'packet' : 'worker' });
  }

  notify(level: NotifLevel, kind: string, message: string, extra?: Record<string, unknown>): void {
    this.pipeline.notify(level, kind, message, extra);
    if (level !== 'info' && !this.config.quiet) process.stderr.write(`dllt: ${level}: ${message}\n`);
  }

  /** The start banner: version, what is watched, and every setting with where it came from. */
  banner(what: string): void {
    const c = this.config;
    const team = c.mejorEquipo ? `, MEJOR_EQUIPO ${c.mejorEquipo}` : '';
    const author = c.author ? `, AUTHOR ${c.author}` : '';
    this.notify('info', 'start', `dllt ${VERSION} started on ${what}${team}${author}`, { version: VERSION, outDir: this.dir, ...this.threads, config: describeConfig(c) });
    this.say(`dllt ${VERSION}: ${what} → ${this.dir}${team}${author}`);
    for (const line of followBanner(c)) this.say(line);
  }

  /** A line of the human-readable summary: stdout (unless -q) and outputfile.txt. */
  say(line: string): void {
    if (!this.config.quiet) process.stdout.write(line + '\n');
    this.stage.summary(line + '\n');
  }

  /** Closing report: decode counters by reason, flows, evictions, source errors. */
  finalReport(packetsLabel: string): void {
    const p = this.pipeline;
    const d = p.decode;
    const c = p.engine.counters;
    const malformed = p.malformedSummary();
    const elapsedS = (Date.now() - this.startedWallMs) / 1000;
    this.notify('info', 'decode_summary', `${d.packets} packets: ${d.ok} IP, ${d.notIp} not IP, ${d.unsupported} unsupported, ${d.malformed} malformed`, {
      packets: d.packets,
      decodedIp: d.ok,
      notIp: d.notIp,
      unsupported: d.unsupported,
      malformed: d.malformed,
      malformedByReason: malformed,
      sourceErrors: p.sourceErrors,
      flowsStarted: c.flowsCreated,
      flowsEnded: c.flowsEnded,
      evictions: c.evictions,
      tcpPortReuses: c.tcpReuses,
      icmpErrorsAttached: c.icmpErrorsAttached,
      orphanFragments: c.fragmentsNoFlow,
    });
    const reasons = Object.entries(malformed).map(([k, v]) => `${k} ${v}`).join(', ');
    this.say(
      `${packetsLabel}: ${d.packets} packets in ${elapsedS.toFixed(1)} s (${Math.round(d.packets / Math.max(elapsedS, 1e-3))} pkt/s), ` +
        `${c.flowsEnded} flows, ${d.malformed} malformed${reasons ? ` (${reasons})` : ''}, ${d.notIp} not IP, ${c.evictions} evicted`,
    );
  }

  /** Resolves once the record worker's files are open; rejects with why they could not be. */
  filesOpen(): Promise<void> {
    return this.stage.ready;
  }

  /** Every record flushed and the files closed. */
  async close(): Promise<void> {
    this.pipeline.drain();
    await this.stage.close();
  }
}

/** What is followed and what is ignored, said at start so an operator knows why a pcap did or
 *  did not appear. */
export function followBanner(c: Config): string[] {
  const lines: string[] = [];
  const triggers: string[] = [];
  if (c.searchHttpHeader !== undefined) triggers.push(`requests with header ${formatHeaderMatch(c.searchHttpHeader)} (SEARCH_HTTP_HEADER)`);
  if (c.followPorts.length > 0) triggers.push(`port ${c.followPorts.join(',')} (FOLLOW_PORT)`);
  if (triggers.length > 0) {
    lines.push(`following ${triggers.join(' and ')}: pcap written ${c.followDelayS} s after the match or at the connection's end`);
  }
  const avoided: string[] = [];
  if (c.avoidLivenessProbe !== undefined) avoided.push(`${formatHeaderMatch(c.avoidLivenessProbe)} (AVOID_LIVENESS_PROBE)`);
  if (c.avoidKubeProbes) avoided.push('User-Agent: kube-probe/ (Kubernetes probes; DLLT_AVOID_KUBE_PROBES=N to keep them)');
  if (avoided.length > 0) lines.push(`ignoring requests with ${avoided.join(' and ')}: no events, no follow`);
  return lines;
}

/** DLLT_ROLE_RULES read and compiled once here, so a bad file stops the run at start with every
 *  problem named; "our nets" are DLLT_LOCAL_NETS plus the monitored interface's addresses. */
async function loadRules(config: Config, localNets: readonly LocalNet[]): Promise<WorkerInit['roleRules']> {
  const path = config.roleRulesPath;
  if (path === undefined) return undefined;
  const ourNets = [...config.localNets, ...localNets].map((n) => formatCidr(n));
  try {
    const rules = await loadRoleRules(path);
    compileRoleRules(rules, ourNets, path);
    return { config: rules, ourNets, source: path };
  } catch (err) {
    if (!(err instanceof RoleRulesError)) throw err;
    throw new DlltError('DLLT_ERR_CONFIG_INVALID', `DLLT_ROLE_RULES ${path}: ${err.problems.join('; ')}`, {
      hint: 'fix the rules file (docs/roles.md shows the format), or unset DLLT_ROLE_RULES to use the built-in heuristics',
    });
  }
}
