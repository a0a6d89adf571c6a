import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedMap } from './bounded-map.js';

/** The obvious model: an array of [key, value] in age order. */
class ModelMap {
  entries: [number, number][] = [];
  evicted: [number, number][] = [];
  constructor(readonly max: number) {}
  set(k: number, v: number): void {
    this.delete(k);
    this.entries.push([k, v]);
    if (this.entries.length > this.max) this.evicted.push(this.entries.shift()!);
  }
  delete(k: number): boolean {
    const i = this.entries.findIndex(([key]) => key === k);
    if (i >= 0) this.entries.splice(i, 1);
    return i >= 0;
  }
}

/** Small deterministic generator, so a failure replays. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('agrees with an array model over random sets, re-sets and deletes, evicting the least recently set', () => {
  for (const max of [1, 3, 17, 200]) {
    const rand = lcg(max);
    const evicted: [number, number][] = [];
    const map = new BoundedMap<number, number>(max, (k, v) => evicted.push([k, v]));
    const model = new ModelMap(max);
    for (let i = 0; i < 20_000; i++) {
      const key = Math.floor(rand() * max * 3);
      const r = rand();
      if (r < 0.6) {
        map.set(key, i);
        model.set(key, i);
      } else if (r < 0.9) {
        assert.equal(map.delete(key), model.delete(key));
      } else {
        assert.equal(map.get(key), model.entries.find(([k]) => k === key)?.[1]);
      }
      assert.equal(map.size, model.entries.length);
      assert.equal(map.oldestKey(), model.entries[0]?.[0]);
    }
    assert.deepEqual(evicted, model.evicted);
    assert.deepEqual([...map.values()].sort((a, b) => a - b), model.entries.map(([, v]) => v).sort((a, b) => a - b));
  }
});

test('the age queue stays bounded: a million inserts past the bound keep it near the map size', () => {
  const map = new BoundedMap<number, number>(1000);
  for (let i = 0; i < 1_000_000; i++) {
    map.set(i, i);
    if (i % 3 === 0) map.delete(i - 500);
  }
  assert.ok(map.size <= 1000 && map.size > 500);
  const queued = (map as unknown as { queueKeys: number[] }).queueKeys.length;
  assert.ok(queued <= 2 * 1000 + 1024 + 1, `queue holds ${queued} entries`);
});

test('clear forgets everything', () => {
  const map = new BoundedMap<string, number>(2);
  map.set('a', 1).set('b', 2);
  map.clear();
  assert.equal(map.size, 0);
  assert.equal(map.oldestKey(), undefined);
  map.set('c', 3);
  assert.equal(map.oldestKey(), 'c');
});
