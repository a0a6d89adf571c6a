import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EndReasonCode, END_REASON_NAMES, FlowEngine, type FlowLifecycleSink } from './flow-engine.js';
import { segment } from '../../test/support/views.js';
import { historyIsRstos0, tcpConnState } from './tcp-tracker.js';
import { FlowState, HISTORY_MAX } from './flow-state.js';
import { hashKey } from './flow-table.js';

const S = 1_000_000;

class Recorder implements FlowLifecycleSink {
  readonly events: string[] = [];
  constructor(private readonly engine: () => FlowEngine) {}
  flowStarted(id: number): void {
    this.events.push(`start ${id}`);
  }
  flowUpdated(id: number): void {
    this.events.push(`update ${id}`);
  }
  flowEnded(id: number, reason: EndReasonCode): void {
    const e = this.engine();
    const s = e.state;
    this.events.push(`end ${id} ${END_REASON_NAMES[reason]} ${tcpConnState(s, id)} ${s.historyString(id)} ${s.pkts[id * 2]}/${s.pkts[id * 2 + 1]}`);
  }
}

function newEngine(maxFlows = 100): { engine: FlowEngine; rec: Recorder } {
  let engine: FlowEngine | undefined;
  const rec = new Recorder(() => engine!);
  engine = new FlowEngine(
    {
      maxFlows,
      timeouts: { tcpEstablishedUs: 300 * S, tcpClosingUs: 5 * S, tcpHalfOpenUs: 30 * S, udpUs: 60 * S, icmpUs: 30 * S, activeUs: 60 * S },
    },
    rec,
  );
  return { engine, rec };
}

const C = '10.77.0.1';
const SV = '10.77.0.2';

function handshakeAndClose(engine: FlowEngine, sport: number, isn: number, t0: number): void {
  const p = (spec: Parameters<typeof segment>[0]) => engine.processPacket(segment(spec));
  p({ src: C, dst: SV, sport, dport: 80, flags: 'S', seq: isn, tsUs: t0 });
  p({ src: SV, dst: C, sport: 80, dport: sport, flags: 'SA', seq: 5000, ack: isn + 1, tsUs: t0 + 100 });
  p({ src: C, dst: SV, sport, dport: 80, flags: 'A', seq: isn + 1, ack: 5001, tsUs: t0 + 200 });
  p({ src: C, dst: SV, sport, dport: 80, flags: 'PA', seq: isn + 1, ack: 5001, len: 10, tsUs: t0 + 300 });
  p({ src: SV, dst: C, sport: 80, dport: sport, flags: 'PA', seq: 5001, ack: isn + 11, len: 20, tsUs: t0 + 400 });
  p({ src: C, dst: SV, sport, dport: 80, flags: 'FA', seq: isn + 11, ack: 5021, tsUs: t0 + 500 });
  p({ src: SV, dst: C, sport: 80, dport: sport, flags: 'FA', seq: 5021, ack: isn + 12, tsUs: t0 + 600 });
  p({ src: C, dst: SV, sport, dport: 80, flags: 'A', seq: isn + 12, ack: 5022, tsUs: t0 + 700 });
}

test('a full connection is SF ShADadFf and ends with reason fin after the closing timeout', () => {
  const { engine, rec } = newEngine();
  handshakeAndClose(engine, 40000, 1000, 1 * S);
  assert.deepEqual(rec.events, ['start 0']);
  engine.advanceClock(1 * S + 700 + 5 * S);
  assert.deepEqual(rec.events, ['start 0', 'end 0 fin SF ShADdFf 5/3']);
  assert.equal(engine.state.synAckTs[0]! - engine.state.synTs[0]!, 100);
  assert.equal(engine.state.ackTs[0]! - engine.state.synAckTs[0]!, 100);
});

test('a SYN with a new ISN on a closed tuple (TIME_WAIT reuse) starts a new flow and ends the old one', () => {
  const { engine, rec } = newEngine();
  handshakeAndClose(engine, 40001, 1000, 1 * S);
  handshakeAndClose(engine, 40001, 900000, 2 * S);
  engine.flushAll(EndReasonCode.EOF);
  assert.deepEqual(rec.events, ['start 0', 'end 0 fin SF ShADdFf 5/3', 'start 0', 'end 0 fin SF ShADdFf 5/3']);
  assert.equal(engine.counters.tcpReuses, 1);
});

test('a retransmitted SYN stays in its flow; an unanswered attempt ends as S0 after the half-open timeout', () => {
  const { engine, rec } = newEngine();
  engine.processPacket(segment({ src: C, dst: SV, sport: 40002, dport: 81, flags: 'S', seq: 7, tsUs: 1 * S }));
  engine.processPacket(segment({ src: C, dst: SV, sport: 40002, dport: 81, flags: 'S', seq: 7, tsUs: 2 * S }));
  engine.advanceClock(2 * S + 30 * S - 1);
  assert.deepEqual(rec.events, ['start 0']);
  engine.advanceClock(2 * S + 30 * S + 100_000);
  assert.deepEqual(rec.events, ['start 0', 'end 0 idle S0 S 2/0']);
});

