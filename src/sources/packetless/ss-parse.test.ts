/**
 * parseSsLine against lines `ss -tinOHeap` and `ss -tinOHeE` (iproute2 6.1) printed on this
 * machine for sockets made for the purpose: IPv4, IPv6, IPv4-mapped, link-local with a scope,
 * listeners, time-wait, a forked server sharing its sockets, a non-root owner, loss with
 * retransmissions, destroyed sockets. Expected values are read off the line text itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSsLine, type TcpSocketInfo } from './ss-parse.js';

const L = {
  serverV4:
    'ESTAB      900    0               127.0.0.1:7001           127.0.0.1:53044 users:(("python3",pid=11052,fd=6)) ino:923224 sk:1008 cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.021/0.01 ato:40 mss:32768 pmtu:65535 rcvmss:1000 advmss:65483 cwnd:10 bytes_received:1000 segs_out:1 segs_in:3 data_segs_in:1 bbr:(bw:0bps,mrtt:0.021) send 124830476190bps lastsnd:316 lastrcv:316 lastack:316 pacing_rate 356746950160bps delivered:1 app_limited rcv_rtt:1 rcv_space:65483 rcv_ssthresh:70173 minrtt:0.021 snd_wnd:65536',
  clientV4:
    'ESTAB      0      0               127.0.0.1:53044          127.0.0.1:7001  users:(("python3",pid=11052,fd=5)) ino:923223 sk:100a cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.024/0.013 mss:35328 pmtu:65535 rcvmss:536 advmss:65483 cwnd:11 bytes_sent:1000 bytes_acked:1001 segs_out:3 segs_in:2 data_segs_out:1 bbr:(bw:25693083248bps,mrtt:0.011,pacing_gain:2.88672,cwnd_gain:2.88672) send 129536000000bps lastsnd:316 lastrcv:316 lastack:316 pacing_rate 287904345936bps delivery_rate 25693090904bps delivered:2 app_limited rcv_space:65495 rcv_ssthresh:65495 minrtt:0.011 snd_wnd:70656',
  timeWaitFinWait2: 'FIN-WAIT-2 0      0               127.0.0.1:53048          127.0.0.1:7001  timer:(timewait,59sec,0) ino:0 sk:100b',
  timeWait: 'TIME-WAIT 0      0      127.0.0.1:54936 127.0.0.1:7203  timer:(timewait,59sec,0) ino:0 sk:17f0',
  closeWait:
    'CLOSE-WAIT 1      0               127.0.0.1:7001           127.0.0.1:53048 ino:0 sk:100c cgroup:unreachable:1 --> ts sack bbr wscale:10,10 rto:204 rtt:0.015/0.007 ato:40 mss:32768 pmtu:65535 rcvmss:536 advmss:65483 cwnd:10 bytes_received:1 segs_out:1 segs_in:3 send 174762666667bps lastsnd:312 lastrcv:312 lastack:312 pacing_rate 499445730224bps delivered:1 app_limited rcv_space:65483 rcv_ssthresh:65483 minrtt:0.015 snd_wnd:65536',
  listenAny: 'LISTEN     0      128                     *:7002                   *:*     users:(("python3",pid=11052,fd=4)) ino:923222 sk:100d cgroup:unreachable:1 v6only:0 <-> bbr cwnd:10',
  listenScoped: 'LISTEN     0      128       [fe80::77:1]%d0:7003                [::]:*     users:(("python3",pid=11052,fd=12)) ino:923229 sk:100e cgroup:unreachable:1 v6only:1 <-> bbr cwnd:10',
  mapped:
    'ESTAB      0      0      [::ffff:127.0.0.1]:7002  [::ffff:127.0.0.1]:52056 users:(("python3",pid=11052,fd=11)) ino:923228 sk:100f cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.013/0.006 mss:32768 pmtu:65535 rcvmss:536 advmss:65483 cwnd:10 segs_in:2 bbr:(bw:0bps,mrtt:0.013) send 201649230769bps lastsnd:316 lastrcv:316 lastack:316 pacing_rate 576283534880bps delivered:1 app_limited rcv_space:65483 rcv_ssthresh:65483 minrtt:0.013 snd_wnd:65536',
  loopbackV6:
    'ESTAB      5000   0                   [::1]:49250              [::1]:7002  users:(("python3",pid=11052,fd=7)) ino:923225 sk:1011 cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.022/0.011 ato:40 mss:32768 pmtu:65536 rcvmss:5000 advmss:65464 cwnd:10 bytes_acked:1 bytes_received:5000 segs_out:3 segs_in:2 data_segs_in:1 bbr:(bw:0bps,mrtt:0.022,pacing_gain:1,cwnd_gain:1) send 119156363636bps lastsnd:316 lastrcv:316 lastack:316 pacing_rate 340157069080bps delivered:1 app_limited rcv_space:65476 rcv_ssthresh:107138 minrtt:0.022 snd_wnd:65536',
  scopedClient:
    'ESTAB      0      0         [fe80::77:1]%d0:52690       [fe80::77:1]:7003  users:(("python3",pid=11052,fd=13)) ino:923231 sk:1013 cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.029/0.014 mss:32732 pmtu:65536 rcvmss:536 advmss:65464 cwnd:10 bytes_acked:1 segs_out:2 segs_in:1 bbr:(bw:0bps,mrtt:0.029,pacing_gain:1,cwnd_gain:1) send 90295172414bps lastsnd:312 lastrcv:312 lastack:312 pacing_rate 258050159576bps delivered:1 app_limited rcv_space:65476 rcv_ssthresh:65476 minrtt:0.029 snd_wnd:65464',
  nonRoot: 'LISTEN    0      128    127.0.0.1:7204    0.0.0.0:*     users:(("python3",pid=16086,fd=3)) uid:65534 ino:949417 sk:17ee cgroup:unreachable:1 <-> bbr cwnd:10',
  notAccepted:
    'ESTAB     0      0      127.0.0.1:7202  127.0.0.1:49768 ino:0 sk:17ef cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.014/0.007 mss:32768 pmtu:65535 rcvmss:536 advmss:65483 cwnd:10 segs_in:2 bbr:(bw:0bps,mrtt:0.014) send 187245714286bps lastsnd:536 lastrcv:536 lastack:536 pacing_rate 535120425240bps delivered:1 app_limited rcv_space:65483 rcv_ssthresh:65483 minrtt:0.014 snd_wnd:65536',
  synSent:
    'SYN-SENT  0      1      127.0.0.1:49778 127.0.0.1:7202  users:(("my srv(x",pid=16042,fd=8)) timer:(on,464ms,0) ino:949405 sk:17f2 cgroup:unreachable:1 <-> bbr rto:1000 mss:524 pmtu:65535 rcvmss:88 advmss:65495 cwnd:10 segs_out:1 bbr:(bw:0bps,mrtt:0) lastsnd:17351832 lastrcv:17351832 lastack:17351832 app_limited unacked:1 rcv_ssthresh:65495',
  sharedByFork:
    'LISTEN    0      1      [fd77::5]:7201       [::]:*     users:(("my srv(x",pid=16085,fd=3),("my srv(x",pid=16042,fd=3)) ino:949400 sk:17f4 cgroup:unreachable:1 v6only:1 <-> bbr cwnd:10',
  lossy:
    'ESTAB 0      0      127.0.0.1:7102 127.0.0.1:7101 users:(("python3",pid=24454,fd=4)) ino:990414 sk:37a8 cgroup:unreachable:1 <-> ts sack bbr wscale:10,10 rto:204 rtt:0.24/0.385 mss:65483 pmtu:65535 rcvmss:536 advmss:65483 cwnd:13 bytes_sent:155000 bytes_retrans:55000 bytes_acked:100001 segs_out:9 segs_in:6 data_segs_out:7 bbr:(bw:43655322920bps,mrtt:0.012,pacing_gain:2.88672,cwnd_gain:2.88672) send 28375966667bps lastsnd:308 lastrcv:768 lastack:308 pacing_rate 258121113120bps delivery_rate 43655333328bps delivered:6 app_limited busy:416ms retrans:0/2 rcv_space:65495 rcv_ssthresh:65495 minrtt:0.012 snd_wnd:132096',
  destroyedServer:
    'UNCONN 0      0      127.0.0.1:7101 127.0.0.1:7102 ino:0 sk:7f6 ts sack wscale:10,10 rto:204 rtt:0.769/0.525 ato:40 mss:55296 pmtu:65535 rcvmss:47616 advmss:65483 cwnd:5 bytes_sent:7000 bytes_acked:7001 bytes_received:300000 segs_out:8 segs_in:13 data_segs_out:1 data_segs_in:9 send 2876254876bps lastsnd:1036 lastrcv:1036 pacing_rate 158027760000bps delivery_rate 21065142856bps delivered:3 retrans:0/2 rcv_rtt:0.09 rcv_space:198656 rcv_ssthresh:226198 minrtt:0.008 snd_wnd:110592',
  destroyedClient:
    'UNCONN 1      0      127.0.0.1:7102 127.0.0.1:7101 ino:0 sk:7f5 ts sack wscale:10,10 rto:2616 rtt:451.071/535.909 ato:40 mss:65483 pmtu:65535 rcvmss:7000 advmss:65483 cwnd:18 bytes_sent:300000 bytes_acked:300002 bytes_received:7001 segs_out:19 segs_in:11 data_segs_out:9 data_segs_in:1 send 20904807bps lastsnd:9440 lastrcv:9440 pacing_rate 187140693864bps delivery_rate 6984853328bps delivered:11 busy:8908ms retrans:0/1 rcv_space:65495 rcv_ssthresh:109760 minrtt:0.008 snd_wnd:226304',
  destroyedListener: 'UNCONN 0      0      127.0.0.1:7101   0.0.0.0:*    ino:0 sk:7f4 rto:1000 mss:536 cwnd:10 lastsnd:17305628 lastrcv:17305628 lastack:17305628 app_limited',
};

function parsed(line: string): TcpSocketInfo {
  const info = parseSsLine(line);
  assert.ok(info, `should parse: ${line.slice(0, 80)}`);
  return info;
}

test('IPv4 server socket: addresses, queues, owner, ids, tcp_info', () => {
  const s = parsed(L.serverV4);
  assert.equal(s.state, 'ESTABLISHED');
  assert.equal(s.recvQ, 900);
  assert.equal(s.sendQ, 0);
  assert.deepEqual([s.localIP, s.localPort, s.peerIP, s.peerPort], ['127.0.0.1', 7001, '127.0.0.1', 53044]);
  assert.equal(s.v4Mapped, false);
  assert.equal(s.localScope, undefined);
  assert.deepEqual(s.users, [{ comm: 'python3', pid: 11052, fd: 6 }]);
  assert.equal(s.inode, 923224);
  assert.equal(s.cookie, '1008');
  assert.equal(s.uid, 0, 'ss omits uid:0');
  assert.equal(s.rcvShutdown, false);
  assert.equal(s.sndShutdown, false);
  assert.equal(s.hasTcpInfo, true);
  assert.equal(s.srttUs, 21);
  assert.equal(s.rttvarUs, 10);
  assert.equal(s.minRttUs, 21, 'minrtt:, not bbr mrtt:');
  assert.equal(s.rtoMs, 204);
  assert.equal(s.bytesReceived, 1000);
  assert.equal(s.segsOut, 1);
  assert.equal(s.segsIn, 3);
  assert.equal(s.dataSegsIn, 1);
  assert.equal(s.lastSndMs, 316);
  assert.equal(s.lastRcvMs, 316);
  assert.equal(s.lastAckMs, 316);
  assert.equal(s.cwnd, 10);
  assert.equal(s.mss, 32768);
  for (const absent of ['bytesSent', 'bytesAcked', 'bytesRetrans', 'retransTotal', 'dataSegsOut', 'timer'] as const) {
    assert.equal(s[absent], undefined, `${absent} is not printed, so absent`);
  }
});

test('IPv4 client socket: bytes_sent / bytes_acked as printed', () => {
  const s = parsed(L.clientV4);
  assert.deepEqual([s.localIP, s.localPort, s.peerIP, s.peerPort], ['127.0.0.1', 53044, '127.0.0.1', 7001]);
  assert.equal(s.bytesSent, 1000);
  assert.equal(s.bytesAcked, 1001);
  assert.equal(s.dataSegsOut, 1);
  assert.equal(s.cookie, '100a');
  assert.equal(s.srttUs, 24);
  assert.equal(s.rttvarUs, 13);
  assert.equal(s.minRttUs, 11);
  assert.equal(s.cwnd, 11);
});

test('time-wait sockets: no tcp_info, timer, cookie, inode 0 without an owner uid', () => {
  for (const [line, state, port, cookie] of [
    [L.timeWaitFinWait2, 'FIN_WAIT2', 53048, '100b'],
    [L.timeWait, 'TIME_WAIT', 54936, '17f0'],
  ] as const) {
    const s = parsed(line);
    assert.equal(s.state, state);
    assert.equal(s.localPort, port);
    assert.equal(s.timer, 'timewait');
    assert.equal(s.inode, 0);
    assert.equal(s.cookie, cookie);
    assert.equal(s.uid, undefined);
    assert.equal(s.hasTcpInfo, false);
    assert.equal(s.users, undefined);
    assert.equal(s.srttUs, undefined);
  }
});

test('CLOSE-WAIT: receive side shut (-->), orphan without users', () => {
  const s = parsed(L.closeWait);
  assert.equal(s.state, 'CLOSE_WAIT');
  assert.equal(s.rcvShutdown, true);
  assert.equal(s.sndShutdown, false);
  assert.equal(s.users, undefined);
  assert.equal(s.bytesReceived, 1);
  assert.equal(s.srttUs, 15);
  assert.equal(s.rttvarUs, 7);
});

test('listeners: * wildcards, [::] peer, a scoped link-local address, several owners', () => {
  const any = parsed(L.listenAny);
  assert.equal(any.state, 'LISTEN');
  assert.deepEqual([any.localIP, any.localPort, any.peerIP, any.peerPort], ['*', 7002, '*', 0]);
  assert.equal(any.hasTcpInfo, true);
  const scoped = parsed(L.listenScoped);
  assert.deepEqual([scoped.localIP, scoped.localScope, scoped.localPort, scoped.peerIP, scoped.peerPort], ['fe80::77:1', 'd0', 7003, '::', 0]);
  const shared = parsed(L.sharedByFork);
  assert.deepEqual([shared.localIP, shared.localPort], ['fd77::5', 7201]);
  assert.deepEqual(shared.users, [
    { comm: 'my srv(x', pid: 16085, fd: 3 },
    { comm: 'my srv(x', pid: 16042, fd: 3 },
  ]);
  const nonRoot = parsed(L.nonRoot);
  assert.equal(nonRoot.uid, 65534);
  assert.equal(nonRoot.inode, 949417);
});

test('IPv4-mapped addresses read as IPv4; IPv6 loopback and scoped link-local', () => {
  const m = parsed(L.mapped);
  assert.deepEqual([m.localIP, m.localPort, m.peerIP, m.peerPort, m.v4Mapped], ['127.0.0.1', 7002, '127.0.0.1', 52056, true]);
  const v6 = parsed(L.loopbackV6);
  assert.deepEqual([v6.localIP, v6.localPort, v6.peerIP, v6.peerPort, v6.v4Mapped], ['::1', 49250, '::1', 7002, false]);
  assert.equal(v6.recvQ, 5000);
  assert.equal(v6.bytesAcked, 1);
  assert.equal(v6.bytesReceived, 5000);
  const scoped = parsed(L.scopedClient);
  assert.deepEqual([scoped.localIP, scoped.localScope, scoped.localPort, scoped.peerIP, scoped.peerPort], ['fe80::77:1', 'd0', 52690, 'fe80::77:1', 7003]);
});

test('a socket not yet accepted and a SYN-SENT one', () => {
  const q = parsed(L.notAccepted);
  assert.equal(q.inode, 0);
  assert.equal(q.users, undefined);
  assert.equal(q.uid, undefined);
  assert.equal(q.cookie, '17ef');
  const syn = parsed(L.synSent);
  assert.equal(syn.state, 'SYN_SENT');
  assert.equal(syn.sendQ, 1);
  assert.equal(syn.timer, 'on');
  assert.equal(syn.rtoMs, 1000);
  assert.equal(syn.segsOut, 1);
  assert.equal(syn.unacked, 1);
  assert.equal(syn.srttUs, undefined);
  assert.deepEqual(syn.users, [{ comm: 'my srv(x', pid: 16042, fd: 8 }]);
});

test('loss: retransmissions and retransmitted bytes', () => {
  const s = parsed(L.lossy);
  assert.equal(s.retransCurrent, 0);
  assert.equal(s.retransTotal, 2);
  assert.equal(s.bytesSent, 155000);
  assert.equal(s.bytesRetrans, 55000);
  assert.equal(s.bytesAcked, 100001);
  assert.equal(s.srttUs, 240);
  assert.equal(s.rttvarUs, 385);
  assert.equal(s.lastRcvMs, 768);
});

test('ss -E lines: destroyed sockets read as CLOSE with their last counters', () => {
  const server = parsed(L.destroyedServer);
  assert.equal(server.state, 'CLOSE');
  assert.equal(server.cookie, '7f6');
  assert.equal(server.retransTotal, 2);
  assert.equal(server.bytesReceived, 300000);
  assert.equal(server.bytesAcked, 7001);
  const client = parsed(L.destroyedClient);
  assert.equal(client.srttUs, 451071);
  assert.equal(client.rttvarUs, 535909);
  assert.equal(client.bytesSent, 300000);
  assert.equal(client.bytesAcked, 300002);
  const listener = parsed(L.destroyedListener);
  assert.deepEqual([listener.peerIP, listener.peerPort], ['0.0.0.0', 0]);
});

test('the column padding ss adds changes nothing', () => {
  for (const line of Object.values(L)) {
    assert.deepEqual(parseSsLine(`${line}${' '.repeat(300)}`), parseSsLine(line));
  }
});

test('garbage, headers and near misses give undefined', () => {
  const bad = [
    '',
    '   ',
    'State      Recv-Q Send-Q Local Address:Port  Peer Address:Port Process',
    'ESTAB 0 0 127.0.0.1:80',
    'ESTAB x 0 127.0.0.1:80 127.0.0.1:5000',
    'ESTAB 0 -1 127.0.0.1:80 127.0.0.1:5000',
    'SOMETHING 0 0 127.0.0.1:80 127.0.0.1:5000',
    'ESTAB 0 0 999.1.1.1:80 127.0.0.1:5000',
    'ESTAB 0 0 127.0.0.1:70000 127.0.0.1:5000',
    'ESTAB 0 0 127.0.0.1:http 127.0.0.1:5000',
    'ESTAB 0 0 [::1:80 127.0.0.1:5000',
    'ESTAB 0 0 [::1]%:80 [::1]:5000',
    'ESTAB 0 0 127.0.0.1:80 127.0.0.1:5000 users:(("python3",pid=1',
    'ESTAB 0 0 127.0.0.1:80 127.0.0.1:5000 users:(("python3",pid=x,fd=1))',
    'ESTAB 0 0 hostname:80 127.0.0.1:5000',
    '\u0000\u0001\u0002 ESTAB',
    `ESTAB 0 0 127.0.0.1:80 127.0.0.1:5000 ${'x'.repeat(70000)}`,
  ];
  for (const line of bad) assert.equal(parseSsLine(line), undefined, JSON.stringify(line.slice(0, 60)));
  assert.equal(parseSsLine(undefined as unknown as string), undefined);
  assert.equal(parseSsLine(42 as unknown as string), undefined);
});

test('malformed values of known words are left out, the rest of the line still read', () => {
  const s = parsed('ESTAB 0 0 127.0.0.1:80 127.0.0.1:5000 ino:abc sk:XYZ rtt:1/ retrans:a/b bytes_sent:-5 minrtt:0.5 cwnd:10');
  assert.equal(s.inode, undefined);
  assert.equal(s.cookie, undefined);
  assert.equal(s.srttUs, undefined);
  assert.equal(s.retransTotal, undefined);
  assert.equal(s.bytesSent, undefined);
  assert.equal(s.minRttUs, 500);
  assert.equal(s.cwnd, 10);
});

test('every prefix of every real line parses or gives undefined, never throws', () => {
  for (const line of Object.values(L)) {
    for (let n = 0; n <= line.length; n++) {
      const r = parseSsLine(line.slice(0, n));
      assert.ok(r === undefined || typeof r.localPort === 'number');
    }
  }
});
