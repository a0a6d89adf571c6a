/**
 * The eBPF socket source against the real kernel: one bpftrace for the whole file (it takes
 * seconds to attach), python3 client and server in two namespaces of our own (10.77.X.0/24 on a
 * bridge, no route out), events kept only when their network namespace is one of ours.
 *
 * Expected values come from what the test set up (addresses, ports it binds, payload sizes, the
 * cgroup it made), from the kernel's own views (`/proc/PID/ns/net`, the cgroup directory's inode,
 * `/proc/PID/comm`), and from nftables' counter of the SYNs it dropped.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, rmdirSync, statSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { EbpfSocketSource, readTracepointFields, type EbpfStartResult } from './ebpf-socket-source.js';
import { checkEbpf, tracefsDir } from './ebpf-availability.js';
import type { SocketEvent } from './socket-event.js';
import { NetnsLab, collect, labUnavailableReason, type BridgedPair } from '../../../test/e2e/netns.js';

/** argv: ip, port, and \`fork\` to read the accepted connection in a child (a pre-forking server). */
const SERVER_PY = `
import os, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print('listening', flush=True)
c, _ = s.accept()
reader = os.fork() if len(sys.argv) > 3 else 0
if reader > 0:
    c.close()
    print('reader', reader, flush=True)
    os.waitpid(reader, 0)
    s.close()
    sys.exit(0)
n = 0
while True:
    d = c.recv(4096)
    if not d:
        break
    n += len(d)
c.close()
s.close()
print(n, flush=True)
`;

/** argv: server ip, server port, client ip, client port, connect timeout s, hold s, payload. */
const CLIENT_PY = `
import socket, sys, time
s = socket.socket()
s.bind((sys.argv[3], int(sys.argv[4])))
s.settimeout(float(sys.argv[5]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
except ConnectionRefusedError:
    print('refused', flush=True)
    sys.exit(0)
except socket.timeout:
    print('timeout', flush=True)
    sys.exit(0)
print('connected', flush=True)
s.sendall(sys.argv[7].encode())
time.sleep(float(sys.argv[6]))
s.close()
print('closed', flush=True)
`;

const PAYLOAD = 'hello';
const HOLD_S = 1;

const check = checkEbpf();
const skip = check.ok ? labUnavailableReason(['python3', 'nft']) : check.reason;
if (skip) console.log(`# ebpf-socket-source: skipped: ${skip}`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Distinct random ports, so parallel runs and TIME_WAIT leftovers do not collide. */
const ports = new Set<number>();
function freshPort(): number {
  for (;;) {
    const p = randomInt(20_000, 40_000);
    if (!ports.has(p)) {
      ports.add(p);
      return p;
    }
  }
}

const netnsOf = (pid: number): number => Number(/^net:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/net`))![1]);

let lab: NetnsLab | undefined;
let pair: BridgedPair;
let source: EbpfSocketSource | undefined;
let started: EbpfStartResult;
let cgroupDir: string | undefined;
/** A python3 server listening since before bpftrace attached, and its port. */
let olderServer: ChildProcess | undefined;
const olderPort = freshPort();
const ours = new Set<number>();
const events: SocketEvent[] = [];
const problems: string[] = [];

async function waitFor<T>(what: string, find: () => T | undefined, timeoutMs = 5_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = find();
    if (found !== undefined) return found;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; events seen:\n${events.map((e) => JSON.stringify(e)).join('\n')}`);
    await sleep(50);
  }
}

