/**
 * The bpftrace line parser against lines bpftrace 0.17 really printed on this machine (the
 * program of bpftrace-program.ts, a python3 client and server on loopback, the process renamed
 * with prctl(PR_SET_NAME) to `we<TAB>ird"\na<LF>me`). Expected values are read off the line text
 * by hand. Then hostile input: every prefix, random mutations, garbage; the parser must never
 * throw and must still parse a good line afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBpftraceData, parseBpftraceLine, runsInProcessContext, type SocketEvent, type TcpStateName } from './socket-event.js';

const WEIRD_COMM = 'we\tird"\\na\nme';

/** Real `-f json` lines (IPv6 listener on ::, IPv6 and IPv4 clients, a refused IPv6 connect). */
const LISTEN_V6 = String.raw`{"type": "printf", "data": "state\t18019622486655\t22606\t22606\t1\t4026531833\tffff888104dcce00\t10\t0.0.0.0\t0.0.0.0\t::\t::\t32855\t0\t7\t10\t0\twe\tird\"\\na\nme\n"}`;
const SYN_SENT_V6 = String.raw`{"type": "printf", "data": "state\t18019625170328\t22606\t22606\t1\t4026531833\tffff888104dce180\t10\t0.0.0.0\t0.0.0.0\t::1\t::1\t0\t32855\t7\t2\t0\twe\tird\"\\na\nme\n"}`;
const ACCEPTED_MAPPED = String.raw`{"type": "printf", "data": "state\t18019625967575\t22606\t22606\t1\t4026531833\tffff888104dcb0c0\t10\t127.0.0.1\t127.0.0.1\t::ffff:127.0.0.1\t::ffff:127.0.0.1\t32855\t36566\t3\t1\t0\twe\tird\"\\na\nme\n"}`;
const RTT_V6 = String.raw`{"type": "printf", "data": "rtt\t18019625415425\t22606\t22606\t1\t4026531833\tffff888104dcb0c0\t10\t127.0.0.6\t127.0.0.6\t::1\t::1\t32855\t36964\t60\t10\t0\twe\tird\"\\na\nme\n"}`;
const IO_V6 = String.raw`{"type": "printf", "data": "io\t18019625540008\t22606\t22606\t1\t4026531833\tffff888104dce180\t10\t127.0.0.6\t0.0.0.0\t::1\t::1\t36964\t32855\t3\t0\t0\twe\tird\"\\na\nme\n"}`;
const DESTROY_V6 = String.raw`{"type": "printf", "data": "destroy\t18019625713261\t22606\t22606\t1\t4026531833\tffff888104dce180\t10\t0.0.0.0\t0.0.0.0\t::1\t::1\t36964\t32855\t3\t0\t1\twe\tird\"\\na\nme\n"}`;
const SEND_RESET_NO_SOCKET_V6 = String.raw`{"type": "printf", "data": "send_reset\t18019626363333\t22606\t22606\t1\t4026531833\t0\t10\t0.0.0.0\t0.0.0.0\t::1\t::1\t1\t58504\t0\t0\t0\twe\tird\"\\na\nme\n"}`;
const RECEIVE_RESET_V6 = String.raw`{"type": "printf", "data": "receive_reset\t18019626391335\t22606\t22606\t1\t4026531833\tffff888104dcb0c0\t10\t0.0.0.0\t0.0.0.0\t::1\t::1\t58504\t1\t2\t0\t0\twe\tird\"\\na\nme\n"}`;
/** IPv4, reset for no socket: the IPv6 columns hold whatever bytes the IPv4 header had there. */
const SEND_RESET_NO_SOCKET_V4 = String.raw`{"type": "printf", "data": "send_reset\t17736130451817\t17199\t17199\t1\t4026531833\t0\t2\t127.0.0.1\t127.0.0.1\ta77b:d515::a002:ffd7:fe30:0\t4006:becc:7f00:1:7f00:1:e3a8:1\t1\t58280\t0\t0\t0\tpython3\n"}`;

