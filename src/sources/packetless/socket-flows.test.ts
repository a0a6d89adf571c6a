/**
 * The socket-to-flow rules on `ss` lines: real ones captured on this machine where a scenario
 * was captured (a loopback pair with its listener, IPv4-mapped, sockets destroyed under loss), and
 * lines written in the same format for the rest (other addresses, caps, two namespaces).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSsLine, type TcpSocketInfo } from './ss-parse.js';
import { SocketFlowTable, type PacketlessFlow, type PacketlessListener } from './socket-flows.js';

const REAL = {
  listener7001: 'LISTEN     1      128             127.0.0.1:7001             0.0.0.0:*     users:(("python3",pid=11052,fd=3)) ino:923221 sk:1007 cgroup:unreachable:1 <-> bbr cwnd:10 unacked:1',
  server7001:
    'ESTAB      900    0               127.0.0.1:7001           127.0.0.1:53044 users:(("python3",pid=11052,fd=6)) ino:923224 sk:1008 cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.021/0.01 ato:40 mss:32768 pmtu:65535 rcvmss:1000 advmss:65483 cwnd:10 bytes_received:1000 segs_out:1 segs_in:3 data_segs_in:1 bbr:(bw:0bps,mrtt:0.021) send 124830476190bps lastsnd:316 lastrcv:316 lastack:316 pacing_rate 356746950160bps delivered:1 app_limited rcv_rtt:1 rcv_space:65483 rcv_ssthresh:70173 minrtt:0.021 snd_wnd:65536',
  client7001:
    'ESTAB      0      0               127.0.0.1:53044          127.0.0.1:7001  users:(("python3",pid=11052,fd=5)) ino:923223 sk:100a cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.024/0.013 mss:35328 pmtu:65535 rcvmss:536 advmss:65483 cwnd:11 bytes_sent:1000 bytes_acked:1001 segs_out:3 segs_in:2 data_segs_out:1 bbr:(bw:25693083248bps,mrtt:0.011,pacing_gain:2.88672,cwnd_gain:2.88672) send 129536000000bps lastsnd:316 lastrcv:316 lastack:316 pacing_rate 287904345936bps delivery_rate 25693090904bps delivered:2 app_limited rcv_space:65495 rcv_ssthresh:65495 minrtt:0.011 snd_wnd:70656',
  listenerAny7002: 'LISTEN     0      128                     *:7002                   *:*     users:(("python3",pid=11052,fd=4)) ino:923222 sk:100d cgroup:unreachable:1 v6only:0 <-> bbr cwnd:10',
  mappedServer7002:
    'ESTAB      0      0      [::ffff:127.0.0.1]:7002  [::ffff:127.0.0.1]:52056 users:(("python3",pid=11052,fd=11)) ino:923228 sk:100f cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.013/0.006 mss:32768 pmtu:65535 rcvmss:536 advmss:65483 cwnd:10 segs_in:2 bbr:(bw:0bps,mrtt:0.013) send 201649230769bps lastsnd:316 lastrcv:316 lastack:316 pacing_rate 576283534880bps delivered:1 app_limited rcv_space:65483 rcv_ssthresh:65483 minrtt:0.013 snd_wnd:65536',
  client7002:
    'ESTAB      0      0               127.0.0.1:52056          127.0.0.1:7002  users:(("python3",pid=11052,fd=9)) ino:923227 sk:1009 cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.011/0.005 mss:32741 pmtu:65535 rcvmss:536 advmss:65483 cwnd:10 bytes_acked:1 segs_out:2 segs_in:1 bbr:(bw:0bps,mrtt:0.011,pacing_gain:1,cwnd_gain:1) send 238116363636bps lastsnd:316 lastrcv:316 lastack:316 pacing_rate 680501197536bps delivered:1 app_limited rcv_space:65495 rcv_ssthresh:65495 minrtt:0.011 snd_wnd:65483',
  destroyedServer7101:
    'UNCONN 0      0      127.0.0.1:7101 127.0.0.1:7102 ino:0 sk:7f6 ts sack wscale:10,10 rto:204 rtt:0.769/0.525 ato:40 mss:55296 pmtu:65535 rcvmss:47616 advmss:65483 cwnd:5 bytes_sent:7000 bytes_acked:7001 bytes_received:300000 segs_out:8 segs_in:13 data_segs_out:1 data_segs_in:9 send 2876254876bps lastsnd:1036 lastrcv:1036 pacing_rate 158027760000bps delivery_rate 21065142856bps delivered:3 retrans:0/2 rcv_rtt:0.09 rcv_space:198656 rcv_ssthresh:226198 minrtt:0.008 snd_wnd:110592',
  destroyedClient7102:
    'UNCONN 1      0      127.0.0.1:7102 127.0.0.1:7101 ino:0 sk:7f5 ts sack wscale:10,10 rto:2616 rtt:451.071/535.909 ato:40 mss:65483 pmtu:65535 rcvmss:7000 advmss:65483 cwnd:18 bytes_sent:300000 bytes_acked:300002 bytes_received:7001 segs_out:19 segs_in:11 data_segs_out:9 data_segs_in:1 send 20904807bps lastsnd:9440 lastrcv:9440 pacing_rate 187140693864bps delivery_rate 6984853328bps delivered:11 busy:8908ms retrans:0/1 rcv_space:65495 rcv_ssthresh:109760 minrtt:0.008 snd_wnd:226304',
  lossyClient:
    'ESTAB 0      0      127.0.0.1:7102 127.0.0.1:7101 users:(("python3",pid=24454,fd=4)) ino:990414 sk:37a8 cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.24/0.385 mss:65483 pmtu:65535 rcvmss:536 advmss:65483 cwnd:13 bytes_sent:155000 bytes_retrans:55000 bytes_acked:100001 segs_out:9 segs_in:6 data_segs_out:7 bbr:(bw:43655322920bps,mrtt:0.012,pacing_gain:2.88672,cwnd_gain:2.88672) send 28375966667bps lastsnd:308 lastrcv:768 lastack:308 pacing_rate 258121113120bps delivery_rate 43655333328bps delivered:6 app_limited busy:416ms retrans:0/2 rcv_space:65495 rcv_ssthresh:65495 minrtt:0.012 snd_wnd:132096',
  /** Netfilter OUTPUT dropped 20 %: TCP re-sent without counting retransmissions. */
  localDropClient:
    'ESTAB 0      0      127.0.0.1:7102 127.0.0.1:7101 users:(("python3",pid=24016,fd=4)) ino:989191 sk:37a7 cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:220 rtt:18.622/23.425 mss:53760 pmtu:65535 rcvmss:536 advmss:65483 cwnd:18 bytes_sent:135000 bytes_acked:100001 segs_out:18 segs_in:15 data_segs_out:16 bbr:(bw:33083074944bps,mrtt:0.013,pacing_gain:2.88672,cwnd_gain:2.88672) send 415714746bps lastsnd:308 lastrcv:720 lastack:308 pacing_rate 202311142712bps delivery_rate 33083076920bps delivered:14 app_limited busy:264ms rcv_space:65495 rcv_ssthresh:65495 minrtt:0.013 snd_wnd:107520',
};

