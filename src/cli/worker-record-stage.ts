/**
 * Runs the record stage in a worker thread (pino's transport idea): the per-packet thread only
 * copies numbers into snapshot batches; strings, JSON and file writes happen in the worker, on
 * the other core. Batches live in a fixed ring of SharedArrayBuffer slots, so nothing is
 * allocated or transferred per batch. Backpressure is synchronous: with every slot in use the
 * packet thread waits (Atomics.wait), so a slow disk slows reading instead of growing memory;
 * live, the kernel then counts drops, which are reported.
 */
import { Worker } from 'node:worker_threads';
import type { BatchArrays, InterfaceGone, RecordStage } from '../record/record-stage.js';
import { BATCH_HISTORY_BYTES, BATCH_NUMS_BYTES, newBatchArrays } from '../record/flow-snapshot.js';
import type { FlowAppInfo, NotifRecord } from '../record/records.js';
import type { DnsAnswerNames } from '../record/server-names.js';
import { packAppInfo, packDnsAnswer, type FlatValues } from './flat-extras.js';
import type { AttributionInit } from './attribution-client.js';
import type { DlltFileSinkOptions } from '../sinks/dllt-files.js';
import { DlltError, type DlltErrorCode } from './errors.js';
import type { RoleRulesConfig } from '../analyze/roles/config-types.js';

/**
 * Batches in the ring: one being filled plus up to SLOTS - 1 waiting for or in the worker. 16
 * slots (16,384 snapshots, 9 MB) ride out the record worker losing its core for ~200 ms at
 * 40,000 new flows a second: with 6, the packet thread waited for slots during such stalls and
 * the kernel dropped 1.5 % of 300 k packets/s live although the worker kept up on average (bench
 * section `live`: no drop up to 400 k with 16).
 */
const SLOTS = 16;
const SLOT_FREE = 0;
const SLOT_BUSY = 1;
const STALL_LIMIT_MS = 60_000;
const WORKER_OLD_SPACE_MB = 128;
const WORKER_YOUNG_SPACE_MB = 16;
/** What the worker's sink keeps in memory while the disk fails; must fit in the old space above. */
export const WORKER_BACKLOG_BYTES = 16 * 1024 * 1024;

export interface WorkerInit {
  sink: Omit<DlltFileSinkOptions, 'onNotice' | 'startTime'>;
  startTimeMs: number;
  ifName: string;
  /** DLLT_ROLE_RULES, validated on the main thread and compiled again in the worker. */
  roleRules?: { config: RoleRulesConfig; ourNets: string[]; source: string } | undefined;
  /** DLLT_DNS_NAME_MIN_S. */
  dnsNameMinS: number;
  /** Live capture: attribute flows to local processes (SPEC 9). */
  attribution?: AttributionInit | undefined;
  /** Int32 per slot (SLOT_FREE or SLOT_BUSY), then one generation word the worker bumps and
   *  notifies each time it frees a slot. */
  slotStates: SharedArrayBuffer;
  slotNums: SharedArrayBuffer[];
  slotHistory: SharedArrayBuffer[];
}

export const SLOT_STATE_FREE = SLOT_FREE;
/** Index of the generation word in slotStates. */
export const SLOT_GENERATION = SLOTS;
/** Index of the word the worker sets to STAGE_FAILED when it cannot open its files: a packet
 *  thread waiting for a slot sees it without running its event loop. */
export const STAGE_STATUS = SLOTS + 1;
export const STAGE_FAILED = 1;

export type StageMessage =
  | { t: 'flows'; slot: number; count: number; apps: FlatValues; dns: FlatValues }
  | { t: 'notif'; rec: NotifRecord }
  | { t: 'summary'; text: string }
  | { t: 'iface'; id: number; name: string }
  | { t: 'vif_gone'; gone: InterfaceGone }
  | { t: 'close' };

export type WorkerReply =
  | { t: 'ready' }
  | { t: 'error'; code: string; message: string; hint?: string | undefined }
  | { t: 'warning'; text: string }
  | { t: 'closed' };

