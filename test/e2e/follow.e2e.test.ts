/**
 * End-to-end tests of following connections into pcap files (SPEC 7): real curl and python3
 * clients and servers in a bridged pair of namespaces, `dllt capture` on the client's host-side
 * veth next to a reference tcpdump. Each follow pcap is checked with tshark against the
 * reference capture (same packets of that connection, from its SYN), and `dllt read` of the
 * reference capture must produce the same pcaps.
 *
 * Runs as root with tcpdump, tshark, python3 and curl; otherwise each test prints why it is
 * skipped. Traffic stays in the lab's namespaces (10.77.X.0/24).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventLab, eventLabUnavailable, sleep, waitFor, type Records, labScenario } from './event-lab.js';
import { waitForTcpPort } from './netns.js';

const skip = eventLabUnavailable(['curl']);

const HTTP_PORT = 8080;
const RST_PORT = 9300;
const PG_PORT = 5432;
const OTHER_PORT = 9090;
const HOLD_PORT = 7000;

/** Closing flows leave the table 1 s after their FIN/RST, so pcaps of closed connections are
 *  written during the run rather than at SIGTERM. */
const BASE_ENV: Record<string, string> = { DLLT_TCP_CLOSING_S: '1', DLLT_STATS_INTERVAL_S: '1' };

/** Answers one request head, with an `X-Trace-Id` header in the response when asked (`trace`),
 *  and closes with RST (SO_LINGER 0) when asked (`rst`): the RST makes a 00002 event, so the
 *  AVOID_LIVENESS_PROBE test can show that an ignored connection raises none. */
const SERVER_PY = `
import socket, struct, sys, threading
ip, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((ip, port))
ls.listen(64)
def serve(c):
    got = b""
    while b"\\r\\n\\r\\n" not in got:
        d = c.recv(4096)
        if not d:
            break
        got += d
    extra = b"X-Trace-Id: t1\\r\\n" if mode == "trace" else b""
    c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 2\\r\\n" + extra + b"\\r\\nok")
    if mode == "rst":
        c.recv(100)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** A client from a fixed source port: `split` writes the request head in two sends (the header
 *  name cut in half) with TCP_NODELAY; `hold` sends a little and keeps the connection open. */
const CLIENT_PY = `
import socket, sys, time
cip, cport, sip, sport, mode, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.bind((cip, cport))
s.settimeout(20)
s.connect((sip, sport))
if mode == "split":
    s.sendall(b"GET /split HTTP/1.1\\r\\nHost: server\\r\\nX-Tra")
    time.sleep(0.3)
    s.sendall(b"ce-Id: t1\\r\\nAccept: */*\\r\\n\\r\\n")
    print("got", s.recv(200), flush=True)
else:
    s.sendall(b"hello\\n")
    time.sleep(hold)
    s.sendall(b"bye\\n")
