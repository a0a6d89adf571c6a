/**
 * TlsSession against real captures, with tshark 4.0's TLS dissection as the outside oracle:
 * per connection, the ClientHellos (version, SNI, ALPN, supported_versions), ServerHellos
 * (negotiated version, ALPN, HelloRetryRequest), every plaintext alert and the number of
 * encrypted alert records must be what tshark reports, and normal sessions raise no violation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TlsViolation, probeTls } from './tls-session.js';
import { readTcpConnections, tlsStartIndex, type TcpConnection } from './tcp-streams.test-support.js';
import { observationOf, runSession } from './tls-observation.test-support.js';
import { tsharkMissing, tsharkObservation, tsharkTlsFrames, type TsharkTlsFrame } from './tshark-oracle.test-support.js';

/**
 * Normal TLS sessions (some end in alerts, heartbleed is an attack over a well-formed session):
 * no violation allowed. The brief's list plus the corpus's other TLS captures (IPv6 browsing,
 * psiphon3, RDP upgraded to TLS).
 */
const NORMAL_FILES = [
  'zeek-tls-tls1.2.pcap',
  'zeek-tls-tls13_wolfssl.pcap',
  'zeek-tls-hrr.pcap',
  'zeek-tls-tls-1.2-handshake-failure.pcap',
  'zeek-tls-tls-early-alert.pcap',
  'zeek-tls-certificate-request-failed.pcap',
  'zeek-tls-heartbleed.pcap',
  'ndpi-tls_alert.pcap',
  'peafowl-ssl.pcapng',
  'zeek-tls-openjdk-25.0.2-zeek.org.pcap',
  'zeek-tls-irc-starttls.pcap',
  'ndpi-http_ipv6.pcap',
  'ndpi-psiphon3.pcap',
  'ndpi-rdp_over_tls.pcap',
  // Fuzzed inside the encrypted_server_name extension only (tshark: "Vector length 45203 is too
  // large" in its ESNI record digest/encrypted SNI fields). We do not look inside that extension,
  // and every length we do check (record, handshake message, hello vectors, extensions block,
  // each extension, SNI/ALPN/supported_versions lists) adds up, so the honest answer is no violation.
  'ndpi-tls-esni-fuzzed.pcap',
];

const PREAMBLE_FILES = new Set(['zeek-tls-irc-starttls.pcap', 'ndpi-rdp_over_tls.pcap']);

function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function framesByConnection(frames: readonly TsharkTlsFrame[]): Map<string, TsharkTlsFrame[]> {
  const map = new Map<string, TsharkTlsFrame[]>();
  for (const f of frames) {
    const key = pairKey(f.src, f.dst);
    const list = map.get(key) ?? [];
    list.push(f);
    map.set(key, list);
  }
  return map;
}

interface FileResult {
  parsed: { conn: TcpConnection; start: number; frames: TsharkTlsFrame[] }[];
  /** Connections that carried bytes but whose client stream never starts a TLS ClientHello record. */
  notParsed: { conn: TcpConnection; frames: TsharkTlsFrame[] }[];
}

async function load(file: string): Promise<FileResult> {
  const conns = (await readTcpConnections(file)).filter((c) => c.chunks.length > 0);
  const starts = conns.map((c) => tlsStartIndex(c));
  const tlsPorts = [...new Set(conns.filter((_, i) => starts[i]! >= 0).map((c) => c.serverPort))];
  const byConn = framesByConnection(tsharkTlsFrames(file, tlsPorts));
  const result: FileResult = { parsed: [], notParsed: [] };
  conns.forEach((conn, i) => {
    const frames = byConn.get(pairKey(conn.client, conn.server)) ?? [];
    if (starts[i]! >= 0) result.parsed.push({ conn, start: starts[i]!, frames });
    else result.notParsed.push({ conn, frames });
  });
  return result;
}

test('TLS corpus sessions agree with tshark', async (t) => {
  const missing = tsharkMissing();
  if (missing !== undefined) {
    t.skip(`tshark not installed: ${missing}`);
    return;
  }
  for (const file of NORMAL_FILES) {
    await t.test(file, async () => {
      const { parsed, notParsed } = await load(file);
      assert.ok(parsed.length > 0, 'at least one TLS connection');
      let hellos = 0;
      let alerts = 0;
      for (const { conn, start, frames } of parsed) {
        const where = `${file} ${conn.client} -> ${conn.server}`;
        // Only IRC STARTTLS and RDP (X.224 negotiation first) have plaintext before the ClientHello.
        assert.equal(start > 0, PREAMBLE_FILES.has(file), `${where}: TLS starts at chunk ${start}`);
        const { listener, session } = runSession(conn.chunks.slice(start));
        assert.deepEqual(listener.violations(), [], `${where}: no violation`);
        const ours = observationOf(listener.calls);
        assert.deepEqual(ours, tsharkObservation(frames, conn.client), where);
        assert.ok(conn.chunks.every((c) => c.bytes !== null), `${where}: no capture gap`);
        assert.equal(session.finished, false, `${where}: still parsing`);
        hellos += ours.clientHellos.length + ours.serverHellos.length;
        alerts += ours.alerts.length + ours.encryptedAlerts[0] + ours.encryptedAlerts[1];
      }
      for (const { conn, frames } of notParsed) {
        // Neither side calls it TLS: nothing to compare.
        if (frames.length === 0) continue;
        const where = `${file} ${conn.client} -> ${conn.server}`;
        const clientFrames = frames.filter((f) => f.src === conn.client);
        if (clientFrames[0]?.protocol === 'SSLv2') {
          // SSLv2-compatible ClientHello (RFC 5246 E.2): not a TLS record, so probeTls says no
          // and a session fed it anyway reports not_tls, as the brief allows.
          const { listener } = runSession(conn.chunks);
          assert.deepEqual(
            listener.violations().map((v) => [v.dir, v.reason]),
            [[0, TlsViolation.NOT_TLS]],
            where,
          );
        } else {
          // Joined mid-stream: no SYN, and the first client bytes are not a handshake record, so
          // the caller would never start a session (tshark still recognises TLS by the port).
          assert.equal(conn.sawSyn, false, `${where}: unparsed connection with a SYN`);
          const first = conn.chunks.find((c) => c.dir === 0)!.bytes!;
          assert.equal(probeTls(first, 0, first.length), 0, where);
        }
      }
      t.diagnostic(`${file}: ${parsed.length} connections parsed, ${notParsed.length} not TLS from the start, ${hellos} hellos, ${alerts} alerts`);
    });
  }
});

