/**
 * EbpfAttributor on the event sequence bpftrace printed for one pod-to-pod connection on this
 * machine (curl in one namespace, a python3 server in another; the lines of a processEBPF file
 * from test/e2e/attribution.e2e.test.ts, trimmed to the fields the attributor reads). The e2e
 * test checks the whole path with live bpftrace; this one checks each rule on its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EbpfAttributor } from './ebpf-attributor.js';
import type { SocketEvent } from './socket-event.js';
import type { DrainedEvent } from './drained-event.js';
import { drainedOf } from './drained-event.test-support.js';
import type { FlowEnds } from '../../analyze/enrich/flow-ends.js';

/** Events written as objects, read as the worker reads the drain's records. */
class Attributor extends EbpfAttributor {
  see(e: SocketEvent, onOwner?: (pid: number, e: DrainedEvent) => void): void {
    this.observe(drainedOf(e), onOwner);
  }
}

const CLIENT_NS = 4026532178;
const SERVER_NS = 4026532249;
const SERVER = 8617;
const CURL = 8702;

function ev(e: Partial<SocketEvent>): SocketEvent {
  return { kind: 'state', tsNs: 0, tsUs: 0, pid: 0, tid: 0, comm: '', processContext: false, cgroupId: 1, family: 4, localIp: '0.0.0.0', ...e };
}

const listen = ev({ pid: SERVER, comm: 'python3', processContext: true, netns: SERVER_NS, socketId: 'ffff888104e61280', localIp: '10.77.54.2', localPort: 8080, oldState: 'TCP_CLOSE', newState: 'TCP_LISTEN' });
const connect = ev({ pid: CURL, comm: 'curl', processContext: true, netns: CLIENT_NS, socketId: 'ffff888104e60940', localIp: '10.77.54.1', remoteIp: '10.77.54.2', remotePort: 8080, oldState: 'TCP_CLOSE', newState: 'TCP_SYN_SENT' });
const clientEstablished = ev({ pid: CURL, comm: 'curl', netns: CLIENT_NS, socketId: 'ffff888104e60940', localIp: '10.77.54.1', localPort: 54348, remoteIp: '10.77.54.2', remotePort: 8080, oldState: 'TCP_SYN_SENT', newState: 'TCP_ESTABLISHED' });
// The server side of the handshake runs in softirq on curl's CPU: pid/comm are curl's.
const synRecv = ev({ pid: CURL, comm: 'curl', netns: SERVER_NS, socketId: 'ffff888104e640c0', localIp: '10.77.54.2', localPort: 8080, remoteIp: '10.77.54.1', remotePort: 54348, oldState: 'TCP_LISTEN', newState: 'TCP_SYN_RECV' });
const serverEstablished = { ...synRecv, oldState: 'TCP_SYN_RECV' as const, newState: 'TCP_ESTABLISHED' as const };
const serverRead = ev({ kind: 'io', pid: SERVER, tid: 8703, comm: 'python3', processContext: true, netns: SERVER_NS, socketId: 'ffff888104e640c0', localIp: '10.77.54.2', localPort: 8080, remoteIp: '10.77.54.1', remotePort: 54348, receivedBytes: 79 });

const flow: FlowEnds = { proto: 6, srcIP: '10.77.54.1', srcPort: 54348, dstIP: '10.77.54.2', dstPort: 8080, clientIsSrc: true };
const none = new Set<never>();

test('the client is the process that called connect(), though SYN_SENT had no local port yet', () => {
  const a = new Attributor();
  for (const e of [listen, connect, clientEstablished, synRecv, serverEstablished]) a.see(e);
  assert.deepEqual(a.ends(flow, new Set(['server'])), [{ side: 'client', pid: CURL, netns: CLIENT_NS, via: 'socket' }]);
});