s.close()
print("done", flush=True)
`;

function scenario(name: string, body: (lab: EventLab) => Promise<void>, timeout = 60_000): void {
  labScenario('follow', skip, name, body, timeout);
}

function followPcaps(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith('follow_') && f.endsWith('.pcap')).sort();
}

/** One line per frame of a TCP connection (by the client's port), as tshark reads it: length,
 *  ports, flags, raw sequence and acknowledgment numbers, IP id. The comparison key between a
 *  follow pcap and the reference capture; times are left out because dllt's tcpdump and the
 *  reference tcpdump are two packet sockets, each stamped by the kernel on its own (they differ
 *  by a microsecond or so). */
function tcpFrames(pcap: string, clientPort: number, serverPort: number): string[] {
  return tsharkFields(pcap, clientPort, serverPort, ['frame.len', 'tcp.srcport', 'tcp.dstport', 'tcp.flags', 'tcp.seq_raw', 'tcp.ack_raw', 'ip.id']);
}

/** Frame times (s since the epoch) of the connection from `clientPort`. */
function frameTimes(pcap: string, clientPort: number, serverPort: number): number[] {
  return tsharkFields(pcap, clientPort, serverPort, ['frame.time_epoch']).map(Number);
}

function tsharkFields(pcap: string, clientPort: number, serverPort: number, fields: string[]): string[] {
  const out = execFileSync('tshark', ['-n', '-r', pcap, '-Y', `tcp.port == ${clientPort} && tcp.port == ${serverPort}`, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out.split('\n').filter((l) => l !== '');
}

/** tshark's complaints about a file (a cut-short or malformed pcap), without its root notice. */
function tsharkWarnings(pcap: string): string {
  const r = spawnSync('tshark', ['-n', '-r', pcap], { encoding: 'utf8' });
  assert.equal(r.status, 0, `tshark -r ${pcap}: ${r.stderr}`);
  return r.stderr.split('\n').filter((l) => l.trim() !== '' && !/Running as user/.test(l)).join('\n');
}

function notifsOf(records: Records, kind: string): Records['notifs'] {
  return records.notifs.filter((n) => n.kind === kind);
}

async function pyClient(lab: EventLab, cport: number, sport: number, mode: string, holdS = 0): Promise<string> {
  const { client, server } = lab.pair;
  const r = await lab.lab.runIn(client.name, 'python3', ['-c', CLIENT_PY, client.ipv4, String(cport), server.ipv4, String(sport), mode, String(holdS)], 30_000);
  assert.equal(r.code, 0, `client ${mode}: ${r.stdout} ${r.stderr}`);
  return r.stdout;
}

async function curl(lab: EventLab, args: string[]): Promise<void> {
  const r = await lab.lab.runIn(lab.pair.client.name, 'curl', ['-sS', '-o', '/dev/null', '--max-time', '10', ...args], 15_000);
  assert.equal(r.code, 0, `curl ${args.join(' ')}: ${r.stderr}`);
}

async function startServer(lab: EventLab, port: number, mode: string): Promise<void> {
  const { server } = lab.pair;
  lab.lab.spawnIn(server.name, 'python3', ['-c', SERVER_PY, server.ipv4, String(port), mode]);
  await waitForTcpPort(lab.lab, server.name, server.ipv4, port);
}

async function startHttpServer(lab: EventLab, port: number, files: Record<string, Buffer | string> = {}): Promise<void> {
  const { server } = lab.pair;
  const www = join(lab.tmp, `www-${port}`);
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'index.html'), 'hello\n');
  for (const [name, content] of Object.entries(files)) writeFileSync(join(www, name), content);
  lab.lab.spawnIn(server.name, 'python3', ['-m', 'http.server', String(port), '--bind', server.ipv4, '--directory', www]);
  await waitForTcpPort(lab.lab, server.name, server.ipv4, port);
}

/** Every frame of `part` is a frame of `whole` (as multisets). */
function assertSubset(part: string[], whole: string[]): void {
  const left = new Map<string, number>();
  for (const f of whole) left.set(f, (left.get(f) ?? 0) + 1);
  for (const f of part) {
    const n = left.get(f) ?? 0;
    assert.ok(n > 0, `frame not in the reference capture: ${f}`);
    left.set(f, n - 1);
  }
}

/** The follow pcap's frames are the reference capture's frames of that connection, from its SYN. */
function assertWholeConnection(pcap: string, refPcap: string, clientPort: number, serverPort: number): void {
  const followed = tcpFrames(pcap, clientPort, serverPort);
  const reference = tcpFrames(refPcap, clientPort, serverPort);
  assert.ok(followed.length >= 5, `${pcap}: only ${followed.length} frames`);
  // As multisets: two packet sockets may see an ACK and a data segment sent the same
  // microsecond in either order.
  assert.deepEqual([...followed].sort(), [...reference].sort(), `${pcap}: frames differ from the reference capture's connection`);
  const [first] = followed;
  const [, src, , flags] = first!.split('\t');
  assert.equal(Number(src), clientPort, 'first packet comes from the client');
  assert.equal(Number(flags) & 0x12, 0x02, 'first packet is the SYN');
  assert.equal(tsharkWarnings(pcap), '', `${pcap}: tshark warnings`);
  assert.equal(statSync(pcap).mode & 0o777, 0o600, `${pcap}: mode 0600`);
}

