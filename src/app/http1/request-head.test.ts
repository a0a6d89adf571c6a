/**
 * The request-head parser against real captures, with tshark 4.0 as the outside oracle: for
 * every TCP connection the first request's method, URI, Host and header lines must be what
 * tshark's HTTP dissector reports, and a connection tshark finds no request in must not parse
 * as one. Then splitting (every boundary, byte by byte), the 8 KiB bound, and a fuzz loop
 * that also checks random splits agree with the whole feed.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  HTTP_HEAD_MAX_BYTES,
  HttpHeadStatus,
  HttpRequestHead,
  parseHeaderSpec,
  probeHttpRequest,
} from './request-head.js';
import { tcpConnections, type TcpByteStream } from './tcp-streams.test-support.js';
import { CORPUS_DIR } from '../../../test/support/corpus.js';
import { prng } from '../../../test/support/prng.js';

const HTTP_CAPTURES = [
  'zeek-http-get.pcap',
  'zeek-web.pcap',
  'zeek-http-connect-with-header.pcap',
  'zeek-nflog-http.pcap',
  'sv-http-xff-eve-reverse-overwrite.pcap',
  'ndpi-http_ipv6.pcap',
  'zeek-http-vlan-0.pcap',
  // Further HTTP in the corpus: mid-stream starts, parallel connections, SLL2, custom headers,
  // a retransmitted request, World of Warcraft's HTTP beside its game traffic.
  'zeek-tcp-missing-syn.pcap',
  'zeek-http-vnd.ms-cab-compressed-multi-conn.pcap',
  'ndpi-jsonrpc.pcap',
  'sv-decode-sll2-01.pcap',
  'zeek-tcp-retransmit-timeout.pcapng',
  'ndpi-wow.pcap',
];

const FUZZ_HEADS = Number(process.env['DLLT_FUZZ_HTTP_HEADS'] ?? 20_000);
const SEED = Number(process.env['DLLT_FUZZ_SEED'] ?? 0x5eed_1234);

const TSHARK = '/usr/bin/tshark';
const AGGREGATOR = '\u001f';

function tsharkMissing(): string | undefined {
  const probe = spawnSync(TSHARK, ['--version'], { stdio: 'ignore' });
  if (probe.error !== undefined || probe.status !== 0) return `${TSHARK} is not runnable (${probe.error?.message ?? `exit ${probe.status}`}): no outside oracle`;
  return undefined;
}

/** Undoes tshark's escaping of field text (\r, \n, \t, \\, \", \xHH). */
function unescapeTshark(text: string): string {
  return text.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_m, e: string) => {
    if (e.length === 3) return String.fromCharCode(parseInt(e.slice(1), 16));
    return ({ r: '\r', n: '\n', t: '\t' } as Record<string, string>)[e] ?? e;
  });
}

interface OracleRequest {
  method: string;
  uri: string;
  version: string;
  host: string | undefined;
  headers: [string, string][];
}

/** tshark's first HTTP request of each TCP stream, keyed like TcpClientStream.key. */
function tsharkFirstRequests(file: string): Map<string, OracleRequest> {
  const fields = [
    'tcp.stream', 'ip.src', 'ipv6.src', 'tcp.srcport', 'ip.dst', 'ipv6.dst', 'tcp.dstport',
    'http.request.method', 'http.request.uri', 'http.request.version', 'http.host', 'http.request.line',
  ];
  const out = execFileSync(
    TSHARK,
    ['-n', '-r', join(CORPUS_DIR, file), '-Y', 'http.request', '-T', 'fields', '-E', `aggregator=${AGGREGATOR}`, ...fields.flatMap((f) => ['-e', f])],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const seenStreams = new Set<string>();
  const requests = new Map<string, OracleRequest>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [stream, ip4Src, ip6Src, srcPort, ip4Dst, ip6Dst, dstPort, method, uri, version, host, lines] = line.split('\t');
    if (seenStreams.has(stream!)) continue;
    seenStreams.add(stream!);
    const headers = (lines === '' ? [] : lines!.split(AGGREGATOR)).map((raw): [string, string] => {
      const text = unescapeTshark(raw).replace(/\r?\n$/, '');
      const colon = text.indexOf(':');
      return [text.slice(0, colon), text.slice(colon + 1).trim()];
    });
    requests.set(`${ip4Src || ip6Src} ${srcPort} ${ip4Dst || ip6Dst} ${dstPort}`, {
      method: method!,
      uri: unescapeTshark(uri!),
      version: version!,
      host: host === '' ? undefined : unescapeTshark(host!),
      headers,
    });
  }
  return requests;
}