test('protocol violation: a corrupted Certificate length leaves an unregistered handshake type', async (t) => {
  const missing = tsharkMissing();
  if (missing !== undefined) {
    t.skip(`tshark not installed: ${missing}`);
    return;
  }
  // zeek-tls-tls1.2-protocol-violation.pcap is zeek-tls-tls1.2.pcap with two bytes changed: the
  // server's Certificate message length 0x000eef became 0x000100. The next "message header" is
  // then read from inside the certificate's DER: type 0x38 (56), which no registry knows.
  // tshark flags the same spot as malformed ("Vector length 3820 is too large").
  const file = 'zeek-tls-tls1.2-protocol-violation.pcap';
  const { parsed } = await load(file);
  assert.equal(parsed.length, 1);
  const { conn, frames } = parsed[0]!;
  const { listener } = runSession(conn.chunks);
  assert.deepEqual(
    listener.violations().map((v) => [v.dir, v.reason, v.detail]),
    [[1, TlsViolation.BAD_HANDSHAKE_MESSAGE, 'unknown handshake message type 56']],
  );
  assert.ok(
    frames.some((f) => f.src === conn.server && f.expert.some((m) => m.includes('too large'))),
    'tshark also finds the server flight malformed',
  );
  // Everything before the damage agrees with tshark.
  const ours = observationOf(listener.calls);
  const oracle = tsharkObservation(frames, conn.client);
  assert.deepEqual(ours.clientHellos, oracle.clientHellos);
  assert.deepEqual(ours.serverHellos, oracle.serverHellos);
  assert.equal(ours.serverHellos[0]!.selectedVersion, 0x0303);
});

test('STARTTLS: the IRC stream start is not TLS, the ClientHello after STARTTLS is', async () => {
  const conns = await readTcpConnections('zeek-tls-irc-starttls.pcap');
  const conn = conns.find((c) => c.chunks.length > 0)!;
  const first = conn.chunks[0]!.bytes!;
  assert.equal(probeTls(first, 0, first.length), 0);
  const start = tlsStartIndex(conn);
  assert.ok(start > 0);
  // Fed from the very start, the session sees "STARTTLS\r\n" where a record header should be.
  const { listener } = runSession(conn.chunks);
  assert.deepEqual(
    listener.violations().map((v) => [v.dir, v.reason, v.detail]),
    [[0, TlsViolation.NOT_TLS, 'stream starts with 53 54 41 52 54, not a TLS record header']],
  );
});

test('malformed ClientHellos: flagged exactly where tshark finds them malformed', async (t) => {
  const missing = tsharkMissing();
  if (missing !== undefined) {
    t.skip(`tshark not installed: ${missing}`);
    return;
  }
  // Five mid-stream ClientHellos; four have a cipher_suites, compression or extensions length
  // that does not fit (tshark: "Vector length 134 is too large", "1 trailing byte was
  // unprocessed", "Vector length 0 is smaller than minimum 1", ...).
  const file = 'ndpi-tls_cipher_lens.pcap';
  const { parsed } = await load(file);
  assert.equal(parsed.length, 5);
  let flagged = 0;
  for (const { conn, frames } of parsed) {
    const { listener } = runSession(conn.chunks);
    const tsharkMalformed = frames.some((f) => f.expert.length > 0);
    const ours = listener.violations().map((v) => [v.dir, v.reason]);
    assert.deepEqual(ours, tsharkMalformed ? [[0, TlsViolation.BAD_HANDSHAKE_MESSAGE]] : [], conn.client);
    if (!tsharkMalformed) assert.deepEqual(observationOf(listener.calls), tsharkObservation(frames, conn.client));
    if (tsharkMalformed) flagged++;
    t.diagnostic(`${conn.client}: ${listener.violations()[0]?.detail ?? 'well-formed'}`);
  }
  assert.equal(flagged, 4);
});
