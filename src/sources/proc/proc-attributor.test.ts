/**
 * The /proc attributor against real processes in real namespaces: a python3 server in one, a
 * python3 client in the other (two namespaces joined by a veth, 10.77.X.0/24). The expected
 * pids are the test's own children; namespaces are checked against `readlink /proc/<pid>/ns/net`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readlinkSync } from 'node:fs';
import { labUnavailableReason, NetnsLab, waitForTcpPort } from '../../../test/e2e/netns.js';
import { ProcAttributor, type AttributedEnd } from './proc-attributor.js';
import type { EndSide, FlowEnds } from '../../analyze/enrich/flow-ends.js';
import { parseSocketTable } from './socket-table.js';

const skip = labUnavailableReason(['python3']);
if (skip) console.log(`# proc attributor tests skipped: ${skip}`);

const netnsOf = (pid: number): number => Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/${pid}/ns/net`))![1]);

/** TCP server (accepts, reads a line, answers, holds `hold` s, closes) or UDP echo on argv. */
const SERVER_PY = `
import socket, sys, time
proto, ip, port, hold = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if proto == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((ip, port))
    while True:
        d, a = s.recvfrom(100)
        s.sendto(d, a)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((ip, port))
ls.listen(8)
while True:
    c, _ = ls.accept()
    c.recv(100)
    c.sendall(b"ok\\n")
    time.sleep(hold)
    c.close()
`;

/** Client from a fixed port: connects (or sends one UDP datagram on a connected socket), then holds. */
const CLIENT_PY = `
import socket, sys, time
proto, cip, cport, sip, sport, hold = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), float(sys.argv[6])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((cip, cport))
s.connect((sip, sport))
s.send(b"hi\\n")
s.recv(100)
print("connected", flush=True)
time.sleep(hold)
s.close()
`;

function sorted(ends: AttributedEnd[]): AttributedEnd[] {
  return [...ends].sort((a, b) => a.side.localeCompare(b.side));
}

test('parseSocketTable reads real rows (host byte order, IPv4-mapped, wildcards), skips junk, and on request TIME_WAIT rows outside loopback', () => {
  const text =
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
    '   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   108        0 23618 1 0000000000000000 100 0 0 10 0\n' +
    '   1: 02014D0A:1F90 01014D0A:9C40 01 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 20 4 30 10 -1\n' +
    '   2: 0000000000000000FFFF0000020C4D0A:1F90 0000000000000000FFFF0000010C4D0A:9C41 06 00000000:00000000 03:000016C1 00000000     0        0 0 3 0000000000000000\n' +
    '   3: 0000000000000000000000000000000001:0035 bad\n' +
    'garbage\n';
  assert.deepEqual(parseSocketTable(text), [
    { localIp: '127.0.0.1', localPort: 3306, remoteIp: '0.0.0.0', remotePort: 0, state: 10, uid: 108, inode: 23618 },
    { localIp: '10.77.1.2', localPort: 8080, remoteIp: '10.77.1.1', remotePort: 40000, state: 1, uid: 0, inode: 99 },
    { localIp: '10.77.12.2', localPort: 8080, remoteIp: '10.77.12.1', remotePort: 40001, state: 6, uid: 0, inode: 0 },
  ]);
  // TIME_WAIT rows: only loopback ones (127/8, ::1, ::ffff:127/104) are kept on request.
  const unowned =
    '   0: 0100007F:1F90 0100007F:9C40 06 00000000:00000000 03:000016C1 00000000     0        0 0 3 0000000000000000\n' +
    '   1: 0201007F:1F90 0100007F:9C41 06 00000000:00000000 03:000016C1 00000000     0        0 0 3 0000000000000000\n' +
    '   2: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:9C42 06 00000000:00000000 03:000016C1 00000000     0        0 0 3 0000000000000000\n' +
    '   3: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:9C43 06 00000000:00000000 03:000016C1 00000000     0        0 0 3 0000000000000000\n';
  assert.deepEqual(parseSocketTable(text + unowned, { timeWaitOnLoopbackOnly: true }).map((e) => `${e.localIp} ${e.remotePort} ${e.inode}`), [
    '127.0.0.1 0 23618',
    '10.77.1.2 40000 99',
    '127.0.0.1 40000 0',
    '127.0.1.2 40001 0',
    '::1 40002 0',
    '127.0.0.1 40003 0',
  ]);
});

