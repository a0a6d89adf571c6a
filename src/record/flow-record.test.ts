import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CORPUS_DIR } from '../../test/support/corpus.js';
import { Pipeline } from '../cli/pipeline.js';
import { configWith } from '../cli/analyze-file.js';
import { EndReasonCode } from '../flow/flow-engine.js';
import { readCaptureFile } from '../sources/capture-file.js';
import { FlowStringCache, flowRecordFromSnapshot, writeFlowJsonLine } from './flow-record.js';
import { LineBytes } from './line-bytes.js';
import type { RecordStage } from './record-stage.js';
import { KIND_EVENT, KIND_START, newBatchArrays, Snap, SNAPSHOT_STRIDE } from './flow-snapshot.js';
import type { FlowAppInfo, FlowRecord } from './records.js';
import { compileRoleRules, type CompiledRoleRules } from '../analyze/roles/compiled-role-rules.js';
import { toJsonLine } from './serialize.js';
import { formatIp } from '../wire/ip-format.js';
import { communityId } from '../wire/community-id.js';
import { ServerNames, type DnsAnswerNames } from './server-names.js';

/** A stage that renders every snapshot both ways and keeps any difference. */
class BothWays implements RecordStage {
  lines = 0;
  readonly differences: string[] = [];
  private readonly forObjects: FlowStringCache;
  private readonly forLines: FlowStringCache;
  readonly records: FlowRecord[] = [];
  private readonly line = new LineBytes();
  private readonly serverNames = new ServerNames(configWith().dnsNameMinS);
  constructor(rules?: CompiledRoleRules) {
    this.forObjects = new FlowStringCache(rules, this.serverNames);
    this.forLines = new FlowStringCache(rules, this.serverNames);
  }
  private readonly apps = new Map<number, FlowAppInfo>();
  withApp = 0;
  nextBatch(): { nums: Float64Array; history: Uint8Array } {
    return newBatchArrays();
  }
  flows(nums: Float64Array, history: Uint8Array, count: number): void {
    this.line.clear();
    for (let i = 0; i < count; i++) {
      const kind = nums[i * SNAPSHOT_STRIDE + Snap.KIND]!;
      if (kind === KIND_EVENT) continue;
      const app = kind === KIND_START ? undefined : this.apps.get(nums[i * SNAPSHOT_STRIDE + Snap.SERIAL]!);
      if (app?.tls !== undefined || app?.http !== undefined) this.withApp++;
      const extras = { app };
      const rec = flowRecordFromSnapshot(nums, history, i, 'if "0"', this.forObjects, extras);
      if (kind !== KIND_START) this.records.push(rec);
      const viaObject = toJsonLine(rec);
      // Lines are appended as in the record stage: each one after the batch's earlier lines.
      const before = this.line.lines;
      writeFlowJsonLine(this.line, nums, history, i, JSON.stringify('if "0"'), this.forLines, extras);
      assert.equal(this.line.lines, before + 1);
      const direct = Buffer.from(this.line.bytes.subarray(this.line.length - this.line.lineSizes[before]!, this.line.length));
      this.lines++;
      if (!direct.equals(Buffer.from(viaObject)) && this.differences.length < 5) this.differences.push(`${viaObject}${direct.toString()}`);
    }
  }
  notif(): void {}
  summary(): void {}
  interfaceName(): void {}
  interfaceGone(): void {}
  appInfo(serial: number, info: FlowAppInfo): void {
    this.apps.set(serial, info);
  }
  dnsAnswer(answer: DnsAnswerNames): void {
    this.serverNames.learn(answer);
  }
  async close(): Promise<void> {}
}

/** Every corpus file through its own stage (flow serials, and so the per-flow caches, start
 *  again with each pipeline); the records and differences of all of them. */
async function readCorpus(rules?: CompiledRoleRules): Promise<{ records: FlowRecord[]; differences: string[]; lines: number; withApp: number }> {
  const all = { records: [] as FlowRecord[], differences: [] as string[], lines: 0, withApp: 0 };
  for (const name of readdirSync(CORPUS_DIR).filter((f) => /\.pcap(ng)?$/.test(f))) {
    const stage = new BothWays(rules);
    const pipeline = new Pipeline(configWith(), stage, name);
    await readCaptureFile(join(CORPUS_DIR, name), pipeline);
    pipeline.finish(EndReasonCode.EOF);
    all.records.push(...stage.records);
    all.differences.push(...stage.differences);
    all.lines += stage.lines;
    all.withApp += stage.withApp;
  }
  return all;
}

