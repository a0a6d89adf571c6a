/**
 * Acceptance for event 00011 CODE_VIF_DISAPPEARED (issue 5): pod A is a namespace on a bridge
 * with a python3 server; a client namespace holds two TCP connections and one UDP exchange open
 * to it; `dllt capture --ifindex` watches pod A's host-side veth. Pod A is then deleted as the
 * kubelet does it (its processes killed, then `ip netns del`, which takes the veth with it).
 * Asserted against what the test set up and measured: 00011 raised within 1 s of the deletion,
 * naming exactly the three flows (5-tuples chosen here, Community IDs computed here), each of
 * them in end_flows with `interface_gone`; then with DLLT_ON_VIF_GONE=exit dllt exits with code
 * 3, and with `wait` it captures again on a veth recreated under the same name.
 *
 * Runs as root with tcpdump and python3 and the CLI built; otherwise it says why it is skipped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, ifindexOf, labUnavailableReason, NetnsLab, type BridgedPair, type RunResult } from './netns.js';
import { CLI, packetSocketsOn, readJsonLines, readRecords, sleep, tsTextUs, waitFor } from './event-lab.js';
import type { FlowRecord, InterfaceEventRecord, NotifRecord } from '../../src/record/records.js';

const SUBNET = 111;
const CLIENT_IP = `10.77.${SUBNET}.1`;
const POD_IP = `10.77.${SUBNET}.2`;
const TCP_PORT = 18111;
const UDP_PORT = 18112;
const HELD_TCP_PORTS = [41111, 41112];
const HELD_UDP_PORT = 41113;
const LATE_PORT = 41114;
/** DLLT_ON_VIF_GONE=exit's exit code, as the README documents it. */
const EXIT_VIF_GONE = 3;

const unavailable = labUnavailableReason(['tcpdump', 'python3']) ?? (existsSync(CLI) ? undefined : `${CLI} is not built (run npm run build)`);
if (unavailable) console.log(`# vif-gone e2e skipped: ${unavailable}`);

/** Pod A: a TCP server that echoes once and keeps every connection, and a UDP echo. */
const SERVER_PY = `
import socket, sys, threading
ip = sys.argv[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((ip, ${UDP_PORT}))
def udp():
    while True:
        data, peer = u.recvfrom(100)
        u.sendto(data, peer)
threading.Thread(target=udp, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((ip, ${TCP_PORT}))
t.listen(8)
print("listening", flush=True)
held = []
while True:
    c, _ = t.accept()
    c.sendall(c.recv(100))
    held.append(c)
`;

/** Opens the connections the test knows by their 5-tuples and holds them until killed. */
const HOLDING_CLIENT_PY = `
import socket, sys, time
pod = sys.argv[1]
held = []
for port in (${HELD_TCP_PORTS.join(', ')}):
    s = socket.socket()
    s.bind(("${CLIENT_IP}", port))
    s.connect((pod, ${TCP_PORT}))
    s.sendall(b"hello")
    if s.recv(100) != b"hello":
        sys.exit("no echo")
    held.append(s)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("${CLIENT_IP}", ${HELD_UDP_PORT}))
u.settimeout(5)
u.sendto(b"ping", (pod, ${UDP_PORT}))
u.recvfrom(100)
print("ready", flush=True)
time.sleep(120)
`;

/** One connection after the pod came back: hello, echo, close. */
const LATE_CLIENT_PY = `
import socket, sys
s = socket.socket()
s.bind(("${CLIENT_IP}", ${LATE_PORT}))
s.settimeout(5)
s.connect((sys.argv[1], ${TCP_PORT}))
s.sendall(b"hello")
if s.recv(100) != b"hello":
    sys.exit("no echo")
s.close()
`;

interface Tuple {
  proto: 'tcp' | 'udp';
  srcIP: string;
  srcPort: number;
  dstIP: string;
  dstPort: number;
}