test('idle established flows get interim updates every active timeout and end idle after 300 s', () => {
  const { engine, rec } = newEngine();
  const p = (spec: Parameters<typeof segment>[0]) => engine.processPacket(segment(spec));
  p({ src: C, dst: SV, sport: 40003, dport: 80, flags: 'S', seq: 1, tsUs: 0 });
  p({ src: SV, dst: C, sport: 80, dport: 40003, flags: 'SA', seq: 9, ack: 2, tsUs: 10 });
  p({ src: C, dst: SV, sport: 40003, dport: 80, flags: 'A', seq: 2, ack: 10, tsUs: 20 });
  p({ src: C, dst: SV, sport: 40003, dport: 80, flags: 'PA', seq: 2, ack: 10, len: 5, tsUs: 50 * S });
  engine.advanceClock(61 * S);
  assert.deepEqual(rec.events, ['start 0', 'update 0']);
  engine.advanceClock(200 * S);
  assert.deepEqual(rec.events, ['start 0', 'update 0'], 'no update without new packets');
  engine.advanceClock(350 * S + 1);
  assert.deepEqual(rec.events, ['start 0', 'update 0', 'end 0 idle S1 ShAD 3/1']);
});

test('a full table evicts embryonic and one-packet flows before established ones, and counts it', () => {
  const { engine, rec } = newEngine(3);
  const p = (spec: Parameters<typeof segment>[0]) => engine.processPacket(segment(spec));
  p({ src: C, dst: SV, sport: 40010, dport: 80, flags: 'S', seq: 1, tsUs: 1 });
  p({ src: SV, dst: C, sport: 80, dport: 40010, flags: 'SA', seq: 9, ack: 2, tsUs: 2 });
  p({ src: C, dst: SV, sport: 40010, dport: 80, flags: 'A', seq: 2, ack: 10, tsUs: 3 });
  p({ src: C, dst: SV, sport: 40011, dport: 80, flags: 'S', seq: 1, tsUs: 4 });
  p({ src: C, dst: SV, sport: 5353, dport: 5353, flags: '', proto: 17, tsUs: 5 });
  p({ src: C, dst: SV, sport: 40012, dport: 80, flags: 'S', seq: 1, tsUs: 6 });
  p({ src: C, dst: SV, sport: 40013, dport: 80, flags: 'S', seq: 1, tsUs: 7 });
  assert.equal(engine.counters.evictions, 2);
  assert.equal(engine.counters.evictionsFirstClass, 2);
  const ends = rec.events.filter((e) => e.startsWith('end'));
  assert.deepEqual(ends, ['end 1 evicted S0 S 1/0', 'end 2 evicted OTH D 1/0']);
  assert.equal(engine.activeFlows, 3);
});

test('the flow table survives a million inserts and removals against a Map model', () => {
  const { engine } = newEngine(5000);
  const t = engine.table;
  const key = new Int32Array(10);
  const model = new Map<string, number>();
  let seed = 12345;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff);
  for (let i = 0; i < 1_000_000; i++) {
    const k = rand() % 8000;
    key.fill(0);
    key[0] = k;
    key[8] = k * 7;
    const hash = (k * 2654435761) & 0x7fffffff & 0xff;
    const id = t.lookup(key, hash);
    const known = model.get(String(k));
    assert.equal(id >= 0 ? id : undefined, known);
    if (id >= 0) {
      t.remove(id);
      model.delete(String(k));
    } else if (!t.isFull) {
      model.set(String(k), t.insert(key, hash, 0, i));
    }
  }
  assert.equal(t.count, model.size);
});

test('find remembers the last flow found, and forgets it when that flow is removed or its slot reused', () => {
  const { engine } = newEngine(1000);
  const t = engine.table;
  const a = new Int32Array(10).fill(7);
  const b = new Int32Array(10).fill(9);
  const idA = t.insert(a, hashKey(a), 0, 1);
  assert.equal(t.find(a), idA);
  assert.equal(t.find(a), idA);
  assert.equal(t.find(b), -1);
  assert.equal(t.find(a), idA);
  t.remove(idA);
  assert.equal(t.find(a), -1);
  const idB = t.insert(b, hashKey(b), 0, 2);
  assert.equal(idB, idA, 'the freed slot is reused');
  assert.equal(t.find(a), -1);
  assert.equal(t.find(b), idB);
});

test('the RSTOS0 history test on bytes agrees with Zeek\'s pattern ^?S[^HAFGIQ]*R on every short history', () => {
  const zeek = /^\^?S[^HAFGIQ]*R.*/;
  const letters = '^SRHAFGIQrhadD';
  const s = new FlowState(1);
  let checked = 0;
  const check = (history: string): void => {
    for (let i = 0; i < history.length; i++) s.history[i] = history.charCodeAt(i);
    s.historyLen[0] = history.length;
    assert.equal(historyIsRstos0(s, 0), zeek.test(history), history);
    checked++;
  };
  const grow = (prefix: string): void => {
    check(prefix);
    if (prefix.length < 4) for (const c of letters) grow(prefix + c);
  };
  grow('');
  check('^S' + 'D'.repeat(HISTORY_MAX - 3) + 'R');
  assert.ok(checked > 40_000, `${checked} histories`);
});
