/**
 * End to end: `dllt capture --packetless` (SPEC 9, issue 5 acceptance 3). Two processes talking
 * over loopback inside one network namespace of our own, with real loss on its `lo`, must appear
 * as a flow whose rtt and retransmission counts agree with `ss -ti` taken by the test at the same
 * moment, whose final byte counts are what the programs were told to send, and whose two ends
 * name the test's own processes in process_flows.
 *
 * Tolerance (the one packetless-source.test.ts established): the test waits until the connection
 * is quiet (every byte acknowledged, two oracle reads 300 ms apart equal), reads the oracle, lets
 * dllt poll for 1.2 s, reads the oracle again. The kernel changes srtt/rttvar/minrtt only when an
 * ACK arrives and the retransmission count only when it retransmits, so every interim record read
 * in that window must equal one of the two oracle reads exactly (µs: `ss` prints milliseconds with
 * three decimals) and its counters must lie between them. Byte counts are exact.
 *
 * The namespace is created after dllt starts (watching every namespace on the host by default),
 * so it must be picked up by the per-poll listing. Needs root, ss, nsenter, stdbuf, python3, and
 * netem or nftables for the loss; skipped with the reason printed otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, labUnavailableReason, NetnsLab } from './netns.js';
import { CLI, readJsonLines, sleep, waitFor } from './event-lab.js';
import type { FlowRecord, NotifRecord, ProcessFlowRecord } from '../../src/record/records.js';
import { CGROUP2, fakePodsUnavailable, inPod, makePod, removeCgroups } from './fake-pods.js';
import { addLoss, exited, oracle, oracleSocket, randomPort, SET_COMM, waitForLine, type OracleSocket } from '../../src/sources/packetless/ss-oracle.test-support.js';

const skip = labUnavailableReason(['ss', 'nsenter', 'stdbuf', 'python3']) ?? (existsSync(CLI) ? undefined : `${CLI} is not built (run npm run build)`);
if (skip) console.log(`# packetless e2e skipped: ${skip}`);

const ENV = { DLLT_PACKETLESS_POLL_MS: '200', DLLT_ACTIVE_TIMEOUT_S: '0.5', DLLT_FLUSH_INTERVAL_MS: '100' };

/** Reads what the client sends, answers with its own count, waits for EOF, closes. */
const SERVER = `${SET_COMM}import socket
port,want,reply=map(int,sys.argv[2:5])
l=socket.socket(); l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); l.bind(("127.0.0.1",port)); l.listen(1); print("listening",flush=True)
c,_=l.accept(); got=0
while got<want:
  d=c.recv(65536)
  if not d: break
  got+=len(d)
c.sendall(b"s"*reply)
while c.recv(65536): pass
c.close(); l.close()
`;

/** Connects from a fixed port, sends in chunks over ~3 s, reads the answer, says `ready`, closes on a line from stdin. */
const CLIENT = `${SET_COMM}import socket,time
port,cport,send,expect,chunks=map(int,sys.argv[2:7])
c=socket.socket(); c.bind(("127.0.0.1",cport)); c.connect(("127.0.0.1",port))
for i in range(chunks):
  c.sendall(b"c"*(send//chunks)); time.sleep(0.1)
got=0
while got<expect: got+=len(c.recv(65536))
print("ready",flush=True)
sys.stdin.readline(); c.close()
`;

/** Both ends in one process (server accepted on a listener): exchanges the counts, then stays open. */
const TALKER = `import socket,sys,time
port,cport,send,reply=map(int,sys.argv[1:5])
l=socket.socket(); l.bind(("127.0.0.1",port)); l.listen(1)
c=socket.socket(); c.bind(("127.0.0.1",cport)); c.connect(("127.0.0.1",port)); s,_=l.accept()
c.sendall(b"q"*send); got=0
while got<send: got+=len(s.recv(65536))
s.sendall(b"r"*reply); got=0
while got<reply: got+=len(c.recv(65536))
print("ready",flush=True); time.sleep(60)
`;

/** Community ID v1 of a TCP flow between two IPv4 addresses, written from the spec with node's SHA-1. */
function communityIdV4(srcIP: string, srcPort: number, dstIP: string, dstPort: number): string {
  const addr = (ip: string): Buffer => Buffer.from(ip.split('.').map(Number));
  let [a, ap, b, bp] = [addr(srcIP), srcPort, addr(dstIP), dstPort];
  if (Buffer.compare(a, b) > 0 || (Buffer.compare(a, b) === 0 && ap > bp)) [a, ap, b, bp] = [b, bp, a, ap];
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(ap, 0);
  ports.writeUInt16BE(bp, 2);
  const input = Buffer.concat([Buffer.from([0, 0]), a, b, Buffer.from([6, 0]), ports]);
  return `1:${createHash('sha1').update(input).digest('base64')}`;
}

