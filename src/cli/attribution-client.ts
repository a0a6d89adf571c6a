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

/**
 * New flows as they cross threads: per flow REQUEST_NUMS numbers in `nums` (serial, proto,
 * srcPort, dstPort, clientIsSrc as 0/1, firstTsUs) and REQUEST_TEXTS strings in `texts` (srcIP,
 * dstIP, communityId). Tens of thousands of flows a second on a busy link: cloning one object per
 * flow cost the record worker more than writing the flows' records.
 */
export type AttributionMessage = { t: 'flows'; nums: Float64Array; texts: string[] } | { t: 'close' };
export const REQUEST_NUMS = 6;
export const REQUEST_TEXTS = 3;

/** The flows of one 'flows' message, as objects. */
export function unpackRequests(nums: Float64Array, texts: readonly string[], each: (req: AttributionRequest) => void): void {
  for (let i = 0, t = 0; i + REQUEST_NUMS <= nums.length; i += REQUEST_NUMS, t += REQUEST_TEXTS) {
    each({
      serial: nums[i]!,
      proto: nums[i + 1]!,
      srcIP: texts[t]!,
      srcPort: nums[i + 2]!,
      dstIP: texts[t + 1]!,
      dstPort: nums[i + 3]!,
      clientIsSrc: nums[i + 4] === 1,
      communityId: texts[t + 2]!,
      firstTsUs: nums[i + 5]!,
    });
  }
}
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
  private queuedNums: number[] = [];
  private queuedTexts: string[] = [];
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
    this.queuedNums.push(req.serial, req.proto, req.srcPort, req.dstPort, req.clientIsSrc ? 1 : 0, req.firstTsUs);
    this.queuedTexts.push(req.srcIP, req.dstIP, req.communityId);
  }

  /** Sends what queued since the last call (after each record batch). */
  send(): void {
    if (this.queuedNums.length === 0) return;
    const nums = Float64Array.from(this.queuedNums);
    const texts = this.queuedTexts;
    this.queuedNums = [];
    this.queuedTexts = [];
    this.worker.postMessage({ t: 'flows', nums, texts } satisfies AttributionMessage, [nums.buffer]);
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