/** The client→server streams that carried data, keyed by connection. */
async function clientStreams(file: string): Promise<(TcpByteStream & { key: string })[]> {
  const connections = await tcpConnections(file);
  return connections.filter((c) => c.client.bytes.length > 0).map((c) => ({ key: c.key, ...c.client }));
}

function bytesOf(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/** Everything a caller can observe, for comparing two parses. */
function snapshot(head: HttpRequestHead): string {
  return JSON.stringify({
    status: head.status,
    method: head.method,
    path: head.path,
    version: head.version,
    host: head.host,
    headers: head.headers,
  });
}

function parseWhole(bytes: Uint8Array): HttpRequestHead {
  const head = new HttpRequestHead();
  head.feed(bytes, 0, bytes.length);
  return head;
}

function parseInPieces(bytes: Uint8Array, cuts: number[]): HttpRequestHead {
  const head = new HttpRequestHead();
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    head.feed(bytes, from, cut);
    from = cut;
  }
  return head;
}

for (const file of HTTP_CAPTURES) {
  test(`first request of every connection agrees with tshark (${file})`, async (t: TestContext) => {
    const missing = tsharkMissing();
    if (missing !== undefined) {
      t.skip(missing);
      return;
    }
    const oracle = tsharkFirstRequests(file);
    const streams = await clientStreams(file);
    assert.ok(streams.length > 0, 'the capture has client data');
    const parsed = new Set<string>();
    for (const stream of streams) {
      const head = new HttpRequestHead();
      for (const segment of stream.segments) head.feed(segment, 0, segment.length);
      const expected = oracle.get(stream.key);
      if (expected === undefined) {
        assert.notEqual(head.status, HttpHeadStatus.DONE, `${stream.key}: tshark sees no request`);
        assert.equal(probeHttpRequest(stream.bytes, 0, stream.bytes.length), 0, stream.key);
        continue;
      }
      parsed.add(stream.key);
      assert.equal(probeHttpRequest(stream.bytes, 0, stream.bytes.length), 1, stream.key);
      assert.equal(head.status, HttpHeadStatus.DONE, stream.key);
      assert.equal(head.method, expected.method);
      assert.equal(head.path, expected.uri);
      assert.equal(head.version, expected.version);
      assert.equal(head.host, expected.host);
      assert.deepEqual(head.headers, expected.headers);
      for (const [name, value] of expected.headers) {
        assert.equal(head.header(name.toUpperCase()), expected.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())![1]);
        assert.ok(head.matches({ name: name.toLowerCase(), value }));
      }
    }
    assert.deepEqual([...parsed].sort(), [...oracle.keys()].sort(), 'every request tshark found was parsed');
  });
}

test('X-Forwarded-For capture: SEARCH_HTTP_HEADER-style specs match the parsed head', async () => {
  const [stream] = await clientStreams('sv-http-xff-eve-reverse-overwrite.pcap');
  const head = parseWhole(stream!.bytes);
  assert.ok(head.matches(parseHeaderSpec('x-forwarded-for')!));
  assert.ok(head.matches(parseHeaderSpec('X-Forwarded-For: 10.3.3.3')!));
  assert.ok(!head.matches(parseHeaderSpec('X-Forwarded-For: 10.9.9.9')!));
  assert.ok(head.matches(parseHeaderSpec('User-Agent: curl')!));
  assert.ok(!head.matches(parseHeaderSpec('User-Agent: CURL')!), 'the value is case-sensitive');
  assert.ok(!head.matches(parseHeaderSpec('User-Agent: kube-probe')!));
});