/** Waits until two oracle reads 300 ms apart agree on every socket asked about: nothing in flight. */
async function waitQuiet(ns: string, pairs: [string, string][]): Promise<void> {
  const read = (): OracleSocket[] => {
    const table = oracle(ns);
    return pairs.map(([local, peer]) => oracleSocket(table, local, peer));
  };
  const end = Date.now() + 15_000;
  let last = JSON.stringify(read());
  for (;;) {
    await sleep(300);
    const now = JSON.stringify(read());
    if (now === last) return;
    if (Date.now() > end) throw new Error(`the connection never went quiet: ${now}`);
    last = now;
  }
}

function startDllt(lab: NetnsLab, out: string, args: string[] = [], env: Record<string, string> = {}) {
  const child = lab.spawnHost(process.execPath, [CLI, 'capture', '--packetless', '--out', out, ...args], { env: { ...process.env, ...ENV, ...env } });
  return { child, done: collect(child, 120_000) };
}

function tuple(r: { srcIP: string; srcPort?: number; dstIP: string; dstPort?: number }): string {
  return `${r.srcIP}:${r.srcPort} > ${r.dstIP}:${r.dstPort}`;
}

function between(value: number | undefined, lo: number, hi: number, what: string): void {
  assert.ok(value !== undefined && lo <= value && value <= hi, `${what}: ${value} not in [${lo}, ${hi}]`);
}

