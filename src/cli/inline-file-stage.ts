/**
 * The record stage on the packet thread, writing the run's DLLT files itself: for `dllt read`
 * when the process may use only one CPU (taskset, a one-core container). There the record
 * worker cannot run beside the packet thread; it would only take turns with it, paying for a
 * second isolate, its compiler and the hand-over of every batch (docs/design/0003).
 */
import { InlineRecordStage } from '../record/record-stage.js';
import type { DlltFileSink } from '../sinks/dllt-files.js';
import { compiledRoleRules, openRunFiles } from './run-files.js';
import type { WorkerInit } from './worker-record-stage.js';

export class InlineFileStage extends InlineRecordStage {
  private readonly sink: DlltFileSink;

  /** Opens the files before it returns; throws the sink's DlltError when it cannot. */
  constructor(init: Omit<WorkerInit, 'slotStates' | 'slotNums' | 'slotHistory' | 'attribution'>, warn: (text: string) => void) {
    const { sink } = openRunFiles(init, warn, { processFlows: false, socketEvents: false });
    super(sink, init.ifName, { roleRules: compiledRoleRules(init.roleRules), dnsNameMinS: init.dnsNameMinS });
    this.sink = sink;
  }

  /** The files are open once constructed. */
  get ready(): Promise<void> {
    return Promise.resolve();
  }

  override close(): Promise<void> {
    return this.sink.close();
  }
}
