/**
 * `dllt capture --packetless` (SPEC 9, the ntop seed's system introspection): flows from the
 * kernel's socket tables alone, for traffic no capture point sees (container to container on one
 * host, loopback inside a pod). By default every network namespace on the host is watched, listed
 * again from /proc at each poll so pods that start later are picked up and gone ones dropped;
 * `--pid` and `--pod` narrow it to their namespaces. Records go to `<out>/logs/packetless/` (one
 * directory whatever is watched: `process_flows` names each end's namespace and pod). SIGINT or
 * SIGTERM ends the run after one last reading; flows still open are written with `shutdown`. With
 * `--pid`/`--pod` the run also ends (exit 0) once the process exits or the namespace is gone: there
 * is nothing left to watch.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { NotifLevel } from '../record/records.js';
import { notifRecord } from '../record/notif.js';
import { DlltFileSink } from '../sinks/dllt-files.js';
import { PacketlessSource, type PacketlessHandler } from '../sources/packetless/packetless-source.js';
import { resolveNetns, type NamespaceRef } from '../sources/packetless/ss-reader.js';
import { listNetworkNamespaces } from '../sources/proc/netns-sockets.js';
import { ProcessIdentityReader } from '../sources/proc/process-identity-reader.js';
import { describeConfig, type Config } from './config.js';
import { DlltError } from './errors.js';
import { PacketlessRecorder } from './packetless-recorder.js';
import { findPodProcesses } from './run-pod.js';
import { VERSION } from './version.js';

/** The output directory's name under `<out>/logs/`, and the records' `if`. */
export const PACKETLESS_NAME = 'packetless';

const MIB = 1024 * 1024;
const REQUIRED_TOOLS: ReadonlyArray<[tool: string, pkg: string]> = [['ss', 'iproute2'], ['nsenter', 'util-linux'], ['stdbuf', 'coreutils']];

export interface PacketlessTargets {
  /** `--pid`, as typed. */
  pid?: string;
  /** `--pod NAMESPACE/NAME`. */
  pod?: string;
}

interface Target {
  ref: NamespaceRef;
  /** For the banner: `pid 1234` or `pod shop/web-0 (pid 1234)`. */
  label: string;
  /** What an error about it starts with (the reference's own reason names the pid). */
  errorPrefix: string;
}

export async function runPacketless(config: Config, targets: PacketlessTargets): Promise<number> {
  checkTools();
  const chosen = chooseTargets(config, targets);
  const dir = join(config.outRoot, 'logs', PACKETLESS_NAME);
  const startedMs = Date.now();
  const sink: DlltFileSink = new DlltFileSink({
    dir,
    startTime: new Date(startedMs),
    format: config.format,
    rotateBytes: config.rotateMb * MIB,
    maxDiskBytes: config.maxDiskMb * MIB,
    flushIntervalMs: config.flushIntervalMs,
    processFlows: true,
    onNotice: (level, kind, message, extra) => notify(level, kind, message, extra),
  });
  function notify(level: NotifLevel, kind: string, message: string, extra?: Record<string, unknown>): void {
    sink.writeNotif(notifRecord(PACKETLESS_NAME, level, kind, message, extra));
    if (level !== 'info' && !config.quiet) process.stderr.write(`dllt: ${level}: ${message}\n`);
  }
  function say(line: string): void {
    if (!config.quiet) process.stdout.write(line + '\n');
    sink.writeSummary(line);
  }
  sink.open();

  const recorder = new PacketlessRecorder(sink, PACKETLESS_NAME, config.activeTimeoutS * 1_000_000, new ProcessIdentityReader({ podsDir: config.kubeletPodsDir }));
  const hostWide = chosen === undefined;
  let stopReason: string | undefined;
  const handler: PacketlessHandler = {
    onFlowStart: (flow) => recorder.onFlowStart(flow),
    onFlowEnd: (flow) => recorder.onFlowEnd(flow),
    onListeners: (netns, listeners) => recorder.onListeners(netns, listeners),
    onNotice: (message, ns) => notify('warn', 'source_error', message, ns === undefined ? undefined : { netns: ns.inode }),
    onCycleEnd: () => {
      recorder.onCycleEnd();
      if (!hostWide && source.namespaces().length === 0) stopOnce('every watched network namespace is gone: nothing left to watch');
    },
  };
  const source = new PacketlessSource(handler, { pollMs: config.packetlessPollMs });
  let what: string;
  if (chosen === undefined) {
    source.watchAll(() => {
      const helpers = source.helperPids();
      return [...(listNetworkNamespaces()?.values() ?? [])].flatMap((pids) => {
        const pid = pids.find((p) => !helpers.has(p));
        return pid === undefined ? [] : [{ pid }];
      });
    });
    what = 'every network namespace on this host (listed again at each poll)';
  } else {
    const watched = chosen.map((t) => {
      const ns = source.watch(t.ref);
      // Checked before the files were opened; only a process exiting since can fail here.
      if (typeof ns === 'string') throw noNamespace(t, ns);
      return `net:[${ns.inode}] of ${t.label}`;
    });
    what = `network namespace ${[...new Set(watched)].join(' and ')}`;
  }
  const team = config.mejorEquipo ? `, MEJOR_EQUIPO ${config.mejorEquipo}` : '';
  const author = config.author ? `, AUTHOR ${config.author}` : '';
  notify('info', 'start', `dllt ${VERSION} started packetless on ${what}${team}${author}`, { version: VERSION, outDir: dir, config: describeConfig(config) });
  say(`dllt ${VERSION}: packetless, ${what} → ${dir}${team}${author}`);

  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  function stopOnce(reason: string): void {
    if (stopReason !== undefined) return;
    stopReason = reason;
    notify('info', 'stop', `${reason}: writing every open flow`);
    resolveDone();
  }
  const onSignal = (sig: NodeJS.Signals): void => stopOnce(`received ${sig}`);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const statsTimer = setInterval(() => {
    const s = source.stats;
    say(`${new Date().toISOString()} packetless: ${s.namespaces} namespaces, ${s.flowsStarted - s.flowsEnded} open flows, ${s.flowsEnded} ended, last poll ${Math.round(s.lastCycleMs)} ms`);
  }, config.statsIntervalS * 1000);

  source.start();
  await done;
  clearInterval(statsTimer);
  await source.stop();
  finalReport(source, recorder, startedMs, notify, say);
  await sink.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return 0;
}

