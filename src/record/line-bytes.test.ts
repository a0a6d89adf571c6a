import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineBytes } from './line-bytes.js';

function written(line: LineBytes): string {
  return Buffer.from(line.bytes.subarray(0, line.length)).toString('utf8');
}

test('numbers come out as String(n) writes them, at every width and edge', () => {
  const values = [0, -0, 1, 9, 10, 99, 100, 2 ** 31 - 1, 2 ** 31, -1, -(2 ** 31), 1e8 - 1, 1e8, 1e8 + 1, 99_999_999_999,
    1_795_368_578_443_714, 1_795_368_500_000_000, 1_795_368_499_999_999, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 2 ** 60, 1e21,
    0.5, -2.25, 1e-7, NaN, Infinity, -Infinity];
  // Just below and at multiples of 1e8, where the high/low split of large integers could slip.
  for (let k = 1; k < 9e7; k *= 7) values.push(k, k * 1e8 - 1, k * 1e8, -(k * 1e8 - 1));
  const line = new LineBytes();
  for (const v of values) {
    line.length = 0;
    line.number(v);
    assert.equal(written(line), String(v), `for ${v}`);
  }
});

test('text is written as UTF-8, ASCII or not, and the array grows as needed', () => {
  const line = new LineBytes();
  const parts = ['{"a":"', 'é', 'plain ascii', '日本語', '\u{1F600}', 'x'.repeat(10_000), 'ÿ'];
  for (const p of parts) line.text(p);
  assert.deepEqual(Buffer.from(line.bytes.subarray(0, line.length)), Buffer.from(parts.join('')));
});

test('latin1 bytes encode as String.fromCharCode would; digits pad to their width', () => {
  const line = new LineBytes();
  line.latin1(new Uint8Array([0x41, 0x53, 0x7f, 0x80, 0xe9, 0xff, 0x42]), 1, 5);
  line.digits(42, 6);
  line.raw(new Uint8Array([0x5a]));
  assert.equal(written(line), String.fromCharCode(0x53, 0x7f, 0x80, 0xe9, 0xff) + '000042Z');
});