function info(line: string): TcpSocketInfo {
  const i = parseSsLine(line);
  assert.ok(i, line);
  return i;
}

/** An `ss` line in the printed format, for addresses no capture here used. */
function synth(state: string, local: string, peer: string, cookie: string, tail = ''): string {
  return `${state} 0 0 ${local} ${peer} users:(("app",pid=4242,fd=7)) ino:5${parseInt(cookie, 16)} sk:${cookie} <-> ts sack cubic rto:204 rtt:1.5/0.75 cwnd:10 ${tail} minrtt:1.2`;
}

class Recorder {
  starts: PacketlessFlow[] = [];
  updates: PacketlessFlow[] = [];
  ends: PacketlessFlow[] = [];
  listeners = new Map<number, readonly PacketlessListener[]>();
  onFlowStart(f: PacketlessFlow): void {
    this.starts.push(f);
  }
  onFlowUpdate(f: PacketlessFlow): void {
    this.updates.push(f);
  }
  onFlowEnd(f: PacketlessFlow): void {
    this.ends.push(f);
  }
  onListeners(netns: number, l: readonly PacketlessListener[]): void {
    this.listeners.set(netns, l);
  }
}

const NS = 4026532177;
const NS2 = 4026532999;
const T0 = 1_700_000_000_000_000;

