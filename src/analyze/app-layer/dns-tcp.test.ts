/**
 * DNS over TCP: the framer against streams cut at every possible place, and responses through
 * the pipeline on connections built here: an NXDOMAIN answer split across segments (its length
 * prefix cut in two) raises 00103 with the answer's question, and an A answer names a later
 * flow from that client to that address; a TCP failure leaves nothing behind for the UDP flow
 * that takes its table slot next. The expected values are what the test put in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { DnsTcpFramer } from './dns-tcp.js';
import { analyzeCaptureFile } from '../../cli/analyze-file.js';
import { ethernet, ipv4, pcapFile, tcp, udp } from '../../../test/support/packet-builder.js';
import { ETHERTYPE_IPV4 } from '../../wire/ethertypes.js';
import { LINKTYPE_ETHERNET } from '../../wire/linktypes.js';
import { TCP_ACK as ACK, TCP_FIN as FIN, TCP_PSH as PSH, TCP_SYN as SYN } from '../../wire/tcp-flags.js';

function framed(messages: Uint8Array[]): Uint8Array {
  const total = messages.reduce((n, m) => n + 2 + m.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const m of messages) {
    out[at] = m.length >> 8;
    out[at + 1] = m.length & 0xff;
    out.set(m, at + 2);
    at += 2 + m.length;
  }
  return out;
}

function collect(stream: Uint8Array, cuts: number[]): number[][] {
  const got: number[][] = [];
  const framer = new DnsTcpFramer((data, start, end) => got.push([...data.subarray(start, end)]));
  let from = 0;
  for (const cut of [...cuts, stream.length]) {
    // Each segment in a buffer of its own, with bytes around it the framer must not read.
    const segment = new Uint8Array(cut - from + 6).fill(0xee);
    segment.set(stream.subarray(from, cut), 3);
    framer.feed(segment, 3, 3 + cut - from);
    from = cut;
  }
  return got;
}

test('the framer yields each message whole wherever the stream is cut', () => {
  const messages = [new Uint8Array([1, 2, 3]), new Uint8Array(0), Uint8Array.from({ length: 700 }, (_v, i) => i & 0xff), new Uint8Array([9])];
  const stream = framed(messages);
  const expected = messages.map((m) => [...m]);
  assert.deepEqual(collect(stream, []), expected);
  for (let a = 1; a < stream.length; a++) {
    assert.deepEqual(collect(stream, [a]), expected, `one cut at ${a}`);
  }
  for (let a = 1; a < 12; a++) {
    for (let b = a + 1; b < stream.length; b += 7) assert.deepEqual(collect(stream, [a, b]), expected, `cuts at ${a}, ${b}`);
  }
  // One byte at a time.
  assert.deepEqual(collect(stream, Array.from({ length: stream.length - 1 }, (_v, i) => i + 1)), expected);
  // A message not yet complete is not handed on.
  assert.deepEqual(collect(stream.subarray(0, stream.length - 1), []), expected.slice(0, 3));
});

const PROTO_TCP = 6;
const CLIENT = '10.77.207.1';
const RESOLVER = '10.77.207.2';
const WEB = '10.77.207.80';

function query(id: number, name: string): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }));
}

function response(id: number, name: string, rcode: number, answers: dnsPacket.Answer[] = []): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ type: 'response', id, flags: rcode, questions: [{ type: 'A', name }], answers }));
}

/** A TCP connection to the resolver: handshake, the framed query, the framed answer in the given
 *  pieces (cut at those offsets of the framed bytes), FINs. */
