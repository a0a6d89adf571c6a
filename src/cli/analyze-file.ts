/**
 * Runs capture files through a pipeline and keeps the records in memory: the engine behind
 * `npm run compare:zeek`, the corpus golden tests and the e2e assertions. `dllt read` runs the
 * same pipeline with the file sink instead.
 */
import { basename } from 'node:path';
import { EndReasonCode } from '../flow/flow-engine.js';
import type { EventRecord, FlowRecord, InterfaceEventRecord, NotifRecord } from '../record/records.js';
import { readCaptureFile } from '../sources/capture-file.js';
import { loadConfig, type Config } from './config.js';
import { InlineRecordStage, type RecordOutput } from '../record/record-stage.js';
import { Pipeline } from './pipeline.js';

export class MemoryOutput implements RecordOutput {
  readonly flows: FlowRecord[] = [];
  readonly notifs: NotifRecord[] = [];
  readonly events: EventRecord[] = [];
  readonly interfaceEvents: InterfaceEventRecord[] = [];
  writeEvent(rec: EventRecord): void {
    this.events.push(rec);
  }
  writeInterfaceEvent(rec: InterfaceEventRecord): void {
    this.interfaceEvents.push(rec);
  }
  writeFlow(rec: FlowRecord): void {
    this.flows.push(rec);
  }
  writeNotif(rec: NotifRecord): void {
    this.notifs.push(rec);
  }
  get ended(): FlowRecord[] {
    return this.flows.filter((f) => f.type === 'flow_end');
  }
}

/** Default configuration with DLLT_* overrides given as environment-style strings. */
export function configWith(env: Record<string, string> = {}): Config {
  return loadConfig({ flags: { out: '/tmp/dllt-unused' }, env, isWritableDir: () => false });
}

export async function analyzeCaptureFile(path: string, env: Record<string, string> = {}): Promise<{ output: MemoryOutput; pipeline: Pipeline }> {
  const output = new MemoryOutput();
  const config = configWith(env);
  const pipeline = new Pipeline(config, new InlineRecordStage(output, basename(path), { dnsNameMinS: config.dnsNameMinS }), basename(path));
  await readCaptureFile(path, pipeline);
  pipeline.finish(EndReasonCode.EOF);
  return { output, pipeline };
}
