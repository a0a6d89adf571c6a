/**
 * Per-direction data statistics for the established TCP flows that carry data or close their
 * window: what the stall detectors (00007, 00008, 00100) and the retransmission-rate detector
 * (00101) need. Kept in a pool of slots that grows on demand instead of columns at the flow
 * cap, so a SYN flood of a million embryonic flows costs nothing here. Direction index =
 * slot * 2 + side (0 originator, 1 responder).
 */

const INITIAL_SLOTS = 1024;

export class StreamStats {
  /** The flow owning each slot. */
  flow: Int32Array;
  /** The deadline the timer heap holds for the slot (0: none); older heap entries are ignored. */
  due: Float64Array;
  firstData: Float64Array;
  lastData: Float64Array;
  /** Smoothed gap between new-data segments (µs), the "usual gap" of SPEC 6. */
  gapUs: Float64Array;
  newDataPkts: Uint32Array;
  payloadPkts: Uint32Array;
  /** The tracker's retransmission count last seen, to tell a resent segment from new data. */
  retransSeen: Uint32Array;
  /** Since when the direction has advertised a zero window (0: it has not). */
  zeroWindowSince: Float64Array;
  private free: number[] = [];
  private used = 0;

  constructor(private readonly maxSlots: number) {
    const n = Math.min(INITIAL_SLOTS, maxSlots);
    this.flow = new Int32Array(n);
    this.due = new Float64Array(n);
    this.firstData = new Float64Array(n * 2);
    this.lastData = new Float64Array(n * 2);
    this.gapUs = new Float64Array(n * 2);
    this.newDataPkts = new Uint32Array(n * 2);
    this.payloadPkts = new Uint32Array(n * 2);
    this.retransSeen = new Uint32Array(n * 2);
    this.zeroWindowSince = new Float64Array(n * 2);
  }

  /** A cleared slot for `flow`, or -1 when the pool is at its maximum. */
  allocate(flow: number): number {
    let slot = this.free.pop();
    if (slot === undefined) {
      if (this.used === this.flow.length && !this.grow()) return -1;
      slot = this.used++;
    }
    this.flow[slot] = flow;
    this.due[slot] = 0;
    for (let i = slot * 2; i < slot * 2 + 2; i++) {
      this.firstData[i] = 0;
      this.lastData[i] = 0;
      this.gapUs[i] = 0;
      this.newDataPkts[i] = 0;
      this.payloadPkts[i] = 0;
      this.retransSeen[i] = 0;
      this.zeroWindowSince[i] = 0;
    }
    return slot;
  }

  release(slot: number): void {
    this.flow[slot] = -1;
    this.due[slot] = 0;
    this.free.push(slot);
  }

  private grow(): boolean {
    const n = this.flow.length;
    if (n >= this.maxSlots) return false;
    const next = Math.min(n * 2, this.maxSlots);
    this.flow = grown(this.flow, new Int32Array(next));
    this.due = grown(this.due, new Float64Array(next));
    this.firstData = grown(this.firstData, new Float64Array(next * 2));
    this.lastData = grown(this.lastData, new Float64Array(next * 2));
    this.gapUs = grown(this.gapUs, new Float64Array(next * 2));
    this.newDataPkts = grown(this.newDataPkts, new Uint32Array(next * 2));
    this.payloadPkts = grown(this.payloadPkts, new Uint32Array(next * 2));
    this.retransSeen = grown(this.retransSeen, new Uint32Array(next * 2));
    this.zeroWindowSince = grown(this.zeroWindowSince, new Float64Array(next * 2));
    return true;
  }
}

function grown<T extends Float64Array | Int32Array | Uint32Array>(old: T, bigger: T): T {
  bigger.set(old);
  return bigger;
}
