/**
 * Hostile bytes are normal input: real TLS conversations from the corpus and hand-built ones,
 * mutated (bit flips, truncations, dropped and duplicated segments, random length fields,
 * random bytes, swapped directions, gaps) and fed at random cut points, must never throw,
 * must keep the listener contract (one violation at most, nothing after it), and must leave a
 * fresh session parsing a good ClientHello exactly (msgpack-javascript's reuse-after-error check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TlsSession, TLS_VIOLATION_NAMES } from './tls-session.js';
import { readTcpConnections, tlsStartIndex, type StreamChunk } from './tcp-streams.test-support.js';
import { RecordingListener, type ListenerCall } from './tls-observation.test-support.js';
import {
  APPLICATION_DATA,
  CCS_RECORD,
  alertRecord,
  clientHelloRecord,
  concat,
  opaqueRecord,
  serverHelloRecord,
} from './tls-builders.test-support.js';
import { prng } from '../../../test/support/prng.js';

const ITERATIONS = 25_000;
const CORPUS_SEEDS = [
  'zeek-tls-tls1.2.pcap',
  'zeek-tls-tls13_wolfssl.pcap',
  'zeek-tls-hrr.pcap',
  'zeek-tls-tls-early-alert.pcap',
  'zeek-tls-certificate-request-failed.pcap',
  'zeek-tls-tls-1.2-handshake-failure.pcap',
];

type Chunk = { dir: 0 | 1; bytes: Uint8Array | null };

function synthetic13(): Chunk[] {
  return [
    { dir: 0, bytes: clientHelloRecord({ sni: 'fuzz.example', alpn: ['h2'], versions: [0x0304, 0x0303] }) },
    { dir: 1, bytes: concat(serverHelloRecord({ selected: 0x0304 }), CCS_RECORD, opaqueRecord(APPLICATION_DATA, 900)) },
    { dir: 0, bytes: concat(CCS_RECORD, opaqueRecord(APPLICATION_DATA, 60), alertRecord(1, 0)) },
  ];
}

function mutate(seed: readonly Chunk[], random: () => number): Chunk[] {
  const int = (n: number): number => Math.floor(random() * n);
  const chunks: Chunk[] = seed.map((c) => ({ dir: c.dir, bytes: c.bytes === null ? null : c.bytes.slice() }));
  const mutations = 1 + int(4);
  for (let m = 0; m < mutations && chunks.length > 0; m++) {
    const i = int(chunks.length);
    const c = chunks[i]!;
    const bytes = c.bytes;
    switch (int(9)) {
      case 0: // bit flip
        if (bytes !== null && bytes.length > 0) bytes[int(bytes.length)]! ^= 1 << int(8);
        break;
      case 1: // truncate the segment
        if (bytes !== null) c.bytes = bytes.subarray(0, int(bytes.length + 1));
        break;
      case 2: // random 16-bit value over a length-sized field
        if (bytes !== null && bytes.length >= 2) {
          const at = int(bytes.length - 1);
          const v = random() < 0.5 ? int(0x10000) : [0, 1, 0x4000, 0x4001, 0x4800, 0x4801, 0xffff][int(7)]!;
          bytes[at] = v >> 8;
          bytes[at + 1] = v & 0xff;
        }
        break;
      case 3: // random bytes replace the segment
        c.bytes = Uint8Array.from({ length: int(3000) }, () => int(256));
        break;
      case 4: // random bytes inserted as a new segment
        chunks.splice(i, 0, { dir: int(2) as 0 | 1, bytes: Uint8Array.from({ length: 1 + int(64) }, () => int(256)) });
        break;
      case 5: // segment lost, or delivered twice
        if (random() < 0.5) chunks.splice(i, 1);
        else chunks.splice(i, 0, { dir: c.dir, bytes: bytes === null ? null : bytes.slice() });
        break;
      case 6: // wrong direction
        c.dir = c.dir === 0 ? 1 : 0;
        break;
      case 7: // capture gap
        chunks.splice(i, 0, { dir: int(2) as 0 | 1, bytes: null });
        break;
      default: // a run of bytes overwritten with one value (zeros, 0xff...)
        if (bytes !== null && bytes.length > 0) {
          const at = int(bytes.length);
          bytes.fill([0, 0xff, 0x16, 0x03][int(4)]!, at, at + 1 + int(32));
        }
    }
  }
  return chunks;
}

/** Feeds at random cut points; returns the calls after checking the listener contract. */
function feedChecked(chunks: readonly Chunk[], random: () => number): ListenerCall[] {
  const listener = new RecordingListener();
  const session = new TlsSession(listener);
  for (const c of chunks) {
    if (c.bytes === null) {
      session.gap(c.dir);
      continue;
    }
    for (let at = 0; at < c.bytes.length; ) {
      const len = random() < 0.3 ? 1 + Math.floor(random() * 8) : c.bytes.length;
      session.feed(c.dir, c.bytes, at, Math.min(at + len, c.bytes.length));
      at += len;
    }
  }
  const violationAt = listener.calls.findIndex((c) => c.kind === 'violation');
  if (violationAt >= 0) {
    assert.equal(violationAt, listener.calls.length - 1, 'nothing after a violation');
    assert.equal(session.finished, true, 'finished after a violation');
  }
  for (const call of listener.calls) {
    if (call.kind === 'alert') {
      if (call.encrypted) assert.deepEqual([call.level, call.description], [-1, -1]);
      else assert.ok(call.level >= 0 && call.level <= 255 && call.description >= 0 && call.description <= 255);
    } else if (call.kind === 'violation') {
      assert.ok(TLS_VIOLATION_NAMES[call.reason], `reason ${call.reason} has a name`);
      assert.ok(call.detail.length > 0);
    }
  }
  return listener.calls;
}

