/**
 * PacketlessSource against real sockets: python3 server and client in a network namespace of our
 * own (only `lo`), exchanging known byte counts, the source watching the namespace through the
 * server's pid. The oracle is `ss` run by the test itself and read with plain regexes
 * (ss-oracle.test-support.ts, not ss-parse), plus what the test's programs were told to send and the pids and names it gave them.
 *
 * Tolerance for rtt and retransmissions: the oracle is read just before and just after the
 * source's sample, while both programs are paused with all data acknowledged. The kernel only
 * changes srtt/rttvar/minrtt when an ACK arrives and the retransmission count when it
 * retransmits, so the sample must equal one of the two oracle reads (they are equal unless a
 * late retransmission or ACK lands in between); counters must lie between them.
 *
 * Needs root, ip, ss, nsenter, stdbuf and python3; skipped with the reason printed otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetnsLab, labUnavailableReason } from '../../../test/e2e/netns.js';
import { PacketlessSource, type PacketlessHandler } from './packetless-source.js';
import type { NamespaceRef } from './ss-reader.js';
import type { PacketlessFlow, PacketlessListener } from './socket-flows.js';
import { addLoss, exited, oracle, oracleSocket, randomPort, SET_COMM, waitForLine, type OracleSocket } from './ss-oracle.test-support.js';

const unavailable = labUnavailableReason(['ss', 'nsenter', 'stdbuf', 'python3']);
if (unavailable) console.log(`# packetless source tests skipped: ${unavailable}`);

class Recorder implements PacketlessHandler {
  starts: PacketlessFlow[] = [];
  ends: PacketlessFlow[] = [];
  listeners: PacketlessListener[] = [];
  notices: string[] = [];
  onFlowStart(f: PacketlessFlow): void {
    this.starts.push(structuredClone(f));
  }
  onFlowEnd(f: PacketlessFlow): void {
    this.ends.push(structuredClone(f));
  }
  onListeners(_netns: number, l: readonly PacketlessListener[]): void {
    this.listeners = [...l];
  }
  onNotice(message: string): void {
    this.notices.push(message);
  }
}

/**
 * Server: listens on 127.0.0.1 and [::1], takes one connection on each, reads what the client was
 * told to send, answers with its own count, then waits for EOF and closes.
 */
const SERVER = `${SET_COMM}import socket,threading
port=int(sys.argv[2]); want={4:int(sys.argv[3]),6:int(sys.argv[5])}; reply={4:int(sys.argv[4]),6:int(sys.argv[6])}
def serve(fam,addr,v):
  l=socket.socket(fam); l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); l.bind((addr,port)); l.listen(4)
  c,_=l.accept(); got=0
  while got<want[v]:
    d=c.recv(65536)
    if not d: break
    got+=len(d)
  c.sendall(b"s"*reply[v])
  while c.recv(65536): pass
  c.close(); l.close()
ts=[threading.Thread(target=serve,args=a) for a in ((socket.AF_INET,"127.0.0.1",4),(socket.AF_INET6,"::1",6))]
[t.start() for t in ts]; print("listening",flush=True); [t.join() for t in ts]
`;

/** Client: connects from fixed ports, sends in chunks over ~1 s, reads the answers, says `ready`, waits for `go`, closes. */
const CLIENT = `${SET_COMM}import socket,time
port=int(sys.argv[2]); p4=int(sys.argv[3]); p6=int(sys.argv[4]); a4=int(sys.argv[5]); b4=int(sys.argv[6]); a6=int(sys.argv[7]); b6=int(sys.argv[8])
c4=socket.socket(socket.AF_INET); c4.bind(("127.0.0.1",p4)); c4.connect(("127.0.0.1",port))
c6=socket.socket(socket.AF_INET6); c6.bind(("::1",p6)); c6.connect(("::1",port))
for i in range(10):
  c4.sendall(b"c"*(a4//10)); c6.sendall(b"c"*(a6//10)); time.sleep(0.1)
for c,n in ((c4,b4),(c6,b6)):
  got=0
  while got<n: got+=len(c.recv(65536))
time.sleep(0.3); print("ready",flush=True)
sys.stdin.readline(); c4.close(); c6.close(); time.sleep(0.3)
`;

/** Our end of a flow matches the oracle read before or after it (see the module comment). */
function assertMatchesOracle(end: PacketlessFlow['client'], before: OracleSocket, after: OracleSocket, what: string): void {
  assert.ok(end, `${what}: local socket known`);
  for (const k of ['srttUs', 'rttvarUs', 'minRttUs'] as const) {
    assert.ok(end[k] === before[k] || end[k] === after[k], `${what} ${k}: ours ${end[k]}, ss ${before[k]} / ${after[k]}`);
  }
  assert.ok(before.retransTotal <= end.retransTotal && end.retransTotal <= after.retransTotal, `${what} retrans ${end.retransTotal} not in [${before.retransTotal}, ${after.retransTotal}]`);
  assert.equal(end.pid, before.pid, `${what}: pid as ss -p reports it`);
  assert.equal(end.comm, before.comm, `${what}: comm as ss -p reports it`);
}

