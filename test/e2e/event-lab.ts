/**
 * Harness for the network-event end-to-end tests: a bridged client/server pair of namespaces,
 * `dllt capture` on the client's host-side veth next to a reference tcpdump, and helpers to
 * read back dllt's records and to replay the reference capture through `dllt read` (SPEC 6: a
 * capture file and the live run that made it give the same events).
 */
import { execFileSync } from 'node:child_process';
import { test, type TestContext } from 'node:test';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { collect, labUnavailableReason, NetnsLab, type BridgedPair, type RunResult } from './netns.js';
import type { EventRecord, FlowRecord, NotifRecord } from '../../src/record/records.js';

export const CLI = resolve('dist/app/main.js');

/** Why the event lab cannot run (printed by the caller as the skip reason), or undefined. */
export function eventLabUnavailable(tools: string[] = []): string | undefined {
  const lab = labUnavailableReason(['tcpdump', 'tshark', 'python3', ...tools]);
  if (lab) return lab;
  if (!existsSync(CLI)) return `${CLI} is not built (run npm run build)`;
  return undefined;
}

export interface Records {
  events: EventRecord[];
  flows: FlowRecord[];
  notifs: NotifRecord[];
}

/** Every JSON line of the files in `dir` whose names start with `prefix`, files in name order. */
export function readJsonLines<T>(dir: string, prefix: string): T[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix))
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T));
}

export function readRecords(dir: string): Records {
  return { events: readJsonLines<EventRecord>(dir, 'netwevents_'), flows: readJsonLines<FlowRecord>(dir, 'end_flows_'), notifs: readJsonLines<NotifRecord>(dir, 'log_notif_') };
}

/** tshark's `frame.time_epoch` text in µs since the epoch, exactly (no float rounding; the
 *  captures are microsecond pcaps). */
export function epochToUs(epoch: string): number {
  const [sec, frac = ''] = epoch.trim().split('.');
  return Number(sec) * 1_000_000 + Number(frac.padEnd(6, '0').slice(0, 6));
}

/** A record timestamp (`2024-01-02T03:04:05.123456Z`) in µs since the epoch. */
export function tsTextUs(ts: string): number {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{6})Z$/.exec(ts);
  if (!m) throw new Error(`unexpected ts format: ${ts}`);
  return Date.parse(`${m[1]}Z`) * 1000 + Number(m[2]);
}

