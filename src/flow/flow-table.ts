/**
 * The flow index: canonical bidirectional keys in typed-array columns, open addressing with
 * linear probing and backward-shift deletion (no tombstones), and intrusive doubly linked lists
 * per timeout class. Hand-written because it is the per-packet hot path: a string-keyed Map is
 * 30–90× slower here (DESIGN.md §3) and allocates per packet.
 *
 * Each list is ordered by the clock value of the flow's last packet (the clock never goes
 * backwards), so the head of a list is the flow that expires first: timeouts are a head check
 * per class, and eviction takes the oldest head among the classes evicted first (embryonic TCP
 * and one-packet flows, SPEC 4). The fixed capacity *is* the memory cap.
 */

/** Key layout: words 0–3 endpoint A address, 4–7 endpoint B address, 8 portA<<16|portB, 9 family<<8|proto. */
export const KEY_WORDS = 10;

export const enum FlowClass {
  TCP_EMBRYONIC = 0,
  TCP_MIDSTREAM_ONE = 1,
  UDP_ONE = 2,
  ICMP_ONE = 3,
  OTHER_ONE = 4,
  TCP_ESTABLISHED = 5,
  TCP_CLOSING = 6,
  UDP = 7,
  ICMP = 8,
  OTHER = 9,
}
export const CLASS_COUNT = 10;
/** Classes below this one are evicted before any other (SPEC 4's eviction order). */
export const FIRST_TO_EVICT_CLASSES = 5;

