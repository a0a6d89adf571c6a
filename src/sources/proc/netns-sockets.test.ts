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
import { readlinkSync } from 'node:fs';
import { labUnavailableReason, NetnsLab, waitForTcpPort } from '../../../test/e2e/netns.js';
import { NetnsSockets, parseSendCounts } from './netns-sockets.js';

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

/** Opens the connections and prints their local ports; then one more for each line read. */
const CLIENT_PY = `
import socket, sys
socks = [socket.create_connection((sys.argv[1], ${PORT})) for _ in range(${CONNECTIONS})]
print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
for _ in sys.stdin:
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
    const ports = (await nextLine()).split(' ').map(Number).sort((a, b) => a - b);
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