/** Packet sockets bound to an ifindex (/proc/net/packet's Iface column). */
export function packetSocketsOn(ifindex: number): number {
  const lines = readFileSync('/proc/net/packet', 'utf8').trim().split('\n').slice(1);
  return lines.filter((l) => Number(l.trim().split(/\s+/)[4]) === ifindex).length;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export interface LiveRun {
  /** The reference capture of the same interface, written by tcpdump. */
  refPcap: string;
  /** dllt's log directory for the interface (where its follow pcaps go too). */
  dir: string;
  /** Stops dllt (SIGTERM) and tcpdump; returns dllt's records. */
  stop(): Promise<Records & { dllt: RunResult }>;
}

/**
 * One scenario's lab: namespaces, a temp directory, cleanup. Keep artifacts when a test fails
 * (`keep()`), so a failure can be inspected.
 */
export class EventLab {
  readonly lab = new NetnsLab();
  readonly tmp = mkdtempSync(join(tmpdir(), 'dllt-events-'));
  readonly pair: BridgedPair;
  private passed = false;

  constructor(opts: { ipv6?: boolean } = {}) {
    this.pair = this.lab.bridgedPair(opts);
  }

  /** Starts tcpdump and `dllt capture --ifindex` on the client's host-side veth, with `env`
   *  (short thresholds); resolves once both are receiving. */
  async startCapture(name: string, env: Record<string, string>): Promise<LiveRun> {
    const out = join(this.tmp, name);
    const refPcap = join(this.tmp, `${name}.pcap`);
    const ifindex = this.pair.hostIndex;
    const before = packetSocketsOn(ifindex);
    const ref = this.lab.spawnHost('tcpdump', ['-i', this.pair.hostIf, '-U', '-n', '-p', '-s', '0', '-w', refPcap]);
    const dllt = this.lab.spawnHost(process.execPath, [CLI, 'capture', '--ifindex', String(ifindex), '--out', out], {
      env: { ...process.env, ...env },
    });
    const dlltDone = collect(dllt, 120_000);
    await waitFor(() => packetSocketsOn(ifindex) >= before + 2, 'tcpdump and dllt to open the interface');
    await sleep(300);
    const dir = join(out, 'logs', `dllt${ifindex}`);
    return {
      refPcap,
      dir,
      stop: async () => {
        dllt.kill('SIGTERM');
        const run = await dlltDone;
        ref.kill('SIGTERM');
        await collect(ref, 10_000);
        if (run.code !== 0) throw new Error(`dllt capture exited ${run.code} ${run.signal}: ${run.stderr}`);
        return { ...readRecords(dir), dllt: run };
      },
    };
  }

  /** `dllt read` of a capture file with `env`; its records. */
  readFile(pcap: string, env: Record<string, string>): Records & { dir: string } {
    const out = mkdtempSync(join(this.tmp, 'read-'));
    execFileSync(process.execPath, [CLI, 'read', pcap, '--out', out, '-q'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const dir = join(out, 'logs', basename(pcap));
    return { ...readRecords(dir), dir };
  }

  markPassed(): void {
    this.passed = true;
  }

  cleanup(): void {
    this.lab.cleanup();
    if (this.passed) rmSync(this.tmp, { recursive: true, force: true });
    else console.log(`# event e2e artifacts kept in ${this.tmp}`);
  }
}

/** The fields a test asserts exactly, from an event record. */
export function eventKey(e: EventRecord): string {
  return `${e.code} ${e.proto} ${e.srcIP}:${e.srcPort ?? '-'} > ${e.dstIP}:${e.dstPort ?? '-'} side=${e.side ?? '-'} value=${e.value ?? '-'} nodeIP=${e.nodeIP}`;
}

/** Frame times (µs since the epoch) of the TCP handshake of the connection from `clientPort`,
 *  read by tshark from a capture: the outside oracle for latency/localLatency. */
export function handshakeTimesUs(pcap: string, clientPort: number): { syn?: number; synAck?: number; ack?: number } {
  const text = execFileSync('tshark', ['-n', '-r', pcap, '-Y', `tcp.port == ${clientPort}`, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'tcp.flags', '-e', 'tcp.srcport', '-e', 'tcp.len'], { encoding: 'utf8' });
  const out: { syn?: number; synAck?: number; ack?: number } = {};
  for (const line of text.trim().split('\n')) {
    const [epoch, flagsHex, srcPort] = line.split('\t');
    if (epoch === undefined || flagsHex === undefined) continue;
    const us = epochToUs(epoch);
    const flags = Number(flagsHex);
    const fromClient = Number(srcPort) === clientPort;
    if ((flags & 0x12) === 0x02 && fromClient && out.syn === undefined) out.syn = us;
    else if ((flags & 0x12) === 0x12 && !fromClient && out.synAck === undefined) out.synAck = us;
    else if ((flags & 0x17) === 0x10 && fromClient && out.synAck !== undefined && out.ack === undefined) out.ack = us;
  }
  return out;
}

/** One lab scenario as a test: a fresh EventLab, cleaned up (artifacts kept on failure); when
 *  the lab cannot run, the test is skipped and `label` says why. */
export function labScenario(label: string, skip: string | undefined, name: string, body: (lab: EventLab, t: TestContext) => Promise<void>, timeout = 60_000): void {
  test(name, { skip, timeout }, async (t) => {
    const lab = new EventLab();
    try {
      await body(lab, t);
      lab.markPassed();
    } finally {
      lab.cleanup();
    }
  });
  if (skip) console.log(`# ${label} e2e "${name}" skipped: ${skip}`);
}
