/**
 * The record stage: snapshot batches and notifications in, records out to an output (files, or
 * memory in tests). It runs inline (tests, `analyze-file`) or inside the record worker (the
 * CLI), so the per-packet thread never builds strings or JSON.
 */
import type { FlowRecord, NotifRecord } from './records.js';
import { FlowStringCache, flowJsonLineFromSnapshot, flowRecordFromSnapshot } from './flow-record.js';
import { newBatchArrays, Snap, SNAPSHOT_KINDS, SNAPSHOT_STRIDE } from './flow-snapshot.js';

export interface RecordOutput {
  writeFlow(rec: FlowRecord): void;
  writeNotif(rec: NotifRecord): void;
  writeSummary?(text: string): void;
  /** Outputs that store JSON lines take flow lines made straight from snapshots (no objects). */
  readonly wantsFlowJsonLines?: boolean;
  writeFlowJsonLine?(kind: 'flow_end' | 'flow_start' | 'flow_update', line: string): void;
}

export interface BatchArrays {
  nums: Float64Array;
  history: Uint8Array;
}

/** What the pipeline hands records to. The pipeline fills the arrays `nextBatch` gives it and
 *  passes them back to `flows`; they are not touched again until `nextBatch` returns them. */
export interface RecordStage {
  nextBatch(): BatchArrays;
  flows(nums: Float64Array, history: Uint8Array, count: number): void;
  notif(rec: NotifRecord): void;
  summary(text: string): void;
  interfaceName(ifaceId: number, name: string): void;
  close(): Promise<void>;
}

export class InlineRecordStage implements RecordStage {
  private readonly strings = new FlowStringCache();
  private readonly ifNames = new Map<number, string>();

  /** Records are made synchronously in `flows`, so one pair of arrays serves every batch. */
  private readonly arrays: BatchArrays = newBatchArrays();

  constructor(
    private readonly output: RecordOutput,
    private readonly defaultIfName: string,
  ) {}

  nextBatch(): BatchArrays {
    return this.arrays;
  }

  flows(nums: Float64Array, history: Uint8Array, count: number): void {
    const out = this.output;
    const lines = out.wantsFlowJsonLines === true && out.writeFlowJsonLine !== undefined;
    for (let i = 0; i < count; i++) {
      const ifName = this.ifNames.get(nums[i * SNAPSHOT_STRIDE + Snap.IFACE]!) || this.defaultIfName;
      if (lines) {
        const kind = SNAPSHOT_KINDS[nums[i * SNAPSHOT_STRIDE + Snap.KIND]!]!;
        out.writeFlowJsonLine!(kind, flowJsonLineFromSnapshot(nums, history, i, this.jsonOf(ifName), this.strings));
      } else {
        out.writeFlow(flowRecordFromSnapshot(nums, history, i, ifName, this.strings));
      }
    }
  }

  private lastIfName = '';
  private lastIfJson = '""';
  private jsonOf(ifName: string): string {
    if (ifName !== this.lastIfName) {
      this.lastIfName = ifName;
      this.lastIfJson = JSON.stringify(ifName);
    }
    return this.lastIfJson;
  }

  notif(rec: NotifRecord): void {
    this.output.writeNotif(rec);
  }

  summary(text: string): void {
    this.output.writeSummary?.(text);
  }

  interfaceName(ifaceId: number, name: string): void {
    if (name !== '') this.ifNames.set(ifaceId, name);
  }

  async close(): Promise<void> {}
}
