/**
 * DNS summaries against real captures with tshark 4.0 as the outside oracle (id, rcode,
 * opcode, TC, questions, answer names/types/TTLs/addresses), hand-built messages for the
 * failure cases the event detectors need, every truncation of real messages, and a fuzz loop.
 * The common-shape reader is held to the library's reading of the same bytes (dns-packet is the
 * oracle there): wherever it answers, its summary must be the library's.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { dnsNamings, parseDnsMessage, parseDnsMessageWithLibrary, parseDnsTcpMessage, type DnsSummary } from './dns-message.js';
import { COMMON_SHAPE_ONLY, readCommonShape } from './dns-common-shape.js';
import { decodePacket } from '../../decode/decode-packet.js';
import { PacketView } from '../../decode/packet-view.js';
import { DecodeStatus } from '../../decode/status.js';
import { tcpConnections } from '../http1/tcp-streams.test-support.js';
import { CORPUS_DIR, loadCapture, viewOf } from '../../../test/support/corpus.js';
import { prng } from '../../../test/support/prng.js';

const UDP = 17;
const DNS_PORT = 53;
const FUZZ_MESSAGES = Number(process.env['DLLT_FUZZ_DNS_MESSAGES'] ?? 20_000);
const SEED = Number(process.env['DLLT_FUZZ_SEED'] ?? 0x0d05_5eed);

const TSHARK = '/usr/bin/tshark';
const AGGREGATOR = '\u001f';

/** tshark prints record types as numbers; dns-packet as IANA mnemonics. */
const TYPE_NAMES: Record<string, string> = {
  '1': 'A', '2': 'NS', '5': 'CNAME', '6': 'SOA', '12': 'PTR', '15': 'MX', '16': 'TXT', '28': 'AAAA', '33': 'SRV', '41': 'OPT',
};

function tsharkMissing(): string | undefined {
  const probe = spawnSync(TSHARK, ['--version'], { stdio: 'ignore' });
  if (probe.error !== undefined || probe.status !== 0) return `${TSHARK} is not runnable (${probe.error?.message ?? `exit ${probe.status}`}): no outside oracle`;
  return undefined;
}

interface OracleMessage {
  id: number;
  isResponse: boolean;
  opcode: number;
  /** tshark shows the rcode of responses only. */
  rcode: number | undefined;
  truncated: boolean;
  questions: { name: string; type: string }[];
  answers: { name: string; type: string; ttl: number; data?: string }[];
}

/** tshark's view of every DNS message, by frame number. Its per-record fields cover all three
 *  record sections in order, so the answer section is the first dns.count.answers of them, and
 *  its A (AAAA, CNAME) data are the first values of dns.a (dns.aaaa, dns.cname). */
