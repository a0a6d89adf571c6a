/**
 * Socket tables of other namespaces read through /proc, against what the test built: a python3
 * client holding a few hundred connections to a dual-stack python3 server in another namespace
 * (two namespaces joined by a veth, 10.77.X.0/24). The tables span many kernel pages in both
 * tcp (the client's sockets) and tcp6 (the server's, IPv4-mapped), so a reader that stopped
 * after the first page, or at a short read that was not the last, would lose sockets. Then one
 * more connection tells a kept table from a fresh one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { labUnavailableReason, NetnsLab, waitForTcpPort } from '../../../test/e2e/netns.js';
import { NetnsSockets, parseSendCounts } from './netns-sockets.js';
import { parseSocketTable, type SocketEntry } from './socket-table.js';
import { SockDiagHelper } from './sock-diag-helper.js';

const skip = labUnavailableReason(['python3']);
if (skip) console.log(`# netns sockets tests skipped: ${skip}`);

const CONNECTIONS = 400;
const PORT = 8080;

/** Accepts and holds every connection (waitForTcpPort's probe too). */
const SERVER_PY = `
import socket, time
ls = socket.socket(socket.AF_INET6)
ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
ls.bind(("::", ${PORT}))
ls.listen(1024)
held = []
while True:
    held.append(ls.accept()[0])
`;

/** Opens the connections and prints their local ports; then one more for each line read, or
 *  for "swap" closes the first and opens one in its place (the same fd number). */
const CLIENT_PY = `
import socket, sys
socks = [socket.create_connection((sys.argv[1], ${PORT})) for _ in range(${CONNECTIONS})]
print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
for line in sys.stdin:
    if line.startswith("swap"):
        fd = socks[0].fileno()
        socks[0].close()
        socks[0] = socket.create_connection((sys.argv[1], ${PORT}))
        assert socks[0].fileno() == fd
        print(socks[0].getsockname()[1], flush=True)
    else:
        socks.append(socket.create_connection((sys.argv[1], ${PORT})))
        print(socks[-1].getsockname()[1], flush=True)
`;

const netnsOf = (pid: number): number => Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))![1]);