test('corpus heads: a split at every boundary and byte-by-byte feeding give the whole-feed result', async () => {
  let checked = 0;
  for (const file of HTTP_CAPTURES) {
    for (const stream of await clientStreams(file)) {
      const bytes = stream.bytes.subarray(0, Math.min(stream.bytes.length, HTTP_HEAD_MAX_BYTES + 16));
      const whole = snapshot(parseWhole(bytes));
      for (let cut = 0; cut <= bytes.length; cut++) {
        assert.equal(snapshot(parseInPieces(bytes, [cut])), whole, `${file} ${stream.key} cut at ${cut}`);
      }
      const cuts = Array.from({ length: bytes.length }, (_v, i) => i);
      assert.equal(snapshot(parseInPieces(bytes, cuts)), whole, `${file} ${stream.key} byte by byte`);
      checked++;
    }
  }
  assert.ok(checked >= 6);
});

test('bytes are copied, not retained: overwriting the fed buffer changes nothing', () => {
  const text = 'GET /index.html HTTP/1.1\r\nHost: example.com\r\nX-Long-Header: abcdefghij\r\n\r\n';
  const expected = snapshot(parseWhole(bytesOf(text)));
  for (let cut = 1; cut < text.length; cut++) {
    const head = new HttpRequestHead();
    const first = bytesOf(text.slice(0, cut));
    head.feed(first, 0, first.length);
    first.fill(0x41);
    const rest = bytesOf(text.slice(cut));
    head.feed(rest, 0, rest.length);
    assert.equal(snapshot(head), expected, `cut at ${cut}`);
  }
});

test('feeds from the middle of a larger buffer honour start and end', () => {
  const text = 'xxxxPOST /api HTTP/1.0\nHost: a\n\nyyyy';
  const bytes = bytesOf(text);
  const head = new HttpRequestHead();
  assert.equal(head.feed(bytes, 4, 20), HttpHeadStatus.NEED_MORE);
  assert.equal(head.feed(bytes, 20, bytes.length - 4), HttpHeadStatus.DONE);
  assert.equal(head.method, 'POST');
  assert.equal(head.path, '/api');
  assert.equal(head.version, 'HTTP/1.0');
  assert.equal(head.host, 'a');
});

test('request line and header rules', () => {
  const head = parseWhole(
    bytesOf(
      'GET /p?q=1 HTTP/1.1\n' +
        'Host:   example.com:8080 \t\n' +
        'X-Folded: first\r\n' +
        '   second \r\n' +
        '\tthird\r\n' +
        'no colon here\r\n' +
        'Bad Name: skipped\r\n' +
        ': empty name\r\n' +
        'Empty:\r\n' +
        'x-folded: again\r\n' +
        'Latin: caf\u00e9\r\n' +
        '\r\n' +
        'BODY',
    ),
  );
  assert.equal(head.status, HttpHeadStatus.DONE);
  assert.equal(head.method, 'GET');
  assert.equal(head.path, '/p?q=1');
  assert.equal(head.version, 'HTTP/1.1');
  assert.equal(head.host, 'example.com:8080');
  assert.deepEqual(head.headers, [
    ['Host', 'example.com:8080'],
    ['X-Folded', 'first second third'],
    ['Empty', ''],
    ['x-folded', 'again'],
    ['Latin', 'caf\u00e9'],
  ]);
  assert.equal(head.header('X-FOLDED'), 'first second third', 'first match wins');
  assert.equal(head.header('missing'), undefined);
  assert.ok(head.matches({ name: 'empty' }));
  assert.ok(head.matches({ name: 'x-folded', value: 'again' }), 'any matching header counts');
  assert.ok(!head.matches({ name: 'x-folded', value: 'AGAIN' }));
});

test('a folded Host header extends host too; a fold before any header is dropped', () => {
  const head = parseWhole(bytesOf('GET / HTTP/1.1\r\n folded-nothing\r\nHost: a\r\n b\r\n\r\n'));
  assert.equal(head.status, HttpHeadStatus.DONE);
  assert.equal(head.host, 'a b');
  assert.deepEqual(head.headers, [['Host', 'a b']]);
});

