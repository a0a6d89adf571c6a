/**
 * The query store against what its callers rely on: the flow's first query with a question
 * wins, whether it sat undecoded in a slot or was decoded at once (too large, or every slot
 * taken); a failure answer replaces it; slots come back when a flow is answered or forgotten.
 * Queries are encoded by dns-packet, so the expected names are the ones written here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { DNS_QUERY_SLOT_BYTES, DnsQueries } from './dns-queries.js';

function query(name: string, type = 'A'): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ type: 'query', id: 1, questions: [{ type, name } as dnsPacket.Question] }));
}

function ask(store: DnsQueries, id: number, bytes: Uint8Array): void {
  // Inside a larger buffer, as packets are.
  const padded = new Uint8Array(bytes.length + 10).fill(0xee);
  padded.set(bytes, 7);
  store.query(id, padded, 7, 7 + bytes.length);
}

const NO_QUESTION = new Uint8Array([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0x61]);

test('the first query with a question wins, kept or decoded at once', () => {
  const store = new DnsQueries(16, 2);
  ask(store, 1, query('first.example', 'MX'));
  ask(store, 1, query('second.example'));
  assert.deepEqual(store.question(1), { dns: { query: 'first.example', qtype: 'MX' } });
  ask(store, 2, NO_QUESTION);
  ask(store, 2, query('retry.example'));
  assert.deepEqual(store.question(2), { dns: { query: 'retry.example', qtype: 'A' } });
  ask(store, 3, NO_QUESTION);
  assert.equal(store.question(3), undefined);
  for (const id of [1, 2, 3]) store.forget(id);
});

test('with every slot taken, or a query too large for one, the query is decoded at once', () => {
  const store = new DnsQueries(16, 2);
  ask(store, 1, query('one.example'));
  ask(store, 2, query('two.example'));
  ask(store, 3, query('three.example'));
  const long = 'a'.repeat(60) + '.' + 'b'.repeat(60) + '.' + 'c'.repeat(60) + '.' + 'd'.repeat(60);
  const big = new Uint8Array(dnsPacket.encode({ type: 'query', id: 2, questions: [{ type: 'TXT', name: long }], additionals: [{ type: 'TXT', name: long, ttl: 1, data: 'x'.repeat(200) }] }));
  assert.ok(big.length > DNS_QUERY_SLOT_BYTES);
  ask(store, 4, big);
  assert.deepEqual(store.question(3), { dns: { query: 'three.example', qtype: 'A' } });
  assert.deepEqual(store.question(4), { dns: { query: long, qtype: 'TXT' } });
  assert.deepEqual(store.question(1), { dns: { query: 'one.example', qtype: 'A' } });
  assert.deepEqual(store.question(2), { dns: { query: 'two.example', qtype: 'A' } });
});

test('slots come back when a flow is answered or forgotten; a failure answer replaces the query', () => {
  const store = new DnsQueries(16, 1);
  ask(store, 1, query('answered.example'));
  store.answered(1);
  ask(store, 2, query('kept.example'));
  store.forget(2);
  ask(store, 3, query('slot.example'));
  store.failed(3, { dns: { query: 'slot.example', qtype: 'A', rcode: 'NXDOMAIN' } });
  ask(store, 4, query('last.example'));
  assert.deepEqual(store.question(3), { dns: { query: 'slot.example', qtype: 'A', rcode: 'NXDOMAIN' } });
  ask(store, 3, query('ignored.example'));
  assert.deepEqual(store.question(3), { dns: { query: 'slot.example', qtype: 'A', rcode: 'NXDOMAIN' } });
  assert.deepEqual(store.question(4), { dns: { query: 'last.example', qtype: 'A' } });
  store.forget(3);
  assert.equal(store.question(3), undefined);
});
