/**
 * The interner against plain latin1 decoding of the same bytes: random runs
 * over a small alphabet so slots collide and are replaced, every byte value, lengths around the
 * slot width, and the same string object for a run seen again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { latin1, Latin1Interner } from './latin1-interner.js';
import { prng } from '../../test/support/prng.js';

test('latin1 reads one char per byte, all 256 values', () => {
  const all = Uint8Array.from({ length: 256 }, (_v, i) => i);
  const text = latin1(all, 0, 256);
  assert.equal(text.length, 256);
  for (let i = 0; i < 256; i++) assert.equal(text.charCodeAt(i), i);
  assert.equal(latin1(all, 65, 68), 'ABC');
  assert.equal(latin1(all, 10, 10), '');
});

test('every text equals the latin1 reading of its bytes, through collisions and replacements', () => {
  const random = prng(0x1a71);
  const plain = new Latin1Interner(8, 16);
  const data = new Uint8Array(64);
  for (let round = 0; round < 20_000; round++) {
    const from = Math.floor(random() * 8);
    const len = Math.floor(random() * 20);
    // A small alphabet (with both cases and a high byte) makes repeats and collisions likely.
    for (let i = from; i < from + len; i++) data[i] = [0x41, 0x61, 0x42, 0x62, 0x2d, 0xc0, 0xe0, 0x00][Math.floor(random() * 8)]!;
    const expected = latin1(data, from, from + len);
    assert.equal(plain.text(data, from, from + len), expected, `round ${round}`);
  }
});

test('a run seen again gives the same string; runs wider than a slot are still read', () => {
  const interner = new Latin1Interner(64, 8);
  const bytes = new TextEncoder().encode('xx User-Agent Host a-much-longer-value');
  const first = interner.text(bytes, 3, 13);
  assert.equal(first, 'User-Agent');
  const copy = new Uint8Array(bytes);
  assert.equal(interner.text(copy, 14, 18), 'Host');
  assert.ok(Object.is(interner.text(copy, 14, 18), interner.text(bytes, 14, 18)));
  assert.equal(interner.text(bytes, 19, bytes.length), 'a-much-longer-value');
});