test('every namespace by default: a loopback connection under loss has rtt, retransmissions and segments as ss -ti says, exact bytes, both processes', { skip, timeout: 90_000 }, async (t) => {
  const lab = new NetnsLab('dllpc');
  const tmp = mkdtempSync(join(tmpdir(), 'dllt-packetless-'));
  let passed = false;
  try {
    const out = join(tmp, 'out');
    const dir = join(out, 'logs', 'packetless');
    const dllt = startDllt(lab, out);
    await waitFor(() => existsSync(join(dir, 'outputfile.txt')) && readFileSync(join(dir, 'outputfile.txt'), 'utf8').includes('packetless, every network namespace'), 'dllt to start');

    const ns = lab.addNamespace('p');
    const nsInode = statSync(`/run/netns/${ns}`).ino;
    const port = randomPort();
    const cport = port + 1;
    const noLoss = addLoss(ns, cport, 20, 5);
    if (noLoss) {
      console.log(`# packetless e2e skipped: ${noLoss}`);
      t.skip(noLoss);
      passed = true;
      return;
    }
    const [send, reply, chunks] = [240_000, 60_000, 30];
    const serverComm = `dlltS${lab.tag}`;
    const clientComm = `dlltC${lab.tag}`;
    const server = lab.spawnIn(ns, 'python3', ['-c', SERVER, serverComm, `${port}`, `${send}`, `${reply}`]);
    await waitForLine(server, 'listening', 10_000);
    const client = lab.spawnIn(ns, 'python3', ['-c', CLIENT, clientComm, `${port}`, `${cport}`, `${send}`, `${reply}`, `${chunks}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    await waitForLine(client, 'ready', 30_000);

    const clientLocal = `127.0.0.1:${cport}`;
    const serverLocal = `127.0.0.1:${port}`;
    await waitQuiet(ns, [[clientLocal, serverLocal], [serverLocal, clientLocal]]);
    const tableBefore = oracle(ns);
    const fromUs = Date.now() * 1000;
    await sleep(1200);
    const toUs = Date.now() * 1000;
    const tableAfter = oracle(ns);
    const [cBefore, cAfter] = [oracleSocket(tableBefore, clientLocal, serverLocal), oracleSocket(tableAfter, clientLocal, serverLocal)];
    const [sBefore, sAfter] = [oracleSocket(tableBefore, serverLocal, clientLocal), oracleSocket(tableAfter, serverLocal, clientLocal)];
    assert.ok(cBefore.retransTotal > 0, `the loss made the client retransmit (ss: ${cBefore.retransTotal})`);

    client.stdin!.write('go\n');
    await Promise.all([exited(client, 10_000), exited(server, 10_000)]);
    const ours = (r: { srcIP: string; srcPort?: number; dstIP: string; dstPort?: number }): boolean => tuple(r) === `127.0.0.1:${cport} > 127.0.0.1:${port}`;
    await waitFor(() => readJsonLines<FlowRecord>(dir, 'end_flows_').some(ours), 'the flow to end', 15_000);
    // Its programs gone, the namespace is no longer listed: dllt's own `ss -E` inside it must not keep it alive.
    await waitFor(() => spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.trim() === '', 'dllt to leave the namespace', 5000);
    dllt.child.kill('SIGTERM');
    const run = await dllt.done;
    assert.equal(run.code, 0, `dllt exit: ${run.stderr}`);

    const flows = readJsonLines<FlowRecord>(dir, 'flows_').filter(ours);
    const ends = readJsonLines<FlowRecord>(dir, 'end_flows_').filter(ours);
    const procs = readJsonLines<ProcessFlowRecord>(dir, 'process_flows_').filter(ours);
    const cid = communityIdV4('127.0.0.1', cport, '127.0.0.1', port);
    assert.equal(flows.filter((f) => f.type === 'flow_start').length, 1, 'one flow_start');
    assert.equal(ends.length, 1, 'one flow_end');
    for (const f of [...flows, ...ends]) {
      assert.equal(f.source, 'packetless');
      assert.equal(f.communityId, cid);
      assert.equal(f.roleMethod, 'listener');
      assert.deepEqual([f.clientIP, f.serverIP, f.servicePort], ['127.0.0.1', '127.0.0.1', port]);
      for (const packetOnly of ['srcBytes', 'dstBytes', 'connState', 'history', 'srcTcpFlags', 'synToSynAckUs'] as const) assert.equal(f[packetOnly], undefined, `${packetOnly} is absent`);
    }

    const interim = flows.filter((f) => f.type === 'flow_update' && f.tsUs >= fromUs && f.tsUs <= toUs);
    assert.ok(interim.length >= 1, `flow_update records read between the two oracle reads (got ${interim.length})`);
    for (const f of interim) {
      const what = `flow_update at ${f.ts}`;
      assert.ok(f.rttUs === cBefore.srttUs || f.rttUs === cAfter.srttUs, `${what} rttUs ${f.rttUs}, ss ${cBefore.srttUs} / ${cAfter.srttUs}`);
      assert.ok(f.rttVarUs === cBefore.rttvarUs || f.rttVarUs === cAfter.rttvarUs, `${what} rttVarUs ${f.rttVarUs}, ss ${cBefore.rttvarUs} / ${cAfter.rttvarUs}`);
      assert.ok(f.minRttUs === cBefore.minRttUs || f.minRttUs === cAfter.minRttUs, `${what} minRttUs ${f.minRttUs}, ss ${cBefore.minRttUs} / ${cAfter.minRttUs}`);
      between(f.retransSrc, cBefore.retransTotal, cAfter.retransTotal, `${what} retransSrc`);
      between(f.retransDst, sBefore.retransTotal, sAfter.retransTotal, `${what} retransDst`);
      between(f.srcPkts, cBefore.segsOut, cAfter.segsOut, `${what} srcPkts (client segs_out)`);
      between(f.dstPkts, sBefore.segsOut, sAfter.segsOut, `${what} dstPkts (server segs_out)`);
      assert.deepEqual([f.srcPayloadBytes, f.dstPayloadBytes, f.rttSide, f.tcpState], [send, reply, 'client', 'ESTABLISHED'], what);
    }

    const end = ends[0]!;
    console.log(
      `# ${interim.length} interim records; ss: client srtt ${cBefore.srttUs} µs, rttvar ${cBefore.rttvarUs} µs, minrtt ${cBefore.minRttUs} µs, retrans ${cBefore.retransTotal}, segs_out ${cBefore.segsOut}; ` +
        `dllt: rttUs ${interim[0]!.rttUs}, retransSrc ${interim[0]!.retransSrc}, srcPkts ${interim[0]!.srcPkts}; end: retransSrc ${end.retransSrc}, retransDst ${end.retransDst}, ${end.srcPayloadBytes}/${end.dstPayloadBytes} bytes`,
    );
    assert.equal(end.endReason, 'fin');
    assert.deepEqual([end.srcPayloadBytes, end.dstPayloadBytes], [send, reply], 'final payload bytes as the programs sent them');
    assert.ok(end.retransSrc! >= cAfter.retransTotal && end.retransDst! >= sAfter.retransTotal, `final retransmissions ${end.retransSrc}/${end.retransDst} at least ss's ${cAfter.retransTotal}/${sAfter.retransTotal}`);

    assert.deepEqual(
      procs.map((p) => [p.side, p.pid, p.comm, p.netns, p.via, p.communityId, p.tsUs]).sort(),
      [
        ['client', client.pid, clientComm, nsInode, 'socket', cid, flows[0]!.tsUs],
        ['server', server.pid, serverComm, nsInode, 'socket', cid, flows[0]!.tsUs],
      ].sort(),
      'one process_flow per end: the test\'s own programs, in its namespace',
    );
    const notifs = readJsonLines<NotifRecord>(dir, 'log_notif_');
    assert.deepEqual(notifs.filter((n) => n.kind === 'stop').map((n) => n.message), ['received SIGTERM: writing every open flow']);
    // Other namespaces on a shared machine come and go (their labs kill every process inside, our `ss -E` too).
    const warnings = notifs.filter((n) => n.level !== 'info' && (n['netns'] === undefined || n['netns'] === nsInode));
    assert.deepEqual(warnings, [], 'no warning about our namespace or the run');
    passed = true;
  } finally {
    lab.cleanup();
    if (passed) rmSync(tmp, { recursive: true, force: true });
    else console.log(`# packetless e2e artifacts kept in ${tmp}`);
  }
});

/**
 * The same connection (a TALKER) in two namespaces, dllt started with `args` to watch the first
 * (spawned by `spawnWatched`), stopped by SIGTERM while both connections are open: end_flows must
 * hold the watched namespace's connection alone, ended by the shutdown.
 */
async function watchOneOfTwo(lab: NetnsLab, out: string, spawnWatched: (ns: string, argv: string[]) => ChildProcess, args: (watched: ChildProcess) => string[], env: Record<string, string> = {}): Promise<{ watched: ChildProcess; ns: string; dir: string }> {
  const [nsA, nsB] = [lab.addNamespace('a'), lab.addNamespace('b')];
  const port = randomPort();
  const a = spawnWatched(nsA, ['python3', '-c', TALKER, `${port}`, `${port + 1}`, '1500', '400']);
  const b = lab.spawnIn(nsB, 'python3', ['-c', TALKER, `${port}`, `${port + 1}`, '2500', '600']);
  await Promise.all([waitForLine(a, 'ready', 10_000), waitForLine(b, 'ready', 10_000)]);
  const dir = join(out, 'logs', 'packetless');
  const dllt = startDllt(lab, out, args(a), env);
  const ours = (r: { srcIP: string; srcPort?: number; dstIP: string; dstPort?: number }): boolean => tuple(r) === `127.0.0.1:${port + 1} > 127.0.0.1:${port}`;
  await waitFor(() => existsSync(dir) && readJsonLines<FlowRecord>(dir, 'flows_').some(ours), 'the flow to start', 15_000);
  await sleep(600);
  dllt.child.kill('SIGTERM');
  const run = await dllt.done;
  assert.equal(run.code, 0, `dllt exit: ${run.stderr}`);
  const ends = readJsonLines<FlowRecord>(dir, 'end_flows_');
  assert.deepEqual(
    ends.map((f) => [tuple(f), f.endReason, f.srcPayloadBytes, f.dstPayloadBytes]),
    [[`127.0.0.1:${port + 1} > 127.0.0.1:${port}`, 'shutdown', 1500, 400]],
    'only the watched namespace\'s connection, still open at SIGTERM',
  );
  return { watched: a, ns: nsA, dir };
}

test('--pid watches that namespace only (the same tuple in another is not reported); flows open at SIGTERM end as shutdown', { skip, timeout: 60_000 }, async () => {
  const lab = new NetnsLab('dllpp');
  const tmp = mkdtempSync(join(tmpdir(), 'dllt-packetless-'));
  let passed = false;
  try {
    const { watched: a, ns, dir } = await watchOneOfTwo(lab, join(tmp, 'out'), (ns, [cmd, ...argv]) => lab.spawnIn(ns, cmd!, argv), (a) => ['--pid', String(a.pid)]);
    const inode = statSync(`/run/netns/${ns}`).ino;
    assert.deepEqual(
      readJsonLines<ProcessFlowRecord>(dir, 'process_flows_').map((p) => [p.side, p.pid, p.netns]).sort(),
      [['client', a.pid, inode], ['server', a.pid, inode]],
    );
    const start = readJsonLines<NotifRecord>(dir, 'log_notif_').find((n) => n.kind === 'start');
    assert.match(start?.message ?? '', new RegExp(`network namespace net:\\[${inode}\\] of pid ${a.pid}`));
    passed = true;
  } finally {
    lab.cleanup();
    if (passed) rmSync(tmp, { recursive: true, force: true });
    else console.log(`# packetless e2e artifacts kept in ${tmp}`);
  }
});

const podSkip = skip ?? fakePodsUnavailable();
if (podSkip && !skip) console.log(`# packetless --pod e2e skipped: ${podSkip}`);

test('--pod watches the pod\'s namespace only, each end with pid, container and pod in process_flows', { skip: podSkip, timeout: 60_000 }, async () => {
  const lab = new NetnsLab('dllpk');
  const tmp = mkdtempSync(join(tmpdir(), 'dllt-packetless-'));
  const cgroupRoot = join(CGROUP2!, `dllt-e2e-${lab.tag}`);
  let passed = false;
  try {
    const podsDir = join(tmp, 'log', 'pods');
    mkdirSync(podsDir, { recursive: true });
    const pod = makePod(cgroupRoot, podsDir, 'shop', 'talk-0', 'talker');
    const { watched: a, ns, dir } = await watchOneOfTwo(lab, join(tmp, 'out'), (ns, argv) => inPod(lab, ns, pod.cgroup, argv), () => ['--pod', 'shop/talk-0'], { DLLT_KUBELET_PODS_DIR: podsDir });
    const inode = statSync(`/run/netns/${ns}`).ino;
    assert.deepEqual(
      readJsonLines<ProcessFlowRecord>(dir, 'process_flows_')
        .map((p) => [p.side, p.pid, p.netns, p.comm, p.containerId, p.containerRuntime, p.podUid, p.podName, p.podNamespace, p.containerName])
        .sort(),
      (['client', 'server'] as const).map((side) => [side, a.pid, inode, 'python3', pod.containerId, 'containerd', pod.uid, 'talk-0', 'shop', 'talker']),
    );
    const start = readJsonLines<NotifRecord>(dir, 'log_notif_').find((n) => n.kind === 'start');
    assert.match(start?.message ?? '', new RegExp(`network namespace net:\\[${inode}\\] of pod shop/talk-0 \\(pid ${a.pid}\\)`));
    passed = true;
  } finally {
    lab.cleanup();
    removeCgroups(cgroupRoot);
    if (passed) rmSync(tmp, { recursive: true, force: true });
    else console.log(`# packetless e2e artifacts kept in ${tmp}`);
  }
});

test('bad packetless command lines: exit code 2 for usage and config, 1 for a process or pod not here, each naming the problem, no files written', { skip }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'dllt-packetless-'));
  try {
    const out = join(tmp, 'out');
    const cases: [args: string[], env: Record<string, string>, code: number, message: RegExp][] = [
      [['--packetless', '--pid', '0'], {}, 2, /DLLT_ERR_USAGE: --pid "0" is not a process id/],
      [['--pid', '1'], {}, 2, /DLLT_ERR_USAGE: --pid needs --packetless/],
      [['--packetless', '-i', 'lo'], {}, 2, /DLLT_ERR_USAGE: -i cannot be combined with --packetless/],
      [['--packetless', '--filter', 'tcp'], {}, 2, /DLLT_ERR_USAGE: --filter cannot be combined with --packetless/],
      [['--packetless'], { DLLT_PACKETLESS_POLL_MS: '50' }, 2, /DLLT_ERR_CONFIG_INVALID: DLLT_PACKETLESS_POLL_MS="50"/],
      [['--packetless', '--pid', '2147483647'], {}, 1, /DLLT_ERR_CAPTURE_NO_INTERFACE: pid 2147483647: no such process/],
      [['--packetless', '--pod', 'shop/absent'], { DLLT_KUBELET_PODS_DIR: tmp }, 1, /DLLT_ERR_CAPTURE_NO_INTERFACE: pod shop\/absent has no entry in/],
    ];
    for (const [args, env, code, message] of cases) {
      const child = spawn(process.execPath, [CLI, 'capture', ...args, '--out', out], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      const r = await collect(child, 20_000);
      assert.equal(r.code, code, `${args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
    assert.equal(existsSync(out), false, 'nothing written');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