function tsharkDns(file: string): Map<number, OracleMessage> {
  const fields = [
    'frame.number', 'dns.id', 'dns.flags.response', 'dns.flags.opcode', 'dns.flags.rcode', 'dns.flags.truncated',
    'dns.qry.name', 'dns.qry.type', 'dns.count.answers', 'dns.resp.name', 'dns.resp.type', 'dns.resp.ttl',
    'dns.a', 'dns.aaaa', 'dns.cname',
  ];
  const out = execFileSync(
    TSHARK,
    ['-n', '-r', join(CORPUS_DIR, file), '-Y', 'dns', '-T', 'fields', '-E', `aggregator=${AGGREGATOR}`, ...fields.flatMap((f) => ['-e', f])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const list = (cell: string | undefined): string[] => (cell === undefined || cell === '' ? [] : cell.split(AGGREGATOR));
  const rootName = (name: string): string => (name === '<Root>' ? '.' : name);
  const messages = new Map<number, OracleMessage>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [frame, id, response, opcode, rcode, truncated, qNames, qTypes, answerCount, rNames, rTypes, rTtls, a, aaaa, cname] = line.split('\t');
    const queues: Record<string, string[]> = { A: list(a), AAAA: list(aaaa), CNAME: list(cname) };
    const names = list(rNames);
    const types = list(rTypes);
    const ttls = list(rTtls);
    const qTypeList = list(qTypes);
    messages.set(Number(frame), {
      id: Number(id),
      isResponse: response === '1',
      opcode: Number(opcode),
      rcode: rcode === '' ? undefined : Number(rcode),
      truncated: truncated === '1',
      questions: list(qNames).map((name, i) => ({ name: rootName(name), type: TYPE_NAMES[qTypeList[i]!] ?? `type ${qTypeList[i]}` })),
      answers: Array.from({ length: Number(answerCount || 0) }, (_v, i) => {
        const type = TYPE_NAMES[types[i]!] ?? `type ${types[i]}`;
        const data = queues[type]?.shift();
        return { name: rootName(names[i]!), type, ttl: Number(ttls[i]), ...(data === undefined ? {} : { data }) };
      }),
    });
  }
  return messages;
}

function assertAgrees(ours: DnsSummary | undefined, expected: OracleMessage, where: string): void {
  assert.ok(ours !== undefined, `${where}: tshark decodes a DNS message`);
  assert.equal(ours.id, expected.id, where);
  assert.equal(ours.isResponse, expected.isResponse, where);
  assert.equal(ours.opcode, ['QUERY', 'IQUERY', 'STATUS'][expected.opcode], where);
  if (expected.rcode !== undefined) assert.equal(ours.rcode, expected.rcode, where);
  assert.equal(ours.truncated, expected.truncated, where);
  assert.deepEqual(ours.questions, expected.questions, where);
  assert.deepEqual(ours.answers, expected.answers, where);
}

interface UdpPayload {
  frame: number;
  bytes: Uint8Array;
  /** First fragment of a fragmented datagram: the DNS message goes on in later fragments. */
  firstFragment: boolean;
}

/** DNS-port UDP payloads as the decoder gives them (no IP reassembly). */
async function udpDnsPayloads(file: string): Promise<UdpPayload[]> {
  const { packets } = await loadCapture(file);
  const view = new PacketView();
  const payloads: UdpPayload[] = [];
  packets.forEach((p, index) => {
    const status = decodePacket(view, p.bytes, viewOf(p.bytes), 0, p.bytes.length, p.wireLen, p.tsUs, p.linkType, p.ifaceId);
    if (status !== DecodeStatus.OK || view.ipProto !== UDP || view.fragOffset !== 0) return;
    if (view.srcPort !== DNS_PORT && view.dstPort !== DNS_PORT) return;
    payloads.push({
      frame: index + 1,
      // A plain copy: corpus packets are Buffers, whose slice() is a view.
      bytes: new Uint8Array(p.bytes.subarray(view.payloadOff, view.payloadOff + view.payloadCapLen)),
      firstFragment: view.isFragment,
    });
  });
  return payloads;
}

for (const file of ['zeek-dns53.pcap', 'tcpdump-dns_udp.pcap', 'tcpdump-LINKTYPE_RAW_ipv6.pcap', 'zeek-pcapng-multi-interface.pcapng', 'zeek-ipv6-fragmented-dns.pcap']) {
  test(`UDP DNS messages agree with tshark (${file})`, async (t: TestContext) => {
    const missing = tsharkMissing();
    if (missing !== undefined) {
      t.skip(missing);
      return;
    }
    const oracle = tsharkDns(file);
    const compared = new Set<number>();
    for (const payload of await udpDnsPayloads(file)) {
      const ours = parseDnsMessage(payload.bytes, 0, payload.bytes.length);
      if (payload.firstFragment) {
        assert.equal(ours, undefined, `frame ${payload.frame}: a first fragment is not a whole message`);
        continue;
      }
      assertAgrees(ours, oracle.get(payload.frame)!, `${file} frame ${payload.frame}`);
      compared.add(payload.frame);
    }
    const reassembledOnly = [...oracle.keys()].filter((frame) => !compared.has(frame));
    if (file === 'zeek-ipv6-fragmented-dns.pcap') {
      // tshark reassembles frames 6-8; our decoder hands over fragment 6 alone (see the next test).
      assert.deepEqual(reassembledOnly, [8]);
    } else {
      assert.deepEqual(reassembledOnly, [], 'every message tshark decodes was compared');
    }
    assert.ok(compared.size > 0);
  });
}

test('IPv6-fragmented response: the first fragment alone gives no summary; reassembled, it agrees with tshark', async (t: TestContext) => {
  const missing = tsharkMissing();
  if (missing !== undefined) {
    t.skip(missing);
    return;
  }
  const file = 'zeek-ipv6-fragmented-dns.pcap';
  const { packets } = await loadCapture(file);
  const view = new PacketView();
  // Frames 6, 7, 8 are fragment id 2 (offsets 0, 1432, 2864); the test reassembles them itself.
  const datagram = new Uint8Array(4096);
  let datagramLen = 0;
  for (const frame of [6, 7, 8]) {
    const p = packets[frame - 1]!;
    assert.equal(decodePacket(view, p.bytes, viewOf(p.bytes), 0, p.bytes.length, p.wireLen, p.tsUs, p.linkType, p.ifaceId), DecodeStatus.OK);
    assert.ok(view.isFragment);
    const fragmentStart = view.l3Off + view.ipHdrLen;
    const fragment = p.bytes.subarray(fragmentStart, view.l3Off + view.ipTotalLen);
    datagram.set(fragment, view.fragOffset);
    datagramLen = Math.max(datagramLen, view.fragOffset + fragment.length);
  }
  const UDP_HEADER_LEN = 8;
  const ours = parseDnsMessage(datagram, UDP_HEADER_LEN, datagramLen);
  assertAgrees(ours, tsharkDns(file).get(8)!, 'reassembled frames 6-8');
  assert.equal(ours!.answers[0]!.type, 'TXT');
  assert.equal(ours!.answers[0]!.data, undefined, 'TXT answers carry no data');
});

test('DNS over TCP agrees with tshark (tcpdump-dns_tcp.pcap)', async (t: TestContext) => {
  const missing = tsharkMissing();
  if (missing !== undefined) {
    t.skip(missing);
    return;
  }
  const oracle = [...tsharkDns('tcpdump-dns_tcp.pcap').values()];
  const query = oracle.find((m) => !m.isResponse)!;
  const response = oracle.find((m) => m.isResponse)!;
  const [connection] = await tcpConnections('tcpdump-dns_tcp.pcap');
  const client = connection!.client.bytes;
  const server = connection!.server.bytes;
  assertAgrees(parseDnsTcpMessage(client, 0, client.length), query, 'query');
  assertAgrees(parseDnsTcpMessage(server, 0, server.length), response, 'response');
  for (let cut = 0; cut < server.length; cut++) {
    assert.equal(parseDnsTcpMessage(server, 0, cut), undefined, `an incomplete message (${cut} bytes) gives nothing`);
  }
});

test('addresses of a real response are named by the question (tcpdump-dns_udp.pcap)', async () => {
  const payloads = await udpDnsPayloads('tcpdump-dns_udp.pcap');
  const response = parseDnsMessage(payloads[1]!.bytes, 0, payloads[1]!.bytes.length)!;
  // tshark -T fields -e dns.a -e dns.resp.ttl: 192.139.46.66 and 198.199.88.104, TTL 60 each.
  assert.deepEqual(dnsNamings(response), [
    { address: '192.139.46.66', name: 'www.tcpdump.org', chain: ['www.tcpdump.org'], ttl: 60 },
    { address: '198.199.88.104', name: 'www.tcpdump.org', chain: ['www.tcpdump.org'], ttl: 60 },
  ]);
  const query = parseDnsMessage(payloads[0]!.bytes, 0, payloads[0]!.bytes.length)!;
  assert.deepEqual(dnsNamings(query), []);
});

test('every proper prefix of a real message is undefined, never a summary with missing answers', async () => {
  const messages: Uint8Array[] = [];
  for (const file of ['zeek-dns53.pcap', 'tcpdump-dns_udp.pcap', 'zeek-pcapng-multi-interface.pcapng']) {
    for (const payload of await udpDnsPayloads(file)) messages.push(payload.bytes);
  }
  for (const message of messages) {
    assert.ok(parseDnsMessage(message, 0, message.length) !== undefined);
    for (let cut = 0; cut < message.length; cut++) {
      assert.equal(parseDnsMessage(message, 0, cut), undefined, `prefix of ${cut}/${message.length} bytes`);
    }
  }
});

function encoded(packet: dnsPacket.Packet): Uint8Array {
  return new Uint8Array(dnsPacket.encode(packet));
}

function parseAll(bytes: Uint8Array): DnsSummary {
  const summary = parseDnsMessage(bytes, 0, bytes.length);
  assert.ok(summary !== undefined);
  return summary;
}

const RCODE_NXDOMAIN = 3;
const RCODE_SERVFAIL = 2;
const RCODE_REFUSED = 5;
const RCODE_YXDOMAIN = 6;

test('NXDOMAIN with the SOA in the authority section', () => {
  const summary = parseAll(
    encoded({
      type: 'response',
      id: 0xbeef,
      flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | RCODE_NXDOMAIN,
      questions: [{ type: 'AAAA', name: 'missing.example.com' }],
      authorities: [
        {
          type: 'SOA',
          name: 'example.com',
          ttl: 900,
          data: { mname: 'ns.example.com', rname: 'host.example.com', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 },
        },
      ],
    }),
  );
  assert.deepEqual(summary, {
    id: 0xbeef,
    isResponse: true,
    opcode: 'QUERY',
    rcode: 3,
    rcodeName: 'NXDOMAIN',
    truncated: false,
    questions: [{ name: 'missing.example.com', type: 'AAAA' }],
    answers: [],
  });
});

test('SERVFAIL, REFUSED and an rcode without a short name', () => {
  for (const [rcode, name] of [
    [RCODE_SERVFAIL, 'SERVFAIL'],
    [RCODE_REFUSED, 'REFUSED'],
    [RCODE_YXDOMAIN, 'RCODE6'],
    [15, 'RCODE15'],
  ] as const) {
    const summary = parseAll(encoded({ type: 'response', id: 1, flags: rcode, questions: [{ type: 'A', name: 'a.example' }] }));
    assert.equal(summary.rcode, rcode);
    assert.equal(summary.rcodeName, name);
  }
});

test('NOERROR with no answer (NODATA)', () => {
  const summary = parseAll(encoded({ type: 'response', id: 2, questions: [{ type: 'AAAA', name: 'v4only.example' }] }));
  assert.equal(summary.rcodeName, 'NOERROR');
  assert.equal(summary.rcode, 0);
  assert.deepEqual(summary.answers, []);
  assert.deepEqual(dnsNamings(summary), []);
});

test('CNAME chain: addresses are named by the question, with the chain and its smallest TTL', () => {
  const summary = parseAll(
    encoded({
      type: 'response',
      id: 3,
      questions: [{ type: 'A', name: 'www.x.com' }],
      answers: [
        { type: 'CNAME', name: 'www.x.com', ttl: 60, data: 'edge.x.com' },
        { type: 'CNAME', name: 'EDGE.x.com', ttl: 60, data: 'y.cdn.net' },
        { type: 'A', name: 'y.cdn.net', ttl: 20, data: '1.2.3.4' },
        { type: 'A', name: 'y.cdn.net', ttl: 20, data: '1.2.3.5' },
        { type: 'AAAA', name: 'y.cdn.net', ttl: 20, data: 'fd77:0:0:0:0:0:0:1' },
        // Not reachable from the question: an unrelated (or injected) record names nothing.
        { type: 'A', name: 'evil.example', ttl: 20, data: '6.6.6.6' },
        { type: 'TXT', name: 'www.x.com', ttl: 20, data: 'v=1' },
      ],
    }),
  );
  assert.deepEqual(summary.answers, [
    { name: 'www.x.com', type: 'CNAME', ttl: 60, data: 'edge.x.com' },
    { name: 'EDGE.x.com', type: 'CNAME', ttl: 60, data: 'y.cdn.net' },
    { name: 'y.cdn.net', type: 'A', ttl: 20, data: '1.2.3.4' },
    { name: 'y.cdn.net', type: 'A', ttl: 20, data: '1.2.3.5' },
    { name: 'y.cdn.net', type: 'AAAA', ttl: 20, data: 'fd77::1' },
    { name: 'evil.example', type: 'A', ttl: 20, data: '6.6.6.6' },
    { name: 'www.x.com', type: 'TXT', ttl: 20 },
  ]);
  const chain = ['www.x.com', 'edge.x.com', 'y.cdn.net'];
  assert.deepEqual(dnsNamings(summary), [
    { address: '1.2.3.4', name: 'www.x.com', chain, ttl: 20 },
    { address: '1.2.3.5', name: 'www.x.com', chain, ttl: 20 },
    { address: 'fd77::1', name: 'www.x.com', chain, ttl: 20 },
  ]);
});

test('the chain TTL is the smallest along it, a CNAME one included; an address on a middle name ends the chain there', () => {
  const summary = parseAll(
    encoded({
      type: 'response',
      id: 13,
      questions: [{ type: 'A', name: 'API.dllt.test' }],
      answers: [
        { type: 'CNAME', name: 'api.dllt.test', ttl: 5, data: 'svc.dllt.test' },
        { type: 'A', name: 'svc.dllt.test', ttl: 300, data: '10.77.1.2' },
        { type: 'A', name: 'api.dllt.test', ttl: 40, data: '10.77.1.3' },
      ],
    }),
  );
  assert.deepEqual(dnsNamings(summary), [
    { address: '10.77.1.3', name: 'API.dllt.test', chain: ['API.dllt.test'], ttl: 40 },
    { address: '10.77.1.2', name: 'API.dllt.test', chain: ['API.dllt.test', 'svc.dllt.test'], ttl: 5 },
  ]);
});

test('a CNAME loop ends', () => {
  const summary = parseAll(
    encoded({
      type: 'response',
      id: 4,
      questions: [{ type: 'A', name: 'a.loop' }],
      answers: [
        { type: 'CNAME', name: 'a.loop', ttl: 1, data: 'b.loop' },
        { type: 'CNAME', name: 'b.loop', ttl: 1, data: 'a.loop' },
        { type: 'A', name: 'b.loop', ttl: 1, data: '10.0.0.1' },
      ],
    }),
  );
  assert.deepEqual(dnsNamings(summary), [{ address: '10.0.0.1', name: 'a.loop', chain: ['a.loop', 'b.loop'], ttl: 1 }]);
});

test('truncated (TC) response, query bit, opcodes', () => {
  const tc = parseAll(encoded({ type: 'response', id: 5, flags: dnsPacket.TRUNCATED_RESPONSE, questions: [{ type: 'TXT', name: 'big.example' }] }));
  assert.equal(tc.truncated, true);
  assert.equal(tc.isResponse, true);
  const query = parseAll(encoded({ type: 'query', id: 6, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'q.example' }] }));
  assert.equal(query.isResponse, false);
  assert.equal(query.truncated, false);
  const OPCODE_SHIFT = 11;
  for (const [opcode, name] of [
    [0, 'QUERY'],
    [2, 'STATUS'],
    [3, 'OPCODE3'],
    [4, 'NOTIFY'],
    [5, 'UPDATE'],
    [15, 'OPCODE15'],
  ] as const) {
    assert.equal(parseAll(encoded({ type: 'query', id: 7, flags: opcode << OPCODE_SHIFT })).opcode, name);
  }
});

