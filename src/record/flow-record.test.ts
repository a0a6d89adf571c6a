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
import { KIND_EVENT, KIND_START, newBatchArrays, Snap, SNAPSHOT_STRIDE } from './flow-snapshot.js';
import type { FlowAppInfo } from './records.js';
import { toJsonLine } from './serialize.js';

/** A stage that renders every snapshot both ways and keeps any difference. */
class BothWays implements RecordStage {
  lines = 0;
  readonly differences: string[] = [];
  private readonly forObjects = new FlowStringCache();
  private readonly forLines = new FlowStringCache();
  private readonly apps = new Map<number, FlowAppInfo>();
  private readonly serverNames = new Map<string, string>();
  withApp = 0;
  nextBatch(): { nums: Float64Array; history: Uint8Array } {
    return newBatchArrays();
  }
  flows(nums: Float64Array, history: Uint8Array, count: number): void {
    for (let i = 0; i < count; i++) {
      const kind = nums[i * SNAPSHOT_STRIDE + Snap.KIND]!;
      if (kind === KIND_EVENT) continue;
      const app = kind === KIND_START ? undefined : this.apps.get(nums[i * SNAPSHOT_STRIDE + Snap.SERIAL]!);
      if (app?.tls !== undefined || app?.http !== undefined) this.withApp++;
      const extras = { app, serverNames: this.serverNames };
      const viaObject = toJsonLine(flowRecordFromSnapshot(nums, history, i, 'if "0"', this.forObjects, extras));
      const direct = flowJsonLineFromSnapshot(nums, history, i, JSON.stringify('if "0"'), this.forLines, extras);
      this.lines++;
      if (viaObject !== direct && this.differences.length < 5) this.differences.push(`${viaObject}${direct}`);
    }
  }
  notif(): void {}
  summary(): void {}
  interfaceName(): void {}
  appInfo(serial: number, info: FlowAppInfo): void {
    this.apps.set(serial, info);
  }
  dnsAnswers(pairs: [string, string][]): void {
    for (const [address, name] of pairs) this.serverNames.set(address, name);
  }
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
  assert.ok(stage.withApp > 20, `flow records with TLS or HTTP info: ${stage.withApp}`);
  assert.ok(stage.lines > 4000, `only ${stage.lines} lines compared`);
});