/** Resolves with the child's first stdout line equal to one of `lines`. */
function lineFrom(child: ChildProcess, lines: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no ${lines.join('/')} line within ${timeoutMs} ms: ${out}`)), timeoutMs);
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      out += d;
      const hit = out.split('\n').find((l) => lines.includes(l.trim()));
      if (hit !== undefined) {
        clearTimeout(timer);
        resolve(hit.trim());
      }
    });
  });
}

function runClient(serverPort: number, clientPort: number, connectTimeoutS: number): { child: ChildProcess; outcome: Promise<string> } {
  const args = ['-u', '-c', CLIENT_PY, pair.server.ipv4, String(serverPort), pair.client.ipv4, String(clientPort), String(connectTimeoutS), String(HOLD_S), PAYLOAD];
  const child = lab!.spawnIn(pair.client.name, 'python3', args);
  return { child, outcome: lineFrom(child, ['connected', 'refused', 'timeout']) };
}

/**
 * The events of one socket from `first` on, up to its destroy: the kernel reuses a freed socket's
 * address, so an earlier socket of this file may have had the same socketId.
 */
function lifeOf(first: SocketEvent): SocketEvent[] {
  const life = events.filter((e) => e.socketId === first.socketId && e.tsNs >= first.tsNs).sort((a, b) => a.tsNs - b.tsNs);
  const end = life.findIndex((e) => e.kind === 'destroy');
  return end < 0 ? life : life.slice(0, end + 1);
}

const exited = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('close', () => r()));

before(async () => {
  if (skip) return;
  lab = new NetnsLab();
  pair = lab.bridgedPair({ subnet: randomInt(200, 251) });
  for (const ns of [pair.client.name, pair.server.name]) ours.add(statSync(`/run/netns/${ns}`).ino);
  olderServer = lab.spawnIn(pair.server.name, 'python3', ['-u', '-c', SERVER_PY, pair.server.ipv4, String(olderPort)]);
  await lineFrom(olderServer, ['listening']);
  source = new EbpfSocketSource();
  started = await source.start(
    (e) => {
      if (ours.has(e.netns)) events.push(e.toSocketEvent());
    },
    (p) => problems.push(p),
  );
});

after(async () => {
  olderServer?.kill('SIGKILL');
  await source?.stop();
  lab?.cleanup();
  if (cgroupDir) {
    let removed = false;
    for (let i = 0; i < 100 && !removed; i++) {
      try {
        rmdirSync(cgroupDir);
        removed = true;
      } catch {
        await sleep(50); // the killed server leaves the cgroup when the kernel has reaped it
      }
    }
    if (!removed) console.log(`# ebpf-socket-source: could not remove ${cgroupDir} within 5 s: rmdir it by hand`);
  }
});

test('bpftrace attaches every probe; startup time is reported', { skip }, () => {
  assert.ok(started.ok, started.ok ? '' : started.reason);
  assert.deepEqual(started.omitted, []);
  console.log(`# bpftrace attached its probes ${started.startupMs} ms after it was spawned`);
  assert.ok(started.startupMs > 0 && started.startupMs < 60_000);
});

test('tracepoint fields are read from the format file (checked against a sed of the same file)', { skip }, () => {
  const file = `${tracefsDir()}/events/sock/inet_sock_set_state/format`;
  const sed = spawnSync('sed', ['-n', 's/^\\s*field:.*[ *]\\([A-Za-z_][A-Za-z0-9_]*\\)\\(\\[[0-9]*\\]\\)\\?;.*/\\1/p', file], { encoding: 'utf8' });
  const expected = sed.stdout.split('\n').filter((l) => l !== '');
  assert.ok(expected.includes('newstate'));
  assert.deepEqual([...readTracepointFields('sock:inet_sock_set_state')!].sort(), expected.sort());
  assert.equal(readTracepointFields('sock:no_such_tracepoint'), undefined);
  assert.equal(readTracepointFields('garbage'), undefined);
});