const REAL_LINES = [LISTEN_V6, SYN_SENT_V6, ACCEPTED_MAPPED, RTT_V6, IO_V6, DESTROY_V6, SEND_RESET_NO_SOCKET_V6, RECEIVE_RESET_V6, SEND_RESET_NO_SOCKET_V4];

const OFFSET_US = 1_795_366_000_000_000;

function parse(line: string): SocketEvent {
  const ev = parseBpftraceLine(line, OFFSET_US);
  assert.ok(ev, `parses: ${line}`);
  return ev;
}

test('LISTEN on :: by the listening process: trusted pid/comm, no peer, wall time = kernel time + offset', () => {
  assert.deepEqual(parse(LISTEN_V6), {
    kind: 'state',
    tsNs: 18019622486655,
    tsUs: 18019622487 + OFFSET_US,
    pid: 22606,
    tid: 22606,
    comm: WEIRD_COMM,
    processContext: true,
    cgroupId: 1,
    netns: 4026531833,
    socketId: 'ffff888104dcce00',
    family: 6,
    localIp: '::',
    localPort: 32855,
    oldState: 'TCP_CLOSE',
    newState: 'TCP_LISTEN',
  });
});

test('SYN_SENT before the kernel picked the local port: localPort absent, trusted', () => {
  const ev = parse(SYN_SENT_V6);
  assert.equal(ev.processContext, true);
  assert.equal(ev.localPort, undefined);
  assert.equal(ev.localIp, '::1');
  assert.equal(ev.remoteIp, '::1');
  assert.equal(ev.remotePort, 32855);
  assert.equal(ev.newState, 'TCP_SYN_SENT');
});

test('an IPv6 socket accepting an IPv4 client is an IPv4 connection: mapped addresses as IPv4, untrusted', () => {
  const ev = parse(ACCEPTED_MAPPED);
  assert.equal(ev.family, 4);
  assert.equal(ev.localIp, '127.0.0.1');
  assert.equal(ev.remoteIp, '127.0.0.1');
  assert.equal(ev.localPort, 32855);
  assert.equal(ev.remotePort, 36566);
  assert.deepEqual([ev.oldState, ev.newState, ev.processContext], ['TCP_SYN_RECV', 'TCP_ESTABLISHED', false]);
});

test('kind-specific values: rtt, io, destroy byte totals, resets', () => {
  const rtt = parse(RTT_V6);
  assert.deepEqual([rtt.kind, rtt.srttUs, rtt.sndCwnd, rtt.processContext], ['rtt', 60, 10, false]);
  const io = parse(IO_V6);
  assert.deepEqual([io.kind, io.sentBytes, io.receivedBytes, io.processContext, io.localPort, io.remotePort], ['io', 3, 0, true, 36964, 32855]);
  const destroy = parse(DESTROY_V6);
  assert.deepEqual([destroy.kind, destroy.sentBytes, destroy.receivedBytes, destroy.localIp], ['destroy', 3, 0, '::1']);
  const rr = parse(RECEIVE_RESET_V6);
  assert.deepEqual([rr.kind, rr.state, rr.socketId, rr.localPort, rr.remotePort], ['receive_reset', 'TCP_SYN_SENT', 'ffff888104dcb0c0', 58504, 1]);
  const sr = parse(SEND_RESET_NO_SOCKET_V6);
  assert.deepEqual([sr.kind, sr.socketId, sr.state, sr.localIp, sr.localPort, sr.remoteIp, sr.remotePort], ['send_reset', undefined, undefined, '::1', 1, '::1', 58504]);
  const sr4 = parse(SEND_RESET_NO_SOCKET_V4);
  assert.deepEqual([sr4.family, sr4.localIp, sr4.localPort, sr4.remoteIp, sr4.remotePort, sr4.comm], [4, '127.0.0.1', 1, '127.0.0.1', 58280, 'python3']);
});