test('as the program stores them: ESTABLISHED carries connect()\'s caller and, on the accepted side, the listener\'s owner', () => {
  const a = new Attributor();
  // No LISTEN or connect event: the kernel carried both owners.
  a.see({ ...clientEstablished, processContext: true, pidFrom: 'socket' });
  a.see({ ...serverEstablished, pid: SERVER, comm: 'python3', pidFrom: 'listener' });
  assert.deepEqual(a.ends(flow, none), [
    { side: 'client', pid: CURL, netns: CLIENT_NS, via: 'socket' },
    { side: 'server', pid: SERVER, netns: SERVER_NS, via: 'listener' },
  ]);
  // A forked worker reading the accepted socket takes it over.
  a.see({ ...serverRead, pid: 9001 });
  assert.deepEqual(a.ends(flow, new Set(['client'])), [{ side: 'server', pid: 9001, netns: SERVER_NS, via: 'socket' }]);
});

test('the server is its listener\'s owner, not the softirq task, until a process uses the accepted socket', () => {
  const a = new Attributor();
  for (const e of [listen, connect, clientEstablished, synRecv, serverEstablished]) a.see(e);
  assert.deepEqual(a.ends(flow, new Set(['client'])), [{ side: 'server', pid: SERVER, netns: SERVER_NS, via: 'listener' }]);
  const owners: Array<[number, string]> = [];
  a.see(serverRead, (pid, e) => owners.push([pid, e.comm()]));
  assert.deepEqual(owners, [[SERVER, 'python3']]);
  assert.deepEqual(a.ends(flow, new Set(['client'])), [{ side: 'server', pid: SERVER, netns: SERVER_NS, via: 'socket' }]);
});

test('a listener closed is forgotten; accepted sockets (LISTEN → SYN_RECV) do not close it', () => {
  const a = new Attributor();
  for (const e of [listen, connect, clientEstablished, synRecv, serverEstablished]) a.see(e);
  a.see({ ...listen, oldState: 'TCP_LISTEN', newState: 'TCP_CLOSE' });
  assert.deepEqual(a.ends(flow, new Set(['client'])), []);
});

test('a wildcard listener takes connections to any address of its namespace, not of another', () => {
  const a = new Attributor();
  a.see({ ...listen, localIp: '0.0.0.0' });
  for (const e of [synRecv, serverEstablished]) a.see(e);
  assert.deepEqual(a.ends(flow, new Set(['client'])), [{ side: 'server', pid: SERVER, netns: SERVER_NS, via: 'listener' }]);
  const b = new Attributor();
  b.see({ ...listen, localIp: '0.0.0.0', netns: CLIENT_NS });
  for (const e of [synRecv, serverEstablished]) b.see(e);
  assert.deepEqual(b.ends(flow, new Set(['client'])), []);
});

test('freed sockets answer for 10 s, then are swept; a reused socket address starts afresh', () => {
  let now = 1_000_000;
  const a = new Attributor({ clock: () => now });
  for (const e of [connect, clientEstablished]) a.see(e);
  a.see(ev({ kind: 'destroy', pid: 14, comm: 'ksoftirqd/0', netns: CLIENT_NS, socketId: connect.socketId!, localIp: '10.77.54.1', localPort: 54348, remoteIp: '10.77.54.2', remotePort: 8080 }));
  // The kernel hands the address to another socket of another process.
  a.see({ ...connect, pid: 9999, localIp: '10.77.54.1', remotePort: 9090 });
  now += 9_000;
  a.sweep();
  assert.deepEqual(a.ends(flow, new Set(['server'])), [{ side: 'client', pid: CURL, netns: CLIENT_NS, via: 'socket' }]);
  now += 2_000;
  a.sweep();
  assert.deepEqual(a.ends(flow, none), []);
});

