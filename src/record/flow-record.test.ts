import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CORPUS_DIR } from '../../test/support/corpus.js';
import { Pipeline } from '../cli/pipeline.js';
import { configWith } from '../cli/analyze-file.js';
import { EndReasonCode } from '../flow/flow-engine.js';
import { readCaptureFile } from '../sources/capture-file.js';
import { FlowStringCache, flowJsonLineFromSnapshot, flowRecordFromSnapshot } from './flow-record.js';
import type { RecordStage } from './record-stage.js';
import { newBatchArrays } from './flow-snapshot.js';
import { toJsonLine } from './serialize.js';

/** A stage that renders every snapshot both ways and keeps any difference. */
class BothWays implements RecordStage {
  lines = 0;
  readonly differences: string[] = [];
  private readonly forObjects = new FlowStringCache();
  private readonly forLines = new FlowStringCache();
  nextBatch(): { nums: Float64Array; history: Uint8Array } {
    return newBatchArrays();
  }
  flows(nums: Float64Array, history: Uint8Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const viaObject = toJsonLine(flowRecordFromSnapshot(nums, history, i, 'if "0"', this.forObjects));
      const direct = flowJsonLineFromSnapshot(nums, history, i, JSON.stringify('if "0"'), this.forLines);
      this.lines++;
      if (viaObject !== direct && this.differences.length < 5) this.differences.push(`${viaObject}${direct}`);
    }
  }
  notif(): void {}
  summary(): void {}
  interfaceName(): void {}
  async close(): Promise<void> {}
}

test('flow JSON lines made straight from snapshots equal the serialized records, on every corpus file', async () => {
  const stage = new BothWays();
  for (const name of readdirSync(CORPUS_DIR).filter((f) => /\.pcap(ng)?$/.test(f))) {
    const pipeline = new Pipeline(configWith(), stage, name);
    await readCaptureFile(join(CORPUS_DIR, name), pipeline);
    pipeline.finish(EndReasonCode.EOF);
  }
  assert.deepEqual(stage.differences, []);
  assert.ok(stage.lines > 4000, `only ${stage.lines} lines compared`);
});
