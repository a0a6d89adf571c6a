/**
 * The hand-written processEBPF JSON line against the generic serializer on events of every kind
 * and shape, as dllt-bpfdrain writes them (drained-event.ts), built from the columns the program
 * stores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { socketEventRecord, writeSocketEventJson } from './socket-event-record.js';
import { toJsonLine } from './serialize.js';
import { LineBytes, piece } from './line-bytes.js';
import { DrainedEvent } from '../sources/ebpf/drained-event.js';
import { drainedRecord } from '../sources/ebpf/drained-event.test-support.js';

const line = (kind: string, family: number, l4: string, r4: string, l6: string, r6: string, lp: number, rp: number, a: number, b: number, c: number, comm: string, netns = 4026531840, socket = 'ffff888104e61280'): string =>
  [kind, 1_000_000_123, 4242, 4243, 5555, netns, socket, family, l4, r4, l6, r6, lp, rp, a, b, c, comm].join('\t') + '\n';

const EVENTS = [
  line('state', 2, '10.77.1.1', '0.0.0.0', '::', '::', 0, 8080, 7, 2, 0, 'curl'),
  line('state', 2, '10.77.1.2', '0.0.0.0', '::', '::', 8080, 0, 7, 10, 0, 'python3'),
  line('state', 10, '0.0.0.0', '0.0.0.0', 'fd77::2', 'fd77::1', 443, 51000, 3, 1, 0, 'a "quoted"\\comm'),
  line('state', 2, '10.77.1.2', '10.77.1.1', '::', '::', 8080, 51000, 3, 1, 4, 'python3'),
  line('state', 2, '10.77.1.1', '10.77.1.2', '::', '::', 51000, 8080, 2, 1, 2, 'curl'),
  line('state', 10, '0.0.0.0', '0.0.0.0', '::ffff:10.77.1.2', '::ffff:10.77.1.1', 443, 51000, 1, 4, 0, 'nginx: worker'),
  line('retransmit', 2, '10.77.1.1', '10.77.1.2', '::', '::', 40000, 80, 2, 0, 0, 'swapper/0'),
  line('send_reset', 2, '10.77.1.2', '10.77.1.1', '::', '::', 9090, 40000, 0, 0, 0, 'curl', 4026532000, '0'),
  line('receive_reset', 2, '10.77.1.1', '10.77.1.2', '::', '::', 40000, 9090, 2, 0, 0, 'curl'),
  line('rtt', 2, '10.77.1.1', '10.77.1.2', '::', '::', 40000, 80, 60, 10, 0, 'iperf3'),
  line('io', 2, '10.77.1.1', '10.77.1.2', '::', '::', 40000, 80, 1234567890123, 0, 0, 'iperf3'),
  line('destroy', 2, '10.77.1.1', '10.77.1.2', '::', '::', 40000, 80, 10, 20, 1, 'tab\there'),
  line('destroy', 2, '10.77.1.1', '10.77.1.2', '::', '::', 40000, 80, 10, 20, 3, 'curl'),
  line('destroy', 2, '10.77.1.1', '10.77.1.2', '::', '::', 40000, 80, 0, 0, 0, 'ksoftirqd/1', 0),
  line('state', 2, '192.168.255.250', '10.0.0.1', '::', '::', 65535, 1, 1, 7, 2, 'caf\u00e9-\u00fcber', 4026531840, 'ffff888100000a00'),
  line('state', 2, '10.77.1.1', '10.77.1.2', '::', '::', 1, 2, 2, 1, 0, 'x', 4026531840, '1a'),
  line('io', 2, '10.77.1.1', '10.77.1.2', '::', '::', 40000, 80, 2 ** 40, 2 ** 33 + 7, 0, 'ctl\u0001\u007f', 4026531840, 'ffffffffffffffff'),
];

test('writeSocketEventJson writes what toJsonLine(socketEventRecord()) writes, byte for byte, a line per event', () => {
  for (const ifName of ['dllt7', 'a "quoted" name']) {
    const out = new LineBytes();
    const expected: string[] = [];
    for (const text of EVENTS) {
      const bytes = drainedRecord(text);
      const e = new DrainedEvent();
      assert.ok(e.read(bytes, new DataView(bytes.buffer), 0, 1_700_000_000_000_000), text);
      writeSocketEventJson(out, piece(JSON.stringify(ifName)), e);
      expected.push(toJsonLine(socketEventRecord(ifName, e.toSocketEvent())));
    }
    assert.equal(out.lines, EVENTS.length);
    let at = 0;
    for (let i = 0; i < out.lines; i++) {
      assert.equal(Buffer.from(out.bytes.subarray(at, at + out.lineSizes[i]!)).toString('utf8'), expected[i], EVENTS[i]);
      at += out.lineSizes[i]!;
    }
    assert.equal(at, out.length);
  }
});
