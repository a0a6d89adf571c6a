/**
 * The record worker's side of attribution (SPEC 9): new flows go to the attribution worker,
 * which reads /proc off every other thread, and the local ends it finds come back as
 * process_flow records. Only live capture attributes: a capture file's flows happened
 * elsewhere, or long ago.
 */
import { Worker } from 'node:worker_threads';
import type { FoundEnds } from '../record/event-processes.js';
import type { FlowEndsView } from '../record/flow-record.js';
import type { NotifLevel } from '../record/records.js';

export interface AttributionInit {
  procRoot: string;
  podsDir: string;
  /** How long a flow's ends are looked for (ms). */
  deadlineMs: number;
  /** Pause between lookup passes while flows wait (ms). */
  passMs: number;
  /** Every namespace's sockets are polled this often, so short connections are seen (ms). */
  pollMs: number;
  /** USE_EBPF=Y: follow eBPF socket events too (and write them to processEBPF). */
  useEbpf: boolean;
}

/** How the worker writes process_flows and processEBPF lines: it serializes them itself, so a
 *  batch crosses to the record worker as transferred bytes rather than thousands of cloned objects. */
export interface AttributionLines {
  ifName: string;
  format: 'json' | 'text';
}

/** What the attribution worker is started with: the run's settings and how to write lines. */
export type AttributionWorkerData = AttributionInit & { lines: AttributionLines };

/** A new flow to attribute: its addresses, ports and roles (a FlowEnds) from its first record. */
export type AttributionRequest = FlowEndsView;

export interface AttributionStats {
  flows: number;
  /** Flows with at least one end on this host, as far as /proc showed. */
  localFlows: number;
  /** Flows with every local end attributed. */
  attributedFlows: number;
  ends: number;
}

export type AttributionMessage = { t: 'flows'; flows: AttributionRequest[] } | { t: 'close' };
export type AttributionReply =
  /** process_flows lines of the ends found (AttributionLines; bytes[0, sum of sizes), a line per
   *  size), the same ends for netwevents records, and `settled`: serials of the flows attribution
   *  is done with (found or not). */
  | ({ t: 'found'; bytes: Uint8Array; sizes: Int32Array; settled: number[] } & FoundEnds)
  /** processEBPF lines, serialized (AttributionLines): bytes[0, sum of sizes), a line per size. */
  | { t: 'socketEvents'; bytes: Uint8Array; sizes: Int32Array }
  | { t: 'notice'; level: NotifLevel; kind: string; message: string; extra?: Record<string, unknown> }
  | { t: 'closed'; stats: AttributionStats };

export interface AttributionHandler {
  found(bytes: Uint8Array, sizes: Int32Array, ends: FoundEnds, settled: number[]): void;
  socketEvents(bytes: Uint8Array, sizes: Int32Array): void;
  notice(level: NotifLevel, kind: string, message: string, extra?: Record<string, unknown>): void;
}

/** Batches flow starts to the worker (one message per record batch) and hands back what it found. */
export class AttributionClient {
  private readonly worker: Worker;
  private queued: AttributionRequest[] = [];
  private closing?: Promise<AttributionStats>;

  constructor(init: AttributionWorkerData, handler: AttributionHandler) {
    this.worker = new Worker(new URL('./attribution-worker.js', import.meta.url), { workerData: init });
    this.worker.on('message', (m: AttributionReply) => {
      if (m.t === 'found') handler.found(m.bytes, m.sizes, m, m.settled);
      else if (m.t === 'socketEvents') handler.socketEvents(m.bytes, m.sizes);
      else if (m.t === 'notice') handler.notice(m.level, m.kind, m.message, m.extra);
    });
  }

  flowStarted(req: AttributionRequest): void {
    this.queued.push(req);
  }

  /** Sends what queued since the last call (after each record batch). */
  send(): void {
    if (this.queued.length === 0) return;
    const flows = this.queued;
    this.queued = [];
    this.worker.postMessage({ t: 'flows', flows } satisfies AttributionMessage);
  }

  /** Finishes the flows still waiting (one last pass) and stops the worker. */
  close(): Promise<AttributionStats> {
    this.send();
    this.closing ??= new Promise((resolve) => {
      this.worker.on('message', (m: AttributionReply) => {
        if (m.t === 'closed') void this.worker.terminate().then(() => resolve(m.stats));
      });
      this.worker.postMessage({ t: 'close' } satisfies AttributionMessage);
    });
    return this.closing;
  }
}