/** Community ID v1 of an IPv4 TCP/UDP flow, computed from the spec (seed 0), not by dllt. */
function communityIdV4(t: Tuple): string {
  const ip = (s: string): Buffer => Buffer.from(s.split('.').map(Number));
  let [a, ap, b, bp] = [ip(t.srcIP), t.srcPort, ip(t.dstIP), t.dstPort];
  const order = Buffer.compare(a, b);
  if (order > 0 || (order === 0 && ap > bp)) [a, ap, b, bp] = [b, bp, a, ap];
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(ap, 0);
  ports.writeUInt16BE(bp, 2);
  const data = Buffer.concat([Buffer.from([0, 0]), a, b, Buffer.from([t.proto === 'tcp' ? 6 : 17, 0]), ports]);
  return `1:${createHash('sha1').update(data).digest('base64')}`;
}

const HELD: Tuple[] = [
  ...HELD_TCP_PORTS.map((p): Tuple => ({ proto: 'tcp', srcIP: CLIENT_IP, srcPort: p, dstIP: POD_IP, dstPort: TCP_PORT })),
  { proto: 'udp', srcIP: CLIENT_IP, srcPort: HELD_UDP_PORT, dstIP: POD_IP, dstPort: UDP_PORT },
];
const HELD_WITH_IDS = HELD.map((t) => ({ ...t, communityId: communityIdV4(t) }));
const LATE: Tuple = { proto: 'tcp', srcIP: CLIENT_IP, srcPort: LATE_PORT, dstIP: POD_IP, dstPort: TCP_PORT };

function key(t: { proto: string; srcIP: string; srcPort?: number | undefined; dstIP: string; dstPort?: number | undefined }): string {
  return `${t.proto} ${t.srcIP}:${t.srcPort} > ${t.dstIP}:${t.dstPort}`;
}

/** Resolves once `child` printed `text`; rejects when it ends first or after timeoutMs. */
function untilPrinted(child: ChildProcess, text: string, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms: ${out}${err}`)), timeoutMs);
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => (err += d));
    child.stdout?.on('data', (d: string) => {
      out += d;
      if (out.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before printing "${text}": ${out}${err}`));
    });
  });
}

function vifEvents(dir: string): InterfaceEventRecord[] {
  return readJsonLines<InterfaceEventRecord>(dir, 'netwevents_').filter((e) => e.code === '00011');
}

function notifsOf(dir: string, kind: string): NotifRecord[] {
  return readJsonLines<NotifRecord>(dir, 'log_notif_').filter((n) => n.kind === kind);
}

interface Scene {
  lab: NetnsLab;
  pair: BridgedPair;
  podIf: string;
  podIndex: number;
  dir: string;
  dllt: ChildProcess;
  dlltDone: Promise<RunResult>;
  /** µs since the epoch right before and right after `ip netns del`. */
  deletedFromUs: number;
  deletedToUs: number;
  /** How long after the deletion the 00011 line was on disk (ms). */
  onDiskAfterMs: number;
}

function startPodServer(lab: NetnsLab, ns: string): { server: ChildProcess; listening: Promise<void> } {
  const server = lab.spawnIn(ns, 'python3', ['-u', '-c', SERVER_PY, POD_IP]);
  return { server, listening: untilPrinted(server, 'listening') };
}

