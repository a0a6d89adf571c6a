/**
 * The record stage: snapshot batches and notifications in, records out to an output (files, or
 * memory in tests). It runs inline (tests, `analyze-file`) or inside the record worker (the
 * CLI), so the per-packet thread never builds strings or JSON.
 */
import type { EventRecord, FlowAppInfo, FlowRecord, InterfaceEventRecord, NotifRecord } from './records.js';
import { FlowStringCache, flowEndsFromSnapshot, flowRecordFromSnapshot, writeFlowJsonLine, type FlowEndsView, type FlowExtras } from './flow-record.js';
import { KIND_END, KIND_EVENT, KIND_START, newBatchArrays, Snap, SNAPSHOT_STRIDE } from './flow-snapshot.js';
import { CutFlows, eventRecordFromSnapshot, interfaceGoneRecord } from './event-record.js';
import { EndReasonCode } from '../flow/flow-engine.js';
import type { CompiledRoleRules } from '../analyze/roles/compiled-role-rules.js';
import { ServerNames, type DnsAnswerNames } from './server-names.js';
import { LineBytes } from './line-bytes.js';

export interface RecordStageOptions {
  /** DLLT_ROLE_RULES, compiled. */
  roleRules?: CompiledRoleRules | undefined;
  /** DLLT_DNS_NAME_MIN_S. */
  dnsNameMinS: number;
  /** Live capture: each new TCP/UDP flow, for attribution to local processes. */
  onFlowStart?: ((flow: FlowEndsView) => void) | undefined;
  /** Live capture: events go here with their flow's serial (to wait for its processes) instead
   *  of straight to the output. */
  onEvent?: ((rec: EventRecord, serial: number) => void) | undefined;
}

/** flow_start and flow_update records go to `flows`, flow_end records to `end_flows`. */
export type FlowFile = 'flows' | 'end_flows';

export interface RecordOutput {
  writeFlow(rec: FlowRecord): void;
  writeNotif(rec: NotifRecord): void;
  writeEvent(rec: EventRecord): void;
  /** Live outputs only: a capture file has no interface that could vanish. */
  writeInterfaceEvent?(rec: InterfaceEventRecord): void;
  writeSummary?(text: string): void;
  /** Outputs that store JSON lines take flow lines made straight from snapshots (no objects),
   *  a batch at a time: the whole lines of one file, in an array reused for the next batch. */
  readonly wantsFlowJsonLines?: boolean;
  writeFlowJsonLines?(file: FlowFile, lines: LineBytes): void;
}

/** The monitored interface vanished; every flow it cut has been handed over (flow_end snapshots
 *  with reason `interface_gone`) before this. */
export interface InterfaceGone {
  ifindex: number;
  tsUs: number;
  /** Write event 00011 (off with DLLT_EVENTS=N or 00011 in DLLT_EVENTS_OFF). */
  event: boolean;
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
  /** What the application parsers learned about the flow with this serial (replaces earlier
   *  info); sent before any snapshot that should carry it. */
  appInfo(serial: number, info: FlowAppInfo): void;
  /** The names a DNS response gave its client. */
  dnsAnswer(answer: DnsAnswerNames): void;
  interfaceGone(gone: InterfaceGone): void;
  close(): Promise<void>;
}

export class InlineRecordStage implements RecordStage {
  private readonly strings: FlowStringCache;
  private readonly ifNames = new Map<number, string>();
  private readonly appBySerial = new Map<number, FlowAppInfo>();
  private readonly serverNames: ServerNames;
  private readonly onFlowStart: ((flow: FlowEndsView) => void) | undefined;
  private readonly onEvent: ((rec: EventRecord, serial: number) => void) | undefined;
  private readonly extras: FlowExtras = { app: undefined };
  private readonly cut = new CutFlows();
  /** This batch's JSON lines for the flows file and for the end_flows file: handed over once
   *  per batch, not per line. */
  private readonly flowLines = new LineBytes();
  private readonly endLines = new LineBytes();

  /** Records are made synchronously in `flows`, so one pair of arrays serves every batch. */
  private readonly arrays: BatchArrays = newBatchArrays();

  constructor(
    private readonly output: RecordOutput,
    private readonly defaultIfName: string,
    options: RecordStageOptions,
  ) {
    this.serverNames = new ServerNames(options.dnsNameMinS);
    this.onFlowStart = options.onFlowStart;
    this.onEvent = options.onEvent;
    this.strings = new FlowStringCache(options.roleRules, this.serverNames);
  }

  nextBatch(): BatchArrays {
    return this.arrays;
  }

  flows(nums: Float64Array, history: Uint8Array, count: number): void {
    const out = this.output;
    const lines = out.wantsFlowJsonLines === true && out.writeFlowJsonLines !== undefined;
    const apps = this.appBySerial;
    for (let i = 0; i < count; i++) {
      const b = i * SNAPSHOT_STRIDE;
      const ifName = this.ifNames.get(nums[b + Snap.IFACE]!) || this.defaultIfName;
      const kindCode = nums[b + Snap.KIND]!;
      // A flow_start never carries app info (it is made at the first packet).
      const app = apps.size > 0 && kindCode !== KIND_START ? apps.get(nums[b + Snap.SERIAL]!) : undefined;
      if (kindCode === KIND_EVENT) {
        const rec = eventRecordFromSnapshot(nums, i, ifName, this.strings, app);
        if (this.onEvent !== undefined) this.onEvent(rec, nums[b + Snap.SERIAL]!);
        else out.writeEvent(rec);
        continue;
      }
      if (kindCode === KIND_END && nums[b + Snap.REASON] === EndReasonCode.INTERFACE_GONE) this.cut.add(nums, i, this.strings);
      if (kindCode === KIND_START && this.onFlowStart !== undefined) {
        const ends = flowEndsFromSnapshot(nums, i, this.strings);
        if (ends !== undefined) this.onFlowStart(ends);
      }
      this.extras.app = app;
      if (lines) {
        writeFlowJsonLine(kindCode === KIND_END ? this.endLines : this.flowLines, nums, history, i, this.jsonOf(ifName), this.strings, this.extras);
      } else {
        out.writeFlow(flowRecordFromSnapshot(nums, history, i, ifName, this.strings, this.extras));
      }
      if (kindCode === KIND_END && app !== undefined) apps.delete(nums[b + Snap.SERIAL]!);
    }
    if (lines) {
      this.handOver('flows', this.flowLines);
      this.handOver('end_flows', this.endLines);
    }
  }

  private handOver(file: FlowFile, lines: LineBytes): void {
    if (lines.lines === 0) return;
    this.output.writeFlowJsonLines!(file, lines);
    lines.clear();
  }

  appInfo(serial: number, info: FlowAppInfo): void {
    this.appBySerial.set(serial, info);
  }

  dnsAnswer(answer: DnsAnswerNames): void {
    this.serverNames.learn(answer);
  }

  interfaceGone(gone: InterfaceGone): void {
    const cut = this.cut.take();
    if (gone.event) this.output.writeInterfaceEvent?.(interfaceGoneRecord(this.defaultIfName, gone.ifindex, gone.tsUs, cut));
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
