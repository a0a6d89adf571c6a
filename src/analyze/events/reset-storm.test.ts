import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResetStormCounter } from './reset-storm.js';

const S = 1_000_000;

test('raises on the 21st reset within 60 s, once per window', () => {
  const c = new ResetStormCounter(20, 60 * S);
  const results: number[] = [];
  for (let i = 0; i < 30; i++) results.push(c.count(1, i * S));
  assert.deepEqual(results.map((r, i) => (r > 0 ? [i, r] : null)).filter(Boolean), [[20, 21]]);
  // A new burst after the quiet window is raised again.
  let again = 0;
  for (let i = 0; i < 25; i++) again = Math.max(again, c.count(1, 100 * S + i * 1000));
  assert.equal(again, 21);
});

test('resets spread wider than the window never raise; keys are separate', () => {
  const c = new ResetStormCounter(20, 60 * S);
  for (let i = 0; i < 100; i++) assert.equal(c.count('a', i * 4 * S), 0);
  for (let i = 0; i < 20; i++) assert.equal(c.count(2, i), 0);
  for (let i = 0; i < 20; i++) assert.equal(c.count(3, i), 0);
});
