/**
 * Runs the record stage in a worker thread (pino's transport idea): the per-packet thread only
 * copies numbers into snapshot batches and transfers them; strings, JSON and file writes happen
 * in the worker, on the other core. Backpressure is synchronous: past MAX_IN_FLIGHT batches the
 * packet thread waits (Atomics.wait), so a slow disk slows reading instead of growing memory;
 * live, the kernel then counts drops, which are reported.
 */
import { Worker } from 'node:worker_threads';
import type { RecordStage } from '../record/record-stage.js';
import type { NotifRecord } from '../record/records.js';
import type { DlltFileSinkOptions } from '../sinks/dllt-files.js';
import { DlltError, type DlltErrorCode } from './errors.js';

const MAX_IN_FLIGHT = 4;

export interface WorkerInit {
  sink: Omit<DlltFileSinkOptions, 'onNotice' | 'startTime'>;
  startTimeMs: number;
  ifName: string;
  inFlight: SharedArrayBuffer;
}

export type StageMessage =
  | { t: 'flows'; nums: Float64Array; history: Uint8Array; count: number }
  | { t: 'notif'; rec: NotifRecord }
  | { t: 'summary'; text: string }
  | { t: 'iface'; id: number; name: string }
  | { t: 'close' };

export type WorkerReply =
  | { t: 'ready' }
  | { t: 'error'; code: string; message: string; hint?: string | undefined }
  | { t: 'warning'; text: string }
  | { t: 'spent'; nums: Float64Array; history: Uint8Array }
  | { t: 'closed' };

export class WorkerRecordStage implements RecordStage {
  private readonly inFlight: Int32Array;
  private closed?: Promise<void>;
  private readonly spent: { nums: Float64Array; history: Uint8Array }[] = [];

  private constructor(
    private readonly worker: Worker,
    inFlight: SharedArrayBuffer,
  ) {
    this.inFlight = new Int32Array(inFlight);
  }

  /** Starts the worker; resolves once its files are open, rejects with its DlltError if not. */
  static start(init: Omit<WorkerInit, 'inFlight'>, onWarning: (text: string) => void): Promise<WorkerRecordStage> {
    const inFlight = new SharedArrayBuffer(4);
    const worker = new Worker(new URL('./record-worker.js', import.meta.url), { workerData: { ...init, inFlight } satisfies WorkerInit });
    const stage = new WorkerRecordStage(worker, inFlight);
    return new Promise((resolve, reject) => {
      worker.on('message', (m: WorkerReply) => {
        if (m.t === 'ready') resolve(stage);
        else if (m.t === 'error') reject(new DlltError(m.code as DlltErrorCode, m.message, m.hint === undefined ? undefined : { hint: m.hint }));
        else if (m.t === 'warning') onWarning(m.text);
        else if (m.t === 'spent') stage.spent.push({ nums: m.nums, history: m.history });
      });
      worker.on('error', (err) => reject(new DlltError('DLLT_ERR_INTERNAL', `record worker failed: ${err.stack ?? err.message}`)));
    });
  }

  flows(nums: Float64Array, history: Uint8Array, count: number): void {
    for (;;) {
      const n = Atomics.load(this.inFlight, 0);
      if (n < MAX_IN_FLIGHT) break;
      Atomics.wait(this.inFlight, 0, n, 1000);
    }
    Atomics.add(this.inFlight, 0, 1);
    this.post({ t: 'flows', nums, history, count }, [nums.buffer as ArrayBuffer, history.buffer as ArrayBuffer]);
  }

  recycled(): { nums: Float64Array; history: Uint8Array } | undefined {
    return this.spent.pop();
  }

  notif(rec: NotifRecord): void {
    this.post({ t: 'notif', rec });
  }

  summary(text: string): void {
    this.post({ t: 'summary', text });
  }

  interfaceName(id: number, name: string): void {
    this.post({ t: 'iface', id, name });
  }

  /** Flushes every record to disk and stops the worker. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.worker.on('message', (m: WorkerReply) => {
        if (m.t === 'closed') void this.worker.terminate().then(() => resolve());
      });
      this.post({ t: 'close' });
    });
    return this.closed;
  }

  private post(m: StageMessage, transfer?: ArrayBuffer[]): void {
    this.worker.postMessage(m, transfer);
  }
}