test(`${ITERATIONS} mutated conversations never throw and keep the listener contract`, async (t) => {
  const seeds: Chunk[][] = [synthetic13()];
  for (const file of CORPUS_SEEDS) {
    const conn = (await readTcpConnections(file)).find((c) => tlsStartIndex(c) >= 0)!;
    seeds.push(conn.chunks.slice(tlsStartIndex(conn)).map((c: StreamChunk) => ({ dir: c.dir, bytes: c.bytes })));
  }
  const random = prng(0x7115);
  const outcomes = new Map<string, number>();
  for (let i = 0; i < ITERATIONS; i++) {
    const calls = feedChecked(mutate(seeds[i % seeds.length]!, random), random);
    const last = calls[calls.length - 1];
    const outcome = last?.kind === 'violation' ? TLS_VIOLATION_NAMES[last.reason]! : 'no violation';
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  t.diagnostic(`outcomes: ${[...outcomes].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  // Mutations must reach every kind of check, or the fuzzing is not exercising the parser.
  for (const name of TLS_VIOLATION_NAMES.slice(1)) assert.ok((outcomes.get(name) ?? 0) > 0, `some input ends in ${name}`);
  assert.ok((outcomes.get('no violation') ?? 0) > 0);

  const listener = new RecordingListener();
  const fresh = new TlsSession(listener);
  const good = clientHelloRecord({ sni: 'after.fuzz', alpn: ['h2', 'http/1.1'], versions: [0x0304] });
  fresh.feed(0, good, 0, good.length);
  assert.deepEqual(listener.calls, [
    { kind: 'clientHello', info: { legacyVersion: 0x0303, supportedVersions: [0x0304], sni: 'after.fuzz', alpn: ['h2', 'http/1.1'] } },
  ]);
});

test('random streams that start like a ClientHello record never throw', () => {
  const random = prng(0xc11e);
  for (let i = 0; i < 5_000; i++) {
    const head = [0x16, 0x03, Math.floor(random() * 5), Math.floor(random() * 0x41), Math.floor(random() * 256), 1];
    const tail = Uint8Array.from({ length: Math.floor(random() * 600) }, () => Math.floor(random() * 256));
    feedChecked([{ dir: 0, bytes: concat(head, tail) }, { dir: 1, bytes: concat([0x16, 0x03, 0x03], tail) }], random);
  }
});
