import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressTexts } from './address-texts.js';
import { formatIp } from '../wire/ip-format.js';

function randomWords(seed: number, n: number): Int32Array[] {
  const out: Int32Array[] = [];
  let x = seed;
  const next = (): number => (x = (Math.imul(x, 1_103_515_245) + 12_345) | 0);
  for (let i = 0; i < n; i++) out.push(Int32Array.of(next(), next() & (i % 3 === 0 ? 0 : -1), next(), next()));
  return out;
}

test('address texts equal formatIp for IPv4 and IPv6, through collisions and evictions', () => {
  const texts = new AddressTexts();
  const addresses = randomWords(7, 20_000);
  // Twice over: the second pass meets addresses whose slots were taken by others meanwhile.
  for (let pass = 0; pass < 2; pass++) {
    for (const words of addresses) {
      assert.equal(texts.of(4, words), formatIp(4, words));
      assert.equal(texts.of(6, words), formatIp(6, words));
    }
  }
  for (const words of [Int32Array.of(0, 0, 0, 0), Int32Array.of(0, 0, 0xffff, 0x0a000001), Int32Array.of(0x20010db8, 0, 0, 1), Int32Array.of(-1, -1, -1, -1)]) {
    assert.equal(texts.of(6, words), formatIp(6, words));
    assert.equal(texts.of(4, words), formatIp(4, words));
  }
});

test('an IPv4 address and an IPv6 address with the same first word are told apart', () => {
  const texts = new AddressTexts();
  const words = Int32Array.of(0x0a000001, 0, 0, 0);
  assert.equal(texts.of(4, words), '10.0.0.1');
  assert.equal(texts.of(6, words), formatIp(6, words));
  assert.equal(texts.of(4, words), '10.0.0.1');
});

test('IPv4 words past the first do not matter', () => {
  const texts = new AddressTexts();
  assert.equal(texts.of(4, Int32Array.of(0x0a000001, 0, 0, 0)), '10.0.0.1');
  assert.equal(texts.of(4, Int32Array.of(0x0a000001, 5, 6, 7)), '10.0.0.1');
});
