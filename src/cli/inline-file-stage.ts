/**
 * The record stage on the packet thread, writing the run's DLLT files itself: for `dllt read`
 * when the process may use only one CPU (taskset, a one-core container). There the record
 * worker cannot run beside the packet thread; it would only take turns with it, paying for a
 * second isolate, its compiler and the hand-over of every batch (docs/design/0003).
 */
import { InlineRecordStage, type BatchArrays, type InterfaceGone, type RecordStage } from '../record/record-stage.js';
import { compileRoleRules } from '../analyze/roles/compiled-role-rules.js';
import { notifRecord } from '../record/notif.js';
import { DlltFileSink } from '../sinks/dllt-files.js';
import type { FlowAppInfo, NotifRecord } from '../record/records.js';
import type { DnsAnswerNames } from '../record/server-names.js';
import { WORKER_BACKLOG_BYTES, type WorkerInit } from './worker-record-stage.js';

export type FileStageInit = Omit<WorkerInit, 'slotStates' | 'slotNums' | 'slotHistory' | 'attribution'>;

export class InlineFileStage implements RecordStage {
  /** The files are open once the constructor returns; it throws the sink's DlltError if not. */
  readonly ready = Promise.resolve();
  private readonly sink: DlltFileSink;
  private readonly stage: InlineRecordStage;

  constructor(init: FileStageInit, onWarning: (text: string) => void) {
    const sink = new DlltFileSink({
      ...init.sink,
      backlogBytes: WORKER_BACKLOG_BYTES,
      processFlows: false,
      socketEvents: false,
      startTime: new Date(init.startTimeMs),
      onNotice: (level, kind, message, extra) => {
        sink.writeNotif(notifRecord(init.ifName, level, kind, message, extra));
        if (level !== 'info') onWarning(`dllt: ${level}: ${message}`);
      },
    });
    sink.open();
    const rules = init.roleRules;
    this.sink = sink;
    this.stage = new InlineRecordStage(sink, init.ifName, {
      roleRules: rules === undefined ? undefined : compileRoleRules(rules.config, rules.ourNets, rules.source),
      dnsNameMinS: init.dnsNameMinS,
    });
  }

  nextBatch(): BatchArrays {
    return this.stage.nextBatch();
  }

  flows(nums: Float64Array, history: Uint8Array, count: number): void {
    this.stage.flows(nums, history, count);
  }

  notif(rec: NotifRecord): void {
    this.stage.notif(rec);
  }

  summary(text: string): void {
    this.stage.summary(text);
  }

  interfaceName(ifaceId: number, name: string): void {
    this.stage.interfaceName(ifaceId, name);
  }

  appInfo(serial: number, info: FlowAppInfo): void {
    this.stage.appInfo(serial, info);
  }

  dnsAnswer(answer: DnsAnswerNames): void {
    this.stage.dnsAnswer(answer);
  }

  interfaceGone(gone: InterfaceGone): void {
    this.stage.interfaceGone(gone);
  }

  close(): Promise<void> {
    return this.sink.close();
  }
}