test('a refused connect: the reset, CLOSE and destroy that follow connect() keep curl as the client', () => {
  const a = new Attributor();
  const refused = { localIp: '10.77.108.1', remoteIp: '10.77.108.2', remotePort: 8081, netns: CLIENT_NS, socketId: 'ffff88813c1e1bc0' };
  a.see(ev({ ...refused, pid: CURL, comm: 'curl', processContext: true, oldState: 'TCP_CLOSE', newState: 'TCP_SYN_SENT' }));
  a.see(ev({ ...refused, kind: 'receive_reset', pid: CURL, comm: 'curl', localPort: 60968, state: 'TCP_SYN_SENT' }));
  a.see(ev({ ...refused, pid: CURL, comm: 'curl', localPort: 60968, oldState: 'TCP_SYN_SENT', newState: 'TCP_CLOSE' }));
  a.see(ev({ ...refused, kind: 'destroy', pid: CURL, comm: 'curl', localPort: 60968, sentBytes: 0, receivedBytes: 0 }));
  const refusedFlow: FlowEnds = { proto: 6, srcIP: '10.77.108.1', srcPort: 60968, dstIP: '10.77.108.2', dstPort: 8081, clientIsSrc: true };
  assert.deepEqual(a.ends(refusedFlow, none), [{ side: 'client', pid: CURL, netns: CLIENT_NS, via: 'socket' }]);
});

test('a socket address reused while the last events of its previous socket are still coming (CPUs out of step): each connection keeps its own process', () => {
  const a = new Attributor();
  const reused = 'ffff888104e60940';
  // curl's socket at `reused`, established; its destroy is late.
  for (const e of [connect, clientEstablished]) a.see(e);
  // The server's next accepted socket gets the same kernel address (another connection, in the
  // server's namespace), and python3 reads it.
  const second = { netns: SERVER_NS, socketId: reused, localIp: '10.77.54.2', localPort: 8080, remoteIp: '10.77.54.1', remotePort: 54400 };
  a.see(ev({ ...second, pid: CURL, comm: 'curl', oldState: 'TCP_LISTEN', newState: 'TCP_SYN_RECV' }));
  a.see(ev({ ...second, pid: CURL, comm: 'curl', oldState: 'TCP_SYN_RECV', newState: 'TCP_ESTABLISHED' }));
  // curl's socket's late events: its close (process context) and destroy.
  a.see(ev({ ...clientEstablished, pid: CURL, processContext: true, oldState: 'TCP_ESTABLISHED', newState: 'TCP_FIN_WAIT1' }));
  a.see(ev({ ...clientEstablished, kind: 'destroy', pid: 14, comm: 'ksoftirqd/0' }));
  a.see(ev({ ...second, kind: 'io', pid: SERVER, comm: 'python3', processContext: true, receivedBytes: 79 }));
  assert.deepEqual(a.ends(flow, new Set(['server'])), [{ side: 'client', pid: CURL, netns: CLIENT_NS, via: 'socket' }]);
  const secondFlow: FlowEnds = { ...flow, srcPort: 54400 };
  assert.deepEqual(a.ends(secondFlow, new Set(['client'])), [{ side: 'server', pid: SERVER, netns: SERVER_NS, via: 'socket' }]);
});

test('UDP flows and events without a socket are left to /proc', () => {
  const a = new Attributor();
  for (const e of [listen, connect, clientEstablished]) a.see(e);
  a.see(ev({ kind: 'send_reset', pid: 1, localIp: '10.77.54.2', localPort: 9, remoteIp: '10.77.54.1', remotePort: 1 }));
  assert.deepEqual(a.ends({ ...flow, proto: 17 }, none), []);
});

test('a listener older than bpftrace, learned from /proc, owns accepted sockets; a LISTEN event since wins', () => {
  const a = new Attributor();
  a.learnListener(SERVER_NS, '0.0.0.0', 8080, SERVER);
  for (const e of [synRecv, serverEstablished]) a.see(e);
  assert.deepEqual(a.ends(flow, new Set(['client'])), [{ side: 'server', pid: SERVER, netns: SERVER_NS, via: 'listener' }]);
  assert.deepEqual(a.ends({ ...flow, dstIP: '10.77.54.3' }, new Set(['client'])), [], 'no socket seen for that connection');

  const b = new Attributor();
  b.see({ ...listen, pid: 4242 });
  b.learnListener(SERVER_NS, '10.77.54.2', 8080, SERVER);
  for (const e of [synRecv, serverEstablished]) b.see(e);
  assert.deepEqual(b.ends(flow, new Set(['client'])), [{ side: 'server', pid: 4242, netns: SERVER_NS, via: 'listener' }]);
});
