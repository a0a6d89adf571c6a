/**
 * End-to-end tests of the TLS network events of SPEC 6 — 00003 (TLS handshake seen), 00004 (TLS
 * alert) and 00005 (TLS protocol not followed) — on real OpenSSL traffic: `openssl s_server` in
 * the server namespace of a bridged pair, `openssl s_client`, nc or a python client in the
 * client namespace, `dllt capture` on the client's host-side veth next to a reference tcpdump.
 * A throwaway CA and a server certificate for svc.dllt.test are made with `openssl req`/`x509`
 * when the file runs.
 *
 * Every scenario asserts the exact event records of the whole run (code, flow, side, value,
 * nodeIP), so a missing or an extra event is a failure, and the flow_end record's `tls` object.
 * tshark on the reference capture is the oracle: the client port (its SYN), the alert a peer
 * really sent (level and description as Wireshark names them, in RFC 8446 snake_case), whether
 * a ServerHello went by, and the frame time each event must carry. `dllt read` of the reference
 * capture with the same settings must give the same events (SPEC 6: detection runs on packet
 * time); its `ts` equals the oracle's frame time to the microsecond. The live run's `ts` may
 * differ from it by a few µs only: dllt's own tcpdump and the reference tcpdump hold separate
 * packet sockets, and unless some socket on the host asked for RX timestamps the kernel reads
 * the clock for each socket's copy of a packet separately.
 *
 * Traffic stays inside the lab's namespaces (10.77.X.0/24); every program is bounded in time.
 * Runs as root with tcpdump, tshark, python3, openssl and nc present and the CLI built; otherwise
 * each test prints why it is skipped.
 */