test('flow JSON line bytes made straight from snapshots equal the serialized records, on every corpus file', async () => {
  const all = await readCorpus();
  assert.deepEqual(all.differences, []);
  assert.ok(all.withApp > 20, `flow records with TLS or HTTP info: ${all.withApp}`);
  assert.ok(all.lines > 4000, `only ${all.lines} lines compared`);
});

test('on the corpus, every flow whose SYN was captured has roleMethod syn, the SYN sender as client and its destination port as service port', async () => {
  const stage = await readCorpus();
  const withSyn = stage.records.filter((r) => r.proto === 'tcp' && r.history?.startsWith('S'));
  assert.ok(withSyn.length > 1000, `${withSyn.length} flows with a captured SYN`);
  const wrong = withSyn.filter((r) => r.roleMethod !== 'syn' || r.clientIP !== r.srcIP || r.servicePort !== r.dstPort || r.flowKey !== `${r.srcIP};${r.dstIP};${r.dstPort};flow`);
  assert.deepEqual(wrong.slice(0, 3), []);
});

test('with role rules, JSON lines still equal the records; rules decide before the heuristics and drop removes the flow key', async () => {
  const rules = compileRoleRules({
    networks: [['low', ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16']], ['high', ['0.0.0.0/0', '::/0']]],
    rules: [
      { name: 'low-to-high-web', src: 'low', dst: 'high', action: { assign: { client: 'dst', port: 'dst', ports: [80, 443], drop: true } } },
      { name: 'from-high', src: 'high', dst: null, action: { portMatch: { ports: [53, 443], precedence: 'dst' } } },
      { name: 'rest', src: null, dst: null, action: { lowerPort: 'dst' } },
    ],
  }, []);
  const stage = await readCorpus(rules);
  assert.deepEqual(stage.differences, []);
  const byMethod = new Map<string, number>();
  for (const r of stage.records) byMethod.set(r.roleMethod ?? '-', (byMethod.get(r.roleMethod ?? '-') ?? 0) + 1);
  for (const m of ['rule:low-to-high-web', 'rule:from-high', 'rule:rest']) assert.ok((byMethod.get(m) ?? 0) > 0, `${m}: ${JSON.stringify([...byMethod])}`);
  for (const r of stage.records) {
    if (r.roleMethod === 'rule:low-to-high-web') {
      assert.equal(r.flowKey, undefined);
      assert.equal(r.clientIP, r.dstIP);
      assert.equal(r.servicePort, r.dstPort, JSON.stringify(r));
    } else if (r.roleMethod?.startsWith('rule:')) {
      assert.equal(r.flowKey, `${r.clientIP};${r.serverIP};${r.servicePort};flow`);
    }
  }
});

test('a string cache slot taken by another flow (serials 65,536 apart) gives each flow its own strings and Community ID', () => {
  const cache = new FlowStringCache();
  const nums = new Float64Array(SNAPSHOT_STRIDE);
  const flowOf = (serial: number, a: number, port: number): { src: string; id: string } => {
    nums.fill(0);
    nums[Snap.SERIAL] = serial;
    nums[Snap.VERSION] = 4;
    nums[Snap.PROTO] = 6;
    nums[Snap.ORIG_IS_A] = 1;
    nums[Snap.ADDR_A] = a;
    nums[Snap.ADDR_B] = 0x0a000002;
    nums[Snap.PORT_A] = port;
    nums[Snap.PORT_B] = 443;
    const set = cache.get(nums, 0);
    return { src: set.srcIP, id: set.communityId };
  };
  const expected = (a: number, port: number): { src: string; id: string } => ({
    src: formatIp(4, Int32Array.of(a)),
    id: communityId(4, 6, Int32Array.of(a, 0, 0, 0), Int32Array.of(0x0a000002, 0, 0, 0), port, 443),
  });
  for (let round = 0; round < 3; round++) {
    assert.deepEqual(flowOf(7, 0x0a000001, 40_000), expected(0x0a000001, 40_000));
    assert.deepEqual(flowOf(7 + 65_536, 0xc0a80001 | 0, 50_000 + round), expected(0xc0a80001 | 0, 50_000 + round));
  }
  // The same flow again keeps what was made for it, the ID's string included.
  const first = cache.get(nums, 0);
  assert.equal(cache.get(nums, 0).communityId, first.communityId);
});
