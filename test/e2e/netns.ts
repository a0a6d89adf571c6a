/**
 * Network-namespace lab for tests and benches that need real traffic (suricata-verify's live/
 * model): namespaces of our own, veths with offloads off, real programs inside them.
 *
 * Safety rules this file enforces, because the machine is shared and has no route out:
 * - every name is unique (`dllte` + random hex) and only what this lab created is deleted;
 * - addresses are 10.77.X.0/24 and fd77::/64 inside the namespaces only, with no default route;
 * - host-side interfaces get no address, IPv6 off and forwarding off, so nothing that reaches the
 *   host through them can be routed anywhere;
 * - cleanup kills the processes started here (by pid), deletes the namespaces and links, and
 *   runs at process exit and on SIGINT/SIGTERM as well as when the caller asks.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Namespace {
  name: string;
  /** The namespace's end of its veth (always `eth0`). */
  ifname: string;
  ipv4: string;
  ipv6?: string;
}

export interface BridgedPair {
  client: Namespace;
  server: Namespace;
  /** Host-side end of the client's veth: capture here to see all client traffic. */
  hostIf: string;
  hostIndex: number;
  /** Host-side end of the server's veth. */
  serverHostIf: string;
  bridge: string;
}

export interface PairOptions {
  ipv6?: boolean;
  /** Third octet of 10.77.X.0/24; random when absent. */
  subnet?: number;
}

/** Why the lab cannot run here (not root, `ip` or the named tools missing), or undefined. */
export function labUnavailableReason(tools: string[] = []): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'needs root (network namespaces)';
  for (const t of ['ip', 'ethtool', ...tools]) {
    if (spawnSync('sh', ['-c', `command -v ${t} || test -x /usr/sbin/${t} || test -x /sbin/${t}`]).status !== 0) {
      return `${t} is not installed (bash .ci/bench-deps.sh installs the test tools)`;
    }
  }
  return undefined;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function quiet(cmd: string, args: string[]): void {
  spawnSync(cmd, args, { stdio: 'ignore' });
}

const liveLabs = new Set<NetnsLab>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', () => {
    for (const lab of liveLabs) lab.cleanup();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const lab of liveLabs) lab.cleanup();
      process.exit(sig === 'SIGINT' ? 130 : 143);
    });
  }
}

export class NetnsLab {
  /** Random hex making every name of this lab unique on the machine. */
  readonly tag: string;
  private readonly namespaces: string[] = [];
  private readonly hostLinks: string[] = [];
  private readonly nsEtcDirs: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private cleaned = false;

  constructor(readonly prefix = 'dllte') {
    this.tag = randomBytes(3).toString('hex');
    liveLabs.add(this);
    installExitHooks();
  }

  /** A new empty namespace with loopback up and only its own routes. */
  addNamespace(short: string): string {
    const name = `${this.prefix}${this.tag}${short}`;
    sh('ip', ['netns', 'add', name]);
    this.namespaces.push(name);
    sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    return name;
  }

  /**
   * Client and server namespaces joined by a bridge in the host namespace (the shape of a
   * Kubernetes node: pods' veths on a bridge). The bridge and host-side veths carry no address.
   */
  bridgedPair(opts: PairOptions = {}): BridgedPair {
    const subnet = opts.subnet ?? 1 + (randomBytes(1)[0]! % 254);
    const bridge = `${this.prefix}${this.tag}b`;
    sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
    this.hostLinks.push(bridge);
    this.hardenHostLink(bridge);
    const client = this.attach('c', bridge, `10.77.${subnet}.1`, opts.ipv6 ? 'fd77::1' : undefined);
    const server = this.attach('s', bridge, `10.77.${subnet}.2`, opts.ipv6 ? 'fd77::2' : undefined);
    sh('ip', ['link', 'set', bridge, 'up']);
    if (opts.ipv6) this.waitIpv6Ready([client, server]);
    const hostIf = client.hostIf;
    return {
      client: client.ns,
      server: server.ns,
      hostIf,
      hostIndex: ifindexOf(hostIf),
      serverHostIf: server.hostIf,
      bridge,
    };
  }

  /**
   * Two namespaces joined by one veth, nothing on the host: for replaying captured traffic
   * (tcpreplay in `sender`, the capture tool in `receiver`).
   */
  directPair(subnet = 1 + (randomBytes(1)[0]! % 254)): { sender: Namespace; receiver: Namespace } {
    const a = this.addNamespace('tx');
    const b = this.addNamespace('rx');
    sh('ip', ['link', 'add', 'eth0', 'netns', a, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b]);
    const sender: Namespace = { name: a, ifname: 'eth0', ipv4: `10.77.${subnet}.1` };
    const receiver: Namespace = { name: b, ifname: 'eth0', ipv4: `10.77.${subnet}.2` };
    for (const ns of [sender, receiver]) this.configureNsEnd(ns, undefined);
    return { sender, receiver };
  }

  /** Programs run in `ns` resolve names through `nameserver` only: `ip netns exec` mounts
   *  /etc/netns/<ns>/resolv.conf over /etc/resolv.conf (removed at cleanup). */
  useNameserver(ns: string, nameserver: string): void {
    const dir = `/etc/netns/${ns}`;
    mkdirSync(dir, { recursive: true });
    this.nsEtcDirs.push(dir);
    writeFileSync(join(dir, 'resolv.conf'), `nameserver ${nameserver}\noptions timeout:2 attempts:1\n`);
  }

  /** Spawns a command inside a namespace; the process is killed at cleanup if still running. */
  spawnIn(ns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.track(child);
    return child;
  }

  /** Spawns a host-namespace command under the lab's cleanup (capture tools on hostIf). */
  spawnHost(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.track(child);
    return child;
  }

