/**
 * Event 00103 end to end through the pipeline, on a capture built here: a query nobody answers
 * (named by its question), NXDOMAIN/SERVFAIL answers, a retry after an undecodable query, a
 * second question on the same flow, an answered query, and one answered late but answered. The expected values are the names and types the test put in the queries.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { analyzeCaptureFile } from '../../cli/analyze-file.js';
import { ethernet, ipv4, pcapFile, udp } from '../../../test/support/packet-builder.js';
import { ETHERTYPE_IPV4 } from '../../wire/ethertypes.js';
import { LINKTYPE_ETHERNET } from '../../wire/linktypes.js';

const PROTO_UDP = 17;
const CLIENT = '10.77.203.1';
const RESOLVER = '10.77.203.2';

function query(id: number, name: string, type: string): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name } as dnsPacket.Question] }));
}

function response(id: number, name: string, type: string, rcode: number, answers: dnsPacket.Answer[] = []): Uint8Array {
  return new Uint8Array(dnsPacket.encode({ type: 'response', id, flags: rcode, questions: [{ type, name } as dnsPacket.Question], answers }));
}

function fromClient(port: number, message: Uint8Array): Uint8Array {
  return ethernet(ETHERTYPE_IPV4, ipv4(CLIENT, RESOLVER, PROTO_UDP, udp(port, 53, message)));
}

function fromResolver(port: number, message: Uint8Array): Uint8Array {
  return ethernet(ETHERTYPE_IPV4, ipv4(RESOLVER, CLIENT, PROTO_UDP, udp(53, port, message)));
}

test('00103: unanswered queries are named by their first question, failures by the answer', async () => {
  // A query header claiming a question it does not carry: not decodable.
  const undecodable = new Uint8Array([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, 0x61]);
  // pcapFile puts packets one second apart: the unanswered queries are more than the 5 s a
  // resolver waits old when the capture ends.
  const packets = [
    fromClient(40001, query(1, 'nobody.answers.test', 'A')),
    fromClient(40002, query(2, 'missing.example', 'AAAA')),
    fromResolver(40002, response(2, 'missing.example', 'AAAA', 3)),
    fromClient(40003, undecodable),
    fromClient(40003, query(3, 'retry.example', 'A')),
    fromClient(40004, query(4, 'first.example', 'MX')),
    fromClient(40004, query(5, 'second.example', 'A')),
    fromClient(40005, query(6, 'answered.example', 'A')),
    fromResolver(40005, response(6, 'answered.example', 'A', 0, [{ type: 'A', name: 'answered.example', ttl: 5, data: '10.77.203.9' }])),
    fromClient(40006, query(7, 'broken.example', 'A')),
    fromResolver(40006, response(7, 'broken.example', 'A', 2)),
    fromClient(40007, query(8, 'late.example', 'A')),
    // Other traffic while the late answer is awaited.
    ...Array.from({ length: 4 }, () => ethernet(ETHERTYPE_IPV4, ipv4(CLIENT, RESOLVER, PROTO_UDP, udp(40100, 9999, new Uint8Array(8))))),
    fromResolver(40007, response(8, 'late.example', 'A', 0, [{ type: 'A', name: 'late.example', ttl: 5, data: '10.77.203.10' }])),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'dllt-dns-events-'));
  try {
    const path = join(dir, 'dns-failures.pcap');
    writeFileSync(path, pcapFile(LINKTYPE_ETHERNET, packets));
    const { output } = await analyzeCaptureFile(path);
    const events = output.events
      .filter((e) => e.code === '00103')
      .map((e) => [e.srcPort, e.value, e.side])
      .sort((a, b) => Number(a[0]) - Number(b[0]));
    assert.deepEqual(events, [
      [40001, 'no_answer nobody.answers.test A', 'dst'],
      [40002, 'NXDOMAIN missing.example AAAA', 'dst'],
      [40003, 'no_answer retry.example A', 'dst'],
      [40004, 'no_answer first.example MX', 'dst'],
      [40006, 'SERVFAIL broken.example A', 'dst'],
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
