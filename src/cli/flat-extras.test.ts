/**
 * App info and DNS answers come out of the flat packing as they went in, in order, through a
 * real structured clone (what postMessage does to them).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowAppInfo } from '../record/records.js';
import type { DnsAnswerNames } from '../record/server-names.js';
import { packAppInfo, packDnsAnswer, unpackAppInfos, unpackDnsAnswers, type FlatValues } from './flat-extras.js';

/** Keys set to undefined are absent for every record writer. */
function withoutUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

test('app info of every kind survives packing, with absent fields absent', () => {
  const infos: [number, FlowAppInfo][] = [
    [1, { tls: { version: 'TLSv1.3', sni: 'example.com', alpn: 'h2', alert: 'fatal unknown_ca' } }],
    [2, { tls: {} }],
    [3, { tls: { sni: 'only.sni' } }],
    [4, { http: { method: 'GET', host: 'h:8080', path: '/a b' } }],
    [5, { http: { method: 'CONNECT' } }],
    [6, { dns: { query: 'nosuch.example', qtype: 'AAAA', rcode: 'NXDOMAIN' } }],
    [7, { dns: { query: 'q', qtype: 'A' } }],
    [8, {}],
    [2 ** 40, { tls: { version: 'TLSv1.2' }, http: { host: 'ünïcode' } }],
  ];
  const flat: FlatValues = [];
  for (const [serial, info] of infos) packAppInfo(flat, serial, info);
  const got: [number, FlowAppInfo][] = [];
  unpackAppInfos(structuredClone(flat), (serial, info) => got.push([serial, info]));
  assert.deepEqual(withoutUndefined(got), infos);
});

test('DNS answers survive packing: several namings, chains of any length, in order', () => {
  const answers: DnsAnswerNames[] = [
    { client: '10.77.204.1', tsUs: 1_700_000_000_123_456, namings: [{ address: '10.77.204.2', name: 'api.dllt.test', chain: ['api.dllt.test'], ttl: 0 }] },
    {
      client: 'fd77::1',
      tsUs: 5,
      namings: [
        { address: 'fd77::2', name: 'WWW.x.com', chain: ['WWW.x.com', 'edge.x.com', 'y.cdn.net'], ttl: 20 },
        { address: '192.0.2.7', name: 'WWW.x.com', chain: ['WWW.x.com', 'edge.x.com', 'y.cdn.net'], ttl: 4_000_000_000 },
      ],
    },
    { client: '10.77.204.1', tsUs: 6, namings: [] },
  ];
  const flat: FlatValues = [];
  for (const answer of answers) packDnsAnswer(flat, answer);
  const got: DnsAnswerNames[] = [];
  unpackDnsAnswers(structuredClone(flat), (answer) => got.push(answer));
  assert.deepEqual(got, answers);
});
