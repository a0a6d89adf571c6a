/**
 * Where the segment boundaries fall must not matter: real corpus byte sequences fed whole, split
 * in two at every byte position, byte by byte, coalesced per direction and cut at random must
 * give the very same listener calls (undici's fuzzing idea, DESIGN 5).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readTcpConnections, tlsStartIndex, type StreamChunk } from './tcp-streams.test-support.js';
import { runSession, type ListenerCall } from './tls-observation.test-support.js';
import { prng } from '../../../test/support/prng.js';

async function tlsChunks(file: string): Promise<StreamChunk[]> {
  const conn = (await readTcpConnections(file)).find((c) => tlsStartIndex(c) >= 0)!;
  return conn.chunks.slice(tlsStartIndex(conn));
}

function callsOf(chunks: readonly StreamChunk[]): ListenerCall[] {
  return runSession(chunks).listener.calls;
}

/** The same chunks with the one holding global byte `at` cut in two there. */
function splitAt(chunks: readonly StreamChunk[], at: number): StreamChunk[] {
  const out: StreamChunk[] = [];
  let offset = 0;
  for (const c of chunks) {
    const len = c.bytes?.length ?? 0;
    if (c.bytes !== null && at > offset && at < offset + len) {
      out.push({ ...c, bytes: c.bytes.subarray(0, at - offset) }, { ...c, bytes: c.bytes.subarray(at - offset) });
    } else {
      out.push(c);
    }
    offset += len;
  }
  return out;
}

function byteByByte(chunks: readonly StreamChunk[]): StreamChunk[] {
  return chunks.flatMap((c) => (c.bytes === null ? [c] : Array.from(c.bytes, (_, i) => ({ ...c, bytes: c.bytes!.subarray(i, i + 1) }))));
}

/** Consecutive chunks of one direction merged into one feed, as a coarser capture would give. */
function coalesced(chunks: readonly StreamChunk[]): StreamChunk[] {
  const out: StreamChunk[] = [];
  for (const c of chunks) {
    const last = out[out.length - 1];
    if (last !== undefined && last.dir === c.dir && last.bytes !== null && c.bytes !== null) {
      const merged = new Uint8Array(last.bytes.length + c.bytes.length);
      merged.set(last.bytes);
      merged.set(c.bytes, last.bytes.length);
      out[out.length - 1] = { ...last, bytes: merged };
    } else {
      out.push(c);
    }
  }
  return out;
}

function randomCuts(chunks: readonly StreamChunk[], random: () => number): StreamChunk[] {
  return chunks.flatMap((c) => {
    if (c.bytes === null) return [c];
    const pieces: StreamChunk[] = [];
    for (let at = 0; at < c.bytes.length; ) {
      const len = 1 + Math.floor(random() * 40);
      pieces.push({ ...c, bytes: c.bytes.subarray(at, at + len) });
      at += len;
    }
    return pieces;
  });
}

const SEQUENCES = [
  // ClientHello with SNI/ALPN; the server's warning alert unrecognized_name and its ServerHello in one segment.
  'zeek-tls-tls-early-alert.pcap',
  // ClientHello, HelloRetryRequest + CCS, CCS + second ClientHello, TLS 1.3 ServerHello (delivered out of order).
  'zeek-tls-hrr.pcap',
  // ClientHello answered by a fatal handshake_failure alert.
  'zeek-tls-tls-1.2-handshake-failure.pcap',
  // A violation must be split-proof too.
  'zeek-tls-tls1.2-protocol-violation.pcap',
];

for (const file of SEQUENCES) {
  test(`split anywhere gives the same calls: ${file}`, async () => {
    const chunks = await tlsChunks(file);
    const expected = callsOf(chunks);
    assert.ok(expected.some((c) => c.kind === 'clientHello'));
    const total = chunks.reduce((n, c) => n + (c.bytes?.length ?? 0), 0);
    for (let at = 1; at < total; at++) {
      assert.deepEqual(callsOf(splitAt(chunks, at)), expected, `split at byte ${at} of ${total}`);
    }
    assert.deepEqual(callsOf(byteByByte(chunks)), expected, 'byte by byte');
    assert.deepEqual(callsOf(coalesced(chunks)), expected, 'coalesced');
    const random = prng(total);
    for (let i = 0; i < 200; i++) assert.deepEqual(callsOf(randomCuts(chunks, random)), expected, `random cuts #${i}`);
  });
}

test('the early-alert sequence really holds ClientHello, alert and ServerHello', async () => {
  const calls = callsOf(await tlsChunks('zeek-tls-tls-early-alert.pcap'));
  assert.deepEqual(
    calls.map((c) => c.kind),
    ['clientHello', 'alert', 'serverHello'],
  );
});