function flowOf(flows: PacketlessFlow[], srcIP: string, srcPort: number, dstIP: string, dstPort: number): PacketlessFlow {
  const found = flows.filter((f) => f.srcIP === srcIP && f.srcPort === srcPort && f.dstIP === dstIP && f.dstPort === dstPort);
  assert.equal(found.length, 1, `exactly one flow ${srcIP}:${srcPort} -> ${dstIP}:${dstPort}, got ${JSON.stringify(flows.map((f) => [f.srcIP, f.srcPort, f.dstIP, f.dstPort]))}`);
  return found[0]!;
}

async function pollUntil(src: PacketlessSource, done: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!done() && Date.now() < end) {
    await src.poll();
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('loopback exchange (IPv4 and IPv6): tuples, bytes, rtt, retransmissions and owners agree with ss; ends after close', { skip: unavailable }, async () => {
  const lab = new NetnsLab('dllpk');
  const rec = new Recorder();
  const src = new PacketlessSource(rec, { pollMs: 250 });
  try {
    const ns = lab.addNamespace('a');
    const port = randomPort();
    const [p4, p6] = [port + 1, port + 2];
    const [a4, b4, a6, b6] = [100_000, 20_000, 60_000, 7_000];
    const serverComm = `dlltS${lab.tag}`;
    const clientComm = `dlltC${lab.tag}`;
    // A process that outlives the programs, as a pod's pause container does: the namespace's handle.
    const holder = lab.spawnIn(ns, 'sleep', ['60']);
    await new Promise((r) => setTimeout(r, 100));
    const watched = src.watch({ pid: holder.pid! });
    assert.notEqual(typeof watched, 'string', String(watched));
    const server = lab.spawnIn(ns, 'python3', ['-c', SERVER, serverComm, `${port}`, `${a4}`, `${b4}`, `${a6}`, `${b6}`]);
    await waitForLine(server, 'listening', 10_000);
    src.start();
    const client = lab.spawnIn(ns, 'python3', ['-c', CLIENT, clientComm, `${port}`, `${p4}`, `${p6}`, `${a4}`, `${b4}`, `${a6}`, `${b6}`], { stdio: ['pipe', 'pipe', 'pipe'] });
    await waitForLine(client, 'ready', 15_000);

    const before = oracle(ns);
    await src.poll();
    const sample = src.flows().map((f) => structuredClone(f));
    const after = oracle(ns);

    const v4 = flowOf(sample, '127.0.0.1', p4, '127.0.0.1', port);
    const v6 = flowOf(sample, '::1', p6, '::1', port);
    for (const [flow, sent, answered, clientLocal, serverLocal] of [
      [v4, a4, b4, `127.0.0.1:${p4}`, `127.0.0.1:${port}`],
      [v6, a6, b6, `[::1]:${p6}`, `[::1]:${port}`],
    ] as const) {
      assert.equal(flow.roleMethod, 'listener');
      assert.equal(flow.srcBytes, sent, 'client → server bytes as the client sent them');
      assert.equal(flow.dstBytes, answered, 'server → client bytes as the server sent them');
      assert.equal(flow.tcpState, 'ESTABLISHED');
      assert.equal(flow.client?.pid, client.pid);
      assert.equal(flow.client?.comm, clientComm);
      assert.equal(flow.server?.pid, server.pid);
      assert.equal(flow.server?.comm, serverComm);
      assertMatchesOracle(flow.client, oracleSocket(before, clientLocal, serverLocal), oracleSocket(after, clientLocal, serverLocal), `${clientLocal} client`);
      assertMatchesOracle(flow.server, oracleSocket(before, serverLocal, clientLocal), oracleSocket(after, serverLocal, clientLocal), `${serverLocal} server`);
      assert.equal(flow.srttUs, flow.client?.srttUs, "the flow's rtt is the client's view");
      assert.equal(flow.retransSrc, flow.client?.retransTotal);
      assert.equal(flow.retransDst, flow.server?.retransTotal);
    }
    assert.deepEqual(
      rec.listeners.map((l) => [l.ip, l.port, l.pid, l.comm]).sort(),
      [
        ['127.0.0.1', port, server.pid, serverComm],
        ['::1', port, server.pid, serverComm],
      ].sort(),
    );

    client.stdin!.write('go\n');
    await Promise.all([exited(client, 5000), exited(server, 5000)]);
    await pollUntil(src, () => rec.ends.length >= 2, 5000);
    assert.equal(rec.ends.length, 2, 'both flows ended after the sockets closed');
    for (const [ended, sent, answered] of [
      [flowOf(rec.ends, '127.0.0.1', p4, '127.0.0.1', port), a4, b4],
      [flowOf(rec.ends, '::1', p6, '::1', port), a6, b6],
    ] as const) {
      assert.equal(ended.endReason, 'fin');
      assert.equal(ended.srcBytes, sent, 'final counters: the FIN is not payload');
      assert.equal(ended.dstBytes, answered);
      assert.equal(ended.client?.pid, client.pid, 'owners are kept after close');
    }
    assert.equal(rec.starts.length, 2, 'no flow started twice');
    assert.equal(src.stats.badLines, 0);
    assert.deepEqual(rec.notices, []);
  } finally {
    await src.stop();
    lab.cleanup();
  }
});

test('30 % loss: retransmissions counted as ss counts them, bytes still the payload', { skip: unavailable }, async (t) => {
  const lab = new NetnsLab('dllpl');
  const rec = new Recorder();
  const src = new PacketlessSource(rec, { pollMs: 250 });
  try {
    const ns = lab.addNamespace('l');
    const port = randomPort();
    const clientPort = port + 1;
    const noLoss = addLoss(ns, clientPort, 30);
    if (noLoss) {
      console.log(`# loss test skipped: ${noLoss}`);
      t.skip(noLoss);
      return;
    }
    const sent = 150_000;
    const server = lab.spawnIn(ns, 'python3', [
      '-c',
      `${SET_COMM}import socket\nl=socket.socket(); l.bind(("127.0.0.1",${port})); l.listen(1); print("listening",flush=True)\nc,_=l.accept(); got=0\nwhile got<${sent}: got+=len(c.recv(65536))\nc.sendall(b"ok")\nwhile c.recv(65536): pass\n`,
      `dlltL${lab.tag}`,
    ]);
    await waitForLine(server, 'listening', 10_000);
    assert.notEqual(typeof src.watch({ pid: server.pid! }), 'string');
    src.start();
    const client = lab.spawnIn(
      ns,
      'python3',
      [
        '-c',
        `${SET_COMM}import socket,time\nc=socket.socket(); c.bind(("127.0.0.1",${clientPort})); c.connect(("127.0.0.1",${port}))\nfor i in range(30):\n  c.sendall(b"x"*${sent / 30}); time.sleep(0.02)\nassert c.recv(2)==b"ok"\ntime.sleep(0.3); print("ready",flush=True)\nsys.stdin.readline(); c.close()\n`,
        `dlltM${lab.tag}`,
      ],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    await waitForLine(client, 'ready', 20_000);
    const before = oracleSocket(oracle(ns), `127.0.0.1:${clientPort}`, `127.0.0.1:${port}`);
    await src.poll();
    const flow = structuredClone(flowOf(src.flows(), '127.0.0.1', clientPort, '127.0.0.1', port));
    const after = oracleSocket(oracle(ns), `127.0.0.1:${clientPort}`, `127.0.0.1:${port}`);
    assert.ok(before.retransTotal > 0, `ss saw retransmissions (${before.retransTotal})`);
    assert.ok(flow.retransSrc! > 0);
    assert.ok(before.retransTotal <= flow.retransSrc! && flow.retransSrc! <= after.retransTotal, `ours ${flow.retransSrc}, ss ${before.retransTotal}..${after.retransTotal}`);
    // The server's reply acknowledged all the data, and the client read it: acked payload is exact.
    assert.equal(flow.srcBytes, sent, 'retransmitted bytes are not counted twice');
    client.stdin!.write('go\n');
    await exited(client, 10_000);
  } finally {
    await src.stop();
    lab.cleanup();
  }
});

test('a connection that opens and closes between two polls is still reported, with exact bytes (ss -E)', { skip: unavailable }, async () => {
  const lab = new NetnsLab('dllps');
  const rec = new Recorder();
  const src = new PacketlessSource(rec, { pollMs: 60_000 });
  try {
    const ns = lab.addNamespace('s');
    const port = randomPort();
    const server = lab.spawnIn(ns, 'python3', [
      '-c',
      `import socket\nl=socket.socket(); l.bind(("127.0.0.1",${port})); l.listen(1); print("listening",flush=True)\nc,_=l.accept(); got=0\nwhile got<5000: got+=len(c.recv(65536))\nc.sendall(b"r"*300)\nwhile c.recv(65536): pass\nc.close()\n`,
    ]);
    await waitForLine(server, 'listening', 10_000);
    assert.notEqual(typeof src.watch({ name: ns }), 'string');
    src.start();
    await src.poll();
    await new Promise((r) => setTimeout(r, 300));
    const run = await lab.runIn(ns, 'python3', [
      '-c',
      `import socket\nc=socket.socket(); c.bind(("127.0.0.1",${port + 1})); c.connect(("127.0.0.1",${port}))\nc.sendall(b"q"*5000); got=0\nwhile got<300: got+=len(c.recv(65536))\nc.close()\n`,
    ]);
    assert.equal(run.code, 0, run.stderr);
    await exited(server, 5000);
    await new Promise((r) => setTimeout(r, 300));
    await src.poll();
    await src.poll();
    const ended = flowOf(rec.ends, '127.0.0.1', port + 1, '127.0.0.1', port);
    assert.equal(ended.endReason, 'fin');
    assert.equal(ended.srcBytes, 5000);
    assert.equal(ended.dstBytes, 300);
    assert.equal(ended.tcpState, 'CLOSE');
  } finally {
    await src.stop();
    lab.cleanup();
  }
});

test('namespaces: bad references are refused with a reason; a namespace whose process exits is dropped', { skip: unavailable }, async () => {
  const lab = new NetnsLab('dllpn');
  const rec = new Recorder();
  const src = new PacketlessSource(rec, { pollMs: 60_000, destroyEvents: false });
  try {
    assert.match(String(src.watch({ pid: 2 ** 30 })), /no such process/);
    assert.match(String(src.watch({ name: '../etc' })), /not valid/);
    assert.match(String(src.watch({ name: `nonexistent${lab.tag}` })), /no such named network namespace/);
    const ns = lab.addNamespace('n');
    const sleeper = lab.spawnIn(ns, 'sleep', ['30']);
    await new Promise((r) => setTimeout(r, 200));
    const byPid = src.watch({ pid: sleeper.pid! });
    const byName = src.watch({ name: ns });
    assert.ok(typeof byPid !== 'string' && typeof byName !== 'string');
    assert.equal(byPid.inode, byName.inode, 'one namespace, watched once');
    assert.equal(src.namespaces().length, 1);
    sleeper.kill('SIGKILL');
    await exited(sleeper, 5000);
    await src.poll();
    assert.equal(src.namespaces().length, 0);
    assert.match(rec.notices.join('\n'), new RegExp(`network namespace of pid ${sleeper.pid} is gone`));
  } finally {
    await src.stop();
    lab.cleanup();
  }
});

test('watchAll: a namespace is picked up when listed, kept through another process when the listed one exits, dropped when no longer listed', { skip: unavailable }, async () => {
  const lab = new NetnsLab('dllpw');
  const rec = new Recorder();
  const src = new PacketlessSource(rec, { pollMs: 60_000, destroyEvents: false });
  let listed: NamespaceRef[] = [];
  src.watchAll(() => listed);
  try {
    const ns = lab.addNamespace('w');
    const port = randomPort();
    const [first, second] = [lab.spawnIn(ns, 'sleep', ['30']), lab.spawnIn(ns, 'sleep', ['30'])];
    const talker = lab.spawnIn(ns, 'python3', [
      '-c',
      `import socket,time\nl=socket.socket(); l.bind(("127.0.0.1",${port})); l.listen(1)\nc=socket.socket(); c.bind(("127.0.0.1",${port + 1})); c.connect(("127.0.0.1",${port})); s,_=l.accept()\nc.sendall(b"q"*700); s.recv(700)\nprint("ready",flush=True); time.sleep(30)\n`,
    ]);
    await waitForLine(talker, 'ready', 10_000);
    await src.poll();
    assert.equal(src.namespaces().length, 0, 'nothing listed, nothing watched');
    listed = [{ pid: first.pid! }];
    await src.poll();
    const [watched] = src.namespaces();
    assert.equal(watched?.label, `pid ${first.pid}`);
    const started = flowOf(rec.starts, '127.0.0.1', port + 1, '127.0.0.1', port);
    assert.equal(started.srcBytes, 700);

    first.kill('SIGKILL');
    await exited(first, 5000);
    listed = [{ pid: second.pid! }];
    await src.poll();
    await src.poll();
    assert.deepEqual(src.namespaces().map((n) => [n.inode, n.label]), [[watched!.inode, `pid ${second.pid}`]], 'same namespace, entered through the process still listed');
    assert.equal(rec.ends.length, 0, 'its flow goes on');
    assert.equal(rec.starts.length, 1, 'and is not started again');

    listed = [];
    await src.poll();
    await src.poll();
    assert.equal(src.namespaces().length, 0);
    assert.equal(flowOf(rec.ends, '127.0.0.1', port + 1, '127.0.0.1', port).endReason, 'gone');
    assert.deepEqual(rec.notices, []);
  } finally {
    await src.stop();
    lab.cleanup();
  }
});
