import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileTimestamp, formatTs, toJsonLine, toTextLine, writeTs } from './serialize.js';
import { LineBytes } from './line-bytes.js';
import { documentedFieldNames, FLOW_FIELDS, NESTED_FIELDS } from './fields.js';
import type { FlowRecord, NotifRecord } from './records.js';

const TS_US = 1_795_366_092_123_456; // 2026-11-22T16:48:12.123456Z

function sampleFlow(): FlowRecord {
  // Built deliberately out of the documented order: output order must not depend on it.
  return {
    dstIP: '10.0.0.2',
    type: 'flow_end',
    srcIP: '10.0.0.1',
    if: 'dllt5',
    tsUs: TS_US,
    ts: formatTs(TS_US),
    proto: 'tcp',
    srcPort: 40000,
    dstPort: 443,
    communityId: '1:LQU9qZlK+B5F3KDmev6m5PMibrg=',
    firstTs: '2026-11-22T16:48:11.000000Z',
    lastTs: '2026-11-22T16:48:12.123456Z',
    durationUs: 1_123_456,
    srcPkts: 5,
    srcBytes: 400,
    dstPkts: 4,
    dstBytes: 3000,
    srcPayloadBytes: 100,
    dstPayloadBytes: 2800,
    connState: 'SF',
    history: 'ShADadFf',
    endReason: 'fin',
    retransSrc: 0,
    tls: { sni: 'example.com', version: 'TLSv1.3' },
    http: {},
    serverName: undefined,
  };
}

test('formatTs: µs precision with integer math, UTC', () => {
  assert.equal(formatTs(TS_US), '2026-11-22T16:48:12.123456Z');
  assert.equal(formatTs(0), '1970-01-01T00:00:00.000000Z');
  assert.equal(formatTs(1), '1970-01-01T00:00:00.000001Z');
  assert.equal(formatTs(999_999), '1970-01-01T00:00:00.999999Z');
  assert.equal(formatTs(-1), '1969-12-31T23:59:59.999999Z');
  assert.equal(formatTs(951_782_400_000_000), '2000-02-29T00:00:00.000000Z');
  assert.equal(formatTs(4_102_444_799_999_999), '2099-12-31T23:59:59.999999Z');
  // Where floating-point division by 1e6 would round up to the next second.
  assert.equal(formatTs(1_700_000_000_999_999), '2023-11-14T22:13:20.999999Z');
  for (let s = 0; s < 5_000_000_000; s += 86_399 * 97) {
    assert.equal(formatTs(s * 1_000_000 + 7), new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, '.000007Z'));
  }
});

test('writeTs writes the bytes of formatTs, across second, minute, day and year boundaries, one after another', () => {
  const seconds = [0, 59, 60, 3599, 3600, 86_399, 86_400, 951_782_399, 951_782_400, 1_798_761_599, 1_798_761_600, 1_795_366_092, 4_102_444_799];
  const micros = [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10_000, 99_999, 100_000, 123_456, 999_999];
  const values: number[] = [];
  for (const s of seconds) for (const us of micros) values.push(s * 1_000_000 + us, (s + 1) * 1_000_000 - 1 - us);
  // Interleaved seconds, as one record's now, first and last packet times are: the cached
  // date prefixes of several seconds must not mix.
  for (let i = 0; i < 200; i++) values.push(1_795_366_092_000_000 + ((i * 7919) % 40) * 1_000_000 + i, 1_795_366_000_000_000 + i * 16_000_000);
  values.push(1_700_000_000_999_999, 0.5, 1.9, -1, -1_000_001);
  const line = new LineBytes();
  let expected = '';
  for (const v of values) {
    writeTs(line, v);
    line.ascii(0x7c);
    expected += formatTs(v) + '|';
  }
  assert.equal(Buffer.from(line.bytes.subarray(0, line.length)).toString(), expected);
});

test('fileTimestamp: local time, underscores, zero-padded', () => {
  assert.equal(fileTimestamp(new Date(2023, 9, 31, 22, 50, 27)), '2023_10_31_22_50_27');
  assert.equal(fileTimestamp(new Date(2026, 0, 2, 3, 4, 5)), '2026_01_02_03_04_05');
});