export class WorkerRecordStage implements RecordStage {
  private readonly states: Int32Array;
  private readonly slots: BatchArrays[];
  private filling = 0;
  private readonly pendingApps: FlatValues = [];
  private readonly pendingDns: FlatValues = [];
  private closed?: Promise<void>;
  /** Settles once the worker's files are open; rejects with its DlltError if they cannot be. */
  readonly ready: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    init: WorkerInit,
    onWarning: (text: string) => void,
  ) {
    this.states = new Int32Array(init.slotStates);
    this.slots = init.slotNums.map((nums, i) => newBatchArrays(nums, init.slotHistory[i]!));
    this.ready = new Promise((resolve, reject) => {
      worker.on('message', (m: WorkerReply) => {
        if (m.t === 'ready') resolve();
        else if (m.t === 'error') {
          // The worker could not open its files: stop it, or its open port keeps the process alive.
          void worker.terminate();
          reject(new DlltError(m.code as DlltErrorCode, m.message, m.hint === undefined ? undefined : { hint: m.hint }));
        }
        else if (m.t === 'warning') onWarning(m.text);
      });
      let started = false;
      worker.once('message', () => (started = true));
      worker.on('error', (err) => {
        const failure = new DlltError('DLLT_ERR_INTERNAL', `record worker failed: ${err.stack ?? err.message}`);
        if (!started) {
          Atomics.store(this.states, STAGE_STATUS, STAGE_FAILED);
          return reject(failure);
        }
        // Records can no longer be written: say so and stop with the runtime-failure exit code.
        process.stderr.write(failure.toOneLine() + '\n');
        process.exit(1);
      });
    });
    // Whoever uses the stage awaits ready (close() does); until then a failure is not unhandled.
    this.ready.catch(() => undefined);
  }

  /**
   * Starts the worker. Snapshots can be handed over at once: they wait in the ring while the
   * worker starts (~60 ms: a new isolate and its modules), so a capture file is read meanwhile.
   * `ready` says whether its files opened.
   */
  static start(init: Omit<WorkerInit, 'slotStates' | 'slotNums' | 'slotHistory'>, onWarning: (text: string) => void): WorkerRecordStage {
    const full: WorkerInit = {
      ...init,
      slotStates: new SharedArrayBuffer(4 * (SLOTS + 2)),
      slotNums: Array.from({ length: SLOTS }, () => new SharedArrayBuffer(BATCH_NUMS_BYTES)),
      slotHistory: Array.from({ length: SLOTS }, () => new SharedArrayBuffer(BATCH_HISTORY_BYTES)),
    };
    // The worker's live set is small (a 64 K-slot string cache, at most the sink's 16 MiB backlog
    // while a disk fails) but it makes strings per flow: a capped old generation makes V8 collect
    // them early instead of letting RSS grow by hundreds of MB under a flow flood.
    const worker = new Worker(new URL('./record-worker.js', import.meta.url), {
      workerData: full,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_OLD_SPACE_MB, maxYoungGenerationSizeMb: WORKER_YOUNG_SPACE_MB },
    });
    return new WorkerRecordStage(worker, full, onWarning);
  }

  /**
   * A free slot to fill next; waits while the worker holds every other one. A worker that frees
   * nothing for STALL_LIMIT_MS has died or hangs on its disk; this thread cannot see its error
   * event while it waits, so it gives up here with a clear message rather than hang forever.
   */
  nextBatch(): BatchArrays {
    const waitingSince = Date.now();
    for (;;) {
      if (Date.now() - waitingSince > STALL_LIMIT_MS) {
        throw new DlltError('DLLT_ERR_INTERNAL', `the record worker freed no batch for ${STALL_LIMIT_MS / 1000} s: it died or its disk hangs; records since then are lost`, {
          hint: 'check the output directory and the messages above, then rerun',
        });
      }
      if (Atomics.load(this.states, STAGE_STATUS) === STAGE_FAILED) {
        // The reason arrives as a message; ready and close() reject with it.
        throw new DlltError('DLLT_ERR_INTERNAL', 'the record worker could not open its files');
      }
      // Read the generation before scanning: a slot freed after the scan changes it, so the wait
      // below returns at once instead of missing the wake-up.
      const generation = Atomics.load(this.states, SLOT_GENERATION);
      for (let i = 0; i < SLOTS; i++) {
        if (Atomics.load(this.states, i) === SLOT_FREE) {
          Atomics.store(this.states, i, SLOT_BUSY);
          this.filling = i;
          return this.slots[i]!;
        }
      }
      Atomics.wait(this.states, SLOT_GENERATION, generation, 1000);
    }
  }

  /** App info and DNS answers ride with the next batch: one message per batch instead of one per
   *  change, and the worker applies them before the snapshots that need them. */
  flows(_nums: Float64Array, _history: Uint8Array, count: number): void {
    this.post({ t: 'flows', slot: this.filling, count, apps: this.pendingApps, dns: this.pendingDns });
    // postMessage has copied them: the arrays are refilled for the next batch.
    this.pendingApps.length = 0;
    this.pendingDns.length = 0;
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

  appInfo(serial: number, info: FlowAppInfo): void {
    packAppInfo(this.pendingApps, serial, info);
  }

  dnsAnswer(answer: DnsAnswerNames): void {
    packDnsAnswer(this.pendingDns, answer);
  }

  interfaceGone(gone: InterfaceGone): void {
    this.post({ t: 'vif_gone', gone });
  }

  /** Flushes every record to disk and stops the worker; rejects as `ready` did if its files
   *  never opened. */
  close(): Promise<void> {
    this.closed ??= this.ready.then(
      () =>
        new Promise<void>((resolve) => {
          this.worker.on('message', (m: WorkerReply) => {
            if (m.t === 'closed') void this.worker.terminate().then(() => resolve());
          });
          this.post({ t: 'close' });
        }),
    );
    return this.closed;
  }

  private post(m: StageMessage): void {
    this.worker.postMessage(m);
  }
}
