import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TcpStreams, type StreamReceiver } from './tcp-stream.js';

class Collect implements StreamReceiver {
  readonly bytes: number[][] = [[], []];
  readonly gaps: number[] = [];
  data(dir: 0 | 1, data: Uint8Array, start: number, end: number): void {
    for (let i = start; i < end; i++) this.bytes[dir]!.push(data[i]!);
  }
  gap(dir: 0 | 1): void {
    this.gaps.push(dir);
  }
}

const text = new TextEncoder();
function seg(s: TcpStreams, dir: 0 | 1, seq: number, str: string, firstSeq = 1001): void {
  const b = text.encode(str);
  s.segment(dir, seq, b, 0, b.length, b.length, firstSeq);
}
function decoded(c: Collect, dir: 0 | 1): string {
  return String.fromCharCode(...c.bytes[dir]!);
}

test('in-order, out-of-order, overlapping and retransmitted segments give the stream once, in order', () => {
  const c = new Collect();
  const s = new TcpStreams(c);
  seg(s, 0, 1001, 'GET ');
  seg(s, 0, 1009, 'HTTP/1.1');
  seg(s, 0, 1005, '/ab ');
  seg(s, 0, 1001, 'GET /');
  seg(s, 0, 1015, '.1\r\n');
  assert.equal(decoded(c, 0), 'GET /ab HTTP/1.1\r\n');
  assert.deepEqual(c.gaps, []);
});

test('sequence numbers wrapping past 2^31 and 2^32 are handled', () => {
  const c = new Collect();
  const s = new TcpStreams(c);
  const first = 0x7ffffffe | 0;
  seg(s, 1, (first + 4) | 0, 'World', first);
  seg(s, 1, first, 'Hell', first);
  assert.equal(decoded(c, 1), 'HellWorld');
});

test('a hole the peer acknowledges, or a payload cut by the snaplen, ends the direction with a gap', () => {
  const c = new Collect();
  const s = new TcpStreams(c);
  seg(s, 0, 1001, 'abc');
  seg(s, 0, 1010, 'later');
  s.acked(0, 1015);
  assert.deepEqual(c.gaps, [0]);
  seg(s, 0, 1004, 'defghi');
  assert.equal(decoded(c, 0), 'abc');
  const b = new Uint8Array(100);
  s.segment(1, 5000, b, 0, 40, 100, 5000);
  assert.deepEqual(c.gaps, [0, 1]);
  assert.equal(s.active(1), false);
});

test('a stream whose first bytes were never seen starts with a hole, and the held bound ends it', () => {
  const c = new Collect();
  const s = new TcpStreams(c);
  for (let i = 0; i < 64; i++) seg(s, 0, 2000 + i * 10, 'x');
  assert.deepEqual(c.gaps, []);
  seg(s, 0, 9000, 'y');
  assert.deepEqual(c.gaps, [0]);
  assert.equal(c.bytes[0]!.length, 0);
});