test('IPv6 answers are in RFC 5952 form whatever dns-packet writes', () => {
  const cases: [string, string][] = [
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['2001:db8:0:1:2:3:4:5', '2001:db8:0:1:2:3:4:5'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
  ];
  for (const [written, canonical] of cases) {
    const summary = parseAll(
      encoded({ type: 'response', id: 8, questions: [{ type: 'AAAA', name: 'h' }], answers: [{ type: 'AAAA', name: 'h', ttl: 1, data: written }] }),
    );
    assert.equal(summary.answers[0]!.data, canonical, written);
  }
});

test('PTR and NS answers carry their target name', () => {
  const summary = parseAll(
    encoded({
      type: 'response',
      id: 9,
      questions: [{ type: 'PTR', name: '4.3.2.1.in-addr.arpa' }],
      answers: [
        { type: 'PTR', name: '4.3.2.1.in-addr.arpa', ttl: 1, data: 'host.example' },
        { type: 'NS', name: 'example', ttl: 1, data: 'ns1.example' },
        { type: 'MX', name: 'example', ttl: 1, data: { preference: 10, exchange: 'mx.example' } },
      ],
    }),
  );
  assert.deepEqual(
    summary.answers.map((a) => a.data),
    ['host.example', 'ns1.example', undefined],
  );
});

test('messages inside a larger buffer: start/end respected, TCP framing, odd arguments', () => {
  const message = encoded({ type: 'response', id: 10, questions: [{ type: 'A', name: 'mid.example' }], answers: [{ type: 'A', name: 'mid.example', ttl: 1, data: '192.0.2.7' }] });
  const padded = new Uint8Array(message.length + 20).fill(0xff);
  padded.set(message, 7);
  const inside = parseDnsMessage(padded.subarray(0), 7, 7 + message.length)!;
  assert.equal(inside.id, 10);
  assert.deepEqual(dnsNamings(inside), [{ address: '192.0.2.7', name: 'mid.example', chain: ['mid.example'], ttl: 1 }]);
  // The same through a subarray view: byteOffset must be honoured.
  const view = padded.subarray(7, 7 + message.length);
  assert.equal(parseDnsMessage(view, 0, view.length)!.id, 10);

  const second = encoded({ type: 'query', id: 11, questions: [{ type: 'A', name: 'next.example' }] });
  const stream = new Uint8Array(3 + 2 + message.length + 2 + second.length);
  stream.set([message.length >> 8, message.length & 0xff], 3);
  stream.set(message, 5);
  stream.set([second.length >> 8, second.length & 0xff], 5 + message.length);
  stream.set(second, 7 + message.length);
  assert.equal(parseDnsTcpMessage(stream, 3, stream.length)!.id, 10, 'the first whole message');
  assert.equal(parseDnsTcpMessage(stream, 3, 4 + message.length), undefined, 'one byte short');
  assert.equal(parseDnsTcpMessage(stream, 5 + message.length, stream.length)!.id, 11);
  assert.equal(parseDnsTcpMessage(new Uint8Array([0, 0]), 0, 2), undefined, 'zero length');

  for (const [start, end] of [
    [-1, 10],
    [0, 10_000],
    [NaN, NaN],
    [20, 10],
    [1.5, 30.5],
    [Infinity, Infinity],
  ] as const) {
    parseDnsMessage(padded, start, end);
    parseDnsTcpMessage(stream, start, end);
  }
  assert.equal(parseDnsMessage(new Uint8Array(11), 0, 11), undefined, 'shorter than a header');
});


test(`fuzz: ${FUZZ_MESSAGES} mutated messages never throw and every summary is well formed (seed ${SEED})`, async () => {
  const seeds: Uint8Array[] = [
    encoded({
      type: 'response',
      id: 12,
      questions: [{ type: 'A', name: 'www.x.com' }],
      answers: [
        { type: 'CNAME', name: 'www.x.com', ttl: 60, data: 'y.cdn.net' },
        { type: 'A', name: 'y.cdn.net', ttl: 20, data: '1.2.3.4' },
        { type: 'AAAA', name: 'y.cdn.net', ttl: 20, data: '2001:db8::1' },
      ],
    }),
  ];
  for (const file of ['zeek-dns53.pcap', 'tcpdump-dns_udp.pcap', 'zeek-pcapng-multi-interface.pcapng', 'zeek-ipv6-fragmented-dns.pcap']) {
    for (const payload of await udpDnsPayloads(file)) seeds.push(payload.bytes);
  }
  const random = prng(SEED);
  const pick = (n: number): number => Math.floor(random() * n);
  let summaries = 0;
  let commonShape = 0;
  for (let round = 0; round < FUZZ_MESSAGES; round++) {
    const base = seeds[pick(seeds.length)]!;
    let bytes = base.slice();
    const mutations = 1 + pick(2);
    for (let m = 0; m < mutations; m++) {
      const at = pick(bytes.length);
      const kind = pick(8);
      if (kind < 3) {
        bytes[at] = pick(256);
      } else if (kind < 5) {
        // Compression pointers and label lengths are where decoders go wrong.
        bytes[at] = [0xc0, 0xc0 | pick(64), 0x3f, 0x00, 0xff][pick(5)]!;
        if (at + 1 < bytes.length) bytes[at + 1] = pick(256);
      } else if (kind === 5) {
        bytes = bytes.slice(0, at);
      } else if (bytes.length >= 12) {
        // Counts in the header: claim more or fewer records than there are.
        bytes[4 + pick(8)] = pick(4) === 0 ? 0xff : pick(8);
      }
    }
    const summary = parseDnsMessage(bytes, 0, bytes.length);
    if (bytes.length >= 12 && readCommonShape(bytes, 0, bytes.length) !== COMMON_SHAPE_ONLY) {
      commonShape++;
      assert.deepEqual(summary, parseDnsMessageWithLibrary(bytes, 0, bytes.length), `round ${round}: the common-shape reader reads as the library`);
    }
    const framed = new Uint8Array(bytes.length + 2);
    framed.set([bytes.length >> 8, bytes.length & 0xff]);
    framed.set(bytes, 2);
    assert.deepEqual(parseDnsTcpMessage(framed, 0, framed.length), summary, `round ${round}: TCP framing changes nothing`);
    if (summary === undefined) continue;
    summaries++;
    assert.ok(Number.isInteger(summary.id) && summary.id >= 0 && summary.id <= 0xffff);
    assert.ok(summary.rcode >= 0 && summary.rcode <= 15);
    for (const a of summary.answers) {
      assert.equal(typeof a.name, 'string');
      assert.ok(Number.isInteger(a.ttl), `round ${round}: ttl ${a.ttl}`);
      if (a.type === 'A') assert.match(a.data!, /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, `round ${round}`);
      if (a.type === 'AAAA') assert.match(a.data!, /^[0-9a-f:.]+$/, `round ${round}`);
    }
    for (const { address, name, chain, ttl } of dnsNamings(summary)) {
      assert.ok(summary.questions.some((q) => q.name === name));
      assert.ok(summary.answers.some((a) => a.data === address));
      assert.equal(chain[0], name);
      assert.ok(Number.isInteger(ttl) && ttl >= 0, `round ${round}: chain ttl ${ttl}`);
    }
  }
  assert.ok(summaries > FUZZ_MESSAGES / 20, `enough mutated messages still decode (${summaries})`);
  assert.ok(commonShape > FUZZ_MESSAGES / 20, `enough mutated messages are of the common shape (${commonShape})`);
});

/** The common-shape reader's answer for a whole message, checked against the library's. */
function commonShapeAgrees(bytes: Uint8Array, where: string): boolean {
  const common = readCommonShape(bytes, 0, bytes.length);
  if (common === COMMON_SHAPE_ONLY) return false;
  assert.deepEqual(common, parseDnsMessageWithLibrary(bytes, 0, bytes.length), where);
  return true;
}

test('the common shape is read without the library, exactly as the library reads it', async () => {
  let corpusCommon = 0;
  for (const file of ['zeek-dns53.pcap', 'tcpdump-dns_udp.pcap', 'tcpdump-LINKTYPE_RAW_ipv6.pcap', 'zeek-pcapng-multi-interface.pcapng']) {
    for (const payload of await udpDnsPayloads(file)) {
      if (commonShapeAgrees(payload.bytes, `${file} frame ${payload.frame}`)) corpusCommon++;
    }
  }
  assert.ok(corpusCommon > 0, 'some corpus messages are of the common shape');

  const opt = (options: { code: number; data: Buffer }[]): dnsPacket.Answer =>
    ({ type: 'OPT', name: '.', udpPayloadSize: 1232, options }) as unknown as dnsPacket.Answer;
  const common: [string, dnsPacket.Packet][] = [
    ['query', { type: 'query', id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name: 'api.dllt.test' }] }],
    ['query, EDNS without options', { type: 'query', id: 2, questions: [{ type: 'AAAA', name: 'a.b' }], additionals: [opt([])] }],
    ['several questions of the usual types', {
      type: 'query', id: 3,
      questions: ['A', 'NS', 'CNAME', 'SOA', 'PTR', 'MX', 'TXT', 'AAAA', 'SRV', 'ANY'].map((type) => ({ type, name: `${type.toLowerCase()}.example` }) as dnsPacket.Question),
    }],
    ['root name', { type: 'query', id: 4, questions: [{ type: 'NS', name: '.' }] }],
    ['CNAME chain with compression, A and AAAA', {
      type: 'response', id: 5, flags: dnsPacket.RECURSION_AVAILABLE,
      questions: [{ type: 'A', name: 'www.x.com' }],
      answers: [
        { type: 'CNAME', name: 'www.x.com', ttl: 4_000_000_000, data: 'edge.x.com' },
        { type: 'A', name: 'edge.x.com', ttl: 20, data: '192.0.2.255' },
        { type: 'AAAA', name: 'edge.x.com', ttl: 20, data: '::ffff:192.0.2.1' },
      ],
      authorities: [{ type: 'A', name: 'ns.x.com', ttl: 1, data: '10.0.0.1' }],
      additionals: [opt([])],
    }],
    ['TC, NXDOMAIN, opcode STATUS', { type: 'response', id: 6, flags: dnsPacket.TRUNCATED_RESPONSE | (2 << 11) | 3, questions: [{ type: 'A', name: 'x' }] }],
  ];
  for (const [what, packet] of common) {
    assert.ok(commonShapeAgrees(encoded(packet), what), `${what}: read as the common shape`);
  }
  const random = prng(SEED);
  for (let i = 0; i < 2000; i++) {
    const groups = Array.from({ length: 8 }, () => (random() < 0.4 ? 0 : Math.floor(random() * 0x10000)).toString(16));
    const packet: dnsPacket.Packet = { type: 'response', id: i, questions: [{ type: 'AAAA', name: 'h' }], answers: [{ type: 'AAAA', name: 'h', ttl: 1, data: groups.join(':') }] };
    assert.ok(commonShapeAgrees(encoded(packet), `AAAA ${groups.join(':')}`));
  }

  const libraryOnly: [string, Uint8Array][] = [
    ['an option in the OPT record', encoded({ type: 'query', id: 7, questions: [{ type: 'A', name: 'a.b' }], additionals: [opt([{ code: 10, data: Buffer.alloc(8) }])] })],
    ['a TXT answer', encoded({ type: 'response', id: 8, questions: [{ type: 'TXT', name: 't' }], answers: [{ type: 'TXT', name: 't', ttl: 1, data: 'v=1' }] })],
    ['an SOA in the authority section', encoded({
      type: 'response', id: 9, flags: 3, questions: [{ type: 'A', name: 'missing.example' }],
      authorities: [{ type: 'SOA', name: 'example', ttl: 1, data: { mname: 'ns.example', rname: 'h.example', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 } }],
    })],
    ['an HTTPS question', encoded({ type: 'query', id: 10, questions: [{ type: 'UNKNOWN_65', name: 'h' } as unknown as dnsPacket.Question] })],
    ['a label byte above 0x7f', encoded({ type: 'query', id: 11, questions: [{ type: 'A', name: 'caf\u00e9.example' }] })],
  ];
  for (const [what, bytes] of libraryOnly) {
    assert.equal(readCommonShape(bytes, 0, bytes.length), COMMON_SHAPE_ONLY, what);
    assert.ok(parseDnsMessage(bytes, 0, bytes.length) !== undefined, `${what}: still decoded, by the library`);
  }
  const forward = encoded({ type: 'query', id: 12, questions: [{ type: 'A', name: 'a.b' }] });
  forward.set([0xc0, 12], 12);
  assert.equal(readCommonShape(forward, 0, forward.length), COMMON_SHAPE_ONLY, 'a pointer to itself');
  assert.equal(parseDnsMessage(forward, 0, forward.length), undefined);
});
