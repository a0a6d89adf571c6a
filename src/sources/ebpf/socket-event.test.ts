/**
 * The kernel-context rule of socket events, and the reader of bpftrace's own `-f json` messages
 * (attached_probes and the like): anything else gives undefined, never an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBpftraceJson, runsInProcessContext, type TcpStateName } from './socket-event.js';

test('processContext: only transitions a system call alone can cause', () => {
  const cases: [TcpStateName, TcpStateName, boolean][] = [
    ['TCP_CLOSE', 'TCP_SYN_SENT', true],
    ['TCP_CLOSE', 'TCP_LISTEN', true],
    ['TCP_LISTEN', 'TCP_CLOSE', true],
    ['TCP_ESTABLISHED', 'TCP_FIN_WAIT1', true],
    ['TCP_SYN_RECV', 'TCP_FIN_WAIT1', true],
    ['TCP_CLOSE_WAIT', 'TCP_LAST_ACK', true],
    ['TCP_SYN_SENT', 'TCP_ESTABLISHED', false],
    ['TCP_LISTEN', 'TCP_SYN_RECV', false],
    ['TCP_SYN_RECV', 'TCP_ESTABLISHED', false],
    ['TCP_ESTABLISHED', 'TCP_CLOSE_WAIT', false],
    ['TCP_ESTABLISHED', 'TCP_CLOSE', false],
    ['TCP_SYN_SENT', 'TCP_CLOSE', false],
    ['TCP_FIN_WAIT1', 'TCP_FIN_WAIT2', false],
    ['TCP_FIN_WAIT2', 'TCP_CLOSE', false],
    ['TCP_LAST_ACK', 'TCP_CLOSE', false],
  ];
  for (const [from, to, expected] of cases) assert.equal(runsInProcessContext('state', from, to), expected, `${from} → ${to}`);
  assert.equal(runsInProcessContext('io'), true);
  for (const kind of ['retransmit', 'receive_reset', 'send_reset', 'rtt', 'destroy'] as const) assert.equal(runsInProcessContext(kind), false, kind);
});

test('bpftrace messages: the type and data of a JSON object line; undefined for anything else', () => {
  assert.deepEqual(parseBpftraceJson('{"type": "attached_probes", "data": {"probes": 10}}'), { type: 'attached_probes', data: { probes: 10 } });
  const garbage = [
    '',
    ' ',
    '{',
    'null',
    '[]',
    '"printf"',
    '{"data":5}',
    '{"type":5}',
    'Attaching 10 probes...',
    "ERROR: Unknown error -1: couldn't set RLIMIT_MEMLOCK for bpftrace.",
    JSON.stringify({ type: 'printf', data: 'x'.repeat(1_000_000) }),
    '\u0000\u0001\u0002',
    '{"__proto__": {"type": "printf"}, "data": "x"}',
  ];
  for (const g of garbage) assert.equal(parseBpftraceJson(g), undefined, g.slice(0, 80));
});
