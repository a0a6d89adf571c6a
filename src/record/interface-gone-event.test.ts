/**
 * Event 00011 as the record stage makes it: a capture whose 200 SYN-flood flows are still open
 * at its end stands for an interface that vanished with them. The event must name exactly the
 * flows that end with `interface_gone` (all in the count, the first 100 listed, in end order),
 * the flows still closing keep their own reason, and DLLT_EVENTS_OFF=00011 silences the event
 * but not the flow ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CORPUS_DIR } from '../../test/support/corpus.js';
import { analyzeCaptureFile, configWith, MemoryOutput } from '../cli/analyze-file.js';
import { Pipeline } from '../cli/pipeline.js';
import { readCaptureFile } from '../sources/capture-file.js';
import { InlineRecordStage } from './record-stage.js';
import { CUT_FLOWS_LISTED } from './event-record.js';
import type { FlowAddressing, FlowRecord } from './records.js';

const FILE = 'sv-tcp-session-syn-flood.pcap';
const IFINDEX = 42;

/** The flows a plain end of file leaves open, ended with `eof` by the tested path: the oracle. */
async function openAtEof(): Promise<FlowRecord[]> {
  return (await analyzeCaptureFile(join(CORPUS_DIR, FILE))).output.ended.filter((f) => f.endReason === 'eof');
}

/** The file's packets, then the interface vanishes 1 ms after the last one (`goneUs`): live, the
 *  clock is wall time, which runs just ahead of the packets. */
async function vanishAfter(goneUs: number, env: Record<string, string> = {}): Promise<{ output: MemoryOutput; cut: number }> {
  const output = new MemoryOutput();
  const config = configWith(env);
  const pipeline = new Pipeline(config, new InlineRecordStage(output, 'veth-a', { dnsNameMinS: config.dnsNameMinS }), 'veth-a');
  await readCaptureFile(join(CORPUS_DIR, FILE), pipeline);
  const cut = pipeline.interfaceGone(IFINDEX, goneUs);
  return { output, cut };
}

function addressing(f: FlowRecord): FlowAddressing {
  return { proto: f.proto, srcIP: f.srcIP, srcPort: f.srcPort, dstIP: f.dstIP, dstPort: f.dstPort, communityId: f.communityId };
}

test('00011 names every flow the vanished interface cut: the count, and the first 100 in end order', async () => {
  const atEof = await openAtEof();
  assert.equal(atEof.length, 200, 'the capture leaves 200 flows open at its end');
  const goneUs = atEof[0]!.tsUs + 1000;

  const { output, cut } = await vanishAfter(goneUs);
  const gone = output.ended.filter((f) => f.endReason === 'interface_gone');
  assert.equal(cut, atEof.length);
  assert.deepEqual(gone.map(addressing), atEof.map(addressing), 'the same flows, in the same order, now with interface_gone');
  assert.ok(gone.every((f) => f.tsUs === goneUs), 'each cut flow ends at the moment the interface vanished');

  assert.equal(output.interfaceEvents.length, 1);
  const e = output.interfaceEvents[0]!;
  assert.equal(e.code, '00011');
  assert.equal(e.name, 'CODE_VIF_DISAPPEARED');
  assert.equal(e.value, 'veth-a');
  assert.equal(e.if, 'veth-a');
  assert.equal(e.ifindex, IFINDEX);
  assert.equal(e.tsUs, goneUs);
  assert.equal(e.cutFlowCount, 200);
  assert.equal(e.cutFlows.length, CUT_FLOWS_LISTED);
  assert.deepEqual(e.cutFlows, gone.slice(0, CUT_FLOWS_LISTED).map(addressing));
  assert.equal(output.events.length, 0, 'no per-flow event comes with it');
});

test('DLLT_EVENTS_OFF=00011: the flows still end with interface_gone, no event is written', async () => {
  const atEof = await openAtEof();
  const { output, cut } = await vanishAfter(atEof[0]!.tsUs + 1000, { DLLT_EVENTS_OFF: '00011' });
  assert.equal(cut, 200);
  assert.equal(output.ended.filter((f) => f.endReason === 'interface_gone').length, 200);
  assert.equal(output.interfaceEvents.length, 0);
});
