/**
 * Seeded fuzzing of the decoder and the stream parsers with mutated corpus data. Print the
 * seed; replay a failure with DLLT_FUZZ_SEED=<seed>. After every mutated packet a known-good
 * packet must decode exactly as on a fresh view (msgpack-javascript's "still works after any
 * error" check).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePacket } from '../src/decode/decode-packet.js';
import { PacketView } from '../src/decode/packet-view.js';
import { createStreamParser } from '../src/sources/capture-format.js';
import type { PacketHandler } from '../src/sources/packet-handler.js';
import { CORPUS_DIR, loadCapture, readManifest, viewOf, type CapturedPacket } from './support/corpus.js';
import { prng } from './support/prng.js';

const PACKET_MUTATIONS = Number(process.env['DLLT_FUZZ_PACKETS'] ?? 150_000);
const FILE_MUTATIONS = Number(process.env['DLLT_FUZZ_FILES'] ?? 10_000);
const SEED = Number(process.env['DLLT_FUZZ_SEED'] ?? Date.now() % 0x7fffffff);


function snapshot(view: PacketView): string {
  const { data: _data, dv: _dv, ...fields } = view;
  return JSON.stringify(fields, (_k, v: unknown) => (v instanceof Int32Array ? Array.from(v) : v));
}

function decodeCaptured(view: PacketView, p: CapturedPacket, bytes = p.bytes, capLen = bytes.length): number {
  return decodePacket(view, bytes, viewOf(bytes), 0, capLen, p.wireLen, p.tsUs, p.linkType, p.ifaceId);
}

test(`decoder survives mutated corpus packets (seed ${SEED})`, async (t) => {
  t.diagnostic(`DLLT_FUZZ_SEED=${SEED}`);
  console.log(`fuzz seed: DLLT_FUZZ_SEED=${SEED}`);
  const random = prng(SEED);
  const pool: CapturedPacket[] = [];
  for (const row of readManifest()) pool.push(...(await loadCapture(row.file)).packets);
  const probe = new PacketView();
  const known = pool.find((p) => p.linkType === 1 && decodeCaptured(probe, p) === 0 && probe.ipProto === 6)!;
  const knownSnapshot = snapshot((decodeCaptured(probe, known), probe));

  const view = new PacketView();
  const scratch = new Uint8Array(300_000);
  const scratchDv = viewOf(scratch);
  const started = Date.now();
  for (let i = 0; i < PACKET_MUTATIONS; i++) {
    const source = pool[Math.floor(random() * pool.length)]!;
    const len = source.bytes.length;
    scratch.set(source.bytes);
    let capLen = len;
    const kind = Math.floor(random() * 3);
    if (kind === 0) {
      capLen = Math.floor(random() * (len + 1));
    } else if (kind === 1) {
      const flips = 1 + Math.floor(random() * 8);
      for (let f = 0; f < flips && len > 0; f++) scratch[Math.floor(random() * len)]! ^= 1 << Math.floor(random() * 8);
    } else {
      // Bogus length fields where this packet has them.
      decodeCaptured(probe, source);
      const l3 = probe.l3Off;
      const l4 = probe.l4Off;
      const value = Math.floor(random() * 0x10000);
      const target = Math.floor(random() * 4);
      if (target === 0 && l3 + 4 <= len) scratchDv.setUint16(l3 + (probe.ipVersion === 6 ? 4 : 2), value);
      else if (target === 1 && l3 < len) scratch[l3] = (scratch[l3]! & 0xf0) | (value & 0x0f);
      else if (target === 2 && l4 + 13 <= len && probe.ipProto === 6) scratch[l4 + 12] = value & 0xff;
      else if (target === 3 && l4 + 6 <= len && probe.ipProto === 17) scratchDv.setUint16(l4 + 4, value);
      if (random() < 0.3) capLen = Math.floor(random() * (len + 1));
    }
    try {
      decodePacket(view, scratch, scratchDv, 0, capLen, source.wireLen, source.tsUs, source.linkType, source.ifaceId);
    } catch (err) {
      assert.fail(`decodePacket threw on mutation ${i} (seed ${SEED}): ${String(err)}`);
    }
    decodeCaptured(view, known);
    if (snapshot(view) !== knownSnapshot) assert.fail(`view not reusable after mutation ${i} (seed ${SEED})`);
  }
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(`${PACKET_MUTATIONS} mutated packets in ${seconds.toFixed(1)} s`);
  console.log(`decoder fuzz: ${PACKET_MUTATIONS} mutated packets in ${seconds.toFixed(1)} s`);
});

class CountingHandler implements PacketHandler {
  packets = 0;
  errors = 0;
  onPacket(): void {
    this.packets++;
  }
  onInterface(): void {}
  onSourceError(): void {
    this.errors++;
  }
}

/** Offsets of the length fields of each record (pcap caplen) or block (pcapng total length). */
function lengthFieldOffsets(bytes: Uint8Array, pcapng: boolean): number[] {
  const dv = viewOf(bytes);
  const offsets: number[] = [];
  if (pcapng) {
    const le = dv.getUint32(8, true) === 0x1a2b3c4d;
    for (let p = 0; p + 8 <= bytes.length; p += dv.getUint32(p + 4, le)) offsets.push(p + 4);
  } else {
    const le = dv.getUint32(0, true) === 0xa1b2c3d4 || dv.getUint32(0, true) === 0xa1b23c4d;
    for (let p = 24; p + 16 <= bytes.length; p += 16 + dv.getUint32(p + 8, le)) offsets.push(p + 8);
  }
  return offsets;
}