function finalReport(source: PacketlessSource, recorder: PacketlessRecorder, startedMs: number, notify: (level: NotifLevel, kind: string, message: string, extra?: Record<string, unknown>) => void, say: (line: string) => void): void {
  const s = source.stats;
  const c = recorder.counts;
  const problems = [
    s.tableErrors > 0 ? `${s.tableErrors} socket table reads failed` : '',
    s.droppedSockets > 0 ? `${s.droppedSockets} sockets over the cap not tracked` : '',
    s.badLines > 0 ? `${s.badLines} ss lines not understood` : '',
    c.unreadableFlows > 0 ? `${c.unreadableFlows} flows with unreadable addresses not written` : '',
  ].filter((p) => p !== '');
  notify(
    problems.length > 0 ? 'warn' : 'info',
    'packetless_summary',
    `packetless: ${c.flowsEnded} flows (${c.processEnds} process ends) from ${s.cycles} polls of ${s.namespaces} namespaces` + (problems.length > 0 ? `; ${problems.join(', ')}` : ''),
    { flows: c.flowsEnded, ends: c.processEnds, namespaces: s.namespaces, pollCycles: s.cycles, tableErrors: s.tableErrors, droppedSockets: s.droppedSockets },
  );
  say(`packetless: ${c.flowsEnded} flows in ${((Date.now() - startedMs) / 1000).toFixed(1)} s, ${s.cycles} polls, ${s.namespaces} namespaces, ${s.tableErrors} table errors`);
}

/** `ss`, `nsenter` and `stdbuf` run for every poll: missing ones stop the run at start, not at each poll. */
function checkTools(): void {
  for (const [tool, pkg] of REQUIRED_TOOLS) {
    const r = spawnSync(tool, ['--version'], { stdio: 'ignore' });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new DlltError('DLLT_ERR_CAPTURE_TOOL_MISSING', `${tool} is not installed; packetless mode reads sockets with it`, { hint: `install ${pkg}` });
    }
  }
}

/** The namespaces `--pid` and `--pod` name; undefined for every namespace on the host. */
function chooseTargets(config: Config, targets: PacketlessTargets): Target[] | undefined {
  const chosen: Target[] = [];
  if (targets.pid !== undefined) {
    if (!/^[1-9]\d{0,9}$/.test(targets.pid) || Number(targets.pid) > 2_147_483_647) {
      throw new DlltError('DLLT_ERR_USAGE', `--pid ${JSON.stringify(targets.pid)} is not a process id`, { hint: 'give a positive whole number, e.g. --pid 1234 (pgrep NAME finds one)' });
    }
    chosen.push({ ref: { pid: Number(targets.pid) }, label: `pid ${targets.pid}`, errorPrefix: '' });
  }
  if (targets.pod !== undefined) {
    const pids = findPodProcesses(targets.pod, config.kubeletPodsDir);
    // Any process of the pod shares its network namespace; one that exited meanwhile is skipped.
    const pid = pids.find((p) => typeof resolveNetns({ pid: p }) !== 'string') ?? pids[0]!;
    chosen.push({ ref: { pid }, label: `pod ${targets.pod} (pid ${pid})`, errorPrefix: `pod ${targets.pod}: ` });
  }
  for (const t of chosen) {
    const ns = resolveNetns(t.ref);
    if (typeof ns === 'string') throw noNamespace(t, ns);
  }
  return chosen.length > 0 ? chosen : undefined;
}

function noNamespace(target: Target, why: string): DlltError {
  return new DlltError('DLLT_ERR_CAPTURE_NO_INTERFACE', `${target.errorPrefix}${why}`, { hint: 'check the process with ps -p PID (it must run on this node); reading another process\'s namespace needs root' });
}