test('a connection: LISTEN and SYN_SENT carry their processes, the server side is attributed through its socket', { skip }, async () => {
  const serverPort = freshPort();
  const clientPort = freshPort();
  cgroupDir = `/sys/fs/cgroup/unified/${lab!.tag}dllt-ebpf`;
  mkdirSync(cgroupDir);
  const cgroupId = statSync(cgroupDir).ino;
  const wallBeforeUs = Date.now() * 1000;

  // sh joins the cgroup, then execs (same pid) into the namespace and python.
  const server = lab!.spawnHost('sh', [
    '-c',
    `echo $$ > ${cgroupDir}/cgroup.procs && exec ip netns exec ${pair.server.name} python3 -u -c "$0" "$1" "$2"`,
    SERVER_PY,
    pair.server.ipv4,
    String(serverPort),
  ]);
  const serverDone = collect(server, 15_000);
  assert.equal(await lineFrom(server, ['listening']), 'listening');
  const serverPid = server.pid!;
  assert.match(readlinkSync(`/proc/${serverPid}/exe`), /\/python[\d.]*$/, 'sh and ip exec()ed into python: one pid');
  const serverComm = readFileSync(`/proc/${serverPid}/comm`, 'utf8').trim();
  const serverNetns = netnsOf(serverPid);
  await waitFor('LISTEN', () => events.find((e) => e.newState === 'TCP_LISTEN' && e.localPort === serverPort));

  const client = runClient(serverPort, clientPort, 3);
  assert.equal(await client.outcome, 'connected');
  const clientPid = client.child.pid!;
  const clientNetns = netnsOf(clientPid);
  const clientComm = readFileSync(`/proc/${clientPid}/comm`, 'utf8').trim();
  await exited(client.child);
  const serverOut = await serverDone;
  assert.equal(serverOut.stdout.trim().split('\n').pop(), String(PAYLOAD.length), 'the server read the payload');
  const wallAfterUs = Date.now() * 1000;

  const listen = events.find((e) => e.newState === 'TCP_LISTEN' && e.localPort === serverPort)!;
  assert.deepEqual(
    { pid: listen.pid, tid: listen.tid, comm: listen.comm, ctx: listen.processContext, netns: listen.netns, cgroup: listen.cgroupId, ip: listen.localIp, peer: listen.remoteIp },
    { pid: serverPid, tid: serverPid, comm: serverComm, ctx: true, netns: serverNetns, cgroup: cgroupId, ip: pair.server.ipv4, peer: undefined },
  );
  assert.ok(listen.tsUs >= wallBeforeUs && listen.tsUs <= wallAfterUs, `LISTEN at ${listen.tsUs} within [${wallBeforeUs}, ${wallAfterUs}]`);

  // connect() and the close() calls store no event: the program carries their caller to the
  // events it stores (pidFrom socket).
  assert.equal(events.find((e) => e.newState === 'TCP_SYN_SENT' || e.newState === 'TCP_FIN_WAIT1' || e.newState === 'TCP_LAST_ACK'), undefined);
  const established = events.find((e) => e.newState === 'TCP_ESTABLISHED' && e.localPort === clientPort && e.remotePort === serverPort);
  assert.ok(established, 'ESTABLISHED of the client');
  assert.deepEqual(
    { pid: established.pid, comm: established.comm, ctx: established.processContext, from: established.pidFrom, netns: established.netns, old: established.oldState, local: established.localIp, remote: established.remoteIp, family: established.family },
    { pid: clientPid, comm: clientComm, ctx: true, from: 'socket', netns: clientNetns, old: 'TCP_SYN_SENT', local: pair.client.ipv4, remote: pair.server.ipv4, family: 4 },
  );

  const accepted = events.find((e) => e.newState === 'TCP_ESTABLISHED' && e.netns === serverNetns && e.localPort === serverPort && e.remotePort === clientPort);
  assert.ok(accepted, 'server-side ESTABLISHED');
  assert.deepEqual(
    { old: accepted.oldState, pid: accepted.pid, comm: accepted.comm, cgroup: accepted.cgroupId, ctx: accepted.processContext, from: accepted.pidFrom },
    { old: 'TCP_SYN_RECV', pid: serverPid, comm: serverComm, cgroup: cgroupId, ctx: false, from: 'listener' },
    'the handshake completes in softirq: the kernel credits the listener\'s owner',
  );

  await waitFor('destroy of both sockets', () => (lifeOf(established).some((e) => e.kind === 'destroy') && lifeOf(accepted).some((e) => e.kind === 'destroy') ? true : undefined));
  const clientLife = lifeOf(established);
  const serverLife = lifeOf(accepted);
  // Each socket was used only by its owner, for less than a second: no io event.
  assert.deepEqual([...clientLife, ...serverLife].filter((e) => e.kind === 'io'), []);
  const states = (life: SocketEvent[]): string[] => life.filter((e) => e.kind === 'state').map((e) => `${e.oldState} > ${e.newState}`);
  assert.deepEqual(states(clientLife), ['TCP_SYN_SENT > TCP_ESTABLISHED']);
  assert.deepEqual(states(serverLife), ['TCP_SYN_RECV > TCP_ESTABLISHED']);

  const clientDestroy = clientLife[clientLife.length - 1]!;
  assert.deepEqual(
    [clientDestroy.kind, clientDestroy.pid, clientDestroy.pidFrom, clientDestroy.sentBytes, clientDestroy.receivedBytes, clientDestroy.localPort, clientDestroy.remotePort],
    ['destroy', clientPid, 'socket', PAYLOAD.length, 0, clientPort, serverPort],
  );
  const heldUs = clientDestroy.tsUs - established.tsUs;
  assert.ok(heldUs >= HOLD_S * 1e6 && heldUs < HOLD_S * 1e6 + 2e6, `client held the connection ${heldUs} µs`);
  const serverDestroy = serverLife[serverLife.length - 1]!;
  assert.deepEqual(
    [serverDestroy.kind, serverDestroy.pid, serverDestroy.pidFrom, serverDestroy.sentBytes, serverDestroy.receivedBytes, serverDestroy.localPort, serverDestroy.remotePort],
    ['destroy', serverPid, 'socket', 0, PAYLOAD.length, serverPort, clientPort],
  );
  const listenerClose = lifeOf(listen).find((e) => e.newState === 'TCP_CLOSE');
  assert.deepEqual([listenerClose?.oldState, listenerClose?.pid, listenerClose?.processContext], ['TCP_LISTEN', serverPid, true]);
});

