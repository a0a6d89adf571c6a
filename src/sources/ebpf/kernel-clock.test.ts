/**
 * The monotonic → wall offset against Date.now() (the e2e test checks it on real kernel event
 * times: ebpf-socket-source.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { monotonicToWallOffsetUs } from './kernel-clock.js';

test('monotonic µs + offset is the wall clock within Date.now()\'s millisecond', () => {
  for (let i = 0; i < 5; i++) {
    const offset = monotonicToWallOffsetUs();
    const before = Date.now() * 1000;
    const wall = Number(process.hrtime.bigint() / 1000n) + offset;
    const after = Date.now() * 1000 + 1000;
    assert.ok(wall >= before - 1000 && wall <= after, `${wall} in [${before - 1000}, ${after}]`);
  }
});

test('the offset is stable between measurements (no clock step here)', () => {
  const a = monotonicToWallOffsetUs();
  const b = monotonicToWallOffsetUs();
  assert.ok(Math.abs(a - b) < 100, `${a} vs ${b}`);
});