/** Pod A with the held flows, dllt capturing on its veth, then pod A deleted. */
async function deletePodUnderCapture(lab: NetnsLab, tmp: string, onVifGone: 'wait' | 'exit'): Promise<Scene> {
  const pair = lab.bridgedPair({ subnet: SUBNET });
  const podIf = pair.serverHostIf;
  const podIndex = ifindexOf(podIf);
  const { server, listening } = startPodServer(lab, pair.server.name);
  await listening;

  const out = join(tmp, onVifGone);
  const sockets = packetSocketsOn(podIndex);
  const dllt = lab.spawnHost(process.execPath, [CLI, 'capture', '--ifindex', String(podIndex), '--out', out], {
    env: { ...process.env, DLLT_ON_VIF_GONE: onVifGone, DLLT_FLUSH_INTERVAL_MS: '100' },
  });
  const dlltDone = collect(dllt, 60_000);
  await waitFor(() => packetSocketsOn(podIndex) > sockets, 'dllt to open the pod interface');
  const dir = join(out, 'logs', `dllt${podIndex}`);

  const client = lab.spawnIn(pair.client.name, 'python3', ['-u', '-c', HOLDING_CLIENT_PY, POD_IP]);
  await untilPrinted(client, 'ready');
  // dllt must have the flows before the pod goes: a ring block still in the kernel dies with it.
  const held = new Set(HELD.map(key));
  await waitFor(() => new Set(readJsonLines<FlowRecord>(dir, 'flows_').map(key).filter((k) => held.has(k))).size === held.size, 'dllt to record the held flows');

  // The kubelet's order: the pod's processes end, then its namespace goes (a process left
  // inside would keep the namespace, and the veth, alive).
  server.kill('SIGKILL');
  await collect(server, 5000);
  assert.equal(execFileSync('ip', ['netns', 'pids', pair.server.name], { encoding: 'utf8' }).trim(), '', 'no process left in pod A');
  const deletedFromUs = Date.now() * 1000;
  execFileSync('ip', ['netns', 'del', pair.server.name]);
  const deletedToUs = Date.now() * 1000;
  await waitFor(() => vifEvents(dir).length > 0, '00011 in netwevents', 5000);
  const onDiskAfterMs = (Date.now() * 1000 - deletedToUs) / 1000;
  return { lab, pair, podIf, podIndex, dir, dllt, dlltDone, deletedFromUs, deletedToUs, onDiskAfterMs };
}

/** The 00011 event, the flows it cut and the interface_gone notification. */
function assertCut(s: Scene, next: RegExp): void {
  const events = vifEvents(s.dir);
  assert.equal(events.length, 1, 'one 00011 event');
  const e = events[0]!;
  const raisedUs = tsTextUs(e.ts);
  const afterMs = (raisedUs - s.deletedToUs) / 1000;
  console.log(`# 00011 raised ${afterMs.toFixed(1)} ms after ip netns del returned (it took ${((s.deletedToUs - s.deletedFromUs) / 1000).toFixed(1)} ms); on disk after ${s.onDiskAfterMs.toFixed(0)} ms`);
  assert.ok(raisedUs >= s.deletedFromUs && raisedUs <= s.deletedToUs + 1_000_000, `00011 within 1 s of the deletion (${afterMs} ms)`);
  assert.ok(s.onDiskAfterMs < 1000, `00011 on disk within 1 s of the deletion (${s.onDiskAfterMs} ms)`);
  assert.equal(e.tsUs, raisedUs);
  assert.deepEqual(
    { name: e.name, value: e.value, if: e.if, ifindex: e.ifindex },
    { name: 'CODE_VIF_DISAPPEARED', value: s.podIf, if: s.podIf, ifindex: s.podIndex },
  );
  // Besides the test's connections, the kernel's own IGMP reports (a bridge port joining its
  // multicast groups) can be a flow on the veth; nothing else may be.
  const connections = e.cutFlows.filter((f) => f.proto === 'tcp' || f.proto === 'udp');
  const others = e.cutFlows.filter((f) => !connections.includes(f));
  assert.deepEqual(others.filter((f) => f.proto !== '2'), [], 'no cut flow but the held connections and IGMP');
  const byPort = (a: { srcPort?: number }, b: { srcPort?: number }): number => (a.srcPort ?? 0) - (b.srcPort ?? 0);
  assert.deepEqual([...connections].sort(byPort), HELD_WITH_IDS, 'the cut connections are exactly the held ones');
  assert.equal(e.cutFlowCount, e.cutFlows.length);

  const gone = readRecords(s.dir).flows.filter((f) => f.endReason === 'interface_gone');
  assert.deepEqual(gone.map(key).sort(), e.cutFlows.map(key).sort(), 'end_flows: the cut flows, ended with interface_gone');
  for (const f of gone) assert.equal(f.tsUs, raisedUs, `${key(f)} ends when the interface vanished`);

  const notes = notifsOf(s.dir, 'interface_gone');
  assert.equal(notes.length, 1);
  assert.equal(notes[0]!.level, 'warn');
  assert.equal(notes[0]!['ifindex'], s.podIndex);
  assert.equal(notes[0]!['cutFlowCount'], e.cutFlowCount);
  assert.match(notes[0]!.message, next);
  // tcpdump's own exit ("The interface disappeared") is the same disappearance, not a failure.
  assert.deepEqual(notifsOf(s.dir, 'capture_failed'), []);
}