test('both ends of TCP and UDP flows between two namespaces: client by its socket, server by its socket then by its listener after the close', { skip, timeout: 30_000 }, async () => {
  const lab = new NetnsLab('dlltp');
  try {
    const { sender: c, receiver: s } = lab.directPair();
    const server = lab.spawnIn(s.name, 'python3', ['-c', SERVER_PY, 'tcp', '0.0.0.0', '8080', '0.2']);
    const udpServer = lab.spawnIn(s.name, 'python3', ['-c', SERVER_PY, 'udp', s.ipv4, '5353', '0']);
    await waitForTcpPort(lab, s.name, s.ipv4, 8080);
    const client = lab.spawnIn(c.name, 'python3', ['-c', CLIENT_PY, 'tcp', c.ipv4, '40123', s.ipv4, '8080', '3']);
    const udpClient = lab.spawnIn(c.name, 'python3', ['-c', CLIENT_PY, 'udp', c.ipv4, '40124', s.ipv4, '5353', '3']);
    await Promise.all([client, udpClient].map((p) => new Promise((r) => p.stdout!.once('data', r))));

    const attributor = new ProcAttributor();
    attributor.beginPass();
    const tcp: FlowEnds = { proto: 6, srcIP: c.ipv4, srcPort: 40123, dstIP: s.ipv4, dstPort: 8080, clientIsSrc: true };
    const [serverNs, clientNs] = [netnsOf(server.pid!), netnsOf(client.pid!)];
    assert.notEqual(serverNs, clientNs);
    assert.deepEqual(sorted(attributor.ends(tcp)), [
      { side: 'client', pid: client.pid!, netns: clientNs, via: 'socket' },
      { side: 'server', pid: server.pid!, netns: serverNs, via: 'socket' },
    ]);
    const udp: FlowEnds = { proto: 17, srcIP: c.ipv4, srcPort: 40124, dstIP: s.ipv4, dstPort: 5353, clientIsSrc: true };
    assert.deepEqual(sorted(attributor.ends(udp)), [
      { side: 'client', pid: udpClient.pid!, netns: clientNs, via: 'socket' },
      { side: 'server', pid: udpServer.pid!, netns: serverNs, via: 'listener' },
    ]);
    // Roles the other way round: the same sockets, sides swapped.
    assert.deepEqual(sorted(attributor.ends({ ...tcp, clientIsSrc: false })).map((e) => [e.side, e.pid]), [
      ['client', server.pid!],
      ['server', client.pid!],
    ]);
    assert.deepEqual(attributor.ends(tcp, new Set(['client', 'server'])), [], 'sides already done are not looked up');

    // A flow whose sockets are gone: the client is unknown, the server is its listener's owner.
    const gone: FlowEnds = { ...tcp, srcPort: 40999 };
    attributor.beginPass();
    assert.deepEqual(attributor.ends(gone), [{ side: 'server', pid: server.pid!, netns: serverNs, via: 'listener' }]);
    // An address no namespace of ours has: nothing, even though 8080 listens in a namespace.
    assert.deepEqual(attributor.ends({ ...tcp, srcIP: '10.77.255.9', dstIP: '10.77.255.10' }), []);
  } finally {
    lab.cleanup();
  }
});

/** Listens, then forks: the child accepts, answers and holds each connection; both processes
 *  hold the listener. */
const FORKED_SERVER_PY = `
import os, socket, sys, time
ls = socket.socket()
ls.bind((sys.argv[1], int(sys.argv[2])))
ls.listen(8)
if os.fork() == 0:
    held = []
    while True:
        c = ls.accept()[0]
        c.recv(100)
        c.sendall(b"ok\\n")
        held.append(c)
while True:
    time.sleep(60)
`;

