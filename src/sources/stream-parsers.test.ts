/**
 * Stream parsers: the same bytes fed in chunks of any size give the same packets; both pcap
 * byte orders, ns pcap, pcapng, gzip, stdin, corrupt files and the rejection messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createStreamParser } from './capture-format.js';
import { readCaptureFile } from './capture-file.js';
import { CORPUS_DIR, CollectingHandler, loadCapture } from '../../test/support/corpus.js';

const FILES = [
  'zeek-q-in-q.pcap',
  'tcpdump-tcp-handshake-nano.pcap',
  'zeek-pcapng-multi-interface.pcapng',
  'ndpi-rtsp.pcap',
  'peafowl-ssl.pcapng',
  'zeek-nflog-http.pcap',
];

function fingerprint(handler: CollectingHandler): string[] {
  return handler.packets.map(
    (p) => `${p.tsUs}/${p.bytes.length}/${p.wireLen}/${p.ifaceId}/${p.linkType}/${createHash('sha1').update(p.bytes).digest('hex')}`,
  );
}

function parseInChunks(bytes: Uint8Array, chunkSize: number): CollectingHandler {
  const handler = new CollectingHandler();
  const parser = createStreamParser(bytes, handler);
  assert.ok(parser);
  for (let at = 0; at < bytes.length; at += chunkSize) parser.feed(bytes.subarray(at, at + chunkSize));
  parser.end();
  assert.equal(parser.bytesConsumed, bytes.length);
  return handler;
}

for (const file of FILES) {
  test(`chunk sizes 1, 7, 64, 4096 and whole give the same packets: ${file}`, () => {
    const bytes = new Uint8Array(readFileSync(join(CORPUS_DIR, file)));
    const whole = parseInChunks(bytes, bytes.length);
    assert.ok(whole.packets.length > 0);
    assert.equal(whole.errors.length, 0);
    for (const size of [1, 7, 64, 4096]) {
      const chunked = parseInChunks(bytes, size);
      assert.deepEqual(fingerprint(chunked), fingerprint(whole), `chunk size ${size}`);
      assert.equal(chunked.errors.length, 0);
    }
  });
}

/** Rewrites a little-endian µs/ns pcap into big-endian. */
function byteSwapPcap(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes);
  const src = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dst = new DataView(out.buffer);
  const swap32 = (o: number): void => dst.setUint32(o, src.getUint32(o, true), false);
  const swap16 = (o: number): void => dst.setUint16(o, src.getUint16(o, true), false);
  swap32(0);
  swap16(4);
  swap16(6);
  for (const o of [8, 12, 16, 20]) swap32(o);
  for (let p = 24; p + 16 <= bytes.length; ) {
    const capLen = src.getUint32(p + 8, true);
    for (const o of [0, 4, 8, 12]) swap32(p + o);
    p += 16 + capLen;
  }
  return out;
}

test('big-endian pcap reads like its little-endian original (µs and ns)', () => {
  for (const file of ['zeek-web.pcap', 'tcpdump-tcp-handshake-nano.pcap']) {
    const bytes = new Uint8Array(readFileSync(join(CORPUS_DIR, file)));
    assert.ok(bytes[0] === 0xd4 || bytes[0] === 0x4d, 'test input is a little-endian pcap');
    const swapped = byteSwapPcap(bytes);
    assert.deepEqual(fingerprint(parseInChunks(swapped, 333)), fingerprint(parseInChunks(bytes, bytes.length)));
  }
});

test('gzip input (any name) and the FCS bits of the link type are handled', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dllt-gz-'));
  const bytes = new Uint8Array(readFileSync(join(CORPUS_DIR, 'zeek-web.pcap')));
  const file = join(dir, 'capture.bin');
  writeFileSync(file, gzipSync(bytes));
  const handler = new CollectingHandler();
  const result = await readCaptureFile(file, handler);
  assert.equal(result.format, 'pcap+gzip');
  assert.equal(result.packets, 24);
  const plain = await loadCapture('zeek-web.pcap');
  assert.deepEqual(fingerprint(handler), fingerprint(plain));

  const withFcs = new Uint8Array(bytes);
  new DataView(withFcs.buffer).setUint32(20, 0x14000001, true);
  assert.equal(parseInChunks(withFcs, 4096).packets[0]!.linkType, 1);
});

test('a file of several read chunks, plain and gzip, gives every packet whole (the read buffer is reused)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dllt-big-'));
  // zeek-web.pcap's file header, then 5,000 records of 1,000 pseudo-random bytes (5 MB that
  // gzip cannot shrink), of lengths that make records straddle the 1 MiB reads.
  const header = new Uint8Array(readFileSync(join(CORPUS_DIR, 'zeek-web.pcap'))).subarray(0, 24);
  const count = 5000;
  const bytes = new Uint8Array(24 + count * (16 + 1000));
  bytes.set(header);
  const dv = new DataView(bytes.buffer);
  let seed = 99;
  let at = 24;
  for (let i = 0; i < count; i++) {
    const len = 900 + (i % 101);
    dv.setUint32(at, 1_700_000_000 + i, true);
    dv.setUint32(at + 4, i, true);
    dv.setUint32(at + 8, len, true);
    dv.setUint32(at + 12, len, true);
    for (let j = 0; j < len; j++) bytes[at + 16 + j] = (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    at += 16 + len;
  }
  const used = bytes.subarray(0, at);
  const expected = fingerprint(parseInChunks(used, used.length));
  assert.equal(expected.length, count);
  const plainFile = join(dir, 'big.pcap');
  const gzipFile = join(dir, 'big.pcap.gz');
  writeFileSync(plainFile, used);
  writeFileSync(gzipFile, gzipSync(used));
  assert.ok(statSync(gzipFile).size > 3 * 1024 * 1024, 'the gzip file spans several reads');
  for (const file of [plainFile, gzipFile]) {
    const handler = new CollectingHandler();
    const result = await readCaptureFile(file, handler);
    assert.equal(result.packets, count, file);
    assert.equal(handler.errors.length, 0, file);
    assert.deepEqual(fingerprint(handler), expected, file);
  }
});