  /** Runs a command inside a namespace to completion, killed after timeoutMs. */
  runIn(ns: string, cmd: string, args: string[], timeoutMs = 30_000, input?: string): Promise<RunResult> {
    return collect(this.spawnIn(ns, cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] }), timeoutMs, input);
  }

  /** Runs a host command to completion, killed after timeoutMs. */
  runHost(cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
    return collect(this.spawnHost(cmd, args), timeoutMs);
  }

  /**
   * A pod recreated after its namespace was deleted: namespace `short` of a bridgedPair (`c` or
   * `s`) made again with the same namespace and host-side veth names, a new interface index,
   * and `ipv4` on its `eth0`.
   */
  recreateBridged(short: 'c' | 's', bridge: string, ipv4: string): { ns: Namespace; hostIf: string } {
    return this.attach(short, bridge, ipv4, undefined);
  }

  /** Deletes one host link now (tests of a vanishing interface). */
  deleteHostLink(name: string): void {
    quiet('ip', ['link', 'del', name]);
  }

  /** Kills what was started here and deletes every namespace and link; safe to call twice. */
  cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    liveLabs.delete(this);
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    // Processes started inside our namespaces by those children (servers' workers): ours too.
    for (const ns of this.namespaces) {
      const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
      for (const pid of (r.stdout ?? '').split(/\s+/).filter((p) => /^\d+$/.test(p))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const ns of this.namespaces) quiet('ip', ['netns', 'del', ns]);
    for (const dir of this.nsEtcDirs) rmSync(dir, { recursive: true, force: true });
    for (const link of this.hostLinks) if (existsSync(`/sys/class/net/${link}`)) quiet('ip', ['link', 'del', link]);
  }

  private track(child: ChildProcess): void {
    this.children.add(child);
    child.on('close', () => this.children.delete(child));
    // A spawn failure is reported through the caller's listeners or collect(); keep it from crashing.
    child.on('error', () => this.children.delete(child));
  }

  private attach(short: string, bridge: string, ipv4: string, ipv6: string | undefined): { ns: Namespace; hostIf: string } {
    const name = this.addNamespace(short);
    const hostIf = `${this.prefix}${this.tag}${short}`;
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
    this.hostLinks.push(hostIf);
    this.hardenHostLink(hostIf);
    sh('ip', ['link', 'set', hostIf, 'master', bridge]);
    offloadsOff(hostIf);
    sh('ip', ['link', 'set', hostIf, 'up']);
    const ns: Namespace = { name, ifname: 'eth0', ipv4 };
    if (ipv6 !== undefined) ns.ipv6 = ipv6;
    this.configureNsEnd(ns, ipv6);
    return { ns, hostIf };
  }

  private configureNsEnd(ns: Namespace, ipv6: string | undefined): void {
    const n = ns.name;
    sh('ip', ['-n', n, 'addr', 'add', `${ns.ipv4}/24`, 'dev', ns.ifname]);
    if (ipv6 === undefined) {
      // No IPv6 at all: no router solicitations or MLD reports to muddy exact packet counts.
      sh('ip', ['netns', 'exec', n, 'sysctl', '-qw', `net.ipv6.conf.${ns.ifname}.disable_ipv6=1`]);
    } else {
      sh('ip', ['-n', n, 'addr', 'add', `${ipv6}/64`, 'dev', ns.ifname, 'nodad']);
    }
    sh('ip', ['netns', 'exec', n, 'ethtool', '-K', ns.ifname, 'gro', 'off', 'gso', 'off', 'tso', 'off']);
    sh('ip', ['-n', n, 'link', 'set', ns.ifname, 'up']);
  }

  /** Host-side links carry no address and route nothing: no IPv6, no forwarding. */
  private hardenHostLink(name: string): void {
    quiet('sysctl', ['-qw', `net.ipv6.conf.${name}.disable_ipv6=1`]);
    quiet('sysctl', ['-qw', `net.ipv4.conf.${name}.forwarding=0`]);
  }

  private waitIpv6Ready(list: { ns: Namespace }[]): void {
    for (const { ns } of list) {
      for (let i = 0; i < 50; i++) {
        const out = sh('ip', ['-n', ns.name, '-6', 'addr', 'show', 'dev', ns.ifname]);
        if (!out.includes('tentative')) break;
        spawnSync('sleep', ['0.1']);
      }
    }
  }
}

function offloadsOff(ifname: string): void {
  sh('ethtool', ['-K', ifname, 'gro', 'off', 'gso', 'off', 'tso', 'off']);
}

export function ifindexOf(ifname: string): number {
  return Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
}

/** Waits for a child to finish, with a bound; output collected as text. */
export function collect(child: ChildProcess, timeoutMs: number, input?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => (stdout += d));
    child.stderr?.on('data', (d: string) => (stderr += d));
    if (input !== undefined) child.stdin?.end(input);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: stderr + String(err) });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Resolves when `port` accepts TCP connections inside `ns` (python3 probe, bounded). */
export async function waitForTcpPort(lab: NetnsLab, ns: string, ip: string, port: number, timeoutMs = 10_000): Promise<void> {
  const script =
    'import socket,sys,time\n' +
    `end=time.time()+${timeoutMs / 1000}\n` +
    'while time.time()<end:\n' +
    '  try:\n' +
    `    socket.create_connection(("${ip}",${port}),0.5).close(); sys.exit(0)\n` +
    '  except OSError: time.sleep(0.05)\n' +
    'sys.exit(1)\n';
  const r = await lab.runIn(ns, 'python3', ['-c', script], timeoutMs + 2000);
  if (r.code !== 0) throw new Error(`port ${ip}:${port} in ${ns} did not open: ${r.stderr}`);
}