test('the first Host header is the host', () => {
  const head = parseWhole(bytesOf('GET / HTTP/1.1\r\nhost: one\r\nHost: two\r\n\r\n'));
  assert.equal(head.host, 'one');
});

test('invalid request lines are NOT_HTTP, as early as the bytes allow', () => {
  const cases: [string, number][] = [
    ['\u0016\u0003\u0001\u0002\u0000', 1],
    ['SSH-2.0-OpenSSH_9.2\r\n', 20],
    ['GET / HTTP/2.0\r\n', 12],
    ['PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 12],
    ['GET /\r\n', 6],
    ['GET  / HTTP/1.1\r\n', 5],
    [' GET / HTTP/1.1\r\n', 1],
    ['GET / HTTP/1.1 \r\n', 15],
    ['GET / HTTP/1.1\rX', 16],
    ['GET / http/1.1\r\n', 7],
    ['GET /a\u0000b HTTP/1.1\r\n', 7],
    ['GET / HTTP/1.x\r\n', 14],
    ['EHLO mail.example.com\r\n', 22],
  ];
  for (const [text, decidedAfter] of cases) {
    const bytes = bytesOf(text);
    assert.equal(parseWhole(bytes).status, HttpHeadStatus.NOT_HTTP, JSON.stringify(text));
    const early = new HttpRequestHead();
    assert.equal(early.feed(bytes, 0, decidedAfter - 1), HttpHeadStatus.NEED_MORE, `${JSON.stringify(text)} before byte ${decidedAfter}`);
    assert.equal(early.feed(bytes, decidedAfter - 1, decidedAfter), HttpHeadStatus.NOT_HTTP, `${JSON.stringify(text)} at byte ${decidedAfter}`);
  }
});

test('extension methods are accepted by feed (servers take any token)', () => {
  const head = parseWhole(bytesOf('PURGE /cache HTTP/1.1\r\nHost: h\r\n\r\n'));
  assert.equal(head.status, HttpHeadStatus.DONE);
  assert.equal(head.method, 'PURGE');
});

test('a final status is sticky: later feeds are ignored and return it', () => {
  const head = parseWhole(bytesOf('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
  const before = snapshot(head);
  const more = bytesOf('GET /second HTTP/1.1\r\nHost: b\r\n\r\n');
  assert.equal(head.feed(more, 0, more.length), HttpHeadStatus.DONE);
  assert.equal(snapshot(head), before);
  const rejected = parseWhole(bytesOf('\u0016'));
  assert.equal(rejected.feed(more, 0, more.length), HttpHeadStatus.NOT_HTTP);
  assert.equal(rejected.method, undefined);
});

test('a head longer than 8 KiB is TOO_LONG and keeps the headers completed before the limit', () => {
  const early = 'GET /big HTTP/1.1\r\nHost: big.example\r\nUser-Agent: kube-probe/1.29\r\n';
  const text = `${early}X-Pad: ${'a'.repeat(HTTP_HEAD_MAX_BYTES)}\r\nX-Late: never\r\n\r\n`;
  const bytes = bytesOf(text);
  for (const head of [parseWhole(bytes), parseInPieces(bytes, [10, 100, 4000, 8191, 8192, 8193])]) {
    assert.equal(head.status, HttpHeadStatus.TOO_LONG);
    assert.equal(head.method, 'GET');
    assert.equal(head.path, '/big');
    assert.equal(head.host, 'big.example');
    assert.deepEqual(head.headers, [
      ['Host', 'big.example'],
      ['User-Agent', 'kube-probe/1.29'],
    ]);
    assert.ok(head.matches(parseHeaderSpec('User-Agent: kube-probe')!));
  }
  // The status is decided by byte 8192 itself, not by a later feed.
  const atLimit = new HttpRequestHead();
  assert.equal(atLimit.feed(bytes, 0, HTTP_HEAD_MAX_BYTES - 1), HttpHeadStatus.NEED_MORE);
  assert.equal(atLimit.feed(bytes, HTTP_HEAD_MAX_BYTES - 1, HTTP_HEAD_MAX_BYTES), HttpHeadStatus.TOO_LONG);
});

test('a head ending exactly at byte 8192 is DONE; one byte more is TOO_LONG', () => {
  const prefix = 'GET / HTTP/1.1\r\nX-Pad: ';
  const suffix = '\r\n\r\n';
  const exact = bytesOf(prefix + 'p'.repeat(HTTP_HEAD_MAX_BYTES - prefix.length - suffix.length) + suffix);
  assert.equal(exact.length, HTTP_HEAD_MAX_BYTES);
  assert.equal(parseWhole(exact).status, HttpHeadStatus.DONE);
  assert.equal(parseInPieces(exact, [8000]).status, HttpHeadStatus.DONE);
  const over = bytesOf(prefix + 'p'.repeat(HTTP_HEAD_MAX_BYTES - prefix.length - suffix.length + 1) + suffix);
  const head = parseWhole(over);
  assert.equal(head.status, HttpHeadStatus.TOO_LONG);
  // Only the final empty line's LF fell beyond the limit: the X-Pad line was complete.
  assert.deepEqual(head.headers.map(([name]) => name), ['X-Pad']);
});

test('a request line longer than 8 KiB is TOO_LONG with nothing parsed', () => {
  const head = parseWhole(bytesOf(`GET /${'x'.repeat(HTTP_HEAD_MAX_BYTES)} HTTP/1.1\r\n\r\n`));
  assert.equal(head.status, HttpHeadStatus.TOO_LONG);
  assert.equal(head.method, undefined);
  assert.equal(head.path, undefined);
});

test('matches works on a partial head', () => {
  const head = new HttpRequestHead();
  const bytes = bytesOf('GET / HTTP/1.1\r\nX-Trace: abc\r\nHost: h');
  assert.equal(head.feed(bytes, 0, bytes.length), HttpHeadStatus.NEED_MORE);
  assert.ok(head.matches({ name: 'x-trace' }));
  assert.ok(head.matches({ name: 'x-trace', value: 'b' }));
  assert.ok(!head.matches({ name: 'host' }), 'an unfinished line is not a header yet');
});

test('out-of-range or odd start/end never throw', () => {
  const bytes = bytesOf('GET / HTTP/1.1\r\n\r\n');
  const odd: [number, number][] = [
    [-5, 3],
    [3, 1000],
    [NaN, NaN],
    [10, 2],
    [1.5, 4.7],
    [Infinity, -Infinity],
  ];
  for (const [start, end] of odd) {
    const head = new HttpRequestHead();
    head.feed(bytes, start, end);
    probeHttpRequest(bytes, start, end);
  }
  const head = new HttpRequestHead();
  assert.equal(head.feed(bytes, -5, 1000), HttpHeadStatus.DONE);
  assert.equal(probeHttpRequest(bytes, -1, 1000), 1);
});

test('parseHeaderSpec', () => {
  assert.deepEqual(parseHeaderSpec('X-Trace'), { name: 'x-trace' });
  assert.deepEqual(parseHeaderSpec('User-Agent: kube-probe'), { name: 'user-agent', value: 'kube-probe' });
  assert.deepEqual(parseHeaderSpec('  User-Agent :  kube probe/1.2 '), { name: 'user-agent', value: 'kube probe/1.2' });
  assert.deepEqual(parseHeaderSpec('X-Trace:'), { name: 'x-trace' });
  assert.deepEqual(parseHeaderSpec('X-Url: http://a:b@c/'), { name: 'x-url', value: 'http://a:b@c/' });
  for (const bad of ['', '   ', ': value', 'User Agent: x', 'X(1)', 'Ünïcode', 'X\tY']) {
    assert.equal(parseHeaderSpec(bad), undefined, JSON.stringify(bad));
  }
});

test('probeHttpRequest', () => {
  const probe = (text: string): number => {
    const bytes = bytesOf(text);
    return probeHttpRequest(bytes, 0, bytes.length);
  };
  for (const yes of ['GET ', 'GET /', 'POST /x HTTP/1.1', 'CONNECT a:443', 'PATCH ', 'PROPFIND ', 'MKCOL ', 'MKCALENDAR ', 'VERSION-CONTROL ', 'OPTIONS *']) {
    assert.equal(probe(yes), 1, yes);
  }
  for (const more of ['', 'G', 'GE', 'GET', 'MK', 'MKC', 'P', 'PRO', 'VERSION-CONTROL']) {
    assert.equal(probe(more), -1, more);
  }
  for (const no of ['get ', 'GET/', 'GETX ', 'PRI * HTTP/2.0', 'HTTP/1.1 200 OK', '\u0016\u0003\u0001', 'SSH-2.0', 'M-SEARCH * HTTP/1.1', 'XYZ ']) {
    assert.equal(probe(no), 0, no);
  }
  const framed = bytesOf('\u0000\u0000HEAD / HTTP/1.1');
  assert.equal(probeHttpRequest(framed, 2, framed.length), 1);
  assert.equal(probeHttpRequest(framed, 2, 4), -1);
});


test(`fuzz: ${FUZZ_HEADS} mutated heads never throw and random splits agree with the whole feed (seed ${SEED})`, async () => {
  const seeds: Uint8Array[] = [
    bytesOf('GET / HTTP/1.1\r\nHost: a\r\nX-Folded: x\r\n y\r\n\r\n'),
    bytesOf('POST /form HTTP/1.0\nContent-Length: 3\n\nabc'),
  ];
  for (const file of HTTP_CAPTURES) {
    for (const stream of await clientStreams(file)) seeds.push(stream.bytes.slice(0, 2048));
  }
  const special = [0x0d, 0x0a, 0x20, 0x09, 0x3a, 0x00, 0x7f, 0xff, 0x48];
  const random = prng(SEED);
  const pick = (n: number): number => Math.floor(random() * n);
  let done = 0;
  for (let round = 0; round < FUZZ_HEADS; round++) {
    const base = seeds[pick(seeds.length)]!;
    let bytes = base.slice();
    const mutations = 1 + pick(4);
    for (let m = 0; m < mutations; m++) {
      const at = pick(bytes.length + 1);
      switch (pick(5)) {
        case 0:
          if (at < bytes.length) bytes[at] = pick(256);
          break;
        case 1:
          if (at < bytes.length) bytes[at] = special[pick(special.length)]!;
          break;
        case 2: {
          const grown = new Uint8Array(bytes.length + 1);
          grown.set(bytes.subarray(0, at));
          grown[at] = special[pick(special.length)]!;
          grown.set(bytes.subarray(at), at + 1);
          bytes = grown;
          break;
        }
        case 3:
          bytes = bytes.slice(0, at);
          break;
        default: {
          const len = pick(Math.max(1, bytes.length - at) + 1);
          const repeats = 1 + pick(40);
          const chunk = bytes.slice(at, at + len);
          const grown = new Uint8Array(bytes.length + chunk.length * repeats);
          grown.set(bytes.subarray(0, at));
          for (let r = 0; r < repeats; r++) grown.set(chunk, at + r * chunk.length);
          grown.set(bytes.subarray(at), at + chunk.length * repeats);
          bytes = grown;
        }
      }
    }
    const whole = parseWhole(bytes);
    const cuts = Array.from({ length: pick(6) }, () => pick(bytes.length + 1)).sort((a, b) => a - b);
    assert.equal(snapshot(parseInPieces(bytes, cuts)), snapshot(whole), `round ${round}: cuts ${cuts.join(',')}`);
    assert.ok(whole.status >= HttpHeadStatus.NEED_MORE && whole.status <= HttpHeadStatus.TOO_LONG);
    if (whole.status === HttpHeadStatus.DONE) {
      done++;
      assert.ok(whole.method !== undefined && whole.path !== undefined && whole.version !== undefined);
    }
    whole.matches({ name: 'host', value: 'a' });
    probeHttpRequest(bytes, 0, bytes.length);
  }
  assert.ok(done > FUZZ_HEADS / 20, `enough mutated heads still parse (${done})`);
});