test('a server that reads in a forked child: the child\'s first read stores an io event, and the child owns the socket from then on', { skip }, async () => {
  const serverPort = freshPort();
  const clientPort = freshPort();
  const server = lab!.spawnIn(pair.server.name, 'python3', ['-u', '-c', SERVER_PY, pair.server.ipv4, String(serverPort), 'fork']);
  const serverDone = collect(server, 15_000);
  assert.equal(await lineFrom(server, ['listening']), 'listening');
  const listen = await waitFor('LISTEN', () => events.find((e) => e.newState === 'TCP_LISTEN' && e.localPort === serverPort));
  const client = runClient(serverPort, clientPort, 3);
  assert.equal(await client.outcome, 'connected');
  await exited(client.child);
  const out = (await serverDone).stdout.trim().split('\n');
  const readerPid = Number(/^reader (\d+)$/.exec(out.find((l) => l.startsWith('reader')) ?? '')?.[1]);
  assert.ok(readerPid > 0 && readerPid !== listen.pid, out.join('|'));
  assert.equal(out.pop(), String(PAYLOAD.length), 'the child read the payload');

  const accepted = await waitFor('server-side ESTABLISHED', () => events.find((e) => e.newState === 'TCP_ESTABLISHED' && e.localPort === serverPort && e.remotePort === clientPort));
  assert.deepEqual([accepted.pid, accepted.pidFrom], [listen.pid, 'listener']);
  await waitFor('destroy', () => lifeOf(accepted).find((e) => e.kind === 'destroy'));
  const life = lifeOf(accepted);
  const io = life.filter((e) => e.kind === 'io');
  assert.deepEqual(
    io.map((e) => [e.pid, e.processContext, e.pidFrom, e.receivedBytes]),
    [[readerPid, true, undefined, PAYLOAD.length]],
    'one io event: the reader is not the listener\'s owner',
  );
  const destroy = life[life.length - 1]!;
  assert.deepEqual([destroy.kind, destroy.pid, destroy.pidFrom], ['destroy', readerPid, 'socket']);
});

test('a listener older than bpftrace, told to the kernel with seedListener: its accepted connection carries its owner', { skip }, async () => {
  const ownerPid = olderServer!.pid!;
  const netns = statSync(`/run/netns/${pair.server.name}`).ino;
  source!.seedListener({ netns, port: olderPort, pid: ownerPid, cgroupId: 4242, comm: 'older\nserver' });
  await sleep(300); // the drain reads its input between two drains (100 ms)
  const clientPort = freshPort();
  const client = runClient(olderPort, clientPort, 3);
  assert.equal(await client.outcome, 'connected');
  const accepted = await waitFor('server-side ESTABLISHED', () => events.find((e) => e.newState === 'TCP_ESTABLISHED' && e.localPort === olderPort && e.remotePort === clientPort));
  assert.deepEqual(
    [accepted.pid, accepted.tid, accepted.cgroupId, accepted.comm, accepted.pidFrom, accepted.netns],
    [ownerPid, ownerPid, 4242, 'older server', 'listener', netns],
  );
  assert.deepEqual(problems, []);
});

test('a connect to a closed port: the server namespace sends a reset for no socket, the client socket receives it', { skip }, async () => {
  const closedPort = freshPort();
  const clientPort = freshPort();
  const client = runClient(closedPort, clientPort, 3);
  assert.equal(await client.outcome, 'refused');
  const clientPid = client.child.pid!;
  const received = await waitFor('receive_reset', () => events.find((e) => e.kind === 'receive_reset' && e.localPort === clientPort && e.remotePort === closedPort));
  assert.deepEqual(
    [received.state, received.localIp, received.remoteIp, received.netns, received.processContext],
    ['TCP_SYN_SENT', pair.client.ipv4, pair.server.ipv4, statSync(`/run/netns/${pair.client.name}`).ino, false],
  );
  await waitFor('destroy', () => lifeOf(received).find((e) => e.kind === 'destroy'));
  const life = lifeOf(received);
  const sent = events.find((e) => e.kind === 'send_reset' && e.localPort === closedPort && e.remotePort === clientPort);
  assert.ok(sent, 'send_reset in the server namespace');
  assert.deepEqual(
    [sent.socketId, sent.state, sent.localIp, sent.remoteIp, sent.netns],
    [undefined, undefined, pair.server.ipv4, pair.client.ipv4, statSync(`/run/netns/${pair.server.name}`).ino],
  );
  // The reset arrives in softirq; the program credits the CLOSE it causes to connect()'s caller.
  const closed = life.find((e) => e.newState === 'TCP_CLOSE');
  assert.deepEqual([closed?.oldState, closed?.pid, closed?.processContext, closed?.pidFrom], ['TCP_SYN_SENT', clientPid, true, 'socket']);
});

