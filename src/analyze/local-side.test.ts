import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LocalSide } from './local-side.js';
import { parseCidr } from '../cli/config.js';

function words(...w: number[]): Int32Array {
  return Int32Array.from(w);
}

test('nodeIP is 0 for a local originator, 1 for a local responder, 1 when neither is local', () => {
  const net = parseCidr('10.77.1.0/24')!;
  const side = new LocalSide([net]);
  const local = 0x0a4d0105 | 0;
  const remote = 0x0a4d0205 | 0;
  // Key layout: originator at word 0, responder at word 4.
  assert.equal(side.nodeIp(4, words(local, 0, 0, 0, remote, 0, 0, 0), 0, 4), 0);
  assert.equal(side.nodeIp(4, words(remote, 0, 0, 0, local, 0, 0, 0), 0, 4), 1);
  assert.equal(side.nodeIp(4, words(remote, 0, 0, 0, remote, 0, 0, 0), 0, 4), 1);
});

test('IPv6 prefixes that cut inside a word, and /0', () => {
  const side = new LocalSide([parseCidr('fd77::/20')!]);
  assert.equal(side.isLocal(6, words(0xfd770fff | 0, 1, 2, 3), 0), true);
  assert.equal(side.isLocal(6, words(0xfd771000 | 0, 1, 2, 3), 0), false);
  assert.equal(side.isLocal(4, words(0xfd770fff | 0, 0, 0, 0), 0), false);
  assert.equal(new LocalSide([parseCidr('0.0.0.0/0')!]).isLocal(4, words(12345, 0, 0, 0), 0), true);
});