test('a listener one process holds answers for its server ends from the last table; one shared by forked processes does not', { skip, timeout: 30_000 }, async () => {
  const lab = new NetnsLab('dlltq');
  try {
    const { sender: c, receiver: s } = lab.directPair();
    const server = lab.spawnIn(s.name, 'python3', ['-c', SERVER_PY, 'tcp', '0.0.0.0', '8080', '5']);
    const forked = lab.spawnIn(s.name, 'python3', ['-c', FORKED_SERVER_PY, s.ipv4, '8081']);
    await waitForTcpPort(lab, s.name, s.ipv4, 8080);
    await waitForTcpPort(lab, s.name, s.ipv4, 8081);
    const clients = [8080, 8081].map((port, i) => lab.spawnIn(c.name, 'python3', ['-c', CLIENT_PY, 'tcp', c.ipv4, String(40200 + i), s.ipv4, String(port), '5']));
    await Promise.all(clients.map((p) => new Promise((r) => p.stdout!.once('data', r))));
    const serverNs = netnsOf(server.pid!);
    const forkedChild = Number(readFileSync(`/proc/${forked.pid}/task/${forked.pid}/children`, 'utf8').trim());
    assert.ok(forkedChild > 0);

    const attributor = new ProcAttributor();
    attributor.beginPass();
    const flow = (port: number, i: number): FlowEnds => ({ proto: 6, srcIP: c.ipv4, srcPort: 40200 + i, dstIP: s.ipv4, dstPort: port, clientIsSrc: true });
    const client = new Set<EndSide>(['client']);
    // The first lookup reads the server's namespace: the accepted socket's holder.
    assert.deepEqual(attributor.ends(flow(8080, 0), client), [{ side: 'server', pid: server.pid!, netns: serverNs, via: 'socket' }]);
    // Now its listener is known, held by one process: no socket lookup.
    assert.deepEqual(attributor.ends(flow(8080, 0), client), [{ side: 'server', pid: server.pid!, netns: serverNs, via: 'listener' }]);
    // Parent and child hold 8081's listener: the child holding the accepted socket is the answer.
    assert.deepEqual(attributor.ends(flow(8081, 1), client), [{ side: 'server', pid: forkedChild, netns: serverNs, via: 'socket' }]);
    assert.deepEqual(attributor.ends(flow(8081, 1), client), [{ side: 'server', pid: forkedChild, netns: serverNs, via: 'socket' }]);
  } finally {
    lab.cleanup();
  }
});

test('an address stays local while a remembered socket used it, after its namespace emptied; one no namespace had is not', { skip, timeout: 30_000 }, async () => {
  const lab = new NetnsLab('dlltr');
  try {
    const { sender: c, receiver: s } = lab.directPair();
    lab.spawnIn(s.name, 'python3', ['-c', SERVER_PY, 'tcp', '0.0.0.0', '8080', '5']);
    await waitForTcpPort(lab, s.name, s.ipv4, 8080);
    const client = lab.spawnIn(c.name, 'python3', ['-c', CLIENT_PY, 'tcp', c.ipv4, '40300', s.ipv4, '8080', '30']);
    await new Promise((r) => client.stdout!.once('data', r));
    const clientNs = netnsOf(client.pid!);

    const attributor = new ProcAttributor({ processRefreshMs: 0 });
    attributor.poll();
    assert.equal(attributor.mightBeLocal(c.ipv4), true);
    assert.equal(attributor.mightBeLocal('10.77.255.9'), false);

    // The client was its namespace's only process: once it is gone, no process scan lists the namespace.
    const exited = new Promise((r) => client.once('exit', r));
    client.kill('SIGKILL');
    await exited;
    attributor.beginPass();
    assert.equal(attributor.sockets.isLocal(c.ipv4), false);
    assert.equal(attributor.mightBeLocal(c.ipv4), true);
    const tcp: FlowEnds = { proto: 6, srcIP: c.ipv4, srcPort: 40300, dstIP: s.ipv4, dstPort: 8080, clientIsSrc: true };
    assert.deepEqual(attributor.ends(tcp, new Set(['server'])), [{ side: 'client', pid: client.pid!, netns: clientNs, via: 'socket' }]);
  } finally {
    lab.cleanup();
  }
});