function scenario(name: string, body: (lab: NetnsLab, tmp: string) => Promise<void>): void {
  test(name, { skip: unavailable, timeout: 60_000 }, async () => {
    const lab = new NetnsLab();
    const tmp = mkdtempSync(join(tmpdir(), 'dllt-vif-'));
    let passed = false;
    try {
      await body(lab, tmp);
      passed = true;
    } finally {
      lab.cleanup();
      if (passed) rmSync(tmp, { recursive: true, force: true });
      else console.log(`# vif-gone artifacts kept in ${tmp}`);
    }
  });
}

scenario('DLLT_ON_VIF_GONE=exit: pod deleted → 00011 within 1 s naming the held flows, interface_gone ends, exit code 3', async (lab, tmp) => {
  const s = await deletePodUnderCapture(lab, tmp, 'exit');
  const run = await s.dlltDone;
  const exitAfterMs = (Date.now() * 1000 - s.deletedToUs) / 1000;
  console.log(`# dllt exited ${exitAfterMs.toFixed(0)} ms after the deletion, code ${run.code}`);
  assert.equal(run.code, EXIT_VIF_GONE, run.stderr);
  assert.ok(exitAfterMs < 2000, `exit within 2 s (${exitAfterMs} ms)`);
  assert.match(run.stderr, /disappeared/, 'stderr says why dllt stopped');
  assertCut(s, /exiting with code 3 \(DLLT_ON_VIF_GONE=exit\)/);
  const drops = notifsOf(s.dir, 'kernel_drops');
  assert.deepEqual(drops.map((n) => n['final']), [true], 'tcpdump\'s exit report is written once, as the final one');
});

scenario('DLLT_ON_VIF_GONE=wait: pod deleted → 00011 and interface_gone; recreated under the same name → interface_back, captured again', async (lab, tmp) => {
  const s = await deletePodUnderCapture(lab, tmp, 'wait');
  assertCut(s, /waiting for an interface named \S+ to come back/);
  assert.equal(s.dllt.exitCode, null, 'dllt keeps running');

  const { ns, hostIf } = lab.recreateBridged('s', s.pair.bridge, POD_IP);
  assert.equal(hostIf, s.podIf);
  const newIndex = ifindexOf(hostIf);
  assert.notEqual(newIndex, s.podIndex, 'the recreated veth has a new index');
  // The client's neighbour entry still holds the deleted pod's MAC.
  execFileSync('ip', ['-n', s.pair.client.name, 'neigh', 'flush', 'dev', 'eth0']);
  const { listening } = startPodServer(lab, ns.name);
  await listening;
  await waitFor(() => notifsOf(s.dir, 'interface_back').length > 0 && packetSocketsOn(newIndex) > 0, 'dllt to capture on the recreated veth', 5000);
  const back = notifsOf(s.dir, 'interface_back');
  assert.equal(back.length, 1);
  assert.equal(back[0]!['ifindex'], newIndex);

  const late = await lab.runIn(s.pair.client.name, 'python3', ['-c', LATE_CLIENT_PY, POD_IP], 10_000);
  assert.equal(late.code, 0, late.stderr);
  await waitFor(() => readJsonLines<FlowRecord>(s.dir, 'flows_').some((f) => key(f) === key(LATE)), 'dllt to record the connection through the recreated veth');
  await sleep(200);
  s.dllt.kill('SIGTERM');
  const run = await s.dlltDone;
  assert.equal(run.code, 0, run.stderr);
  const lateEnds = readRecords(s.dir).flows.filter((f) => key(f) === key(LATE));
  assert.equal(lateEnds.length, 1, 'the new connection is in end_flows, in the original directory');
  // The client closed, the server holds its end open: still open at SIGTERM.
  assert.equal(lateEnds[0]!.endReason, 'shutdown');
  assert.equal(lateEnds[0]!.if, s.podIf);
  assert.equal(lateEnds[0]!.communityId, communityIdV4(LATE));
});