import { after, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { epochToUs, EventLab, eventKey, eventLabUnavailable, sleep, type LiveRun, type Records, labScenario } from './event-lab.js';
import { waitForTcpPort, type RunResult } from './netns.js';
import type { EventRecord, FlowRecord } from '../../src/record/records.js';

const skip = eventLabUnavailable(['openssl', 'nc']);

const SNI = 'svc.dllt.test';
/** In DLLT_TLS_PORTS by default. */
const TLS_PORT = 8443;
/** Not in DLLT_TLS_PORTS: garbage here is nobody's business. */
const PLAIN_PORT = 18443;
/** How far the live run's event time may be from the reference capture's frame time (see above). */
const LIVE_TS_SLACK_US = 1000;
const HTTP_GET = 'GET / HTTP/1.0\r\n\r\n';

// ---------------------------------------------------------------------------------------------
// Certificates: a CA the client may trust, a server certificate it signed, and an unrelated CA.

let pkiDir: string | undefined;
after(() => {
  if (pkiDir) rmSync(pkiDir, { recursive: true, force: true });
});

function pki(): string {
  if (pkiDir) return pkiDir;
  const dir = mkdtempSync(join(tmpdir(), 'dllt-tls-pki-'));
  pkiDir = dir;
  const openssl = (args: string[]): void => {
    execFileSync('timeout', ['20', 'openssl', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const caExt = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=dllt e2e test CA', ...caExt]);
  openssl(['req', '-x509', ...ec, '-keyout', 'other-ca.key', '-out', 'other-ca.crt', '-days', '2', '-subj', '/CN=dllt e2e unrelated CA', ...caExt]);
  openssl(['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${SNI}`]);
  writeFileSync(join(dir, 'server.ext'), `subjectAltName=DNS:${SNI}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'server.ext']);
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Programs in the namespaces.

/** `openssl s_server -www` on server:port with `extra` options; resolves once it accepts. */
async function startTlsServer(lab: EventLab, port: number, extra: string[] = []): Promise<void> {
  const { server } = lab.pair;
  const dir = pki();
  lab.lab.spawnIn(server.name, 'timeout', ['90', 'openssl', 's_server', '-accept', `${server.ipv4}:${port}`, '-cert', join(dir, 'server.crt'), '-key', join(dir, 'server.key'), '-www', ...extra], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  // Probed from inside the server namespace: over lo, not on the captured veth.
  await waitForTcpPort(lab.lab, server.name, server.ipv4, port);
}

/** `openssl s_client` to the server's TLS port with SNI svc.dllt.test, sending `input`. */
function sClient(lab: EventLab, extra: string[], input = HTTP_GET): Promise<RunResult> {
  const { client, server } = lab.pair;
  return lab.lab.runIn(client.name, 'timeout', ['10', 'openssl', 's_client', '-connect', `${server.ipv4}:${TLS_PORT}`, '-servername', SNI, '-ign_eof', ...extra], 15_000, input);
}

/** Accepts connections on argv[1]:argv[2] and reads them to the end without ever answering. */
const SILENT_SERVER_PY = `
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(8)
def drain(c):
    try:
        while c.recv(65536):
            pass
    finally:
        c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=drain, args=(c,), daemon=True).start()
`;

/**
 * A real ClientHello (Python's ssl module, SNI svc.dllt.test, made in memory) and then the
 * bytes of argv[3] (hex), in one send; waits for the peer to close (bounded). Prints the client
 * port and the ClientHello's length.
 */
const HELLO_THEN_PY = `
import socket, ssl, sys
ip, port, tail = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname='${SNI}')
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = outgoing.read()
s = socket.create_connection((ip, port), 5)
s.sendall(hello + tail)
s.shutdown(socket.SHUT_WR)
s.settimeout(3)
try:
    while s.recv(65536):
        pass
except OSError:
    pass
print(s.getsockname()[1], len(hello), flush=True)
s.close()
`;

// ---------------------------------------------------------------------------------------------
// The oracle: tshark on the reference capture.


/** Client ports of the connections opened to `port` (their SYNs), in capture order. */
function clientPorts(pcap: string, port: number): number[] {
  const text = execFileSync('tshark', ['-n', '-r', pcap, '-Y', `tcp.flags.syn == 1 && tcp.flags.ack == 0 && tcp.dstport == ${port}`, '-T', 'fields', '-e', 'tcp.srcport'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return [...new Set(text.split('\n').filter((l) => l.trim() !== '').map(Number))];
}

interface Frame {
  number: number;
  tsUs: number;
  src: string;
  srcPort: number;
  dstPort: number;
  tcpLen: number;
  /** TLS record content types in this frame (records that end in it). */
  recordTypes: number[];
  handshakeTypes: number[];
  /** Readable alerts, `level description` as Wireshark names them, snake_cased. */
  alerts: string[];
  info: string;
}

/** The TCP frames of the connection from `clientPort`, decoded with `port` as TLS. */
function framesOf(pcap: string, clientPort: number, port: number): Frame[] {
  const fields = ['frame.number', 'frame.time_epoch', 'ip.src', 'tcp.srcport', 'tcp.dstport', 'tcp.len', 'tls.record.content_type', 'tls.handshake.type', '_ws.col.Info'];
  const text = execFileSync('tshark', ['-n', '-r', pcap, '-d', `tcp.port==${port},tls`, '-Y', `tcp.port == ${clientPort}`, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const nums = (s: string | undefined): number[] => (s ? s.split(',').filter((x) => x !== '').map(Number) : []);
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [number, epoch, src, srcPort, dstPort, tcpLen, types, hs, info = ''] = line.split('\t');
      const alerts = [...info.matchAll(/Alert \(Level: (\w+), Description: ([^)]+)\)/g)].map(
        (m) => `${m[1]!.toLowerCase()} ${m[2]!.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_')}`,
      );
      return { number: Number(number), tsUs: epochToUs(epoch!), src: src!, srcPort: Number(srcPort), dstPort: Number(dstPort), tcpLen: Number(tcpLen), recordTypes: nums(types), handshakeTypes: nums(hs), alerts, info };
    });
}

function describeFrames(frames: Frame[]): string {
  return frames.map((f) => `  #${f.number} ${f.src}:${f.srcPort} len=${f.tcpLen} types=${f.recordTypes.join(',')} ${f.info}`).join('\n');
}

/** The one frame matching `pred`, with the capture shown when there is not exactly one. */
function oneFrame(frames: Frame[], pred: (f: Frame) => boolean, what: string): Frame {
  const hits = frames.filter(pred);
  assert.equal(hits.length, 1, `tshark: expected one frame with ${what}, got ${hits.length}:\n${describeFrames(frames)}`);
  return hits[0]!;
}

const CONTENT_ALERT = 21;
const HANDSHAKE_SERVER_HELLO = 2;

// ---------------------------------------------------------------------------------------------
// Assertions.

interface Tuple {
  srcIP: string;
  srcPort: number;
  dstIP: string;
  dstPort: number;
}

interface Expected {
  key: string;
  /** The reference capture's time of the frame that completes the condition. */
  tsUs: number;
}

/** eventKey() of the event we expect (nodeIP 1: DLLT_LOCAL_NETS is the server's /32). */
function expect(code: string, t: Tuple, side: 'src' | 'dst', value: string, tsUs: number): Expected {
  return { key: `${code} tcp ${t.srcIP}:${t.srcPort} > ${t.dstIP}:${t.dstPort} side=${side} value=${value} nodeIP=1`, tsUs };
}

function dump(events: EventRecord[]): string {
  return events.map((e) => `  ${e.ts} ${eventKey(e)}`).join('\n') || '  (none)';
}

/**
 * The live run's events are exactly `expected` (fields of eventKey, in file order); `dllt read`
 * of the reference capture with the same env gives the same list, at the oracle's frame times
 * exactly, and the live times are within LIVE_TS_SLACK_US of them.
 */
function assertEvents(lab: EventLab, run: LiveRun, live: Records, env: Record<string, string>, expected: Expected[], what: string): Records {
  const want = expected.map((e) => e.key);
  const shown = want.map((k) => `  ${k}`).join('\n') || '  (none)';
  assert.deepEqual(live.events.map(eventKey), want, `${what}, live: got\n${dump(live.events)}\nexpected\n${shown}`);
  const read = lab.readFile(run.refPcap, env);
  assert.deepEqual(read.events.map(eventKey), want, `${what}, dllt read of the reference capture: got\n${dump(read.events)}\nexpected\n${shown}`);
  expected.forEach((e, i) => {
    const r = read.events[i]!;
    const l = live.events[i]!;
    assert.equal(r.tsUs, e.tsUs, `${what}: dllt read's ${r.code} at ${r.ts} (${r.tsUs}), the reference capture's frame at ${e.tsUs}`);
    assert.ok(Math.abs(l.tsUs - r.tsUs) <= LIVE_TS_SLACK_US, `${what}: live ${l.code} at ${l.ts}, dllt read's at ${r.ts}: more than ${LIVE_TS_SLACK_US} µs apart`);
  });
  return read;
}

function flowEnd(records: Records, t: Tuple): FlowRecord {
  const hits = records.flows.filter((f) => f.type === 'flow_end' && f.proto === 'tcp' && f.srcIP === t.srcIP && f.srcPort === t.srcPort && f.dstIP === t.dstIP && f.dstPort === t.dstPort);
  assert.equal(hits.length, 1, `one flow_end for ${t.srcIP}:${t.srcPort} > ${t.dstIP}:${t.dstPort}: ${JSON.stringify(records.flows)}`);
  return hits[0]!;
}

function assertTls(records: Records, t: Tuple, want: FlowRecord['tls'], what: string): void {
  const f = flowEnd(records, t);
  assert.deepEqual(f.tls, want, `${what}: flow_end tls of ${t.srcIP}:${t.srcPort} > ${t.dstIP}:${t.dstPort}`);
}

function envFor(lab: EventLab, extra: Record<string, string> = {}): Record<string, string> {
  return { DLLT_LOCAL_NETS: `${lab.pair.server.ipv4}/32`, ...extra };
}

/** The single connection to `port` in the reference capture. */
function onlyConnection(lab: EventLab, run: LiveRun, port: number): Tuple {
  const ports = clientPorts(run.refPcap, port);
  assert.equal(ports.length, 1, `one connection to ${port} in the reference capture: ${ports.join(', ')}`);
  return { srcIP: lab.pair.client.ipv4, srcPort: ports[0]!, dstIP: lab.pair.server.ipv4, dstPort: port };
}

/** Let the last packets reach both captures, then stop dllt. */
async function stop(run: LiveRun): Promise<Records> {
  await sleep(300);
  return run.stop();
}

function scenario(name: string, body: (lab: EventLab, t: TestContext) => Promise<void>, timeout = 60_000): void {
  labScenario('events-tls', skip, name, body, timeout);
}

// ---------------------------------------------------------------------------------------------
// 00003

scenario('00003: a TLS 1.3 session the client verifies gives one 00003 (side dst, "TLSv1.3 svc.dllt.test") and no 00004/00005', async (lab, ctx) => {
  await startTlsServer(lab, TLS_PORT, ['-alpn', 'http/1.1']);
  const env = envFor(lab);
  const run = await lab.startCapture('tls13', env);
  const r = await sClient(lab, ['-CAfile', join(pki(), 'ca.crt'), '-verify_return_error', '-alpn', 'h2,http/1.1']);
  assert.equal(r.code, 0, `s_client: ${r.stderr}`);
  assert.match(r.stdout, /New, TLSv1\.3,/);
  assert.match(r.stdout, /Verify return code: 0 \(ok\)/);
  assert.match(r.stdout, /ALPN protocol: http\/1\.1/);
  assert.match(r.stdout, /HTTP\/1\.0 200 ok/);
  const live = await stop(run);

  const t = onlyConnection(lab, run, TLS_PORT);
  const frames = framesOf(run.refPcap, t.srcPort, TLS_PORT);
  const serverHello = oneFrame(frames, (f) => f.handshakeTypes.includes(HANDSHAKE_SERVER_HELLO), 'a ServerHello');
  // TLS 1.3 alerts (the close_notify included) travel as application_data: nothing is readable.
  assert.equal(frames.filter((f) => f.recordTypes.includes(CONTENT_ALERT)).length, 0, `no alert record in TLS 1.3:\n${describeFrames(frames)}`);
  let read: Records | undefined;
  await ctx.test('events: exactly one 00003, live and dllt read', () => {
    read = assertEvents(lab, run, live, env, [expect('00003', t, 'dst', `TLSv1.3 ${SNI}`, serverHello.tsUs)], 'TLS 1.3 session');
  });
  await ctx.test('flow_end tls: version and SNI, and no ALPN (the server\'s choice is in the encrypted EncryptedExtensions)', () => {
    // docs/records.md: `tls.alpn` is absent when no ALPN negotiation was seen. In TLS 1.3 the
    // server's choice (http/1.1) cannot be seen by a passive observer; the client's offer
    // ("h2,http/1.1") is not a negotiated protocol.
    for (const [what, records] of [['live', live], ['dllt read', read ?? lab.readFile(run.refPcap, env)]] as const) {
      assertTls(records, t, { version: 'TLSv1.3', sni: SNI }, `TLS 1.3 session (${what}): the negotiated ALPN is encrypted, so tls.alpn must be absent, not the client's offer`);
    }
  });
});

scenario('00003: a TLS 1.2 session gives one 00003 "TLSv1.2 svc.dllt.test"; its encrypted close_notify alerts raise no 00004 (tls.alert "encrypted")', async (lab) => {
  await startTlsServer(lab, TLS_PORT, ['-alpn', 'http/1.1']);
  const env = envFor(lab);
  const run = await lab.startCapture('tls12', env);
  const r = await sClient(lab, ['-tls1_2', '-CAfile', join(pki(), 'ca.crt'), '-verify_return_error', '-alpn', 'h2,http/1.1']);
  assert.equal(r.code, 0, `s_client: ${r.stderr}`);
  assert.match(r.stdout, /New, TLSv1\.2,/);
  assert.match(r.stdout, /Verify return code: 0 \(ok\)/);
  assert.match(r.stdout, /HTTP\/1\.0 200 ok/);
  const live = await stop(run);

  const t = onlyConnection(lab, run, TLS_PORT);
  const frames = framesOf(run.refPcap, t.srcPort, TLS_PORT);
  const serverHello = oneFrame(frames, (f) => f.handshakeTypes.includes(HANDSHAKE_SERVER_HELLO), 'a ServerHello');
  // Both sides close with close_notify, sent under the session keys after the data exchange:
  // alert records tshark cannot read. The session succeeded: no 00004 (and no 00005).
  const alertFrames = frames.filter((f) => f.recordTypes.includes(CONTENT_ALERT));
  assert.deepEqual(alertFrames.map((f) => [f.srcPort === t.srcPort ? 'client' : 'server', f.alerts.length]).sort(), [['client', 0], ['server', 0]], `two encrypted alerts:\n${describeFrames(frames)}`);
  const read = assertEvents(lab, run, live, env, [expect('00003', t, 'dst', `TLSv1.2 ${SNI}`, serverHello.tsUs)], 'TLS 1.2 session closed normally');
  // TLS 1.2 carries the server's ALPN choice in the plaintext ServerHello.
  for (const [what, records] of [['live', live], ['dllt read', read]] as const) {
    assertTls(records, t, { version: 'TLSv1.2', sni: SNI, alpn: 'http/1.1', alert: 'encrypted' }, `TLS 1.2 session (${what})`);
  }
});

scenario('00003 off: with DLLT_TLS_EVENTS=N a TLS session raises no event, and the flow record still has its tls', async (lab) => {
  await startTlsServer(lab, TLS_PORT);
  const env = envFor(lab, { DLLT_TLS_EVENTS: 'N' });
  const run = await lab.startCapture('tls-events-off', env);
  const r = await sClient(lab, ['-CAfile', join(pki(), 'ca.crt'), '-verify_return_error']);
  assert.equal(r.code, 0, `s_client: ${r.stderr}`);
  assert.match(r.stdout, /New, TLSv1\.3,/);
  const live = await stop(run);

  const t = onlyConnection(lab, run, TLS_PORT);
  oneFrame(framesOf(run.refPcap, t.srcPort, TLS_PORT), (f) => f.handshakeTypes.includes(HANDSHAKE_SERVER_HELLO), 'a ServerHello');
  const read = assertEvents(lab, run, live, env, [], 'TLS 1.3 session with DLLT_TLS_EVENTS=N');
  for (const records of [live, read]) assertTls(records, t, { version: 'TLSv1.3', sni: SNI }, 'DLLT_TLS_EVENTS=N');
});

// ---------------------------------------------------------------------------------------------
// 00004

scenario('00004: a TLS 1.2 client that does not trust the server certificate sends a plaintext fatal alert: one 00004 side src, after the 00003', async (lab) => {
  await startTlsServer(lab, TLS_PORT);
  const env = envFor(lab);
  const run = await lab.startCapture('cert-refused', env);
  // Trusts only an unrelated CA; before its change_cipher_spec, so the alert is plaintext.
  const r = await sClient(lab, ['-tls1_2', '-CAfile', join(pki(), 'other-ca.crt'), '-verify_return_error'], '');
  assert.notEqual(r.code, 0, `s_client must refuse the certificate: ${r.stdout}`);
  assert.match(r.stderr, /certificate verify failed/);
  const live = await stop(run);

  const t = onlyConnection(lab, run, TLS_PORT);
  const frames = framesOf(run.refPcap, t.srcPort, TLS_PORT);
  const serverHello = oneFrame(frames, (f) => f.handshakeTypes.includes(HANDSHAKE_SERVER_HELLO), 'a ServerHello');
  const alert = oneFrame(frames, (f) => f.recordTypes.includes(CONTENT_ALERT), 'an alert record');
  assert.equal(alert.srcPort, t.srcPort, 'the client sends the alert');
  assert.equal(alert.alerts.length, 1, `a readable alert: ${alert.info}`);
  const value = alert.alerts[0]!;
  // OpenSSL's answer to an unknown issuer (RFC 8446 6.2: unknown_ca).
  assert.equal(value, 'fatal unknown_ca', `tshark: ${alert.info}`);
  const read = assertEvents(lab, run, live, env, [expect('00003', t, 'dst', `TLSv1.2 ${SNI}`, serverHello.tsUs), expect('00004', t, 'src', value, alert.tsUs)], 'certificate refused');
  for (const records of [live, read]) assertTls(records, t, { version: 'TLSv1.2', sni: SNI, alert: value }, 'certificate refused');
});

scenario('00004: a TLS 1.3-only client meets a TLS 1.2-only server, which answers with a plaintext fatal protocol_version: one 00004 side dst, no 00003', async (lab) => {
  await startTlsServer(lab, TLS_PORT, ['-tls1_2']);
  const env = envFor(lab);
  const run = await lab.startCapture('version-mismatch', env);
  const r = await sClient(lab, ['-tls1_3'], '');
  assert.notEqual(r.code, 0, `s_client must fail: ${r.stdout}`);
  assert.match(r.stderr, /alert protocol version/);
  const live = await stop(run);

  const t = onlyConnection(lab, run, TLS_PORT);
  const frames = framesOf(run.refPcap, t.srcPort, TLS_PORT);
  assert.equal(frames.filter((f) => f.handshakeTypes.includes(HANDSHAKE_SERVER_HELLO)).length, 0, `no ServerHello:\n${describeFrames(frames)}`);
  const alert = oneFrame(frames, (f) => f.recordTypes.includes(CONTENT_ALERT), 'an alert record');
  assert.equal(alert.srcPort, TLS_PORT, 'the server sends the alert');
  assert.equal(alert.alerts.length, 1, `a readable alert: ${alert.info}`);
  const value = alert.alerts[0]!;
  assert.equal(value, 'fatal protocol_version', `tshark: ${alert.info}`);
  const read = assertEvents(lab, run, live, env, [expect('00004', t, 'dst', value, alert.tsUs)], 'version mismatch');
  // No ServerHello, so no negotiated version.
  for (const records of [live, read]) assertTls(records, t, { sni: SNI, alert: value }, 'version mismatch');
});

// ---------------------------------------------------------------------------------------------
// 00005

scenario('00005: non-TLS bytes to a TLS port give one 00005 side src "not_tls"; the same bytes to a port outside DLLT_TLS_PORTS give nothing', async (lab) => {
  await startTlsServer(lab, TLS_PORT);
  await startTlsServer(lab, PLAIN_PORT);
  const env = envFor(lab);
  const run = await lab.startCapture('garbage', env);
  const { client, server } = lab.pair;
  for (const port of [TLS_PORT, PLAIN_PORT]) {
    const r = await lab.lab.runIn(client.name, 'bash', ['-c', `printf 'GARBAGE\\r\\n\\r\\n' | timeout 10 nc -q1 ${server.ipv4} ${port}`], 15_000);
    assert.equal(r.code, 0, `nc to ${port}: ${r.stderr}`);
  }
  const live = await stop(run);

  const t = onlyConnection(lab, run, TLS_PORT);
  const plain = onlyConnection(lab, run, PLAIN_PORT);
  const frames = framesOf(run.refPcap, t.srcPort, TLS_PORT);
  const garbage = oneFrame(frames, (f) => f.tcpLen > 0 && f.srcPort === t.srcPort, 'client payload');
  assert.equal(garbage.tcpLen, 'GARBAGE\r\n\r\n'.length);
  assert.equal(frames.filter((f) => f.tcpLen > 0 && f.srcPort === TLS_PORT).length, 0, `the server answers nothing:\n${describeFrames(frames)}`);
  const read = assertEvents(lab, run, live, env, [expect('00005', t, 'src', 'not_tls', garbage.tsUs)], 'garbage on a TLS port');
  for (const records of [live, read]) {
    assert.equal(flowEnd(records, t).tls, undefined, 'no TLS seen on the garbage flow');
    assert.equal(flowEnd(records, plain).tls, undefined, 'no TLS seen on the plain-port flow');
  }
});

scenario('00005: a real ClientHello followed by a record of content type 0x63 gives one 00005 side src "bad_record_type" (and no 00003: no ServerHello)', async (lab) => {
  const { client, server } = lab.pair;
  // A server that never answers: the client's bytes are the whole TLS conversation.
  lab.lab.spawnIn(server.name, 'timeout', ['90', 'python3', '-c', SILENT_SERVER_PY, server.ipv4, String(TLS_PORT)], { stdio: ['ignore', 'ignore', 'ignore'] });
  await waitForTcpPort(lab.lab, server.name, server.ipv4, TLS_PORT);
  const env = envFor(lab);
  const run = await lab.startCapture('bad-record-type', env);
  // After the handshake record, a record header whose content type is 99: version 3.3 and
  // length 2 are valid, the type is not one of TLS's (20..24, RFC 8446 5.1 / RFC 5246 6.2.1).
  // The stream did start as TLS (so not not_tls) and the bad header is caught before any
  // handshake ordering question arises: the violation is bad_record_type.
  const r = await lab.lab.runIn(client.name, 'timeout', ['10', 'python3', '-c', HELLO_THEN_PY, server.ipv4, String(TLS_PORT), '63030300020100'], 15_000);
  assert.equal(r.code, 0, `client: ${r.stderr}`);
  const [port, helloLen] = r.stdout.trim().split(/\s+/).map(Number);
  const live = await stop(run);

  const t = onlyConnection(lab, run, TLS_PORT);
  assert.equal(t.srcPort, port);
  const frames = framesOf(run.refPcap, t.srcPort, TLS_PORT);
  // One segment carries the ClientHello and the bad record (tshark: the hello decodes).
  const segment = oneFrame(frames, (f) => f.tcpLen > 0 && f.srcPort === t.srcPort, 'client payload');
  assert.equal(segment.tcpLen, helloLen! + 7, `ClientHello (${helloLen} bytes) and the 7-byte record in one segment`);
  assert.ok(segment.handshakeTypes.includes(1), `tshark reads the ClientHello: ${segment.info}`);
  const read = assertEvents(lab, run, live, env, [expect('00005', t, 'src', 'bad_record_type', segment.tsUs)], 'ClientHello then a bad record type');
  // The ClientHello was read before the violation: its SNI is known, no version was negotiated.
  for (const records of [live, read]) assertTls(records, t, { sni: SNI }, 'ClientHello then a bad record type');
});
