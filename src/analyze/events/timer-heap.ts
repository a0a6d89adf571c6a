/**
 * A binary min-heap of per-flow deadlines in typed arrays: (deadline µs, flow id, flow serial).
 * Detectors keep at most one entry per flow and re-check it when it comes due, so data packets
 * never touch the heap (a later deadline is found lazily). Grows by doubling up to `maxSize`;
 * when full, push reports failure and the caller counts what it could not watch.
 */
export class TimerHeap {
  private deadline: Float64Array;
  private flow: Int32Array;
  private serial: Uint32Array;
  size = 0;

  constructor(
    initialCapacity: number,
    private readonly maxSize: number,
  ) {
    const n = Math.max(16, Math.min(initialCapacity, maxSize));
    this.deadline = new Float64Array(n);
    this.flow = new Int32Array(n);
    this.serial = new Uint32Array(n);
  }

  /** The earliest deadline, or +Infinity when empty. */
  get nextDeadline(): number {
    return this.size === 0 ? Infinity : this.deadline[0]!;
  }

  get topFlow(): number {
    return this.flow[0]!;
  }

  get topSerial(): number {
    return this.serial[0]!;
  }

  push(deadline: number, flow: number, serial: number): boolean {
    if (this.size === this.deadline.length && !this.grow()) return false;
    let i = this.size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.deadline[parent]! <= deadline) break;
      this.move(parent, i);
      i = parent;
    }
    this.deadline[i] = deadline;
    this.flow[i] = flow;
    this.serial[i] = serial;
    return true;
  }

  /** Removes the earliest entry (read it first with topFlow/topSerial/nextDeadline). */
  pop(): void {
    const last = --this.size;
    if (last === 0) return;
    const d = this.deadline[last]!;
    const f = this.flow[last]!;
    const s = this.serial[last]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.deadline[child + 1]! < this.deadline[child]!) child++;
      if (this.deadline[child]! >= d) break;
      this.move(child, i);
      i = child;
    }
    this.deadline[i] = d;
    this.flow[i] = f;
    this.serial[i] = s;
  }

  private move(from: number, to: number): void {
    this.deadline[to] = this.deadline[from]!;
    this.flow[to] = this.flow[from]!;
    this.serial[to] = this.serial[from]!;
  }

  private grow(): boolean {
    const cap = this.deadline.length;
    if (cap >= this.maxSize) return false;
    const next = Math.min(cap * 2, this.maxSize);
    const d = new Float64Array(next);
    d.set(this.deadline);
    const f = new Int32Array(next);
    f.set(this.flow);
    const s = new Uint32Array(next);
    s.set(this.serial);
    this.deadline = d;
    this.flow = f;
    this.serial = s;
    return true;
  }
}

/**
 * A FIFO of (flow id, serial) for deadlines that are a fixed delay after an event in packet
 * order (the half-open check, first SYN + 30 s): they come due in the order they were queued,
 * so a ring does what a heap would, at 8 bytes per entry. When full, the oldest entry is dropped
 * (returned so the caller can count it); with the flow table's eviction order those are
 * usually flows already gone.
 */
export class FlowFifo {
  private readonly flow: Int32Array;
  private readonly serial: Uint32Array;
  private head = 0;
  size = 0;

  constructor(capacity: number) {
    this.flow = new Int32Array(capacity);
    this.serial = new Uint32Array(capacity);
  }

  /** Appends; returns false when the oldest entry had to be dropped to make room. */
  push(flow: number, serial: number): boolean {
    const cap = this.flow.length;
    let dropped = false;
    if (this.size === cap) {
      this.head = (this.head + 1) % cap;
      this.size--;
      dropped = true;
    }
    const tail = (this.head + this.size) % cap;
    this.flow[tail] = flow;
    this.serial[tail] = serial;
    this.size++;
    return !dropped;
  }

  get headFlow(): number {
    return this.flow[this.head]!;
  }

  get headSerial(): number {
    return this.serial[this.head]!;
  }

  shift(): void {
    this.head = (this.head + 1) % this.flow.length;
    this.size--;
  }
}