function dnsOverTcp(port: number, q: Uint8Array, answer: Uint8Array, cuts: number[]): Uint8Array[] {
  const c = (flags: number, seq: number, ack: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array =>
    ethernet(ETHERTYPE_IPV4, ipv4(CLIENT, RESOLVER, PROTO_TCP, tcp(port, 53, flags, seq, payload, ack)));
  const s = (flags: number, seq: number, ack: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array =>
    ethernet(ETHERTYPE_IPV4, ipv4(RESOLVER, CLIENT, PROTO_TCP, tcp(53, port, flags, seq, payload, ack)));
  const qBytes = framed([q]);
  const aBytes = framed([answer]);
  const out = [c(SYN, 100, 0), s(SYN | ACK, 9000, 101), c(ACK, 101, 9001), c(PSH | ACK, 101, 9001, qBytes)];
  const cl = 101 + qBytes.length;
  let from = 0;
  for (const cut of [...cuts, aBytes.length]) {
    out.push(s(PSH | ACK, 9001 + from, cl, aBytes.subarray(from, cut)));
    from = cut;
  }
  const sl = 9001 + aBytes.length;
  out.push(c(FIN | ACK, cl, sl), s(FIN | ACK, sl, cl + 1), c(ACK, cl + 1, sl + 1));
  return out;
}

test('DNS over TCP: a split NXDOMAIN raises 00103, an A answer names the client\'s next flow', async () => {
  const packets = [
    ...dnsOverTcp(41001, query(1, 'missing.tcp.example'), response(1, 'missing.tcp.example', 3), [1, 20]),
    ...dnsOverTcp(41002, query(2, 'www.tcp.example'), response(2, 'www.tcp.example', 0, [{ type: 'A', name: 'www.tcp.example', ttl: 300, data: WEB }]), []),
    ethernet(ETHERTYPE_IPV4, ipv4(CLIENT, WEB, PROTO_TCP, tcp(41003, 443, SYN, 5000, new Uint8Array(0)))),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'dllt-dns-tcp-'));
  try {
    const path = join(dir, 'dns-tcp.pcap');
    writeFileSync(path, pcapFile(LINKTYPE_ETHERNET, packets));
    const { output } = await analyzeCaptureFile(path);
    const failures = output.events.filter((e) => e.code === '00103').map((e) => [e.proto, e.srcPort, e.value, e.side]);
    assert.deepEqual(failures, [['tcp', 41001, 'NXDOMAIN missing.tcp.example A', 'dst']]);
    const named = output.ended.filter((f) => f.serverName !== undefined).map((f) => [f.dstIP, f.dstPort, f.serverName, f.serverNameTtl]);
    assert.deepEqual(named, [[WEB, 443, 'www.tcp.example', 300]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a DNS-over-TCP failure leaves nothing behind for the next flow in its table slot', async () => {
  const udpQuery = (port: number, message: Uint8Array): Uint8Array =>
    ethernet(ETHERTYPE_IPV4, ipv4(CLIENT, RESOLVER, 17, udp(port, 53, message)));
  // Packets of one other flow, which exists before the others: they only move packet time.
  const filler = (n: number): Uint8Array[] => Array.from({ length: n }, () => ethernet(ETHERTYPE_IPV4, ipv4(CLIENT, WEB, 17, udp(41013, 9999, new Uint8Array(8)))));
  const packets = [
    ...filler(1),
    ...dnsOverTcp(41011, query(11, 'missing.tcp.example'), response(11, 'missing.tcp.example', 3), []),
    // DLLT_TCP_CLOSING_S=3 (packets are a second apart): four seconds after its last ACK the
    // connection has ended and its table slot is free; the next new flow takes it.
    ...filler(4),
    udpQuery(41012, query(12, 'fresh.udp.example')),
    // Past the 5 s a resolver waits: the UDP query is unanswered when the file ends.
    ...filler(6),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'dllt-dns-tcp-slot-'));
  try {
    const path = join(dir, 'dns-tcp-slot.pcap');
    writeFileSync(path, pcapFile(LINKTYPE_ETHERNET, packets));
    const { output } = await analyzeCaptureFile(path, { DLLT_TCP_CLOSING_S: '3' });
    const failures = output.events.filter((e) => e.code === '00103').map((e) => [e.proto, e.srcPort, e.value]);
    assert.deepEqual(failures, [['tcp', 41011, 'NXDOMAIN missing.tcp.example A'], ['udp', 41012, 'no_answer fresh.udp.example A']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
