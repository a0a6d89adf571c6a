import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventProcesses, type FoundEnds } from './event-processes.js';
import type { EventRecord } from './records.js';

const flow = { serial: 7, srcIP: '10.77.1.1', srcPort: 40000, dstIP: '10.77.1.2', dstPort: 80 };
/** Flow 7's client end (side 0) and server end (side 1), as the attribution worker sends them. */
const curl: FoundEnds = { ends: [7, 0, 100], identities: [{ pid: 100, comm: 'curl', podName: 'client-0' }] };
const web: FoundEnds = { ends: [7, 1, 200], identities: [{ pid: 200, comm: 'python3' }] };
const both: FoundEnds = { ends: [...curl.ends, ...web.ends], identities: [...curl.identities, ...web.identities] };

function event(side: 'src' | 'dst' | undefined, code = '00009'): EventRecord {
  return { type: 'event', ts: 't', tsUs: 1, if: 'dllt1', code, name: 'n', nodeIP: 0, proto: 'tcp', srcIP: flow.srcIP, srcPort: flow.srcPort, dstIP: flow.dstIP, dstPort: flow.dstPort, communityId: '1:x', side, description: 'd', cause: 'c' };
}

function collector() {
  const out: EventRecord[] = [];
  return { out, ep: new EventProcesses((r) => out.push(r)) };
}

test('an event of a flow being attributed waits, then carries the process of the end that did it', () => {
  const { out, ep } = collector();
  ep.flowStarted(7, true);
  ep.event(event('dst'), 7);
  ep.event(event('src', '00006'), 7);
  assert.equal(out.length, 0);
  ep.found(both);
  ep.settled([7]);
  assert.deepEqual(out.map((e) => [e.code, e.processSide, e.pid, e.comm]), [['00009', 'server', 200, 'python3'], ['00006', 'client', 100, 'curl']]);
  assert.equal(out[1]!.podName, 'client-0');
});

test('the end that did it is not local: the other end\'s process; roles follow clientIsSrc', () => {
  const { out, ep } = collector();
  ep.flowStarted(7, false);
  ep.event(event('dst'), 7);
  ep.found(curl);
  ep.settled([7]);
  // dst is the client here, and the client is attributed.
  assert.deepEqual([out[0]!.processSide, out[0]!.pid], ['client', 100]);
  const other = collector();
  other.ep.flowStarted(7, true);
  other.ep.event(event('dst'), 7);
  other.ep.found(curl);
  other.ep.settled([7]);
  assert.deepEqual([other.out[0]!.processSide, other.out[0]!.pid], ['client', 100]);
});

test('later events of a settled flow are written at once with its process; flows never handed over pass through', () => {
  const { out, ep } = collector();
  ep.flowStarted(7, true);
  ep.found(web);
  ep.settled([7]);
  ep.event(event('dst', '00007'), 7);
  ep.event(event(undefined, '00103'), 99);
  assert.deepEqual(out.map((e) => [e.code, e.pid]), [['00007', 200], ['00103', undefined]]);
});

test('a flow settled without ends: its events are written as they are; flush writes what is held', () => {
  const { out, ep } = collector();
  ep.flowStarted(7, true);
  ep.flowStarted(8, true);
  ep.event(event('dst'), 7);
  ep.event(event('dst'), 8);
  ep.settled([7]);
  assert.deepEqual(out.map((e) => [e.code, e.pid, e.processSide]), [['00009', undefined, undefined]]);
  ep.flush();
  assert.equal(out.length, 2);
});

test('a flow still waiting when 131,072 newer flows have started: its held events are written as they are', () => {
  const { out, ep } = collector();
  ep.flowStarted(7, true);
  ep.event(event('dst'), 7);
  for (let serial = 8; serial < 7 + 131_072; serial++) ep.flowStarted(serial, true);
  assert.equal(out.length, 0);
  ep.flowStarted(7 + 131_072, true);
  assert.deepEqual(out.map((e) => [e.code, e.pid]), [['00009', undefined]]);
  // Its late answer changes nothing, and its later events pass through.
  ep.found(web);
  ep.settled([7]);
  ep.event(event('dst', '00007'), 7);
  assert.deepEqual(out.map((e) => [e.code, e.pid]), [['00009', undefined], ['00007', undefined]]);
});