test('destroy without byte counting (c = 0, kernel lacks sock_send_length) has no byte fields', () => {
  const line = JSON.parse(DESTROY_V6) as { data: string };
  const ev = parseBpftraceData(line.data.replace('\t3\t0\t1\t', '\t0\t0\t0\t'), 0);
  assert.ok(ev);
  assert.equal('sentBytes' in ev, false);
  assert.equal('receivedBytes' in ev, false);
});

test('c says where the program took pid/comm from: the socket\'s user (processContext), the listener\'s owner, or the running task', () => {
  const data = (line: string): string => (JSON.parse(line) as { data: string }).data;
  // The accepted socket's ESTABLISHED with c = 4 (OWNER_FROM_LISTENER), then 2 (OWNER_FROM_SOCKET).
  const accepted = data(ACCEPTED_MAPPED);
  const fromListener = parseBpftraceData(accepted.replace('\t3\t1\t0\t', '\t3\t1\t4\t'), 0);
  assert.deepEqual([fromListener?.pidFrom, fromListener?.processContext], ['listener', false]);
  const fromSocket = parseBpftraceData(accepted.replace('\t3\t1\t0\t', '\t3\t1\t2\t'), 0);
  assert.deepEqual([fromSocket?.pidFrom, fromSocket?.processContext], ['socket', true]);
  assert.equal(parse(ACCEPTED_MAPPED).pidFrom, undefined);
  // destroy: bit 1 counts bytes, bit 2 the socket's user.
  const destroy = parseBpftraceData(data(DESTROY_V6).replace('\t3\t0\t1\t', '\t3\t0\t3\t'), 0);
  assert.deepEqual([destroy?.pidFrom, destroy?.processContext, destroy?.sentBytes], ['socket', true, 3]);
  const destroyNoBytes = parseBpftraceData(data(DESTROY_V6).replace('\t3\t0\t1\t', '\t3\t0\t2\t'), 0);
  assert.deepEqual([destroyNoBytes?.pidFrom, destroyNoBytes?.sentBytes], ['socket', undefined]);
  assert.deepEqual([parse(DESTROY_V6).pidFrom, parse(DESTROY_V6).processContext], [undefined, false]);
});

/** A state line with the given IPv6 addresses in the program's columns. */
function v6Line(local: string, remote: string): string {
  return ['state', '1000', '7', '7', '1', '4026532000', 'ffff888100000000', '10', '0.0.0.0', '0.0.0.0', local, remote, '80', '40000', '3', '1', '0', 'x'].join('\t') + '\n';
}