test('a loopback pair and its listener: one flow, client and server from the LISTEN socket, acked payload', () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec);
  table.applyTable(NS, [info(REAL.server7001), info(REAL.listener7001), info(REAL.client7001)], T0, true);
  assert.equal(rec.starts.length, 0, 'starts wait for the end of the cycle');
  table.finishCycle();
  assert.equal(rec.starts.length, 1);
  const f = rec.starts[0]!;
  assert.deepEqual([f.srcIP, f.srcPort, f.dstIP, f.dstPort, f.roleMethod], ['127.0.0.1', 53044, '127.0.0.1', 7001, 'listener']);
  assert.equal(f.srcBytes, 1000, 'bytes_acked 1001 less the SYN');
  assert.equal(f.dstBytes, 0);
  assert.equal(f.srcSegs, 3);
  assert.equal(f.dstSegs, 1);
  assert.equal(f.retransSrc, 0);
  assert.equal(f.retransDst, 0);
  assert.deepEqual([f.srttUs, f.rttvarUs, f.minRttUs], [24, 13, 11], "the client's view");
  assert.deepEqual([f.client?.pid, f.client?.comm, f.client?.cookie, f.client?.inode], [11052, 'python3', '100a', 923223]);
  assert.deepEqual([f.server?.pid, f.server?.cookie, f.server?.inode, f.server?.bytesReceived], [11052, '1008', 923224, 1000]);
  assert.equal(f.tcpState, 'ESTABLISHED');
  assert.equal(f.firstSeenUs, T0);
  assert.equal(f.lastActivityUs, T0 - 316_000);
  assert.deepEqual(
    rec.listeners.get(NS)?.map((l) => [l.ip, l.port, l.pid, l.comm]),
    [['127.0.0.1', 7001, 11052, 'python3']],
  );
  assert.deepEqual(table.stats, { flowsStarted: 1, flowsEnded: 0, trackedSockets: 2, droppedSockets: 0, destroyEvents: 0 });
});

test('an IPv4 client of a dual-stack listener joins the server socket it sees as ::ffff:127.0.0.1', () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec);
  table.applyTable(NS, [info(REAL.mappedServer7002), info(REAL.client7002), info(REAL.listenerAny7002)], T0, true);
  table.finishCycle();
  assert.equal(rec.starts.length, 1);
  const f = rec.starts[0]!;
  assert.deepEqual([f.srcIP, f.srcPort, f.dstIP, f.dstPort, f.roleMethod], ['127.0.0.1', 52056, '127.0.0.1', 7002, 'listener']);
  assert.equal(f.server?.cookie, '100f');
  assert.equal(f.client?.cookie, '1009');
});

test('sockets leaving the table: gone, and the flow ends one cycle after its last socket', () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec);
  const server = info(REAL.server7001);
  table.applyTable(NS, [server, info(REAL.listener7001), info(REAL.client7001)], T0, true);
  table.finishCycle();
  table.applyTable(NS, [server, info(REAL.listener7001)], T0 + 1e6, true);
  table.finishCycle();
  assert.equal(rec.starts[0]!.client?.status, 'gone');
  assert.equal(rec.ends.length, 0, 'the server socket is still open');
  table.applyTable(NS, [info(REAL.listener7001)], T0 + 2e6, false);
  table.finishCycle();
  assert.equal(rec.ends.length, 0, 'an incomplete table proves nothing gone');
  table.applyTable(NS, [info(REAL.listener7001)], T0 + 3e6, true);
  table.finishCycle();
  assert.equal(rec.ends.length, 0, 'one grace cycle');
  table.finishCycle();
  assert.equal(rec.ends.length, 1);
  assert.equal(rec.ends[0]!.endReason, 'gone');
  assert.equal(rec.ends[0]!.srcBytes, 1000, 'the last counters stay');
  assert.equal(table.stats.trackedSockets, 0);
});