test('stdin through readCaptureFile("-")', () => {
  const script = `
    import { readCaptureFile } from ${JSON.stringify(new URL('./capture-file.js', import.meta.url).href)};
    let n = 0;
    const r = await readCaptureFile('-', { onPacket() { n++; }, onInterface() {}, onSourceError() {} });
    console.log(JSON.stringify({ ...r, n }));`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    input: readFileSync(join(CORPUS_DIR, 'peafowl-ssl.pcapng')),
    encoding: 'utf8',
  });
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { packets: 1095, bytes: readFileSync(join(CORPUS_DIR, 'peafowl-ssl.pcapng')).length, format: 'pcapng', n: 1095 });
});

test('missing file and unknown format reject with messages naming the file', async () => {
  const handler = new CollectingHandler();
  await assert.rejects(readCaptureFile('/nonexistent/x.pcap', handler), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'DLLT_ERR_CAPTURE_FILE_NOT_FOUND');
    assert.match(err.message, /\/nonexistent\/x\.pcap/);
    return true;
  });
  await assert.rejects(readCaptureFile(join(CORPUS_DIR, 'README.md'), handler), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'DLLT_ERR_CAPTURE_FORMAT_UNKNOWN');
    assert.match(err.message, /README\.md.*not a pcap or pcapng/);
    return true;
  });
});

test('corrupt pcap record header: reported, resynced, later packets still delivered', () => {
  const bytes = new Uint8Array(readFileSync(join(CORPUS_DIR, 'zeek-web.pcap')));
  const good = parseInChunks(bytes, bytes.length);
  const corrupt = new Uint8Array(bytes);
  const dv = new DataView(corrupt.buffer);
  // Third record's caplen becomes absurd.
  let p = 24;
  for (let i = 0; i < 2; i++) p += 16 + dv.getUint32(p + 8, true);
  dv.setUint32(p + 8, 0x7fffffff, true);
  for (const size of [corrupt.length, 5, 100]) {
    const got = parseInChunks(corrupt, size);
    assert.equal(got.errors.length, 1);
    assert.equal(got.errors[0]!.offset, p);
    assert.match(got.errors[0]!.message, /skipped \d+ bytes/);
    assert.deepEqual(fingerprint(got), [...fingerprint(good).slice(0, 2), ...fingerprint(good).slice(3)]);
  }
});

test('corrupt pcapng block length: reported and resynced; truncated end reported', () => {
  const bytes = new Uint8Array(readFileSync(join(CORPUS_DIR, 'peafowl-ssl.pcapng')));
  const good = parseInChunks(bytes, bytes.length);
  const corrupt = new Uint8Array(bytes);
  const dv = new DataView(corrupt.buffer);
  const le = dv.getUint32(8, true) === 0x1a2b3c4d;
  // Walk to the 10th block and break its length.
  let p = 0;
  for (let i = 0; i < 10; i++) p += dv.getUint32(p + 4, le);
  dv.setUint32(p + 4, 13, le);
  const got = parseInChunks(corrupt, 4096);
  assert.ok(got.errors.length >= 1);
  assert.equal(got.errors[0]!.offset, p);
  assert.ok(got.packets.length >= good.packets.length - 2 && got.packets.length < good.packets.length);

  const cut = parseInChunks(bytes.subarray(0, bytes.length - 10), 1000);
  assert.ok(cut.packets.length <= good.packets.length);
  assert.equal(cut.errors.length, 1);
  assert.match(cut.errors[0]!.message, /truncated/);
  const pcap = new Uint8Array(readFileSync(join(CORPUS_DIR, 'zeek-web.pcap')));
  const cutPcap = parseInChunks(pcap.subarray(0, pcap.length - 10), 7);
  assert.equal(cutPcap.packets.length, 23);
  assert.equal(cutPcap.errors.length, 1);
  assert.match(cutPcap.errors[0]!.message, /truncated/);
});

test('pcapng with several sections: interface ids restart per section and map to global ids', () => {
  const first = new Uint8Array(readFileSync(join(CORPUS_DIR, 'zeek-pcapng-multi-interface.pcapng')));
  const second = new Uint8Array(readFileSync(join(CORPUS_DIR, 'zeek-tcp-retransmit-timeout.pcapng')));
  const joined = new Uint8Array(first.length + second.length);
  joined.set(first);
  joined.set(second, first.length);
  for (const size of [joined.length, 13]) {
    const got = parseInChunks(joined, size);
    assert.equal(got.errors.length, 0);
    assert.deepEqual(
      got.interfaces.map((i) => i.ifaceId),
      [0, 1, 2],
    );
    assert.deepEqual(
      got.packets.map((p) => p.ifaceId),
      [0, 0, 1, 1, 1, 1, 2, 2, 2],
    );
  }
});