test('toJsonLine: documented order, absent and empty nested omitted, one line', () => {
  assert.equal(
    toJsonLine(sampleFlow()),
    '{"type":"flow_end","ts":"2026-11-22T16:48:12.123456Z","tsUs":1795366092123456,"if":"dllt5","proto":"tcp",' +
      '"srcIP":"10.0.0.1","srcPort":40000,"dstIP":"10.0.0.2","dstPort":443,"communityId":"1:LQU9qZlK+B5F3KDmev6m5PMibrg=",' +
      '"firstTs":"2026-11-22T16:48:11.000000Z","lastTs":"2026-11-22T16:48:12.123456Z","durationUs":1123456,' +
      '"srcPkts":5,"srcBytes":400,"dstPkts":4,"dstBytes":3000,"srcPayloadBytes":100,"dstPayloadBytes":2800,' +
      '"connState":"SF","history":"ShADadFf","endReason":"fin","retransSrc":0,' +
      '"tls":{"version":"TLSv1.3","sni":"example.com"}}\n',
  );
  const notif: NotifRecord = {
    type: 'notif', ts: formatTs(TS_US), tsUs: TS_US, if: 'dllt5', level: 'warn', kind: 'rotation',
    message: 'line one\nline two', path: '/d/flows.log', ignored: undefined,
  };
  const line = toJsonLine(notif);
  assert.equal(line.indexOf('\n'), line.length - 1);
  assert.equal(
    line,
    '{"type":"notif","ts":"2026-11-22T16:48:12.123456Z","tsUs":1795366092123456,"if":"dllt5","level":"warn",' +
      '"kind":"rotation","message":"line one\\nline two","path":"/d/flows.log"}\n',
  );
});

test('toTextLine: fixed columns then key=value, quoted when needed', () => {
  assert.equal(
    toTextLine(sampleFlow()),
    '2026-11-22T16:48:12.123456Z flow_end     dllt5    proto=tcp srcIP=10.0.0.1 srcPort=40000 dstIP=10.0.0.2 dstPort=443 ' +
      'communityId=1:LQU9qZlK+B5F3KDmev6m5PMibrg= firstTs=2026-11-22T16:48:11.000000Z lastTs=2026-11-22T16:48:12.123456Z ' +
      'durationUs=1123456 srcPkts=5 srcBytes=400 dstPkts=4 dstBytes=3000 srcPayloadBytes=100 dstPayloadBytes=2800 ' +
      'connState=SF history=ShADadFf endReason=fin retransSrc=0 tls.version=TLSv1.3 tls.sni=example.com\n',
  );
  const notif: NotifRecord = {
    type: 'notif', ts: formatTs(TS_US), tsUs: TS_US, if: 'capture-file-name', level: 'info', kind: 'start',
    message: 'dllt started on "dllt5"', empty: '', list: [1, 2], flag: true,
  };
  assert.equal(
    toTextLine(notif),
    '2026-11-22T16:48:12.123456Z notif        capture-file-name level=info kind=start ' +
      'message="dllt started on \\"dllt5\\"" empty="" list=[1,2] flag=true\n',
  );
  assert.equal(toTextLine({ type: 'event', ts: formatTs(0), if: 'x' }), '1970-01-01T00:00:00.000000Z event        x\n');
});

test('every key a sample record emits is documented', () => {
  const documented = new Set(documentedFieldNames());
  const full: FlowRecord = {
    ...sampleFlow(),
    clientIP: '10.0.0.1', serverIP: '10.0.0.2', servicePort: 443, roleMethod: 'syn', flowKey: '10.0.0.1;10.0.0.2;443;flow', rolesFlipped: true,
    srcTcpFlags: 'SAF', dstTcpFlags: 'SAF', retransDst: 1, outOfOrderSrc: 0, outOfOrderDst: 0,
    dupAckSrc: 0, dupAckDst: 0, zeroWindowSrc: 0, zeroWindowDst: 0, synToSynAckUs: 100, synAckToAckUs: 50,
    icmpType: 3, icmpCode: 1, icmpId: 7, icmpErrors: 1, icmpErrorType: 3, icmpErrorCode: 3, vlan: 10, vlanInner: 20, tunnel: 'vxlan', tunnelId: 42,
    outerSrcIP: '192.0.2.1', outerDstIP: '192.0.2.2', fragments: 2,
    serverName: 'example.com', serverNameChain: ['example.com', 'edge.example.net'], serverNameTtl: 30,
    tls: { version: 'TLSv1.3', sni: 'example.com', alpn: 'h2', alert: 'handshake_failure' },
    http: { method: 'GET', host: 'example.com', path: '/' },
    source: 'packetless', rttUs: 120, rttVarUs: 40, minRttUs: 90, rttSide: 'client', tcpState: 'ESTABLISHED',
  };
  const notif: NotifRecord = {
    type: 'notif', ts: formatTs(0), tsUs: 0, if: 'x', level: 'error', kind: 'disk_full', message: 'm',
    path: '/p', nextPath: '/q', bytes: 1, droppedLines: 2, errorCode: 'ENOSPC',
  };
  for (const rec of [full, notif]) {
    const parsed = JSON.parse(toJsonLine(rec)) as Record<string, unknown>;
    for (const [key, value] of Object.entries(parsed)) {
      assert.ok(documented.has(key), `${key} is not in fields.ts`);
      if (key in NESTED_FIELDS) {
        for (const child of Object.keys(value as object)) assert.ok(documented.has(`${key}.${child}`), `${key}.${child}`);
      }
    }
  }
  assert.deepEqual(Object.keys(JSON.parse(toJsonLine(full)) as object), [...FLOW_FIELDS]);
});
