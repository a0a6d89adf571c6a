import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineBytes, piece, pieceOfBytes } from './line-bytes.js';
import { formatIp } from '../wire/ip-format.js';

function written(line: LineBytes): string {
  return Buffer.from(line.bytes.subarray(0, line.length)).toString('utf8');
}

test('numbers come out as String(n) writes them, at every width and edge', () => {
  const values = [0, -0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 2 ** 31 - 1, 2 ** 31, -1, -(2 ** 31), 1e8 - 1, 1e8, 1e8 + 1, 99_999_999_999,
    1_795_368_578_443_714, 1_795_368_500_000_000, 1_795_368_499_999_999, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 53, 2 ** 60, 1e21,
    0.5, -2.25, 1e-7, NaN, Infinity, -Infinity];
  // Every power of ten and its neighbours, where the width changes.
  for (let p = 1; p <= 1e15; p *= 10) values.push(p - 1, p, p + 1);
  // Just below and at multiples of 1e8, where the high/low split of large integers could slip.
  for (let k = 1; k < 9e7; k *= 7) values.push(k, k * 1e8 - 1, k * 1e8, -(k * 1e8 - 1));
  const line = new LineBytes();
  for (const v of values) {
    line.clear();
    line.number(v);
    assert.equal(written(line), String(v), `for ${v}`);
  }
});

test('numbers written one after another leave no stray digits between them', () => {
  const line = new LineBytes();
  const values = [7, 12, 345, 6789, 10_000, 2 ** 31 - 1, 0, 1_795_368_578_443_714, 5];
  for (const v of values) {
    line.number(v);
    line.ascii(0x2c);
  }
  assert.equal(written(line), values.map(String).join(',') + ',');
});

test('digits pad to their width, odd and even', () => {
  const line = new LineBytes();
  for (const [v, width] of [[0, 1], [0, 6], [42, 6], [42, 5], [7, 2], [999_999, 6], [123_456, 6], [5, 8], [12_345_678, 8]] as const) {
    line.clear();
    line.digits(v, width);
    assert.equal(written(line), String(v).padStart(width, '0'), `${v} in ${width}`);
  }
});

test('text is written as UTF-8, ASCII or not, and the array grows as needed', () => {
  const line = new LineBytes();
  const parts = ['{"a":"', 'é', 'plain ascii', '日本語', '\u{1F600}', 'x'.repeat(100_000), 'ÿ'];
  for (const p of parts) line.text(p);
  assert.deepEqual(Buffer.from(line.bytes.subarray(0, line.length)), Buffer.from(parts.join('')));
});

test('latin1 bytes encode as String.fromCharCode would', () => {
  const line = new LineBytes();
  line.latin1(new Uint8Array([0x41, 0x53, 0x7f, 0x80, 0xe9, 0xff, 0x42]), 1, 5);
  assert.equal(written(line), String.fromCharCode(0x53, 0x7f, 0x80, 0xe9, 0xff));
});

test('pieces of every length up to 40, ASCII or not, copy exactly and cover the padding of the one before', () => {
  const line = new LineBytes();
  let expected = '';
  for (let n = 0; n <= 40; n++) {
    const s = Array.from({ length: n }, (_, i) => String.fromCharCode(0x21 + ((n * 7 + i) % 90))).join('') + (n % 3 === 0 ? 'é\u{1F600}' : '');
    line.piece(piece(s));
    expected += s;
  }
  assert.equal(written(line), expected);
});

test('pieces keep every byte of UTF-8, whatever the bytes around them', () => {
  // Four-byte sequences at every offset within a word: their lead byte (0xf0) is as close as
  // UTF-8 comes to the bit pattern of a NaN.
  const line = new LineBytes();
  let expected = '';
  for (let pad = 0; pad < 8; pad++) {
    const s = '\x7f'.repeat(pad) + '\u{10FFFF}\u{1F600}\x7f';
    line.piece(piece(s));
    expected += s;
  }
  assert.equal(written(line), expected);
  assert.throws(() => pieceOfBytes(new Uint8Array([0, 0, 0, 0, 0, 0, 0xf8, 0x7f])), /UTF-8/);
});

test('IPv4 addresses come out as formatIp writes them, one after another', () => {
  const line = new LineBytes();
  const words = [0, -1, 0x0a000001, 0x7f000001, 0xc0a80164 | 0, 0x08080808, 0x01020304, 0x640a6309, 0xff00ff00 | 0];
  let seed = 12345;
  for (let i = 0; i < 2000; i++) {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) | 0;
    words.push(seed);
  }
  let expected = '';
  for (const w of words) {
    line.ipv4(w);
    line.ascii(0x3b);
    expected += formatIp(4, Int32Array.of(w)) + ';';
  }
  assert.equal(written(line), expected);
});

test('JSON strings equal JSON.stringify, with and without characters to escape', () => {
  const line = new LineBytes();
  const values = ['', 'example.com', '/index.html?a=1&b=2', 'say "hi"', 'back\\slash', 'tab\there', '\x00\x1f\x7f', 'é', '日本', '\u{1F600}', '\ud800 lone', '~ '];
  for (const v of values) {
    line.clear();
    line.jsonString(v);
    assert.equal(written(line), JSON.stringify(v), `for ${JSON.stringify(v)}`);
  }
});

test('lines: endLine records each size, clear starts over', () => {
  const line = new LineBytes();
  for (let i = 0; i < 3000; i++) {
    line.text(`line ${i}\n`);
    line.endLine();
  }
  assert.equal(line.lines, 3000);
  assert.equal(line.lineSizes[0], 'line 0\n'.length);
  assert.equal(line.lineSizes[2999], 'line 2999\n'.length);
  let sum = 0;
  for (let i = 0; i < line.lines; i++) sum += line.lineSizes[i]!;
  assert.equal(sum, line.length);
  line.clear();
  line.text('again\n');
  line.endLine();
  assert.equal(line.lines, 1);
  assert.equal(written(line), 'again\n');
  assert.equal(line.lineSizes[0], 6);
});
