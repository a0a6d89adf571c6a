/**
 * TlsSession on hand-built byte sequences: one behaviour per test, each stating which field is
 * wrong or which record comes when. Real-traffic agreement is tls-corpus.test.ts's job.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TlsSession, TlsViolation, TLS_VIOLATION_NAMES } from './tls-session.js';
import { RecordingListener, observationOf, type ListenerCall } from './tls-observation.test-support.js';
import {
  ALERT,
  APPLICATION_DATA,
  CCS_RECORD,
  HANDSHAKE,
  HEARTBEAT,
  alertRecord,
  clientHelloBody,
  clientHelloRecord,
  concat,
  extension,
  handshakeMessage,
  opaqueRecord,
  record,
  serverHelloBody,
  serverHelloRecord,
  u16,
} from './tls-builders.test-support.js';

type Step = [0 | 1, Uint8Array] | [0 | 1, 'gap'];

function run(steps: Step[]): { calls: ListenerCall[]; session: TlsSession } {
  const listener = new RecordingListener();
  const session = new TlsSession(listener);
  for (const [dir, bytes] of steps) {
    if (bytes === 'gap') session.gap(dir);
    else session.feed(dir, bytes, 0, bytes.length);
  }
  return { calls: listener.calls, session };
}

function violations(calls: ListenerCall[]): [number, TlsViolation, string][] {
  return calls.flatMap((c) => (c.kind === 'violation' ? [[c.dir, c.reason, c.detail] as [number, TlsViolation, string]] : []));
}

function reasonOf(steps: Step[]): [number, string] | undefined {
  const v = violations(run(steps).calls);
  assert.ok(v.length <= 1, 'at most one violation');
  return v[0] === undefined ? undefined : [v[0][0], TLS_VIOLATION_NAMES[v[0][1]]!];
}

const CH13 = clientHelloRecord({ sni: 'example.com', alpn: ['h2', 'http/1.1'], versions: [0x3a3a, 0x0304, 0x0303] });
const CH12 = clientHelloRecord({ sni: 'example.com', alpn: ['http/1.1'] });
const SH12 = serverHelloRecord({ alpn: 'http/1.1' });
const SH13 = serverHelloRecord({ selected: 0x0304 });

test('TLS 1.2 full handshake: hellos reported, then only record headers, encrypted alert at the end', () => {
  const { calls, session } = run([
    [0, CH12],
    [1, concat(SH12, record(HANDSHAKE, concat(handshakeMessage(11, new Uint8Array(3000)), handshakeMessage(14, []))))],
    [0, concat(record(HANDSHAKE, handshakeMessage(16, new Uint8Array(66))), CCS_RECORD, opaqueRecord(HANDSHAKE, 40))],
    [1, concat(record(HANDSHAKE, handshakeMessage(4, new Uint8Array(100))), CCS_RECORD, opaqueRecord(HANDSHAKE, 40))],
    [0, opaqueRecord(APPLICATION_DATA, 500)],
    [1, opaqueRecord(APPLICATION_DATA, 18432)],
    [0, opaqueRecord(ALERT, 26)],
  ]);
  assert.deepEqual(calls, [
    { kind: 'clientHello', info: { legacyVersion: 0x0303, supportedVersions: [], sni: 'example.com', alpn: ['http/1.1'] } },
    { kind: 'serverHello', info: { legacyVersion: 0x0303, selectedVersion: 0x0303, alpn: 'http/1.1', helloRetryRequest: false } },
    { kind: 'alert', dir: 0, level: -1, description: -1, encrypted: true },
  ]);
  assert.equal(session.finished, false);
});

test('ClientHello: GREASE versions dropped, SNI as latin1, ALPN list in order; no extensions at all is fine', () => {
  const { calls } = run([[0, CH13]]);
  assert.deepEqual(calls, [
    { kind: 'clientHello', info: { legacyVersion: 0x0303, supportedVersions: [0x0304, 0x0303], sni: 'example.com', alpn: ['h2', 'http/1.1'] } },
  ]);
  const latin = run([[0, clientHelloRecord({ sni: 'caf\u00e9.example' })]]).calls[0];
  assert.equal(latin?.kind === 'clientHello' && latin.info.sni, 'caf\u00e9.example');
  const bare = run([[0, clientHelloRecord({ noExtensions: true, legacyVersion: 0x0300 })]]).calls[0];
  assert.deepEqual(bare, { kind: 'clientHello', info: { legacyVersion: 0x0300, supportedVersions: [], alpn: [] } });
});

test('TLS 1.3: both directions opaque after the ServerHello; compat CCS allowed; type-21 alerts are plaintext', () => {
  const { calls } = run([
    [0, CH13],
    [1, concat(SH13, CCS_RECORD, opaqueRecord(APPLICATION_DATA, 2000), opaqueRecord(APPLICATION_DATA, 300))],
    [0, concat(CCS_RECORD, opaqueRecord(APPLICATION_DATA, 53), opaqueRecord(APPLICATION_DATA, 200))],
    // RFC 8446 5.2: encrypted records are all application_data, so an alert record is in the clear.
    [0, alertRecord(2, 42)],
  ]);
  assert.deepEqual(violations(calls), []);
  assert.deepEqual(observationOf(calls).alerts, [[0, 2, 42]]);
  assert.deepEqual(observationOf(calls).encryptedAlerts, [0, 0]);
});

test('HelloRetryRequest: both hellos reported twice, compat CCS on both sides, then TLS 1.3', () => {
  const { calls } = run([
    [0, CH13],
    [1, concat(serverHelloRecord({ selected: 0x0304, retry: true }), CCS_RECORD)],
    [0, concat(CCS_RECORD, CH13)],
    [1, concat(SH13, opaqueRecord(APPLICATION_DATA, 1000))],
    [0, opaqueRecord(APPLICATION_DATA, 60)],
  ]);
  assert.deepEqual(violations(calls), []);
  const o = observationOf(calls);
  assert.equal(o.clientHellos.length, 2);
  assert.deepEqual(
    o.serverHellos.map((s) => [s.selectedVersion, s.helloRetryRequest]),
    [
      [0x0304, true],
      [0x0304, false],
    ],
  );
  assert.deepEqual(
    reasonOf([
      [0, CH13],
      [1, serverHelloRecord({ selected: 0x0304, retry: true })],
      [0, CH13],
      [1, serverHelloRecord({ selected: 0x0304, retry: true })],
    ]),
    [1, 'handshake_out_of_order'],
  );
});

test('a server may answer with an alert first; several alerts in one record; alerts split across feeds', () => {
  const twoAlerts = record(ALERT, [1, 112, 2, 40]);
  const { calls } = run([
    [0, CH12],
    [1, twoAlerts.subarray(0, 6)],
    [1, twoAlerts.subarray(6, 8)],
    [1, twoAlerts.subarray(8)],
  ]);
  assert.deepEqual(observationOf(calls).alerts, [
    [1, 1, 112],
    [1, 2, 40],
  ]);
  assert.deepEqual(violations(calls), []);
});

test('hellos split across records and segments; several messages in one record', () => {
  const body = handshakeMessage(1, clientHelloBody({ sni: 'split.example' }));
  const inTwoRecords = concat(record(HANDSHAKE, body.subarray(0, 3)), record(HANDSHAKE, body.subarray(3)));
  const steps: Step[] = [];
  for (let i = 0; i < inTwoRecords.length; i += 7) steps.push([0, inTwoRecords.subarray(i, i + 7)]);
  const { calls } = run(steps);
  assert.equal(calls[0]?.kind === 'clientHello' && calls[0].info.sni, 'split.example');
  const shFlight = record(HANDSHAKE, concat(handshakeMessage(2, serverHelloBody()), handshakeMessage(11, new Uint8Array(10)), handshakeMessage(14, [])));
  assert.equal(reasonOf([[0, CH12], [1, shFlight], [1, CCS_RECORD]]), undefined);
});

test('violations: not TLS at the start of either direction', () => {
  const http = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.deepEqual(violations(run([[0, http]]).calls), [[0, TlsViolation.NOT_TLS, 'stream starts with 47 45 54 20 2f, not a TLS record header']]);
  assert.deepEqual(reasonOf([[0, CH12], [1, new TextEncoder().encode('HTTP/1.1 400 Bad Request\r\n')]]), [1, 'not_tls']);
  // SSLv2-compatible ClientHello: high bit set in the first byte.
  assert.deepEqual(reasonOf([[0, new Uint8Array([0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15])]]), [0, 'not_tls']);
});

test('violations: bad record type, version and length after a good first record', () => {
  assert.deepEqual(reasonOf([[0, CH12], [0, record(25, [0])]]), [0, 'bad_record_type']);
  assert.deepEqual(reasonOf([[0, CH12], [0, record(HANDSHAKE, [1], 0x0203)]]), [0, 'bad_record_version']);
  assert.deepEqual(reasonOf([[0, CH12], [0, record(HANDSHAKE, [1], 0x0305)]]), [0, 'bad_record_version']);
  assert.deepEqual(reasonOf([[0, CH12], [0, record(HANDSHAKE, [])]]), [0, 'bad_record_length']);
  assert.deepEqual(reasonOf([[0, CH12], [0, opaqueRecord(HANDSHAKE, 16385)]]), [0, 'bad_record_length']);
  assert.deepEqual(reasonOf([[0, CH12], [1, record(ALERT, [2, 40, 1])]]), [1, 'bad_record_length']);
  assert.deepEqual(reasonOf([[0, CH12], [1, SH12], [1, record(20, [1, 1])]]), [1, 'bad_record_length']);
  // Encrypted records may carry 2048 bytes of expansion, not more.
  const established: Step[] = [[0, CH12], [1, SH12], [1, CCS_RECORD]];
  assert.equal(reasonOf([...established, [1, opaqueRecord(APPLICATION_DATA, 18432)]]), undefined);
  assert.deepEqual(reasonOf([...established, [1, opaqueRecord(APPLICATION_DATA, 18433)]]), [1, 'bad_record_length']);
});

test('violations: handshake out of order', () => {
  assert.deepEqual(reasonOf([[0, record(HANDSHAKE, handshakeMessage(16, new Uint8Array(10)))]]), [0, 'handshake_out_of_order']);
  assert.deepEqual(reasonOf([[0, CH12], [1, record(HANDSHAKE, handshakeMessage(11, new Uint8Array(10)))]]), [1, 'handshake_out_of_order']);
  assert.deepEqual(reasonOf([[0, CH12], [0, opaqueRecord(APPLICATION_DATA, 20)]]), [0, 'handshake_out_of_order']);
  assert.deepEqual(reasonOf([[0, CH12], [1, SH12], [1, opaqueRecord(APPLICATION_DATA, 20)]]), [1, 'handshake_out_of_order']);
  assert.deepEqual(reasonOf([[0, CH12], [0, CCS_RECORD]]), [0, 'handshake_out_of_order']);
  assert.deepEqual(reasonOf([[0, CH12], [1, SH12], [0, CH12]]), [0, 'handshake_out_of_order']);
  assert.deepEqual(reasonOf([[0, CH12], [1, SH12], [1, SH12]]), [1, 'handshake_out_of_order']);
  // A Certificate header whose body never came, then change_cipher_spec: messages may not interleave.
  assert.deepEqual(reasonOf([[0, CH12], [1, SH12], [1, record(HANDSHAKE, [11, 0, 1, 0])], [1, CCS_RECORD]]), [1, 'handshake_out_of_order']);
});

test('TLS 1.3 early data before the ServerHello is allowed only if the client offered TLS 1.3', () => {
  assert.equal(reasonOf([[0, concat(CH13, CCS_RECORD, opaqueRecord(APPLICATION_DATA, 100))]]), undefined);
  assert.deepEqual(reasonOf([[0, concat(CH12, opaqueRecord(APPLICATION_DATA, 100))]]), [0, 'handshake_out_of_order']);
});

test('heartbeats are skipped whatever the handshake state', () => {
  assert.equal(reasonOf([[0, CH12], [0, record(HEARTBEAT, [1, 0x3f, 0xed])], [1, SH12]]), undefined);
});

test('violations: hellos whose lengths do not add up, unknown handshake types', () => {
  const good = clientHelloBody({ sni: 'a.example', alpn: ['h2'], versions: [0x0304] });
  const broken = (mutate: (b: number[]) => void): Step[] => {
    const b = [...good];
    mutate(b);
    return [[0, record(HANDSHAKE, handshakeMessage(1, b))]];
  };
  const extensionsAt = 2 + 32 + 1 + 32 + 2 + 4 + 2;
  assert.deepEqual(reasonOf(broken((b) => (b[34] = 33))), [0, 'bad_handshake_message']);
  assert.deepEqual(reasonOf(broken((b) => (b[67] = 0xff))), [0, 'bad_handshake_message']);
  assert.deepEqual(reasonOf(broken((b) => (b[extensionsAt + 1]! += 1))), [0, 'bad_handshake_message']);
  assert.deepEqual(reasonOf(broken((b) => b.push(0))), [0, 'bad_handshake_message']);
  // SNI list length one short of its extension.
  assert.deepEqual(reasonOf(broken((b) => (b[extensionsAt + 2 + 4 + 1]! -= 1))), [0, 'bad_handshake_message']);
  assert.deepEqual(reasonOf([[0, record(HANDSHAKE, handshakeMessage(1, []))]]), [0, 'bad_handshake_message']);
  const badServerVersions = concat(serverHelloBody().slice(0, -2), u16(8), extension(43, [3, 4, 3, 3]));
  assert.deepEqual(
    reasonOf([[0, CH12], [1, record(HANDSHAKE, handshakeMessage(2, badServerVersions))]]),
    [1, 'bad_handshake_message'],
  );
  assert.deepEqual(
    violations(run([[0, CH12], [1, SH12], [1, record(HANDSHAKE, handshakeMessage(56, [1, 2]))]]).calls),
    [[1, TlsViolation.BAD_HANDSHAKE_MESSAGE, 'unknown handshake message type 56']],
  );
});

test('one violation per session; afterwards feed is a no-op and the session is finished', () => {
  const listener = new RecordingListener();
  const session = new TlsSession(listener);
  session.feed(0, CH12, 0, CH12.length);
  const bad = record(30, [0]);
  session.feed(0, bad, 0, bad.length);
  assert.equal(session.finished, true);
  session.feed(1, SH12, 0, SH12.length);
  session.feed(0, bad, 0, bad.length);
  assert.equal(listener.calls.length, 2);
  assert.equal(listener.calls[1]?.kind, 'violation');
});

test('gaps stop one direction silently; both gapped means finished', () => {
  const { calls, session } = run([[0, CH12], [0, 'gap'], [0, new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff])], [1, alertRecord(2, 40)]]);
  assert.equal(session.finished, false);
  assert.deepEqual(violations(calls), []);
  assert.deepEqual(observationOf(calls).alerts, [[1, 2, 40]]);
  session.gap(1);
  assert.equal(session.finished, true);
});

test('with the server half lost, the client is believed: CCS, data and a repeated ClientHello pass', () => {
  assert.equal(reasonOf([[0, CH12], [1, 'gap'], [0, concat(CCS_RECORD, opaqueRecord(HANDSHAKE, 40), opaqueRecord(APPLICATION_DATA, 30))]]), undefined);
  assert.equal(reasonOf([[0, CH12], [1, 'gap'], [0, CH12], [0, opaqueRecord(APPLICATION_DATA, 30)]]), undefined);
});

test('a hello over 64 KiB stops that direction without a violation; the other goes on', () => {
  // Only the message header is read before the limit applies, so the body need not be valid.
  const message = handshakeMessage(1, new Uint8Array(70000));
  const records: Uint8Array[] = [];
  for (let i = 0; i < message.length; i += 16384) records.push(record(HANDSHAKE, message.subarray(i, i + 16384)));
  const { calls, session } = run([...records.map((r): Step => [0, r]), [1, alertRecord(2, 40)]]);
  assert.deepEqual(calls, [{ kind: 'alert', dir: 1, level: 2, description: 40, encrypted: false }]);
  assert.equal(session.finished, false);
  session.gap(1);
  assert.equal(session.finished, true);
});

test('hostile feed bounds never throw and never read outside [start, end)', () => {
  const listener = new RecordingListener();
  const session = new TlsSession(listener);
  session.feed(0, CH12, -100, 3);
  session.feed(0, CH12, 3, CH12.length + 1000);
  session.feed(0, CH12, 10, 5);
  session.feed(0, CH12, Number.NaN, Number.POSITIVE_INFINITY);
  assert.deepEqual(listener.calls.map((c) => c.kind), ['clientHello']);
});