test('tables of many pages are read whole in tcp and tcp6, with each socket\'s owner; a pass keeps tables read after the time it is given', { skip, timeout: 30_000 }, async () => {
  const lab = new NetnsLab('dllts');
  try {
    const { sender: c, receiver: s } = lab.directPair();
    const server = lab.spawnIn(s.name, 'python3', ['-c', SERVER_PY]);
    await waitForTcpPort(lab, s.name, s.ipv4, PORT);
    const client = lab.spawnIn(c.name, 'python3', ['-c', CLIENT_PY, s.ipv4], { stdio: ['pipe', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let waiter: (() => void) | undefined;
    let pending = '';
    client.stdout!.setEncoding('utf8');
    client.stdout!.on('data', (d: string) => {
      pending += d;
      const cut = pending.lastIndexOf('\n');
      if (cut < 0) return;
      lines.push(...pending.slice(0, cut).split('\n'));
      pending = pending.slice(cut + 1);
      waiter?.();
    });
    const nextLine = async (): Promise<string> => {
      while (lines.length === 0) {
        if (client.exitCode !== null) throw new Error('client exited');
        await new Promise<void>((r) => (waiter = r));
      }
      return lines.shift()!;
    };
    const firstPorts = (await nextLine()).split(' ').map(Number);
    const ports = [...firstPorts].sort((a, b) => a - b);
    assert.equal(new Set(ports).size, CONNECTIONS);

    let now = 1000;
    const sockets = new NetnsSockets({ clock: () => now });
    sockets.beginPass();
    const [clientNs, serverNs] = [netnsOf(client.pid!), netnsOf(server.pid!)];
    const clientSide = [...sockets.index(clientNs, 6)!.connectedSockets()].filter((e) => e.remoteIp === s.ipv4 && e.remotePort === PORT);
    assert.deepEqual(clientSide.map((e) => e.localPort).sort((a, b) => a - b), ports);
    assert.ok(clientSide.every((e) => e.localIp === c.ipv4 && sockets.ownerOf(clientNs, e.inode) === client.pid));
    // Accepted by an IPv6 wildcard listener: tcp6 rows with IPv4-mapped addresses.
    const serverSide = [...sockets.index(serverNs, 6)!.connectedSockets()].filter((e) => e.localIp === s.ipv4 && e.localPort === PORT && e.remoteIp === c.ipv4);
    assert.deepEqual(serverSide.map((e) => e.remotePort).sort((a, b) => a - b), ports);
    assert.ok(serverSide.every((e) => sockets.ownerOf(serverNs, e.inode) === server.pid));

    // A table read after `freshAfter` is kept by the next pass: a connection opened since is
    // not in it; a pass that wants tables newer than the read sees it.
    const countsBefore = [sockets.sendCounts(clientNs)!, sockets.sendCounts(serverNs)!];
    client.stdin!.write('one more\n');
    const extra = Number(await nextLine());
    // One connect() in the client's namespace, none in the server's (it only accepts).
    const countsAfter = [sockets.sendCounts(clientNs)!, sockets.sendCounts(serverNs)!];
    assert.deepEqual(countsAfter.map((c, i) => c.tcpActiveOpens - countsBefore[i]!.tcpActiveOpens), [1, 0]);
    const hasExtra = (): boolean => sockets.index(clientNs, 6)!.socket(c.ipv4, extra, s.ipv4, PORT) !== undefined;
    now = 1500;
    sockets.beginPass(999);
    assert.equal(hasExtra(), false);
    sockets.beginPass(1000);
    assert.equal(hasExtra(), true);

    // Owners of a new fd and of an fd number reused by a new socket, found between full fd scans
    // (which read every fd again only every 2 s).
    client.stdin!.write('swap\n');
    const swapped = Number(await nextLine());
    now = 1600;
    sockets.beginPass(1599);
    for (const port of [extra, swapped]) {
      const e = sockets.index(clientNs, 6)!.socket(c.ipv4, port, s.ipv4, PORT)!;
      assert.equal(sockets.ownerOf(clientNs, e.inode), client.pid, `port ${port}`);
    }
    assert.equal(sockets.index(clientNs, 6)!.socket(c.ipv4, firstPorts[0]!, s.ipv4, PORT)?.inode ?? 0, 0);

    // A process started since the last process scan (the list is read every second): a new pid
    // makes the next pass read the processes not seen before.
    const newcomer = lab.spawnIn(c.name, 'python3', ['-c', `import socket, sys, time\ns = socket.create_connection((sys.argv[1], ${PORT}))\nprint(s.getsockname()[1], flush=True)\ntime.sleep(60)`, s.ipv4], { stdio: ['ignore', 'pipe', 'inherit'] });
    const newcomerPort = await new Promise<number>((resolve) => newcomer.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    now = 1700;
    sockets.beginPass(1699);
    const fresh = sockets.index(clientNs, 6)!.socket(c.ipv4, newcomerPort, s.ipv4, PORT)!;
    assert.equal(sockets.ownerOf(clientNs, fresh.inode), newcomer.pid);

    // The client namespace empties (every process in it exits) and the process scan drops it;
    // a process started in it before the next full scan brings it back at the next pass.
    const exited = (p: typeof client): Promise<unknown> => new Promise((r) => (p.exitCode !== null ? r(0) : p.once('exit', r)));
    client.kill();
    newcomer.kill();
    await Promise.all([exited(client), exited(newcomer)]);
    now = 3000;
    sockets.beginPass(2999);
    assert.equal(sockets.homeOf(c.ipv4), undefined, 'no process: the namespace is not listed');
    const again = lab.spawnIn(c.name, 'python3', ['-c', `import socket, sys, time\ns = socket.create_connection((sys.argv[1], ${PORT}))\nprint(s.getsockname()[1], flush=True)\ntime.sleep(60)`, s.ipv4], { stdio: ['ignore', 'pipe', 'inherit'] });
    const againPort = await new Promise<number>((resolve) => again.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    now = 3300;
    sockets.beginPass(3299);
    assert.ok(sockets.allNamespaces().includes(clientNs), 'a new pid: the process list is read again');
    assert.deepEqual(sockets.candidates(c.ipv4), [clientNs]);
    const back = sockets.index(clientNs, 6)!.socket(c.ipv4, againPort, s.ipv4, PORT)!;
    assert.equal(sockets.ownerOf(clientNs, back.inode), again.pid);
  } finally {
    lab.cleanup();
  }
});

test('net/snmp counters: ActiveOpens and OutDatagrams by their header, undefined when a group is missing', () => {
  const text = [
    'Ip: Forwarding DefaultTTL',
    'Ip: 1 64',
    'Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails',
    'Tcp: 1 200 120000 -1 350 24 25',
    'Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors',
    'Udp: 383 34 0 422 0',
    'UdpLite: InDatagrams NoPorts InErrors OutDatagrams',
    'UdpLite: 0 0 0 7',
  ].join('\n');
  assert.deepEqual(parseSendCounts(text), { tcpActiveOpens: 350, udpOutDatagrams: 422 });
  assert.equal(parseSendCounts('Tcp: ActiveOpens\nTcp: 5\n'), undefined);
  assert.equal(parseSendCounts(''), undefined);
});

/** SERVER_PY, plus a port that closes each connection when its client has (the client, closing
 *  first, keeps the TIME_WAIT). */
const CLOSING_PORT = PORT + 1;
const SERVER_WITH_CLOSING_PORT_PY = `
import socket, threading
def closing():
    ls = socket.socket()
    ls.bind(("0.0.0.0", ${CLOSING_PORT}))
    ls.listen(64)
    while True:
        c = ls.accept()[0]
        while c.recv(100):
            pass
        c.close()
threading.Thread(target=closing, daemon=True).start()
${SERVER_PY}`;

/** Opens 20 connections and holds them, then opens and closes CLOSED more to the closing port,
 *  and prints "ready" once they are all in TIME_WAIT. */
const CLOSED = 5;
const CLIENT_WITH_TIME_WAIT_PY = `
import socket, sys, subprocess, time
socks = [socket.create_connection((sys.argv[1], ${PORT})) for _ in range(20)]
for _ in range(${CLOSED}):
    socket.create_connection((sys.argv[1], ${CLOSING_PORT})).close()
while subprocess.run(["ss", "-Htn", "state", "time-wait"], capture_output=True, text=True).stdout.count("\\n") < ${CLOSED}:
    time.sleep(0.05)
print("ready", flush=True)
sys.stdin.read()
`;

test('TCP tables through the sock_diag helper: the same sockets as /proc shows, TIME_WAIT left out; /proc when the helper cannot run', { skip, timeout: 30_000 }, async () => {
  const lab = new NetnsLab('dlltd');
  try {
    const { sender: c, receiver: s } = lab.directPair();
    const server = lab.spawnIn(s.name, 'python3', ['-c', SERVER_WITH_CLOSING_PORT_PY]);
    await waitForTcpPort(lab, s.name, s.ipv4, PORT);
    const client = lab.spawnIn(c.name, 'python3', ['-c', CLIENT_WITH_TIME_WAIT_PY, s.ipv4], { stdio: ['pipe', 'pipe', 'pipe'] });
    client.stdout!.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      client.stdout!.on('data', (d: string) => d.includes('ready') && resolve());
      client.on('exit', () => reject(new Error('client exited')));
    });
    const procTable = (pid: number): SocketEntry[] =>
      ['tcp', 'tcp6'].flatMap((name) => parseSocketTable(readFileSync(`/proc/${pid}/net/${name}`, 'latin1')));
    const byTuple = (a: SocketEntry, b: SocketEntry): number =>
      `${a.localIp} ${a.localPort} ${a.remoteIp} ${a.remotePort}`.localeCompare(`${b.localIp} ${b.localPort} ${b.remoteIp} ${b.remotePort}`);
    // scripts/install.sh installs the compiler that `npm run build` makes the helper with.
    const helper = SockDiagHelper.start();
    assert.ok(typeof helper !== 'string', `${String(helper)}: run npm run build with gcc installed`);
    try {
      for (const pid of [client.pid!, server.pid!]) {
        const viaProc = procTable(pid);
        const viaSockDiag = helper.readTcp(`/proc/${pid}/ns/net`);
        assert.ok(Array.isArray(viaSockDiag), String(viaSockDiag));
        // Both namespaces have sockets to compare (a dual-stack listener, IPv4-mapped accepted ones).
        assert.ok(viaSockDiag.length >= 20);
        assert.deepEqual(viaSockDiag.sort(byTuple), viaProc.filter((e) => e.state !== 6).sort(byTuple));
      }
      // A namespace that cannot be opened is a reason, and the helper goes on answering.
      assert.match(String(helper.readTcp('/proc/0/ns/net')), /^cannot open \/proc\/0\/ns\/net: No such file or directory$/);
      assert.ok(Array.isArray(helper.readTcp(`/proc/${client.pid!}/ns/net`)));
    } finally {
      helper.close();
    }
    assert.equal(procTable(client.pid!).filter((e) => e.state === 6).length, CLOSED);

    // NetnsSockets reads TCP through the helper; without it, through /proc.
    const clientNs = netnsOf(client.pid!);
    const sockets = new NetnsSockets();
    sockets.beginPass();
    assert.equal(sockets.tcpSource(), 'sock_diag');
    const viaSockDiag = [...sockets.index(clientNs, 6)!.connectedSockets()].sort(byTuple);
    sockets.close();
    assert.equal(sockets.sockDiagProblem, undefined);
    assert.ok(viaSockDiag.every((e) => e.state !== 6 && sockets.ownerOf(clientNs, e.inode) === client.pid));
    const fallback = new NetnsSockets({ sockDiagHelper: '/nonexistent/dllt-sockdiag' });
    fallback.beginPass();
    const viaProc = [...fallback.index(clientNs, 6)!.connectedSockets()].sort(byTuple);
    assert.equal(fallback.tcpSource(), 'proc');
    assert.equal(fallback.sockDiagProblem, '/nonexistent/dllt-sockdiag is missing (npm run build makes it when a C compiler is installed)');
    assert.deepEqual(viaProc.filter((e) => e.state !== 6), viaSockDiag);
  } finally {
    lab.cleanup();
  }
});