test('SYNs dropped by nftables: one retransmit event per SYN sent again (nft counter − 1)', { skip }, async () => {
  const droppedPort = freshPort();
  const clientPort = freshPort();
  const table = `dllt_${lab!.tag}`;
  const rules = `table inet ${table} {\n chain input {\n  type filter hook input priority 0; policy accept;\n  tcp dport ${droppedPort} tcp flags & (syn | ack) == syn counter drop\n }\n}\n`;
  const nft = await lab!.runIn(pair.server.name, 'nft', ['-f', '-'], 10_000, rules);
  assert.equal(nft.code, 0, nft.stderr);

  // Linux's first SYN retransmission comes 1 s after the SYN: a 1.6 s connect timeout sees one.
  const client = runClient(droppedPort, clientPort, 1.6);
  assert.equal(await client.outcome, 'timeout');
  const firstRetransmit = await waitFor('retransmit', () => events.find((e) => e.kind === 'retransmit' && e.localPort === clientPort));
  await waitFor('destroy', () => lifeOf(firstRetransmit).find((e) => e.kind === 'destroy'));

  const listed = await lab!.runIn(pair.server.name, 'nft', ['list', 'table', 'inet', table], 10_000);
  const dropped = Number(/counter packets (\d+)/.exec(listed.stdout)?.[1]);
  assert.ok(dropped >= 2, `nft dropped ${dropped} SYNs`);
  const retransmits = lifeOf(firstRetransmit).filter((e) => e.kind === 'retransmit');
  assert.equal(retransmits.length, dropped - 1);
  for (const r of retransmits) {
    assert.deepEqual(
      [r.state, r.localIp, r.localPort, r.remoteIp, r.remotePort, r.netns, r.processContext],
      ['TCP_SYN_SENT', pair.client.ipv4, clientPort, pair.server.ipv4, droppedPort, statSync(`/run/netns/${pair.client.name}`).ino, false],
    );
  }
});

test('bpftrace refusing the program: the start fails with bpftrace\'s own error line', { skip }, async () => {
  const program = 'tracepoint:sock:no_such_tracepoint { }';
  const direct = await collect(spawn('bpftrace', ['-e', program], { stdio: ['ignore', 'pipe', 'pipe'] }), 30_000);
  const bpftraceSays = direct.stderr.split('\n').find((l) => l.includes('ERROR: tracepoint not found'));
  assert.ok(bpftraceSays, direct.stderr);
  const r = await new EbpfSocketSource({ program }).start(() => undefined, () => undefined);
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.reason.startsWith('USE_EBPF=Y: bpftrace failed: ') && r.reason.endsWith('; using /proc'), !r.ok ? r.reason : '');
  assert.ok(!r.ok && r.reason.includes(bpftraceSays.trim()), 'bpftrace\'s error line is in the reason');
  assert.ok(!r.ok && !r.reason.includes('RLIMIT_MEMLOCK'));
});

test('stop() ends bpftrace (its pid is gone) without a problem report', { skip }, async () => {
  const stats = source!.stats();
  assert.ok(stats.events > 0);
  assert.equal(stats.unparsedLines, 0);
  const pid = source!.pid!;
  const t0 = performance.now();
  await source!.stop();
  console.log(`# bpftrace stopped ${Math.round(performance.now() - t0)} ms after SIGINT`);
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  assert.equal(source!.pid, undefined);
  await sleep(200);
  assert.deepEqual(problems, []);
});

test('stop() during the start: the start resolves with the reason', { skip }, async () => {
  const s = new EbpfSocketSource();
  const starting = s.start(() => undefined, () => undefined);
  await sleep(200);
  await s.stop();
  assert.deepEqual(await starting, { ok: false, reason: 'USE_EBPF=Y: stopped before bpftrace attached its probes; using /proc' });
});

