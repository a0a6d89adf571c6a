/**
 * What the record stage of a run writes to, set up the same way wherever it runs (the record
 * worker, or the packet thread of a read on one CPU): the run's DLLT files, their notices as
 * log_notif records (and a stderr line above info), and the role rules compiled.
 */
import { compileRoleRules, type CompiledRoleRules } from '../analyze/roles/compiled-role-rules.js';
import { notifRecord } from '../record/notif.js';
import { DlltFileSink, type NoticeFn } from '../sinks/dllt-files.js';
import { WORKER_BACKLOG_BYTES, type WorkerInit } from './worker-record-stage.js';

export interface RunFiles {
  sink: DlltFileSink;
  /** A notice of the run: a log_notif record, and `warn`'s line when above info. */
  notice: NoticeFn;
}

/** Opens the files; throws the sink's DlltError (DLLT_ERR_OUTPUT_UNWRITABLE...) when it cannot. */
export function openRunFiles(
  init: Pick<WorkerInit, 'sink' | 'startTimeMs' | 'ifName'>,
  warn: (text: string) => void,
  extraFiles: { processFlows: boolean; socketEvents: boolean },
): RunFiles {
  const notice: NoticeFn = (level, kind, message, extra) => {
    sink.writeNotif(notifRecord(init.ifName, level, kind, message, extra));
    if (level !== 'info') warn(`dllt: ${level}: ${message}`);
  };
  const sink = new DlltFileSink({
    ...init.sink,
    ...extraFiles,
    backlogBytes: WORKER_BACKLOG_BYTES,
    startTime: new Date(init.startTimeMs),
    onNotice: notice,
  });
  sink.open();
  return { sink, notice };
}

/** DLLT_ROLE_RULES as validated on the main thread, compiled for this thread. */
export function compiledRoleRules(rules: WorkerInit['roleRules']): CompiledRoleRules | undefined {
  return rules === undefined ? undefined : compileRoleRules(rules.config, rules.ourNets, rules.source);
}
