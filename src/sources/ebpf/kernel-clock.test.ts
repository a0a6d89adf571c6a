/**
 * The monotonic → wall offset against Date.now(), at random moments and at the instant
 * Date.now() ticks (where the wall clock is exactly known). The e2e test checks it on real
 * kernel event times (ebpf-socket-source.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monotonicToWallOffsetUs } from './kernel-clock.js';

const monotonicUsNow = (): number => Number(process.hrtime.bigint()) / 1000;

test('monotonic µs + offset lies within the millisecond Date.now() reports', () => {
  for (let i = 0; i < 20; i++) {
    const floorUs = Date.now() * 1000;
    const wall = monotonicUsNow() + monotonicToWallOffsetUs();
    const ceilingUs = Date.now() * 1000 + 1000;
    assert.ok(wall >= floorUs - 50 && wall <= ceilingUs + 50, `${wall} in [${floorUs}, ${ceilingUs}]`);
  }
});

test('at a tick of Date.now() the converted time is that millisecond to within 50 µs', () => {
  const offset = monotonicToWallOffsetUs();
  let checked = 0;
  for (let k = 0; k < 20 && checked < 3; k++) {
    let lastOld = monotonicUsNow();
    const first = Date.now();
    let from = monotonicUsNow();
    let now = Date.now();
    let to = monotonicUsNow();
    while (now === first) {
      lastOld = from;
      from = monotonicUsNow();
      now = Date.now();
      to = monotonicUsNow();
    }
    const [before, after] = [lastOld, to];
    // A wide window means this thread was preempted around the tick: that sample says nothing.
    if (after - before > 20) continue;
    const error = (before + after) / 2 + offset - now * 1000;
    assert.ok(Math.abs(error) < 50, `off by ${error} µs`);
    checked++;
  }
  assert.equal(checked, 3, 'three undisturbed ticks observed');
});
