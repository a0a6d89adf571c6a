/**
 * In-process replay benchmark of the per-packet path (decode + flow engine + records to a
 * discarding output): a capture is loaded once, then replayed ROUNDS times with its timestamps
 * shifted so flows expire and are re-created as in a long run. Prints packets/s and heap growth
 * per million packets in the steady state (the goal is zero allocations per packet).
 * Usage: node --expose-gc dist/bench/pipeline-bench.js FILE [ROUNDS]
 */
import { readFileSync } from 'node:fs';
import { createStreamParser } from '../src/sources/capture-format.js';
import type { PacketHandler } from '../src/sources/packet-handler.js';
import { Pipeline, type RecordOutput } from '../src/cli/pipeline.js';
import { configWith } from '../src/cli/analyze-file.js';
import { EndReasonCode } from '../src/flow/flow-engine.js';

class Loaded implements PacketHandler {
  readonly offsets: number[] = [];
  readonly lens: number[] = [];
  readonly wire: number[] = [];
  readonly ts: number[] = [];
  readonly link: number[] = [];
  chunks: Uint8Array[] = [];
  onPacket(data: Uint8Array, _dv: DataView, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number): void {
    this.chunks.push(data.slice(start, start + capLen));
    this.lens.push(capLen);
    this.wire.push(wireLen);
    this.ts.push(tsUs);
    this.link.push(linkType);
  }
  onInterface(): void {}
  onSourceError(): void {}
}

let records = 0;
const discard: RecordOutput = {
  writeFlow: () => void records++,
  writeNotif: () => undefined,
};

const file = process.argv[2];
const rounds = Number(process.argv[3] ?? 20);
if (!file) throw new Error('usage: pipeline-bench FILE [ROUNDS]');
const bytes = readFileSync(file);
const loaded = new Loaded();
const parser = createStreamParser(bytes, loaded);
if (!parser) throw new Error(`${file}: not a capture file`);
parser.feed(bytes);
parser.end();

// Lay the packets out in one buffer, as a source's batch would be.
const total = loaded.chunks.reduce((n, c) => n + c.length, 0);
const batch = new Uint8Array(total);
const dv = new DataView(batch.buffer);
const starts = new Int32Array(loaded.chunks.length);
let at = 0;
loaded.chunks.forEach((c, i) => {
  batch.set(c, at);
  starts[i] = at;
  at += c.length;
});
const n = starts.length;
const span = loaded.ts[n - 1]! - loaded.ts[0]! + 600_000_000;

const pipeline = new Pipeline(configWith(), discard, 'bench');
const gc = (globalThis as { gc?: () => void }).gc;
function replay(round: number): void {
  const shift = round * span;
  for (let i = 0; i < n; i++) pipeline.onPacket(batch, dv, starts[i]!, loaded.lens[i]!, loaded.wire[i]!, loaded.ts[i]! + shift, loaded.link[i]!, 0);
}
replay(0);
replay(1);
gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const t0 = process.hrtime.bigint();
for (let r = 2; r < rounds + 2; r++) replay(r);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
gc?.();
const heapAfter = process.memoryUsage().heapUsed;
pipeline.finish(EndReasonCode.EOF);
const packets = n * rounds;
console.log(`${file}: ${n} packets x ${rounds} rounds = ${packets} packets in ${seconds.toFixed(2)} s`);
console.log(`  ${(packets / seconds / 1e6).toFixed(2)} M packets/s (decode + flows + ${records} records built)`);
console.log(`  heap growth ${(((heapAfter - heapBefore) / packets) * 1e6 / 1024).toFixed(1)} KiB per million packets${gc ? '' : ' (run with --expose-gc for a clean figure)'}`);
