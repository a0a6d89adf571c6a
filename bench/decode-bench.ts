/**
 * Micro-benchmark of decodePacket: the packets of one capture (default the largest Ethernet
 * TLS trace of the corpus) stay in the file's own buffer and are decoded over and over into
 * one PacketView, as the pipeline does. Prints decodes/s and heap growth.
 * Usage: node dist/bench/decode-bench.js [capture] [decodes]
 */
import { readFileSync } from 'node:fs';
import { CORPUS_DIR } from '../test/support/corpus.js';
import { decodePacket } from '../src/decode/decode-packet.js';
import { PacketView } from '../src/decode/packet-view.js';
import { createStreamParser } from '../src/sources/capture-format.js';
import type { PacketHandler } from '../src/sources/packet-handler.js';

const file = process.argv[2] ?? `${CORPUS_DIR}/peafowl-ssl.pcapng`;
const decodes = Number(process.argv[3] ?? 5_000_000);

/** Records where each packet lies in the file buffer (fed whole, so offsets are file offsets). */
class Index implements PacketHandler {
  starts: number[] = [];
  capLens: number[] = [];
  wireLens: number[] = [];
  tsUs: number[] = [];
  linkTypes: number[] = [];
  onPacket(_d: Uint8Array, _dv: DataView, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number): void {
    this.starts.push(start);
    this.capLens.push(capLen);
    this.wireLens.push(wireLen);
    this.tsUs.push(tsUs);
    this.linkTypes.push(linkType);
  }
  onInterface(): void {}
  onSourceError(offset: number, message: string): void {
    console.error(`source error at ${offset}: ${message}`);
  }
}

const bytes = new Uint8Array(readFileSync(file));
const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const index = new Index();
const parser = createStreamParser(bytes, index);
if (parser === null) throw new Error(`${file} is not a pcap or pcapng file`);
parser.feed(bytes);
parser.end();
const count = index.starts.length;
const starts = Int32Array.from(index.starts);
const capLens = Int32Array.from(index.capLens);
const wireLens = Int32Array.from(index.wireLens);
const tsUs = Float64Array.from(index.tsUs);
const linkTypes = Int32Array.from(index.linkTypes);

const view = new PacketView();
let checksum = 0;
function run(n: number): void {
  for (let i = 0, k = 0; i < n; i++) {
    checksum += decodePacket(view, bytes, dv, starts[k]!, capLens[k]!, wireLens[k]!, tsUs[k]!, linkTypes[k]!, 0) + view.srcPort;
    if (++k === count) k = 0;
  }
}

run(Math.min(decodes, 200_000));
globalThis.gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const started = process.hrtime.bigint();
run(decodes);
const elapsedNs = Number(process.hrtime.bigint() - started);
const heapAfter = process.memoryUsage().heapUsed;
const perSecond = decodes / (elapsedNs / 1e9);
console.log(`file: ${file} (${count} packets)`);
console.log(`decodes: ${decodes} in ${(elapsedNs / 1e6).toFixed(0)} ms = ${(perSecond / 1e6).toFixed(2)} M decodes/s (${(elapsedNs / decodes).toFixed(1)} ns each)`);
console.log(`heap growth during the timed run: ${((heapAfter - heapBefore) / 1024).toFixed(1)} KiB (checksum ${checksum})`);
