/**
 * Heap growth per million packets in steady state: the capture runs through the same pipeline as
 * `dllt read`, with records counted and dropped (so output buffering does not count as growth).
 * Every SAMPLE_EVERY packets the heap is collected (`--expose-gc`) and measured; the slope over the
 * second half of the run is the steady-state growth. Typed-array flow columns live outside the JS
 * heap (arrayBuffers), so both are printed.
 *
 *   node --expose-gc dist/bench/heap.js CAPTURE.pcap
 */
import { EndReasonCode } from '../src/flow/flow-engine.js';
import type { FlowRecord, NotifRecord } from '../src/record/records.js';
import { readCaptureFile } from '../src/sources/capture-file.js';
import type { PacketHandler } from '../src/sources/packet-handler.js';
import { configWith } from '../src/cli/analyze-file.js';
import { Pipeline } from '../src/cli/pipeline.js';
import { InlineRecordStage, type RecordOutput } from '../src/record/record-stage.js';

const SAMPLE_EVERY = 100_000;

class CountingOutput implements RecordOutput {
  flows = 0;
  notifs = 0;
  events = 0;
  writeFlow(_rec: FlowRecord): void {
    this.flows++;
  }
  writeNotif(_rec: NotifRecord): void {
    this.notifs++;
  }
  writeEvent(): void {
    this.events++;
  }
}

interface Sample {
  packets: number;
  heapUsed: number;
  arrayBuffers: number;
}

/** Forwards to the pipeline and takes a heap sample at fixed packet counts. */
class Sampler implements PacketHandler {
  packets = 0;
  readonly samples: Sample[] = [];
  constructor(
    private readonly inner: PacketHandler,
    private readonly gc: () => void,
  ) {}
  onPacket(data: Uint8Array, dv: DataView, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number, ifaceId: number): void {
    this.inner.onPacket(data, dv, start, capLen, wireLen, tsUs, linkType, ifaceId);
    if (++this.packets % SAMPLE_EVERY === 0) {
      this.gc();
      const m = process.memoryUsage();
      this.samples.push({ packets: this.packets, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers });
    }
  }
  onInterface(ifaceId: number, linkType: number, name: string, snapLen: number): void {
    this.inner.onInterface(ifaceId, linkType, name, snapLen);
  }
  onSourceError(offset: number, message: string): void {
    this.inner.onSourceError(offset, message);
  }
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main(): Promise<void> {
  const file = process.argv[2];
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!file) {
    process.stderr.write('usage: node --expose-gc dist/bench/heap.js CAPTURE.pcap\n');
    process.exit(2);
  }
  if (!gc) {
    process.stdout.write('heap: skipped: run with node --expose-gc\n');
    return;
  }
  const output = new CountingOutput();
  const config = configWith();
  const pipeline = new Pipeline(config, new InlineRecordStage(output, 'heap-bench', { dnsNameMinS: config.dnsNameMinS }), 'heap-bench');
  const sampler = new Sampler(pipeline, gc);
  await readCaptureFile(file, sampler);
  pipeline.finish(EndReasonCode.EOF);
  const steady = sampler.samples.slice(Math.floor(sampler.samples.length / 2));
  if (steady.length < 3) {
    process.stdout.write(`heap: only ${sampler.packets} packets: too few samples for a slope\n`);
    return;
  }
  const xs = steady.map((s) => s.packets / 1e6);
  const mb = (b: number): string => (b / 1048576).toFixed(2);
  const heapSlope = slope(xs, steady.map((s) => s.heapUsed));
  const bufSlope = slope(xs, steady.map((s) => s.arrayBuffers));
  const last = sampler.samples.at(-1)!;
  process.stdout.write(
    `heap: ${sampler.packets} packets, ${output.flows} flow records; steady state (from packet ${steady[0]!.packets}): ` +
      `JS heap ${mb(heapSlope)} MB per million packets, array buffers ${mb(bufSlope)} MB per million packets; ` +
      `at the end: heap ${mb(last.heapUsed)} MB, array buffers ${mb(last.arrayBuffers)} MB\n`,
  );
}

await main();
