/**
 * The hand-written processEBPF JSON line against the generic serializer on events of every kind
 * and shape, parsed from lines in the format the bpftrace program prints (socket-event.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { socketEventJsonLine, socketEventRecord } from './socket-event-record.js';
import { toJsonLine } from './serialize.js';
import { parseBpftraceData } from '../sources/ebpf/socket-event.js';

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
];

test('socketEventJsonLine writes what toJsonLine(socketEventRecord()) writes, byte for byte', () => {
  for (const text of EVENTS) {
    const e = parseBpftraceData(text, 1_700_000_000_000_000);
    assert.ok(e !== undefined, text);
    for (const ifName of ['dllt7', 'a "quoted" name']) {
      assert.equal(socketEventJsonLine(JSON.stringify(ifName), e), toJsonLine(socketEventRecord(ifName, e)), text);
    }
  }
});
