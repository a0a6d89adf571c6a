import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { communityId, sha1Hex } from './community-id.js';

const v4 = (s: string) => Int32Array.of(s.split('.').reduce((a, b) => (a << 8) | Number(b), 0), 0, 0, 0);
function v6(s: string): Int32Array {
  const [head = '', tail] = s.split('::');
  const groups = (x: string) => (x ? x.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  const w = new Int32Array(4);
  for (let i = 0; i < 4; i++) w[i] = (all[2 * i]! << 16) | all[2 * i + 1]!;
  return w;
}

test('SHA-1 matches the FIPS 180 test vectors', () => {
  assert.equal(sha1Hex(new TextEncoder().encode('abc')), 'a9993e364706816aba3e25717850c26c9cd0d89d');
  assert.equal(sha1Hex(new Uint8Array(0)), 'da39a3ee5e6b4b0d3255bfef95601890afd80709');
});

test('SHA-1 of every input length the one-block hash takes (0 to 55 bytes) equals node:crypto', () => {
  let seed = 7;
  for (let len = 0; len <= 55; len++) {
    const bytes = Uint8Array.from({ length: len }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24);
    assert.equal(sha1Hex(bytes), createHash('sha1').update(bytes).digest('hex'), `length ${len}`);
  }
});

test('Community ID matches the spec README example in both directions', () => {
  assert.equal(communityId(4, 6, v4('128.232.110.120'), v4('66.35.250.204'), 34855, 80), '1:LQU9qZlK+B5F3KDmev6m5PMibrg=');
  assert.equal(communityId(4, 6, v4('66.35.250.204'), v4('128.232.110.120'), 80, 34855), '1:LQU9qZlK+B5F3KDmev6m5PMibrg=');
});

test('Community ID for ICMPv6 matches the published baseline (port equivalents, ordering)', () => {
  const a = v6('fe80::200:86ff:fe05:80da');
  const b = v6('fe80::260:97ff:fe07:69ea');
  assert.equal(communityId(6, 58, a, b, 135, 0), '1:dGHyGvjMfljg6Bppwm3bg0LO8TY=');
  assert.equal(communityId(6, 58, b, a, 136, 0), '1:dGHyGvjMfljg6Bppwm3bg0LO8TY=');
  assert.equal(communityId(6, 58, b, a, 135, 0), '1:zavyT/cezQr1fmImYCwYnMXbgck=');
  assert.equal(communityId(6, 58, v6('3ffe:501:1800:2345::2'), v6('3ffe:507:0:1:200:86ff:fe05:80da'), 3, 0), '1:2ObVBgIn28oZvibYZhZMBgh7WdQ=');
  assert.equal(communityId(6, 58, v6('3ffe:501:410:0:2c0:dfff:fe47:33e'), v6('3ffe:507:0:1:200:86ff:fe05:80da'), 1, 4), '1:hLZd0XGWojozrvxqE0dWB1iM6R0=');
});