test('IPv6 text is re-formatted to RFC 5952 whatever bpftrace printed', () => {
  const cases: [string, string][] = [
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['fd77:0:0:0:0:0:0:2', 'fd77::2'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['fe80:0:0:0:1:0:0:0', 'fe80::1:0:0:0'],
  ];
  for (const [printed, expected] of cases) {
    const ev = parseBpftraceData(v6Line(printed, '::ffff:10.77.1.2'), 0);
    assert.equal(ev, undefined, 'an IPv6 local address with an IPv4-mapped peer is no connection');
    const ok = parseBpftraceData(v6Line(printed, printed), 0);
    assert.ok(ok);
    assert.equal(ok.localIp, expected);
    assert.equal(ok.remoteIp, expected);
    assert.equal(ok.family, 6);
  }
  const mapped = parseBpftraceData(v6Line('::ffff:10.77.1.1', '::ffff:10.77.1.2'), 0);
  assert.deepEqual([mapped?.family, mapped?.localIp, mapped?.remoteIp], [4, '10.77.1.1', '10.77.1.2']);
  const unbound = parseBpftraceData(v6Line('::', '::ffff:10.77.1.2'), 0);
  assert.deepEqual([unbound?.family, unbound?.localIp, unbound?.remoteIp], [4, '0.0.0.0', '10.77.1.2']);
});

test('processContext: only transitions a system call alone can cause', () => {
  const cases: [TcpStateName, TcpStateName, boolean][] = [
    ['TCP_CLOSE', 'TCP_SYN_SENT', true],
    ['TCP_CLOSE', 'TCP_LISTEN', true],
    ['TCP_LISTEN', 'TCP_CLOSE', true],
    ['TCP_ESTABLISHED', 'TCP_FIN_WAIT1', true],
    ['TCP_SYN_RECV', 'TCP_FIN_WAIT1', true],
    ['TCP_CLOSE_WAIT', 'TCP_LAST_ACK', true],
    ['TCP_SYN_SENT', 'TCP_ESTABLISHED', false],
    ['TCP_LISTEN', 'TCP_SYN_RECV', false],
    ['TCP_SYN_RECV', 'TCP_ESTABLISHED', false],
    ['TCP_ESTABLISHED', 'TCP_CLOSE_WAIT', false],
    ['TCP_ESTABLISHED', 'TCP_CLOSE', false],
    ['TCP_SYN_SENT', 'TCP_CLOSE', false],
    ['TCP_FIN_WAIT1', 'TCP_FIN_WAIT2', false],
    ['TCP_FIN_WAIT2', 'TCP_CLOSE', false],
    ['TCP_LAST_ACK', 'TCP_CLOSE', false],
  ];
  for (const [from, to, expected] of cases) assert.equal(runsInProcessContext('state', from, to), expected, `${from} → ${to}`);
  assert.equal(runsInProcessContext('io'), true);
  for (const kind of ['retransmit', 'receive_reset', 'send_reset', 'rtt', 'destroy'] as const) assert.equal(runsInProcessContext(kind), false, kind);
});

test('every prefix of a line: the JSON line never parses, the payload only once comm has begun', () => {
  for (const line of REAL_LINES) {
    const full = parseBpftraceLine(line, 0);
    for (let k = 0; k < line.length; k++) assert.equal(parseBpftraceLine(line.slice(0, k), 0), undefined, `prefix ${k} of ${line}`);
    const data = (JSON.parse(line) as { data: string }).data;
    const commStart = data.split('\t').slice(0, 17).join('\t').length + 1;
    for (let k = 0; k <= data.length; k++) {
      const ev = parseBpftraceData(data.slice(0, k), 0);
      if (k < commStart) {
        assert.equal(ev, undefined, `payload prefix ${k}`);
      } else {
        assert.ok(ev, `payload prefix ${k}`);
        assert.equal(ev.comm, data.slice(commStart, k).replace(/\n$/, ''));
      }
    }
    assert.deepEqual(parseBpftraceLine(line, 0), full, 'still parses after the ladder');
  }
});

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function assertWellFormed(ev: SocketEvent): void {
  assert.ok(['state', 'retransmit', 'receive_reset', 'send_reset', 'rtt', 'destroy', 'io'].includes(ev.kind));
  assert.ok(ev.family === 4 || ev.family === 6);
  for (const n of [ev.tsNs, ev.tsUs, ev.pid, ev.tid]) assert.ok(Number.isFinite(n) && n >= 0);
  if (ev.cgroupId !== undefined) assert.ok(Number.isFinite(ev.cgroupId) && ev.cgroupId > 0);
  for (const port of [ev.localPort, ev.remotePort]) if (port !== undefined) assert.ok(Number.isInteger(port) && port > 0 && port <= 65535);
  assert.equal(typeof ev.comm, 'string');
  assert.equal(typeof ev.localIp, 'string');
  if (ev.kind === 'state') assert.ok(ev.oldState !== undefined && ev.newState !== undefined);
}

test('random mutations of real payloads never throw, and what parses is well formed', () => {
  const rand = prng(0x5eed);
  const alphabet = '0123456789abcdef\t\n:.-x"\\{} \u0000\u00e9\ud83d';
  const payloads = REAL_LINES.map((l) => (JSON.parse(l) as { data: string }).data);
  let parsed = 0;
  for (let i = 0; i < 20_000; i++) {
    let s = payloads[Math.floor(rand() * payloads.length)]!;
    const edits = 1 + Math.floor(rand() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(rand() * (s.length + 1));
      const ch = alphabet[Math.floor(rand() * alphabet.length)]!;
      const op = rand();
      s = op < 0.4 ? s.slice(0, at) + ch + s.slice(at + 1) : op < 0.7 ? s.slice(0, at) + ch + s.slice(at) : s.slice(0, at) + s.slice(at + 1);
    }
    const ev = parseBpftraceData(s, 0);
    if (ev) {
      parsed++;
      assertWellFormed(ev);
    }
    assert.equal(parseBpftraceLine(JSON.stringify({ type: 'printf', data: s }), 0)?.kind, ev?.kind);
  }
  assert.ok(parsed > 0, 'some mutations (inside comm, say) still parse');
  assert.deepEqual(parseBpftraceLine(LISTEN_V6, OFFSET_US), parse(LISTEN_V6));
});

test('garbage and other bpftrace messages give undefined', () => {
  const garbage = [
    '',
    ' ',
    '{',
    'null',
    '[]',
    '"printf"',
    '{"type":"printf"}',
    '{"type":"printf","data":5}',
    '{"type":"printf","data":null}',
    '{"type": "attached_probes", "data": {"probes": 10}}',
    '{"type": "lost_events", "data": {"events": 3}}',
    '{"type": "map", "data": {"@sent": {}}}',
    'Attaching 10 probes...',
    'ERROR: Unknown error -1: couldn\'t set RLIMIT_MEMLOCK for bpftrace.',
    JSON.stringify({ type: 'printf', data: 'x'.repeat(1_000_000) }),
    JSON.stringify({ type: 'printf', data: '\t'.repeat(5000) }),
    JSON.stringify({ type: 'printf', data: 'state\t1\t2\t3\t4\t5\t6\t7\t8\t9\t10\t11\t12\t13\t14\t15\t16\tc' }),
    JSON.stringify({ type: 'printf', data: 'state\t99999999999999999999999\t1\t1\t1\t1\tff\t2\t1.2.3.4\t1.2.3.4\t::\t::\t1\t1\t1\t1\t0\tc' }),
    JSON.stringify({ type: 'printf', data: 'state\t1\t1\t1\t1\t1\tff\t2\t1.2.3.4\t1.2.3.4\t::\t::\t70000\t1\t1\t1\t0\tc' }),
    JSON.stringify({ type: 'printf', data: 'state\t1\t1\t1\t1\t1\tff\t2\t1.2.3.4\t1.2.3.4\t::\t::\t1\t1\t1\t13\t0\tc' }),
    JSON.stringify({ type: 'printf', data: 'state\t1\t-1\t1\t1\t1\tff\t2\t1.2.3.4\t1.2.3.4\t::\t::\t1\t1\t1\t1\t0\tc' }),
    JSON.stringify({ type: 'printf', data: 'state\t1\t1\t1\t1\t1\tff\t3\t1.2.3.4\t1.2.3.4\t::\t::\t1\t1\t1\t1\t0\tc' }),
    JSON.stringify({ type: 'printf', data: 'nope\t1\t1\t1\t1\t1\tff\t2\t1.2.3.4\t1.2.3.4\t::\t::\t1\t1\t1\t1\t0\tc' }),
    JSON.stringify({ type: 'printf', data: 'state\t1\t1\t1\t1\t1\tzz\t2\t1.2.3.4\t1.2.3.4\t::\t::\t1\t1\t1\t1\t0\tc' }),
    JSON.stringify({ type: 'printf', data: 'state\t1\t1\t1\t1\t1\tff\t2\t1.2.3.256\t1.2.3.4\t::\t::\t1\t1\t1\t1\t0\tc' }),
    '\u0000\u0001\u0002',
    '{"__proto__": {"type": "printf"}, "data": "x"}',
  ];
  for (const g of garbage) assert.equal(parseBpftraceLine(g, 0), undefined, g.slice(0, 80));
});