test('destroyed sockets (ss -E) of a connection shorter than a poll: one flow, final counters, fin', () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec);
  table.applyDestroyed(NS, info(REAL.destroyedClient7102), T0);
  table.applyDestroyed(NS, info(REAL.destroyedServer7101), T0 + 5);
  table.applyDestroyed(NS, info('UNCONN 0      0      127.0.0.1:7101   0.0.0.0:*    ino:0 sk:7f4 rto:1000 mss:536 cwnd:10 lastsnd:17305628 app_limited'), T0 + 6);
  table.finishCycle();
  assert.equal(rec.starts.length, 1, 'the listener is not a flow');
  const f = rec.starts[0]!;
  assert.deepEqual([f.srcIP, f.srcPort, f.dstIP, f.dstPort, f.roleMethod], ['127.0.0.1', 7102, '127.0.0.1', 7101, 'lower-port']);
  assert.equal(f.srcBytes, 300000, 'min(300002 - SYN, 300000 sent): the FIN is not payload');
  assert.equal(f.dstBytes, 7000, 'min(7001, 7000)');
  assert.equal(f.retransSrc, 1);
  assert.equal(f.retransDst, 2);
  assert.deepEqual([f.srttUs, f.rttvarUs], [451071, 535909]);
  assert.equal(f.tcpState, 'CLOSE');
  table.finishCycle();
  assert.equal(rec.ends.length, 1);
  assert.equal(rec.ends[0]!.endReason, 'fin');
  table.applyDestroyed(NS, info(REAL.destroyedServer7101), T0 + 9);
  table.applyTable(NS, [info(REAL.destroyedClient7102)], T0 + 10, true);
  table.finishCycle();
  assert.equal(rec.starts.length, 1, 'late reports of ended sockets start nothing');
  assert.equal(table.stats.destroyEvents, 4);
});

test('a table read before a destroy report but applied after it neither reopens nor rewinds the socket', () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec);
  const alive = info(REAL.lossyClient.replace('sk:37a8', 'sk:7f5'));
  table.applyTable(NS, [alive], T0, true);
  table.finishCycle();
  table.applyDestroyed(NS, info(REAL.destroyedClient7102), T0 + 1);
  table.applyTable(NS, [alive], T0, true);
  table.finishCycle();
  const f = rec.starts[0]!;
  assert.equal(f.client?.status, 'closed');
  assert.equal(f.client?.bytesAcked, 300002);
  table.finishCycle();
  assert.equal(rec.ends.length, 1);
  assert.equal(rec.ends[0]!.endReason, 'fin');
});

test('time-wait of a known socket closes it (fin); a time-wait socket never seen starts nothing', () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec);
  const client = synth('ESTAB', '10.77.9.1:40000', '10.77.9.2:443', 'a1', 'bytes_sent:10 bytes_acked:11 bytes_received:20 segs_out:4 segs_in:3');
  table.applyTable(NS, [info(client)], T0, true);
  table.finishCycle();
  const f = rec.starts[0]!;
  assert.deepEqual([f.srcIP, f.srcPort, f.dstIP, f.dstPort, f.roleMethod], ['10.77.9.1', 40000, '10.77.9.2', 443, 'connect']);
  assert.equal(f.srcBytes, 10);
  assert.equal(f.dstBytes, 20, 'server not local: what the client received');
  assert.equal(f.retransDst, undefined, 'unknown for a side that is not local');
  table.applyTable(
    NS,
    [info('TIME-WAIT 0 0 10.77.9.1:40000 10.77.9.2:443 timer:(timewait,59sec,0) ino:0 sk:a1'), info('TIME-WAIT 0 0 10.77.9.1:40002 10.77.9.2:443 timer:(timewait,59sec,0) ino:0 sk:a2')],
    T0 + 1e6,
    true,
  );
  table.finishCycle();
  table.finishCycle();
  assert.equal(rec.starts.length, 1);
  assert.equal(rec.ends[0]!.endReason, 'fin');
});

test("a received FIN is not payload: CLOSE-WAIT's bytes_received less one", () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec);
  table.applyTable(NS, [info(synth('CLOSE-WAIT', '10.77.9.1:40000', '10.77.9.2:443', 'b1', 'bytes_sent:10 bytes_acked:11 bytes_received:21'))], T0, true);
  table.finishCycle();
  assert.equal(rec.starts[0]!.dstBytes, 20);
});

