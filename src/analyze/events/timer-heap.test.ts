import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowFifo, TimerHeap } from './timer-heap.js';

test('TimerHeap pops deadlines in order, growing past its first capacity', () => {
  const heap = new TimerHeap(16, 10_000);
  let seed = 12345;
  const deadlines: number[] = [];
  for (let i = 0; i < 5000; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const d = seed % 100_000;
    deadlines.push(d);
    assert.equal(heap.push(d, i, i * 7), true);
  }
  const popped: number[] = [];
  while (heap.size > 0) {
    assert.equal(heap.topSerial, heap.topFlow * 7);
    popped.push(heap.nextDeadline);
    heap.pop();
  }
  assert.deepEqual(popped, [...deadlines].sort((a, b) => a - b));
  assert.equal(heap.nextDeadline, Infinity);
});

test('TimerHeap refuses entries past its maximum size', () => {
  const heap = new TimerHeap(16, 32);
  for (let i = 0; i < 32; i++) assert.equal(heap.push(i, i, i), true);
  assert.equal(heap.push(99, 99, 99), false);
});

test('FlowFifo keeps order and drops the oldest when full', () => {
  const fifo = new FlowFifo(3);
  assert.equal(fifo.push(1, 10), true);
  assert.equal(fifo.push(2, 20), true);
  assert.equal(fifo.push(3, 30), true);
  assert.equal(fifo.push(4, 40), false);
  const seen: number[] = [];
  while (fifo.size > 0) {
    seen.push(fifo.headFlow * 100 + fifo.headSerial);
    fifo.shift();
  }
  assert.deepEqual(seen, [220, 330, 440]);
});