test(`stream parsers survive mutated files in random chunks (seed ${SEED})`, async (t) => {
  const random = prng(SEED ^ 0x5bd1e995);
  const files = readManifest().map((row) => ({
    bytes: new Uint8Array(readFileSync(join(CORPUS_DIR, row.file))),
    expected: row.packets,
    pcapng: row.fileFormat === 'pcapng',
  }));
  const started = Date.now();
  let overCount = 0;
  for (let i = 0; i < FILE_MUTATIONS; i++) {
    const file = files[Math.floor(random() * files.length)]!;
    const bytes = new Uint8Array(file.bytes);
    const offsets = lengthFieldOffsets(bytes, file.pcapng);
    const mutations = 1 + Math.floor(random() * 4);
    for (let m = 0; m < mutations; m++) {
      const kind = Math.floor(random() * 3);
      if (kind === 0 && offsets.length > 0) {
        const at = offsets[Math.floor(random() * offsets.length)]!;
        viewOf(bytes).setUint32(at, Math.floor(random() * 0x100000000));
      } else if (kind === 1) {
        bytes[Math.floor(random() * bytes.length)]! ^= 1 << Math.floor(random() * 8);
      }
    }
    const length = random() < 0.3 ? Math.floor(random() * bytes.length) : bytes.length;
    const input = bytes.subarray(0, length);
    const handler = new CountingHandler();
    try {
      const parser = createStreamParser(input, handler);
      if (parser === null) continue;
      for (let at = 0; at < input.length; ) {
        const size = 1 + Math.floor(random() * (random() < 0.5 ? 64 : 65536));
        parser.feed(input.subarray(at, at + size));
        at += size;
      }
      parser.end();
    } catch (err) {
      assert.fail(`stream parser threw on file mutation ${i} (seed ${SEED}): ${String(err)}`);
    }
    // A damaged classic-pcap length can make packet bytes pass as a record header, so a few
    // extra records are possible there; pcapng's trailing length copy rules that out.
    if (file.pcapng) assert.ok(handler.packets <= file.expected, `mutation ${i}: ${handler.packets} > ${file.expected}`);
    else if (handler.packets > file.expected) overCount++;
  }
  const seconds = (Date.now() - started) / 1000;
  t.diagnostic(`${FILE_MUTATIONS} mutated files in ${seconds.toFixed(1)} s; pcap files with extra records: ${overCount}`);
  console.log(`stream fuzz: ${FILE_MUTATIONS} mutated files in ${seconds.toFixed(1)} s; pcap files with extra records: ${overCount}`);
});
