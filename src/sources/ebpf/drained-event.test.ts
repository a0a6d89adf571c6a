/**
 * The drain's binary event records (drained-event.ts) against lines bpftrace 0.17 really printed on
 * this machine (the program of bpftrace-program.ts, a python3 client and server on loopback, the
 * process renamed with prctl(PR_SET_NAME) to `we<TAB>ird"\na<LF>me`), written as the records the
 * drain makes of the same map keys. Expected values are read off the line text by hand. Then
 * hostile input: records with bytes changed at random must never throw, and what reads is well
 * formed; the stream framing across chunk ends, with text records between events.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { SocketEvent } from './socket-event.js';
import { DRAINED_EVENT_BYTES, DrainedEvent } from './drained-event.js';
import { drainedEventOf, drainedRecord } from './drained-event.test-support.js';
import { forEachDrainRecord } from './ebpf-socket-source.js';
import { prng } from '../../../test/support/prng.js';

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

const payload = (line: string): string => (JSON.parse(line) as { data: string }).data;

const OFFSET_US = 1_795_366_000_000_000;

const drained = (data: string, offsetUs: number): SocketEvent | undefined => drainedEventOf(data, offsetUs);

function parse(line: string): SocketEvent {
  const ev = drained(payload(line), OFFSET_US);
  assert.ok(ev, `reads: ${line}`);
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
  const ev = drained(line.data.replace('\t3\t0\t1\t', '\t0\t0\t0\t'), 0);
  assert.ok(ev);
  assert.equal('sentBytes' in ev, false);
  assert.equal('receivedBytes' in ev, false);
});

test('c says where the program took pid/comm from: the socket\'s user (processContext), the listener\'s owner, or the running task', () => {
  const data = (line: string): string => (JSON.parse(line) as { data: string }).data;
  // The accepted socket's ESTABLISHED with c = 4 (OWNER_FROM_LISTENER), then 2 (OWNER_FROM_SOCKET).
  const accepted = data(ACCEPTED_MAPPED);
  const fromListener = drained(accepted.replace('\t3\t1\t0\t', '\t3\t1\t4\t'), 0);
  assert.deepEqual([fromListener?.pidFrom, fromListener?.processContext], ['listener', false]);
  const fromSocket = drained(accepted.replace('\t3\t1\t0\t', '\t3\t1\t2\t'), 0);
  assert.deepEqual([fromSocket?.pidFrom, fromSocket?.processContext], ['socket', true]);
  assert.equal(parse(ACCEPTED_MAPPED).pidFrom, undefined);
  // destroy: bit 1 counts bytes, bit 2 the socket's user.
  const destroy = drained(data(DESTROY_V6).replace('\t3\t0\t1\t', '\t3\t0\t3\t'), 0);
  assert.deepEqual([destroy?.pidFrom, destroy?.processContext, destroy?.sentBytes], ['socket', true, 3]);
  const destroyNoBytes = drained(data(DESTROY_V6).replace('\t3\t0\t1\t', '\t3\t0\t2\t'), 0);
  assert.deepEqual([destroyNoBytes?.pidFrom, destroyNoBytes?.sentBytes], ['socket', undefined]);
  assert.deepEqual([parse(DESTROY_V6).pidFrom, parse(DESTROY_V6).processContext], [undefined, false]);
});

/** A state line with the given IPv6 addresses in the program's columns. */
function v6Line(local: string, remote: string): string {
  return ['state', '1000', '7', '7', '1', '4026532000', 'ffff888100000000', '10', '0.0.0.0', '0.0.0.0', local, remote, '80', '40000', '3', '1', '0', 'x'].join('\t') + '\n';
}

