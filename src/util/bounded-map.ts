/**
 * A Map that forgets its oldest entries beyond a bound (oldest = least recently set).
 *
 * Why not `map.delete(map.keys().next().value)`: V8 leaves a hole for each deleted entry until
 * the table is rehashed, and every new iterator starts at the first slot, so each eviction walked
 * the holes of all the evictions before it — 17 µs per insert into a full 65,536-entry Map
 * (measured on Node 20), which made attribution's per-flow bookkeeping cost more than writing the
 * flow's records. Here the age order is a queue of (key, stamp) beside the Map: a key set again
 * or deleted leaves a stale queue entry that eviction skips and compaction drops.
 */
export class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  /** The stamp of each key's latest set: queue entries with another stamp are stale. */
  private readonly stamps = new Map<K, number>();
  private queueKeys: K[] = [];
  private queueStamps: number[] = [];
  private head = 0;
  private nextStamp = 0;

  constructor(
    readonly max: number,
    /** Told each entry evicted by the bound (not those deleted). */
    private readonly onEvict?: (key: K, value: V) => void,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Adds or replaces `key`, which becomes the newest entry; evicts the oldest beyond the bound. */
  set(key: K, value: V): this {
    const stamp = this.nextStamp++;
    this.map.set(key, value);
    this.stamps.set(key, stamp);
    this.queueKeys.push(key);
    this.queueStamps.push(stamp);
    if (this.map.size > this.max) this.evictOldest();
    if (this.queueKeys.length > 2 * this.map.size + 1024) this.compact();
    return this;
  }

  delete(key: K): boolean {
    this.stamps.delete(key);
    return this.map.delete(key);
  }

  /** The oldest entry's key, or undefined when empty. */
  oldestKey(): K | undefined {
    this.skipStale();
    return this.head < this.queueKeys.length ? this.queueKeys[this.head] : undefined;
  }

  values(): IterableIterator<V> {
    return this.map.values();
  }

  clear(): void {
    this.map.clear();
    this.stamps.clear();
    this.queueKeys = [];
    this.queueStamps = [];
    this.head = 0;
  }

  private evictOldest(): void {
    const key = this.oldestKey();
    if (key === undefined) return;
    const value = this.map.get(key)!;
    this.delete(key);
    this.onEvict?.(key, value);
  }

  private skipStale(): void {
    const keys = this.queueKeys;
    while (this.head < keys.length && this.stamps.get(keys[this.head]!) !== this.queueStamps[this.head]) this.head++;
  }

  /** Drops the consumed and stale queue entries: amortized O(1), as it runs once per `size` or more sets. */
  private compact(): void {
    const keys: K[] = [];
    const stamps: number[] = [];
    for (let i = this.head; i < this.queueKeys.length; i++) {
      const key = this.queueKeys[i]!;
      if (this.stamps.get(key) !== this.queueStamps[i]) continue;
      keys.push(key);
      stamps.push(this.queueStamps[i]!);
    }
    this.queueKeys = keys;
    this.queueStamps = stamps;
    this.head = 0;
  }
}