scenario('SEARCH_HTTP_HEADER follows one curl from its SYN; a kube-probe request with the header is neither followed nor raises events', async (lab) => {
  await startHttpServer(lab, HTTP_PORT);
  await startServer(lab, RST_PORT, 'rst');
  const server = lab.pair.server.ipv4;
  const env = { ...BASE_ENV, SEARCH_HTTP_HEADER: 'X-Trace-Id', AVOID_LIVENESS_PROBE: 'User-Agent: kube-probe', DLLT_AVOID_KUBE_PROBES: 'N' };
  const run = await lab.startCapture('header', env);
  const traced = 41001;
  const plain = 41002;
  const probe = 41003;
  const control = 41004;
  await curl(lab, ['--local-port', String(traced), '-H', 'X-Trace-Id: t1', `http://${server}:${HTTP_PORT}/index.html`]);
  await curl(lab, ['--local-port', String(plain), `http://${server}:${HTTP_PORT}/index.html`]);
  // Both go to the server that resets: the probe must raise nothing, the control a 00002.
  await curl(lab, ['--local-port', String(probe), '-A', 'kube-probe/1.29', '-H', 'X-Trace-Id: t1', `http://${server}:${RST_PORT}/healthz`]).catch(() => undefined);
  await curl(lab, ['--local-port', String(control), '-H', 'X-Trace-Id: t1', `http://${server}:${RST_PORT}/healthz`]).catch(() => undefined);
  await sleep(2500);
  const live = await run.stop();

  const pcaps = followPcaps(run.dir);
  assert.equal(pcaps.length, 2, `follow pcaps: ${pcaps.join(', ')}`);
  const tracedPcap = pcaps.find((p) => p.includes(`_${traced}_`));
  assert.ok(tracedPcap, `no pcap for the traced curl: ${pcaps.join(', ')}`);
  assert.ok(pcaps.some((p) => p.includes(`_${control}_`)), 'the control request (no probe agent) is followed');
  assert.match(tracedPcap, new RegExp(`^follow_\\d{4}(_\\d\\d){5}_tcp_${lab.pair.client.ipv4.replaceAll('.', '\\.')}_${traced}_${server.replaceAll('.', '\\.')}_${HTTP_PORT}\\.pcap$`));
  const path = join(run.dir, tracedPcap);
  assertWholeConnection(path, run.refPcap, traced, HTTP_PORT);
  const request = execFileSync('tshark', ['-n', '-r', path, '-Y', 'http.request', '-T', 'fields', '-e', 'http.request.line'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  assert.match(request, /X-Trace-Id: t1/);

  const written = notifsOf(live, 'follow_written').map((n) => n as unknown as { path: string; packets: number; truncated: boolean });
  const tracedNote = written.find((n) => n.path === path);
  assert.ok(tracedNote, `log_notif names ${path}`);
  assert.equal(tracedNote.packets, tcpFrames(path, traced, HTTP_PORT).length);
  assert.equal(tracedNote.truncated, false);

  const probeEvents = live.events.filter((e) => e.srcPort === probe);
  const controlEvents = live.events.filter((e) => e.srcPort === control).map((e) => e.code);
  assert.deepEqual(probeEvents, [], 'the probe connection raises no events');
  assert.ok(controlEvents.includes('00002'), `the control connection raises 00002: ${controlEvents.join(',')}`);

  const replay = lab.readFile(run.refPcap, env);
  assert.deepEqual(followPcaps(replay.dir), pcaps, 'dllt read of the reference capture writes the same pcaps');
  assert.deepEqual(tcpFrames(join(replay.dir, tracedPcap), traced, HTTP_PORT), tcpFrames(path, traced, HTTP_PORT));
});

scenario('a header split across two TCP segments is found; the same header in the response is not', async (lab) => {
  await startServer(lab, HTTP_PORT, 'trace');
  const env = { ...BASE_ENV, SEARCH_HTTP_HEADER: 'x-trace-id: t1' };
  const run = await lab.startCapture('split', env);
  const split = 42001;
  const responseOnly = 42002;
  assert.match(await pyClient(lab, split, HTTP_PORT, 'split'), /got b'HTTP\/1.0 200/);
  await curl(lab, ['--local-port', String(responseOnly), `http://${lab.pair.server.ipv4}:${HTTP_PORT}/`]);
  await sleep(2500);
  await run.stop();

  const clientSegments = execFileSync('tshark', ['-n', '-r', run.refPcap, '-Y', `tcp.srcport == ${split} && tcp.len > 0`, '-T', 'fields', '-e', 'tcp.len'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  assert.equal(clientSegments.trim().split('\n').length, 2, 'the request went out in two segments');
  const pcaps = followPcaps(run.dir);
  assert.equal(pcaps.length, 1, `follow pcaps: ${pcaps.join(', ')}`);
  assert.ok(pcaps[0]!.includes(`_${split}_`));
  assertWholeConnection(join(run.dir, pcaps[0]!), run.refPcap, split, HTTP_PORT);
});

scenario('FOLLOW_PORT=8080,5432 follows both ports as destination and as source; another port is not followed', async (lab) => {
  await startHttpServer(lab, HTTP_PORT);
  await startServer(lab, PG_PORT, 'plain');
  await startServer(lab, OTHER_PORT, 'plain');
  const env = { ...BASE_ENV, FOLLOW_PORT: `${HTTP_PORT},${PG_PORT}` };
  const run = await lab.startCapture('ports', env);
  const toHttp = 43001;
  const toPg = 43002;
  const unrelated = 43003;
  await curl(lab, ['--local-port', String(toHttp), `http://${lab.pair.server.ipv4}:${HTTP_PORT}/index.html`]);
  await pyClient(lab, toPg, PG_PORT, 'hold', 0.2);
  await pyClient(lab, unrelated, OTHER_PORT, 'hold', 0.2);
  // The followed port as the client's source port.
  await pyClient(lab, PG_PORT, OTHER_PORT, 'hold', 0.2);
  await sleep(2500);
  await run.stop();

  const pcaps = followPcaps(run.dir);
  const has = (a: number, b: number): boolean => pcaps.some((p) => p.includes(`_${a}_`) && p.endsWith(`_${b}.pcap`));
  assert.equal(pcaps.length, 3, `follow pcaps: ${pcaps.join(', ')}`);
  assert.ok(has(toHttp, HTTP_PORT) && has(toPg, PG_PORT) && has(PG_PORT, OTHER_PORT), pcaps.join(', '));
  for (const p of pcaps) {
    const [, clientPort, serverPort] = /_tcp_[\d.]+_(\d+)_[\d.]+_(\d+)\.pcap$/.exec(p)!;
    assertWholeConnection(join(run.dir, p), run.refPcap, Number(clientPort), Number(serverPort));
  }
});

scenario('a follow is written DLLT_FOLLOW_DELAY_S after the match while its connection stays open, at the end of a shorter one, and at SIGTERM', async (lab) => {
  await startServer(lab, HOLD_PORT, 'plain');
  const delayS = 2;
  const env = { ...BASE_ENV, FOLLOW_PORT: String(HOLD_PORT), DLLT_FOLLOW_DELAY_S: String(delayS) };
  const run = await lab.startCapture('delay', env);
  const held = 44001;
  const short = 44002;
  const atExit = 44003;
  const heldClient = pyClient(lab, held, HOLD_PORT, 'hold', 5);
  await pyClient(lab, short, HOLD_PORT, 'hold', 0.2);
  const heldName = (): string | undefined => followPcaps(run.dir).find((p) => p.includes(`_${held}_`));
  await waitFor(() => heldName() !== undefined, 'the held connection\'s pcap', 4_500);
  const shortName = followPcaps(run.dir).find((p) => p.includes(`_${short}_`));
  assert.ok(shortName, 'the short connection\'s pcap is written at its end, before the delay');
  await heldClient;
  const exitClient = pyClient(lab, atExit, HOLD_PORT, 'hold', 8);
  await sleep(800);
  const live = await run.stop();
  await exitClient;

  const heldPcap = join(run.dir, heldName()!);
  const frames = tcpFrames(heldPcap, held, HOLD_PORT);
  const reference = tcpFrames(run.refPcap, held, HOLD_PORT);
  assert.ok(frames.length >= 3 && frames.length < reference.length, `held connection: ${frames.length} of ${reference.length} frames`);
  assertSubset(frames, reference);
  const times = frameTimes(heldPcap, held, HOLD_PORT);
  const refTimes = frameTimes(run.refPcap, held, HOLD_PORT);
  assert.ok(times.at(-1)! - times[0]! < delayS, 'nothing after the deadline');
  assert.ok(refTimes[frames.length]! - refTimes[0]! >= delayS - 0.001, 'the next frame is past the deadline');
  assertWholeConnection(join(run.dir, shortName), run.refPcap, short, HOLD_PORT);
  const exitName = followPcaps(run.dir).find((p) => p.includes(`_${atExit}_`));
  assert.ok(exitName, 'the follow running at SIGTERM is written');
  const notes = notifsOf(live, 'follow_written').map((n) => n.message);
  assert.ok(notes.some((m) => m.includes(heldName()!) && m.includes(`${delayS} s after the match`)), notes.join('\n'));
  assert.ok(notes.some((m) => m.includes(exitName) && m.includes('shutdown')), notes.join('\n'));
  assert.equal(existsSync(run.dir) && readdirSync(run.dir).filter((f) => f.endsWith('.tmp')).length, 0, 'no temp files left');
});

scenario('DLLT_FOLLOW_MAX_FILE_MB=1 stops a 5 MiB transfer\'s pcap at 1 MiB, still valid, and log_notif says it was truncated', async (lab) => {
  await startHttpServer(lab, HTTP_PORT, { 'big.bin': Buffer.alloc(5 * 1024 * 1024, 7) });
  const env = { ...BASE_ENV, FOLLOW_PORT: String(HTTP_PORT), DLLT_FOLLOW_MAX_FILE_MB: '1' };
  const run = await lab.startCapture('cap', env);
  const cport = 45001;
  await curl(lab, ['--local-port', String(cport), `http://${lab.pair.server.ipv4}:${HTTP_PORT}/big.bin`]);
  await sleep(2500);
  const live = await run.stop();

  const pcaps = followPcaps(run.dir);
  assert.equal(pcaps.length, 1, pcaps.join(', '));
  const path = join(run.dir, pcaps[0]!);
  const size = statSync(path).size;
  assert.ok(size <= 1024 * 1024 && size > 900 * 1024, `pcap size ${size}`);
  assert.equal(tsharkWarnings(path), '');
  const frames = tcpFrames(path, cport, HTTP_PORT);
  const reference = tcpFrames(run.refPcap, cport, HTTP_PORT);
  assert.equal(Number(frames[0]!.split('\t')[3]) & 0x12, 0x02, 'the pcap starts at the SYN');
  assert.ok(frames.length < reference.length / 2, `${frames.length} of ${reference.length} frames kept`);
  assertSubset(frames, reference);
  const note = notifsOf(live, 'follow_written')[0] as unknown as { level: string; truncated: boolean; packets: number; message: string };
  assert.equal(note.level, 'warn');
  assert.equal(note.truncated, true);
  assert.equal(note.packets, frames.length);
  assert.match(note.message, /truncated/);
});
