import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerNames } from './server-names.js';
import type { DnsNaming } from '../app/dns/dns-message.js';

const S = 1_000_000;
const naming = (address: string, name: string, ttl: number, chain: string[] = [name]): DnsNaming => ({ address, name, chain, ttl });

test('a name holds for the client it was answered to, from the answer on, for its TTL', () => {
  const names = new ServerNames(0);
  names.learn({ client: '10.77.1.1', tsUs: 100 * S, namings: [naming('10.77.2.2', 'api.dllt.test', 30, ['api.dllt.test', 'svc.dllt.test'])] });
  const held = names.nameOf('10.77.1.1', '10.77.2.2', 100 * S + 5);
  assert.deepEqual(held && { name: held.name, chain: held.chain, ttl: held.ttl }, { name: 'api.dllt.test', chain: ['api.dllt.test', 'svc.dllt.test'], ttl: 30 });
  assert.ok(names.nameOf('10.77.1.1', '10.77.2.2', 130 * S), 'the last microsecond of the TTL');
  assert.equal(names.nameOf('10.77.1.1', '10.77.2.2', 130 * S + 1), undefined, 'expired');
  assert.equal(names.nameOf('10.77.1.1', '10.77.2.2', 100 * S - 1), undefined, 'a flow older than the answer was not named by it');
  assert.equal(names.nameOf('10.77.1.9', '10.77.2.2', 100 * S + 5), undefined, 'another client never asked');
  assert.equal(names.nameOf('10.77.1.1', '10.77.2.3', 100 * S + 5), undefined, 'another address');
});

test('DLLT_DNS_NAME_MIN_S stretches short TTLs (TTL 0 answers name the connection that follows them)', () => {
  const names = new ServerNames(60);
  names.learn({ client: 'fd77::1', tsUs: 0, namings: [naming('fd77::2', 'zero.dllt.test', 0), naming('fd77::3', 'long.dllt.test', 300)] });
  assert.equal(names.nameOf('fd77::1', 'fd77::2', 60 * S)?.name, 'zero.dllt.test');
  assert.equal(names.nameOf('fd77::1', 'fd77::2', 60 * S + 1), undefined);
  assert.equal(names.nameOf('fd77::1', 'fd77::3', 300 * S)?.name, 'long.dllt.test', 'a TTL above the minimum is kept');
  assert.equal(names.nameOf('fd77::1', 'fd77::2', 0)?.ttl, 0, 'the TTL reported is the answer\'s, not the minimum');
});

test('re-resolving the same name before it lapses keeps one run; a different name or a lapse starts a new one', () => {
  const names = new ServerNames(0);
  const client = '10.77.1.1';
  names.learn({ client, tsUs: 0, namings: [naming('10.77.2.2', 'a.dllt.test', 10)] });
  names.learn({ client, tsUs: 8 * S, namings: [naming('10.77.2.2', 'a.dllt.test', 10)] });
  assert.equal(names.nameOf(client, '10.77.2.2', 1 * S)?.name, 'a.dllt.test', 'a flow from the first answer keeps its name after the second');
  assert.equal(names.nameOf(client, '10.77.2.2', 18 * S)?.name, 'a.dllt.test', 'the second answer extends the run');
  names.learn({ client, tsUs: 30 * S, namings: [naming('10.77.2.2', 'a.dllt.test', 10)] });
  assert.equal(names.nameOf(client, '10.77.2.2', 1 * S), undefined, 'after a lapse the old run is gone');
  names.learn({ client, tsUs: 31 * S, namings: [naming('10.77.2.2', 'b.dllt.test', 10)] });
  assert.equal(names.nameOf(client, '10.77.2.2', 30.5 * S), undefined, 'a new name starts its own run');
  assert.equal(names.nameOf(client, '10.77.2.2', 32 * S)?.name, 'b.dllt.test');
});

test('memory is bounded: the least recently answered pairs go first', () => {
  const names = new ServerNames(60);
  for (let i = 0; i < 70_000; i++) {
    names.learn({ client: '10.77.1.1', tsUs: i, namings: [naming(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, `n${i}.dllt.test`, 60)] });
  }
  assert.equal(names.size, 65_536);
  assert.equal(names.nameOf('10.77.1.1', '10.0.0.0', 70_000), undefined, 'the first pair went');
  assert.equal(names.nameOf('10.77.1.1', '10.1.17.111', 70_000)?.name, 'n69999.dllt.test');
});

test('a pair looked up before an answer named it is named after it (the last lookup is not kept past an answer)', () => {
  const names = new ServerNames(60);
  names.learn({ client: '10.77.1.1', tsUs: 0, namings: [naming('10.77.2.9', 'other.dllt.test', 60)] });
  assert.equal(names.nameOf('10.77.1.1', '10.77.2.2', 5 * S), undefined);
  names.learn({ client: '10.77.1.1', tsUs: 1 * S, namings: [naming('10.77.2.2', 'late.dllt.test', 60)] });
  assert.equal(names.nameOf('10.77.1.1', '10.77.2.2', 5 * S)?.name, 'late.dllt.test');
  assert.equal(names.nameOf(['10.77', '1.1'].join('.'), ['10.77', '2.2'].join('.'), 5 * S)?.name, 'late.dllt.test', 'equal strings made apart');
});