test('IPv6 addresses come out in RFC 5952 form; a mapped one facing a real IPv6 one is refused', () => {
  const cases: [string, string][] = [
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['fd77:0:0:0:0:0:0:2', 'fd77::2'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['fe80:0:0:0:1:0:0:0', 'fe80::1:0:0:0'],
  ];
  for (const [printed, expected] of cases) {
    const ev = drained(v6Line(printed, '::ffff:10.77.1.2'), 0);
    assert.equal(ev, undefined, 'an IPv6 local address with an IPv4-mapped peer is no connection');
    const ok = drained(v6Line(printed, printed), 0);
    assert.ok(ok);
    assert.equal(ok.localIp, expected);
    assert.equal(ok.remoteIp, expected);
    assert.equal(ok.family, 6);
  }
  const mapped = drained(v6Line('::ffff:10.77.1.1', '::ffff:10.77.1.2'), 0);
  assert.deepEqual([mapped?.family, mapped?.localIp, mapped?.remoteIp], [4, '10.77.1.1', '10.77.1.2']);
  const unbound = drained(v6Line('::', '::ffff:10.77.1.2'), 0);
  assert.deepEqual([unbound?.family, unbound?.localIp, unbound?.remoteIp], [4, '0.0.0.0', '10.77.1.2']);
});

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

test('random byte changes in real records never throw, and what reads is well formed', () => {
  const rand = prng(0x5eed);
  const records = REAL_LINES.map((l) => drainedRecord(payload(l)));
  const reader = new DrainedEvent();
  let read = 0;
  for (let i = 0; i < 50_000; i++) {
    const bytes = Uint8Array.from(records[Math.floor(rand() * records.length)]!);
    const edits = 1 + Math.floor(rand() * 4);
    for (let e = 0; e < edits; e++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    if (reader.read(bytes, new DataView(bytes.buffer), 0, 0)) {
      read++;
      assertWellFormed(reader.toSocketEvent());
    }
  }
  assert.ok(read > 10_000, `most changes (addresses, comm, numbers) still read: ${read}`);
  const again = drainedRecord(payload(LISTEN_V6));
  assert.ok(reader.read(again, new DataView(again.buffer), 0, OFFSET_US));
  assert.deepEqual(reader.toSocketEvent(), parse(LISTEN_V6), 'the reader is reusable after refusals');
});

test('records no program of ours stores are refused: unknown kind or family, a state that is none, another tag', () => {
  const base = payload(ACCEPTED_MAPPED);
  const reader = new DrainedEvent();
  const refused = (bytes: Uint8Array, why: string): void => assert.equal(reader.read(bytes, new DataView(bytes.buffer), 0, 0), false, why);
  const changed = (offset: number, value: number): Uint8Array => {
    const bytes = drainedRecord(base);
    bytes[offset] = value;
    return bytes;
  };
  refused(changed(0, 0x2b), 'tag');
  refused(changed(1, 7), 'kind 7');
  refused(changed(1, 255), 'kind 255');
  refused(changed(2, 3), 'family 3');
  refused(drainedRecord(base.replace('\t3\t1\t0\t', '\t0\t1\t0\t')), 'old state 0');
  refused(drainedRecord(base.replace('\t3\t1\t0\t', '\t3\t13\t0\t')), 'new state 13');
  const ok = drainedRecord(base);
  assert.equal(reader.read(ok, new DataView(ok.buffer), 0, 0), true);
});

test('the stream framing: records cut anywhere by chunk ends, text records between them, an overlong text dropped', async () => {
  const events = REAL_LINES.map((l) => drainedRecord(payload(l)));
  const text = (s: string): Uint8Array => Buffer.from(s + '\0');
  const stream = Buffer.concat([text('+65536'), events[0]!, events[1]!, text('#full'), events[2]!, ...events.slice(3), text('?why')]);
  for (const cut of [1, 7, DRAINED_EVENT_BYTES - 1, DRAINED_EVENT_BYTES, DRAINED_EVENT_BYTES + 3, 1000]) {
    const input = new PassThrough();
    const seen: string[] = [];
    let overlong = 0;
    const reader = new DrainedEvent();
    forEachDrainRecord(
      input,
      (bytes, view, at) => {
        assert.ok(reader.read(bytes, view, at, OFFSET_US));
        seen.push(reader.toSocketEvent().kind);
      },
      (t) => seen.push(t),
      () => overlong++,
    );
    for (let at = 0; at < stream.length; at += cut) input.write(stream.subarray(at, at + cut));
    input.end();
    await new Promise((resolve) => input.on('end', resolve));
    assert.deepEqual(seen, ['+65536', 'state', 'state', '#full', 'state', 'rtt', 'io', 'destroy', 'send_reset', 'receive_reset', 'send_reset', '?why'], `chunks of ${cut}`);
    assert.equal(overlong, 0);
  }
  const input = new PassThrough();
  let overlong = 0;
  const seen: string[] = [];
  forEachDrainRecord(input, () => seen.push('event'), (t) => seen.push(t), () => overlong++);
  input.write(Buffer.alloc(70_000, 0x21));
  input.write(text('+1'));
  input.end();
  await new Promise((resolve) => input.on('end', resolve));
  assert.deepEqual([overlong, seen], [1, ['+1']]);
});
