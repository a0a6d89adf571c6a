import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIp } from './ip-format.js';

const words = (...w: number[]): Int32Array => Int32Array.from(w.map((x) => x | 0));

test('IPv4 dotted quad, including high addresses stored as negative int32', () => {
  assert.equal(formatIp(4, words(0xc0a80101, 0, 0, 0)), '192.168.1.1');
  assert.equal(formatIp(4, words(0xffffffff, 0, 0, 0)), '255.255.255.255');
  assert.equal(formatIp(4, words(0, 0, 0, 0)), '0.0.0.0');
});

test('IPv6 in RFC 5952 form', () => {
  assert.equal(formatIp(6, words(0, 0, 0, 1)), '::1');
  assert.equal(formatIp(6, words(0, 0, 0, 0)), '::');
  assert.equal(formatIp(6, words(0x20010db8, 0, 0, 1)), '2001:db8::1');
  // Longest zero run wins; a single zero group is not shortened.
  assert.equal(formatIp(6, words(0x20010db8, 0x00000001, 0, 1)), '2001:db8:0:1::1');
  assert.equal(formatIp(6, words(0x20010db8, 0x00010001, 0x00010001, 0x00010001)), '2001:db8:1:1:1:1:1:1');
  // Equal runs: the first one is shortened.
  assert.equal(formatIp(6, words(0x20010000, 0x00000001, 0x00010000, 0x00000001)), '2001::1:1:0:0:1');
  assert.equal(formatIp(6, words(0xfe800000, 0, 0x021122ff, 0xfe334455)), 'fe80::211:22ff:fe33:4455');
  assert.equal(formatIp(6, words(0, 0, 0xffff, 0xc0000201)), '::ffff:192.0.2.1');
  assert.equal(formatIp(6, words(0x20010db8, 0, 0, 0)), '2001:db8::');
});
