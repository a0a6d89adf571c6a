/**
 * `dllt capture`: live capture on one interface until SIGINT/SIGTERM, then every open flow is
 * written to end_flows with reason `shutdown` and the process exits 0. Packet time drives the
 * timers; wall time advances the clock once a second so a quiet interface still expires flows.
 * Kernel receive/drop counters go to log_notif every DLLT_STATS_INTERVAL_S and at exit. The
 * interface disappearing (00011, DLLT_ON_VIF_GONE) is CaptureLifecycle's business.
 */
import { EndReasonCode } from '../flow/flow-engine.js';
import { BLOCK_TIMEOUT_MS, CAPTURE_HELPER, LiveCapture, captureProgram } from '../sources/live-capture.js';
import { networkInterfaces } from 'node:os';
import { parseCidr } from './config.js';
import type { LocalNet } from '../analyze/local-side.js';
import { describeInterfaces, firstUpInterface, resolveInterface, type NetInterface } from '../sources/interfaces.js';
import type { Config } from './config.js';
import { DlltError } from './errors.js';
import { RunContext } from './run-context.js';
import { CaptureLifecycle, EXIT_VIF_GONE } from './capture-lifecycle.js';

function chooseInterface(config: Config, ifname: string | undefined): NetInterface {
  const wanted = config.interfaceIndex ?? ifname;
  const found = wanted === undefined ? firstUpInterface() : resolveInterface(wanted);
  if (!found) {
    const what = wanted === undefined ? 'no non-loopback interface is up' : `interface ${wanted} does not exist`;
    throw new DlltError('DLLT_ERR_CAPTURE_NO_INTERFACE', `${what}; interfaces here: ${describeInterfaces()}`);
  }
  return found;
}

/** The monitored interface's own networks (SPEC 6 "monitored side", read from the system). */
function interfaceNets(ifname: string): LocalNet[] {
  const nets: LocalNet[] = [];
  for (const a of networkInterfaces()[ifname] ?? []) {
    // The interface's own addresses, not its whole subnet: neighbours on the LAN are the far side.
    if (a.scopeid) continue;
    const net = parseCidr(a.address);
    if (net !== undefined) nets.push(net);
  }
  return nets;
}

export async function runCapture(config: Config, ifname: string | undefined): Promise<number> {
  const nic = chooseInterface(config, ifname);
  const run = await RunContext.open(config, `dllt${nic.index}`, nic.name, interfaceNets(nic.name), true);
  run.banner(`interface ${nic.name} (index ${nic.index})`);
  const pipeline = run.pipeline;
  const program = captureProgram();
  if (program !== undefined && !program.helper) {
    run.notify('warn', 'capture_program', `capturing through ${program.path} -U, one pipe write per packet (about half the packet rate without kernel drops): dllt-capture was not built (${CAPTURE_HELPER}); apt-get install libpcap-dev gcc, then npm run build`);
  }
  let lastPackets = 0;
  let lastStatsMs = Date.now();

  const lifecycle = new CaptureLifecycle(run, nic.name, nic.index, (onFatal) => new LiveCapture(
    { ifname: nic.name, snaplen: config.snaplen, promisc: config.promisc, filter: config.filter, statsIntervalMs: config.statsIntervalS * 1000 },
    pipeline,
    (stats) => {
      run.notify(stats.dropped > 0 ? 'warn' : 'info', 'kernel_drops', `kernel: ${stats.received} packets received, ${stats.dropped} dropped${stats.final ? ' (final)' : ''}`, {
        received: stats.received,
        dropped: stats.dropped,
        ...(stats.ifDropped !== undefined ? { ifDropped: stats.ifDropped } : {}),
        final: stats.final,
      });
      const now = Date.now();
      const packets = pipeline.decode.packets;
      const pps = Math.round((packets - lastPackets) / Math.max((now - lastStatsMs) / 1000, 1e-3));
      lastPackets = packets;
      lastStatsMs = now;
      run.say(`${new Date(now).toISOString()} ${nic.name}: ${packets} packets (${pps} pkt/s), ${pipeline.engine.activeFlows} active flows, ${pipeline.engine.counters.flowsEnded} ended, kernel drops ${stats.dropped}`);
    },
    onFatal,
  ));

  const onSignal = (sig: NodeJS.Signals): void => {
    run.notify('info', 'stop', `received ${sig}: flushing every open flow`);
    lifecycle.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // tcpdump hands packets over in ring blocks up to BLOCK_TIMEOUT_MS late: the wall clock may
  // only run that far ahead of packets, or a quiet flow would expire before its last packets.
  const clockTimer = setInterval(() => pipeline.advanceClock((Date.now() - BLOCK_TIMEOUT_MS) * 1000), 1000);

  const end = await lifecycle.ended;
  clearInterval(clockTimer);
  await lifecycle.close();
  pipeline.finish(EndReasonCode.SHUTDOWN);
  run.finalReport(`capture ${nic.name}`);
  await run.close();
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return end === 'stopped' ? 0 : end === 'vif_gone' ? EXIT_VIF_GONE : 1;
}
