// Address text to words in the spellings the random flows of agreement.test.ts do not produce,
// and the shortest form used in suggestions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr } from './ip-words.js';
import { parseIp } from '../../wire/ip-parse.js';
import { formatIp } from '../../wire/ip-format.js';

function words(text: string): number[] {
  return [...parseIp(text)!.words].map((w) => w >>> 0);
}

test('IPv4 sits in word 0 as an unsigned 32-bit value', () => {
  assert.deepEqual(words('10.33.0.1'), [0x0a210001, 0, 0, 0]);
  assert.deepEqual(words('255.255.255.255'), [0xffffffff, 0, 0, 0]);
  assert.equal(parseIp('10.33.0.1')!.version, 4);
});

test('IPv6 with :: and embedded IPv4 tails', () => {
  assert.deepEqual(words('::'), [0, 0, 0, 0]);
  assert.deepEqual(words('::ffff:10.33.0.1'), [0, 0, 0xffff, 0x0a210001]);
  assert.deepEqual(words('64:ff9b::192.0.2.33'), [0x0064ff9b, 0, 0, 0xc0000221]);
  assert.deepEqual(words('1:2:3:4:5:6:10.0.0.1'), [0x00010002, 0x00030004, 0x00050006, 0x0a000001]);
  assert.deepEqual(words('2001:DB8::1'), [0x20010db8, 0, 0, 1]);
});

test('text that is no address is refused', () => {
  for (const text of ['10.0.0', '010.0.0.1', '1::2::3', 'fe80::1%eth0', '', 'bert']) assert.equal(parseIp(text), undefined, text);
});

test('CIDRs without a prefix are single addresses', () => {
  assert.equal(parseCidr('10.0.0.1', 'reject').cidr?.prefix, 32);
  assert.equal(parseCidr('2001:db8::1', 'reject').cidr?.prefix, 128);
});

test('host bits are cleared for local networks and refused in rule files', () => {
  assert.deepEqual([...parseCidr('192.168.7.20/24', 'clear').cidr!.words].map((w) => w >>> 0), [0xc0a80700, 0, 0, 0]);
  assert.match(parseCidr('192.168.7.20/24', 'reject').problem!, /host bits/);
});

test('addresses are formatted in their shortest form', () => {
  const format = (text: string): string => {
    const a = parseIp(text)!;
    return formatIp(a.version, a.words);
  };
  assert.equal(format('10.33.0.1'), '10.33.0.1');
  assert.equal(format('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(format('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1', 'the longest run of zeros');
  assert.equal(format('2001:db8:1:1:1:1:0:1'), '2001:db8:1:1:1:1:0:1', 'a single zero group stays');
  assert.equal(format('::'), '::');
});