test('retransmissions and local drops: bytes stay the acknowledged payload', () => {
  for (const [line, retrans] of [
    [REAL.lossyClient, 2],
    [REAL.localDropClient, 0],
  ] as const) {
    const rec = new Recorder();
    const table = new SocketFlowTable(rec);
    table.applyTable(NS, [info(line)], T0, true);
    table.finishCycle();
    const f = rec.starts[0]!;
    assert.equal(f.srcBytes, 100000, 'the program sent 100,000 bytes');
    assert.equal(f.retransSrc, retrans);
  }
});

test('loopback tuples of two namespaces stay apart; pod addresses across namespaces join', () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec);
  table.applyTable(NS, [info(REAL.client7001)], T0, true);
  table.applyTable(NS2, [info(REAL.server7001)], T0, true);
  const podClient = synth('ESTAB', '10.77.9.1:40000', '10.77.9.2:8080', 'c1', 'bytes_sent:5 bytes_acked:6');
  const podServer = synth('ESTAB', '10.77.9.2:8080', '10.77.9.1:40000', 'c2', 'bytes_sent:7 bytes_acked:7 bytes_received:5');
  table.applyTable(NS, [info(REAL.client7001), info(podClient)], T0, true);
  table.applyTable(NS2, [info(REAL.server7001), info(podServer), info('LISTEN 0 128 *:8080 *:* ino:77 sk:c3 <-> cubic cwnd:10')], T0, true);
  table.finishCycle();
  assert.equal(rec.starts.length, 3);
  const pod = rec.starts.find((f) => f.dstPort === 8080)!;
  assert.deepEqual([pod.client?.netns, pod.server?.netns, pod.srcBytes, pod.dstBytes], [NS, NS2, 5, 7]);
  const loop = rec.starts.filter((f) => f.client?.netns !== undefined && f.server === undefined);
  assert.equal(loop.length, 1, "the loopback client in NS has no server: NS2's 127.0.0.1 is another host");
});

test('the cap: sockets beyond maxSockets are counted once each and ignored', () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec, 2);
  const lines = [1, 2, 3, 4].map((i) => info(synth('ESTAB', `10.77.9.1:4000${i}`, '10.77.9.2:443', `d${i}`)));
  for (let cycle = 0; cycle < 3; cycle++) {
    table.applyTable(NS, lines, T0 + cycle, true);
    table.finishCycle();
  }
  assert.equal(rec.starts.length, 2);
  assert.equal(table.stats.trackedSockets, 2);
  assert.equal(table.stats.droppedSockets, 2);
});

test('endAll: open flows end as shutdown, closed ones with their own reason', () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec);
  table.applyTable(NS, [info(synth('ESTAB', '10.77.9.1:40000', '10.77.9.2:443', 'e1')), info(synth('ESTAB', '10.77.9.1:40001', '10.77.9.2:443', 'e2'))], T0, true);
  table.finishCycle();
  table.applyDestroyed(NS, info(synth('UNCONN', '10.77.9.1:40001', '10.77.9.2:443', 'e2')), T0 + 1);
  table.endAll();
  assert.deepEqual(rec.ends.map((f) => [f.srcPort, f.endReason]).sort(), [
    [40000, 'shutdown'],
    [40001, 'fin'],
  ]);
  assert.equal(table.openFlows().length, 0);
});

test('a dropped namespace: its sockets are gone, its listeners cleared', () => {
  const rec = new Recorder();
  const table = new SocketFlowTable(rec);
  table.applyTable(NS, [info(REAL.listener7001), info(REAL.server7001), info(REAL.client7001)], T0, true);
  table.finishCycle();
  table.dropNamespace(NS);
  assert.deepEqual(rec.listeners.get(NS), []);
  table.finishCycle();
  table.finishCycle();
  assert.equal(rec.ends.length, 1);
  assert.equal(rec.ends[0]!.endReason, 'gone');
  assert.equal(table.allListeners().length, 0);
});
