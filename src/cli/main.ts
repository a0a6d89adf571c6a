#!/usr/bin/env node
/**
 * The `dllt` command: parses the command line (commander), loads the configuration (flags >
 * environment > config file > defaults) and runs `read`, `capture` (packets, or sockets with
 * `--packetless`) or `pod`. Exit codes (SPEC 1): 0 ok,
 * 2 bad usage or configuration (one line naming the key or flag), 1 runtime failure; and 3 from
 * `capture`/`pod` when the interface disappeared with DLLT_ON_VIF_GONE=exit (capture-lifecycle.ts).
 */
import { Command, CommanderError, Option } from 'commander';
import { loadConfig, readConfigFile, type Config } from './config.js';
import { DlltError, isDlltError } from './errors.js';
import { VERSION } from './version.js';

interface CommonOptions {
  out?: string;
  config?: string;
  filter?: string;
  snaplen?: string;
  format?: string;
  quiet?: boolean;
  verbose?: boolean;
  [k: string]: string | boolean | undefined;
}

function addCommonOptions(cmd: Command): Command {
  return cmd
    .option('--out <dir>', 'output root (default /dllt when writable or creatable, else ./dllt); files go to <out>/logs/<name>/')
    .option('--config <file>', 'config file of KEY=VALUE lines (default ./dlltagent_searchpod when present)')
    .option('--filter <bpf>', 'BPF capture filter (capture only)')
    .option('--snaplen <bytes>', 'bytes captured per packet (DLLT_SNAPLEN)')
    .addOption(new Option('--format <format>', 'record format (DLLT_FORMAT)').choices(['json', 'text']))
    .option('-q, --quiet', 'print nothing but errors')
    .option('-v, --verbose', 'print more');
}

interface CaptureOptions {
  interface?: string;
  packetless?: boolean;
  pid?: string;
  pod?: string;
}

/** Packetless mode reads sockets: flags that choose or filter packets would be silently ignored. */
function checkPacketlessFlags(opts: CommonOptions & CaptureOptions): void {
  for (const [flag, given] of [['-i', opts.interface], ['--ifindex', opts['ifindex']], ['--filter', opts.filter]] as const) {
    if (given !== undefined) {
      throw new DlltError('DLLT_ERR_USAGE', `${flag} cannot be combined with --packetless (it reads sockets, not packets)`, { hint: 'choose what to watch with --pid PID or --pod NAMESPACE/NAME' });
    }
  }
}

function configFrom(opts: CommonOptions): Config {
  const file = readConfigFile(opts.config);
  return loadConfig({ flags: opts, env: process.env, configFileText: file?.text, configFilePath: file?.path });
}

function buildProgram(): Command {
  const program = new Command('dllt')
    .description('Network troubleshooting agent: rebuilds every conversation on an interface or in a capture file and says what went wrong on the wire.')
    .version(VERSION)
    .showHelpAfterError('(run with --help for usage)');

  addCommonOptions(
    program
      .command('read')
      .description('analyse pcap/pcapng files (also .gz, and - for stdin) on packet time; records go to <out>/logs/<file>/')
      .argument('<file...>', 'capture files'),
  ).action(async (files: string[], opts: CommonOptions) => {
    const config = configFrom(opts);
    // Each command loads its own modules: `read` need not load live capture, attribution and eBPF.
    const { runRead } = await import('./run-read.js');
    process.exitCode = await runRead(files, config);
  });

  addCommonOptions(
    program
      .command('capture')
      .description('live capture on one interface until SIGINT/SIGTERM; records go to <out>/logs/dllt<ifindex>/ (with --packetless: sockets, not packets)')
      .option('-i, --interface <name>', 'interface name')
      .option('--ifindex <n>', 'interface index (INTERFACE_INDEX_SNIF)')
      .option('--no-promisc', 'do not put the interface in promiscuous mode (DLLT_PROMISC=N)')
      .option('--packetless', 'no packets: TCP flows with rtt and retransmissions from the kernel\'s socket tables (ss), every DLLT_PACKETLESS_POLL_MS, in every network namespace on the host (or --pid/--pod); records go to <out>/logs/packetless/')
      .option('--pid <pid>', 'with --packetless: only the network namespace of this process')
      .option('--pod <namespace/name>', 'with --packetless: only the network namespace of this pod (found as `dllt pod` finds it)'),
  ).action(async (opts: CommonOptions & CaptureOptions) => {
    if (opts.packetless) {
      checkPacketlessFlags(opts);
      const config = configFrom(opts);
      const { runPacketless } = await import('./run-packetless.js');
      process.exitCode = await runPacketless(config, { pid: opts.pid, pod: opts.pod });
      return;
    }
    for (const [flag, given] of [['--pid', opts.pid], ['--pod', opts.pod]] as const) {
      if (given !== undefined) throw new DlltError('DLLT_ERR_USAGE', `${flag} needs --packetless`, { hint: 'to capture packets of a pod, use dllt pod NAMESPACE/NAME' });
    }
    const config = configFrom(opts);
    const { runCapture } = await import('./run-capture.js');
    process.exitCode = await runCapture(config, opts.interface);
  });

  addCommonOptions(
    program
      .command('pod')
      .description('find the host-side veth of a Kubernetes pod on this node (kubelet pods directory, cgroups, its network namespace) and capture on it')
      .argument('<namespace/name>', 'the pod')
      .option('--no-promisc', 'do not put the interface in promiscuous mode (DLLT_PROMISC=N)'),
  ).action(async (target: string, opts: CommonOptions) => {
    const config = configFrom(opts);
    const { runPod } = await import('./run-pod.js');
    process.exitCode = await runPod(config, target);
  });

  program.exitOverride();
  for (const cmd of program.commands) cmd.exitOverride();
  return program;
}

function reportFatal(err: unknown): void {
  const e = isDlltError(err) ? err : new DlltError('DLLT_ERR_INTERNAL', (err as Error)?.stack ?? String(err));
  process.stderr.write(e.toOneLine() + '\n');
}

// Errors raised inside event handlers (a live capture's data callback) end here: one line and
// the runtime-failure exit code, never a bare stack trace.
process.on('uncaughtException', (err) => {
  reportFatal(err);
  process.exit(1);
});

async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; anything else commander rejects is bad usage.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    reportFatal(err);
    process.exitCode = isDlltError(err) ? err.exitCode : 1;
  }
}

await main();