const NONE = -1;
const MIN_SLOTS = 4096;

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export class FlowTable {
  readonly capacity: number;
  count = 0;
  readonly keys: Int32Array;
  /** Each flow's key hash, to find its slot when it is removed. */
  private readonly hashOf: Int32Array;
  /** Hash slots as pairs: flowId + 1 (0: empty) and the key's hash, so a probe reads one cache
   *  line and goes to the key columns only on a hash match. The slot array grows with the live
   *  flows (load ≤ 1/2) instead of being sized for DLLT_MAX_FLOWS: a table of 100 k flows probes
   *  1 MB that stays in cache, not 8 MB. */
  private slots: Int32Array;
  private slotMask: number;
  private readonly maxSlotCount: number;

  readonly flowClass: Uint8Array;
  readonly listPrev: Int32Array;
  readonly listNext: Int32Array;
  readonly listHead = new Int32Array(CLASS_COUNT).fill(NONE);
  readonly listTail = new Int32Array(CLASS_COUNT).fill(NONE);
  /** Clock (µs) of the flow's last packet; orders the lists. */
  readonly lastClock: Float64Array;

  /** The report list orders flows by when they last got a flow_start/flow_update record. */
  readonly reportPrev: Int32Array;
  readonly reportNext: Int32Array;
  reportHead = NONE;
  reportTail = NONE;
  readonly lastReportClock: Float64Array;

  /** The last key found or inserted and its flow: consecutive packets of one flow (a bulk
   *  transfer, both directions share the canonical key) skip the hash and the probe. */
  private readonly memoKey = new Int32Array(KEY_WORDS);
  private memoId = NONE;

  /** Free slots, linked through listNext (a free slot is in no list). */
  private freeHead = NONE;
  private highWater = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.keys = new Int32Array(capacity * KEY_WORDS);
    this.hashOf = new Int32Array(capacity);
    this.maxSlotCount = nextPowerOfTwo(capacity * 2);
    const slotCount = Math.min(MIN_SLOTS, this.maxSlotCount);
    this.slots = new Int32Array(slotCount * 2);
    this.slotMask = slotCount - 1;
    this.flowClass = new Uint8Array(capacity);
    this.listPrev = new Int32Array(capacity);
    this.listNext = new Int32Array(capacity);
    this.lastClock = new Float64Array(capacity);
    this.reportPrev = new Int32Array(capacity);
    this.reportNext = new Int32Array(capacity);
    this.lastReportClock = new Float64Array(capacity);
  }

  get isFull(): boolean {
    return this.count >= this.capacity;
  }

  /** Finds the flow whose key equals key[0, KEY_WORDS); -1 when absent. */
  find(key: Int32Array): number {
    const memo = this.memoKey;
    if (
      this.memoId !== NONE &&
      memo[0] === key[0] && memo[1] === key[1] && memo[2] === key[2] && memo[3] === key[3] && memo[4] === key[4] &&
      memo[5] === key[5] && memo[6] === key[6] && memo[7] === key[7] && memo[8] === key[8] && memo[9] === key[9]
    ) {
      return this.memoId;
    }
    const id = this.lookup(key, hashKey(key));
    if (id !== NONE) this.remember(key, id);
    return id;
  }

  private remember(key: Int32Array, id: number): void {
    this.memoKey.set(key);
    this.memoId = id;
  }

  /** find() with the key's hash already computed. */
  lookup(key: Int32Array, hash: number): number {
    const slots = this.slots;
    const keys = this.keys;
    let s = hash & this.slotMask;
    for (;;) {
      const v = slots[s * 2]!;
      if (v === 0) return NONE;
      if (slots[s * 2 + 1] === hash) {
        const id = v - 1;
        const base = id * KEY_WORDS;
        if (
          keys[base] === key[0] && keys[base + 1] === key[1] && keys[base + 2] === key[2] &&
          keys[base + 3] === key[3] && keys[base + 4] === key[4] && keys[base + 5] === key[5] &&
          keys[base + 6] === key[6] && keys[base + 7] === key[7] && keys[base + 8] === key[8] &&
          keys[base + 9] === key[9]
        ) {
          return id;
        }
      }
      s = (s + 1) & this.slotMask;
    }
  }

  /** Adds a flow for key (the caller made room first); it starts in `cls` at `clock`. */
  insert(key: Int32Array, hash: number, cls: FlowClass, clock: number): number {
    let id: number;
    if (this.freeHead !== NONE) {
      id = this.freeHead;
      this.freeHead = this.listNext[id]!;
    } else {
      id = this.highWater++;
    }
    this.count++;
    const base = id * KEY_WORDS;
    for (let i = 0; i < KEY_WORDS; i++) this.keys[base + i] = key[i]!;
    this.hashOf[id] = hash;
    if (this.count * 2 > this.slotMask + 1 && this.slotMask + 1 < this.maxSlotCount) this.growSlots();
    this.placeInSlots(id + 1, hash);
    this.flowClass[id] = cls;
    this.lastClock[id] = clock;
    this.appendToList(id, cls);
    this.lastReportClock[id] = clock;
    this.appendToReports(id);
    this.remember(key, id);
    return id;
  }

  /** Removes a flow from the index and every list, and frees its slot. */
  remove(id: number): void {
    if (id === this.memoId) this.memoId = NONE;
    this.unlinkFromList(id, this.flowClass[id]! as FlowClass);
    this.unlinkFromReports(id);
    const slots = this.slots;
    const mask = this.slotMask;
    let s = this.hashOf[id]! & mask;
    while (slots[s * 2] !== id + 1) s = (s + 1) & mask;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    let hole = s;
    let next = (hole + 1) & mask;
    while (slots[next * 2] !== 0) {
      const home = slots[next * 2 + 1]! & mask;
      const distNext = (next - home) & mask;
      const distHole = (hole - home) & mask;
      if (distHole < distNext) {
        slots[hole * 2] = slots[next * 2]!;
        slots[hole * 2 + 1] = slots[next * 2 + 1]!;
        hole = next;
      }
      next = (next + 1) & mask;
    }
    slots[hole * 2] = 0;
    this.listNext[id] = this.freeHead;
    this.freeHead = id;
    this.count--;
  }

  private placeInSlots(entry: number, hash: number): void {
    const slots = this.slots;
    let s = hash & this.slotMask;
    while (slots[s * 2] !== 0) s = (s + 1) & this.slotMask;
    slots[s * 2] = entry;
    slots[s * 2 + 1] = hash;
  }

  /** Doubles the slot array and places every flow again (log2 of the flow cap times at most). */
  private growSlots(): void {
    const old = this.slots;
    const slotCount = (this.slotMask + 1) * 2;
    this.slots = new Int32Array(slotCount * 2);
    this.slotMask = slotCount - 1;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.placeInSlots(old[i]!, old[i + 1]!);
  }

  /** A packet of flow `id` at `clock`: it moves to the tail of class `cls`. */
  touch(id: number, cls: FlowClass, clock: number): void {
    // Already the newest of its class (back-to-back packets of one flow): the list keeps its order.
    if (this.listTail[cls] === id && this.flowClass[id] === cls) {
      this.lastClock[id] = clock;
      return;
    }
    this.unlinkFromList(id, this.flowClass[id]! as FlowClass);
    this.flowClass[id] = cls;
    this.lastClock[id] = clock;
    this.appendToList(id, cls);
  }

  /** A flow got its flow_start/flow_update record at `clock`. */
  reported(id: number, clock: number): void {
    this.unlinkFromReports(id);
    this.lastReportClock[id] = clock;
    this.appendToReports(id);
  }

  /** The flow to evict next: the oldest head among the first-to-evict classes, else among all. */
  evictionCandidate(): number {
    let best = this.oldestHead(0, FIRST_TO_EVICT_CLASSES);
    if (best === NONE) best = this.oldestHead(FIRST_TO_EVICT_CLASSES, CLASS_COUNT);
    return best;
  }

  private oldestHead(fromClass: number, toClass: number): number {
    let best = NONE;
    let bestClock = Infinity;
    for (let c = fromClass; c < toClass; c++) {
      const h = this.listHead[c]!;
      if (h !== NONE && this.lastClock[h]! < bestClock) {
        best = h;
        bestClock = this.lastClock[h]!;
      }
    }
    return best;
  }

  private appendToList(id: number, cls: FlowClass): void {
    const tail = this.listTail[cls]!;
    this.listPrev[id] = tail;
    this.listNext[id] = NONE;
    if (tail === NONE) this.listHead[cls] = id;
    else this.listNext[tail] = id;
    this.listTail[cls] = id;
  }

  private unlinkFromList(id: number, cls: FlowClass): void {
    const prev = this.listPrev[id]!;
    const next = this.listNext[id]!;
    if (prev === NONE) this.listHead[cls] = next;
    else this.listNext[prev] = next;
    if (next === NONE) this.listTail[cls] = prev;
    else this.listPrev[next] = prev;
  }

  private appendToReports(id: number): void {
    const tail = this.reportTail;
    this.reportPrev[id] = tail;
    this.reportNext[id] = NONE;
    if (tail === NONE) this.reportHead = id;
    else this.reportNext[tail] = id;
    this.reportTail = id;
  }

  private unlinkFromReports(id: number): void {
    const prev = this.reportPrev[id]!;
    const next = this.reportNext[id]!;
    if (prev === NONE) this.reportHead = next;
    else this.reportNext[prev] = next;
    if (next === NONE) this.reportTail = prev;
    else this.reportPrev[next] = prev;
  }
}

/** Mixes the ten key words into a 31-bit hash (murmur3-style finalisation per word). */
export function hashKey(key: Int32Array): number {
  let h = 0x9747b28c | 0;
  for (let i = 0; i < KEY_WORDS; i++) {
    let k = Math.imul(key[i]!, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & 0x7fffffff;
}