test('bpftrace dying later is reported once through onProblem; stop() still resolves', { skip }, async () => {
  const s = new EbpfSocketSource();
  const reported: string[] = [];
  const r = await s.start(() => undefined, (p) => reported.push(p));
  assert.ok(r.ok);
  process.kill(s.pid!, 'SIGKILL');
  await waitFor('a problem report', () => (reported.length > 0 ? true : undefined));
  await sleep(300);
  assert.deepEqual(reported, ['eBPF socket events stopped: bpftrace was killed by SIGKILL']);
  assert.equal(s.pid, undefined);
  await s.stop();
});

test('the drain dying later is reported once, and bpftrace is stopped with it', { skip }, async () => {
  const s = new EbpfSocketSource();
  const reported: string[] = [];
  const r = await s.start(() => undefined, (p) => reported.push(p));
  assert.ok(r.ok);
  const bpftracePid = s.pid!;
  process.kill(s.drainPid!, 'SIGKILL');
  // bpftrace may still be attaching, when it lets SIGINT go by: SIGKILL follows 5 s later.
  await waitFor('a problem report', () => (reported.length > 0 ? true : undefined), 10_000);
  await sleep(300);
  assert.deepEqual(reported, ['eBPF socket events stopped: dllt-bpfdrain was killed by SIGKILL']);
  assert.throws(() => process.kill(bpftracePid, 0), { code: 'ESRCH' });
  await s.stop();
});

test('a full event map: reported once per 10 s with its capacity, counted, and the stored events still arrive', { skip }, async () => {
  // Four keys, filled by a probe every millisecond (~100 events per 100 ms drain), laid out as the
  // built program's events: 13 integers, four addresses, comm.
  const integers = ['0', 'nsecs', 'pid', 'tid', 'cgroup', '1', '1', '2', '8080', '0', '7', '10', '0'].map((x) => `(uint64)(${x})`);
  const program = `interval:ms:1 { @ev[${[...integers, 'ntop(0)', 'ntop(0)', 'ntop(0)', 'ntop(0)', 'comm'].join(', ')}] = 1; }`;
  const s = new EbpfSocketSource({ program, mapKeysMax: 4 });
  const reported: string[] = [];
  const seen: SocketEvent[] = [];
  const r = await s.start((e) => seen.push(e.toSocketEvent()), (p) => reported.push(p));
  assert.ok(r.ok, !r.ok ? r.reason : '');
  await waitFor('a full map', () => (s.stats().fullMaps >= 3 ? true : undefined));
  // This program has no listener map: told once, however many listeners are seeded.
  s.seedListener({ netns: 1, port: 80, pid: 1, cgroupId: 1, comm: 'x' });
  s.seedListener({ netns: 1, port: 81, pid: 1, cgroupId: undefined, comm: 'x' });
  await sleep(1_500); // the drain waits up to 1 s for a listener map that may come after the event map
  await s.stop();
  assert.deepEqual(reported, [
    'eBPF: the event map was full at 1 drain(s) so far: socket events may have been lost (more than 4 in 100 ms)',
    'eBPF: the program has no listener map (AT_lis): connections accepted by listeners older than bpftrace are credited at their first use instead',
  ]);
  assert.ok(seen.length >= 12, `${seen.length} events`);
  assert.ok(seen.every((e) => e.kind === 'state' && e.oldState === 'TCP_CLOSE' && e.newState === 'TCP_LISTEN' && e.localPort === 8080 && e.localIp === '0.0.0.0'));
});

test('no drain helper: the start fails naming the missing file', { skip }, async () => {
  const r = await new EbpfSocketSource({ drainPath: '/nonexistent/dllt-bpfdrain' }).start(() => undefined, () => undefined);
  assert.deepEqual(r, {
    ok: false,
    reason: 'USE_EBPF=Y: /nonexistent/dllt-bpfdrain is missing (npm run build makes it when a C compiler is installed); using /proc',
  });
});

test('a program without the event map: the start fails with the drain\'s reason, bpftrace is stopped', { skip }, async () => {
  const s = new EbpfSocketSource({ program: 'tracepoint:sock:inet_sock_set_state { @other[1] = 1; }' });
  const r = await s.start(() => undefined, () => undefined);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /^USE_EBPF=Y: dllt-bpfdrain: no map AT_ev in bpftrace \(pid \d+\) after 10 s: is this bpftrace's map naming\?; using \/proc$/);
  assert.equal(s.pid, undefined);
});
