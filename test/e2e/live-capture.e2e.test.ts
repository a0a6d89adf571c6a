/**
 * Acceptance test for `dllt capture`: real client and server programs in namespaces of our
 * own, dllt capturing on the client's host-side veth by ifindex next to a reference tcpdump on
 * the same interface, then dllt's end_flows compared flow by flow with what tshark computes
 * from the reference capture.
 *
 * Runs as root with tcpdump, tshark, curl, nc and python3 present and the CLI built; otherwise it
 * prints why it is skipped.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NetnsLab, collect, labUnavailableReason, waitForTcpPort, type BridgedPair } from './netns.js';
import { convTable, directionTotals } from './tshark-conv.js';

const CLI = resolve('dist/app/main.js');
const HTTP_REQUESTS = 12;
const UDP_EXCHANGES = 3;
const HTTP_PORT = 18080;
const UDP_PORT = 17777;
const HOLD_PORT = 19090;

function skipReason(): string | undefined {
  const lab = labUnavailableReason(['tcpdump', 'tshark', 'curl', 'nc', 'python3']);
  if (lab) return lab;
  if (!existsSync(CLI)) return `${CLI} is not built (run npm run build)`;
  return undefined;
}
const skip = skipReason();
if (skip) console.log(`# e2e live capture skipped: ${skip}`);

/** UDP echo and a TCP server that answers once and then keeps the connection open. */
const SERVER_PY = `
import socket, threading, sys
ip = sys.argv[1]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((ip, ${UDP_PORT}))
def udp():
    while True:
        data, peer = u.recvfrom(65535)
        u.sendto(data, peer)
threading.Thread(target=udp, daemon=True).start()
t = socket.socket()
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((ip, ${HOLD_PORT}))
t.listen(8)
held = []
while True:
    c, _ = t.accept()
    c.sendall(c.recv(100))
    held.append(c)
`;

/** Connects, exchanges one message, then idles until killed (the lab kills it at cleanup). */
const HOLD_CLIENT_PY = `
import socket, sys, time
s = socket.create_connection((sys.argv[1], ${HOLD_PORT}), 5)
s.sendall(b"hello")
s.recv(100)
print("held", s.getsockname()[1], flush=True)
time.sleep(600)
`;

/** Packet sockets bound to an ifindex in this namespace (/proc/net/packet's Iface column). */
function packetSocketsOn(ifindex: number): number {
  const lines = readFileSync('/proc/net/packet', 'utf8').trim().split('\n').slice(1);
  return lines.filter((l) => Number(l.trim().split(/\s+/)[4]) === ifindex).length;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface FlowLine {
  proto: string;
  srcIP: string;
  srcPort: number;
  dstIP: string;
  dstPort: number;
  srcPkts: number;
  srcBytes: number;
  dstPkts: number;
  dstBytes: number;
  connState?: string;
  history?: string;
  endReason?: string;
}

function readEndFlows(out: string, ifindex: number): FlowLine[] {
  const dir = join(out, 'logs', `dllt${ifindex}`);
  const files = readdirSync(dir).filter((f) => f.startsWith('end_flows_'));
  assert.equal(files.length, 1, `one end_flows file expected in ${dir}: ${files.join(', ')}`);
  return readFileSync(join(dir, files[0]!), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as FlowLine);
}

let lab: NetnsLab | undefined;
let tmp: string | undefined;
let passed = false;
after(() => {
  lab?.cleanup();
  // A failed run keeps ref.pcap and dllt's logs for inspection.
  if (tmp && passed) rmSync(tmp, { recursive: true, force: true });
  else if (tmp) console.log(`# e2e artifacts kept in ${tmp}`);
});

test('dllt capture on a live veth matches tshark flow by flow; SIGTERM flushes the open connection', { skip, timeout: 120_000 }, async () => {
  lab = new NetnsLab();
  tmp = mkdtempSync(join(tmpdir(), 'dllt-e2e-'));
  const out = join(tmp, 'out');
  const www = join(tmp, 'www');
  mkdirSync(www);
  // Big enough for a multi-segment response, so byte counts cover real data transfer.
  writeFileSync(join(www, 'index.html'), 'dllt e2e '.repeat(2000));
  const pair: BridgedPair = lab.bridgedPair();
  const { client, server } = pair;

  lab.spawnIn(server.name, 'python3', ['-m', 'http.server', String(HTTP_PORT), '--bind', server.ipv4, '--directory', www]);
  lab.spawnIn(server.name, 'python3', ['-c', SERVER_PY, server.ipv4]);
  // Probed from inside the server namespace: own-address traffic goes over lo, not the veth.
  await waitForTcpPort(lab, server.name, server.ipv4, HTTP_PORT);
  await waitForTcpPort(lab, server.name, server.ipv4, HOLD_PORT);

  const refPcap = join(tmp, 'ref.pcap');
  const ref = lab.spawnHost('tcpdump', ['-i', pair.hostIf, '-U', '-n', '-p', '-s', '0', '-w', refPcap]);
  const dllt = lab.spawnHost(process.execPath, [CLI, 'capture', '--ifindex', String(pair.hostIndex), '--out', out], {
    env: { ...process.env, DLLT_STATS_INTERVAL_S: '1' },
  });
  const dlltDone = collect(dllt, 60_000);
  // Both captures hold a packet socket on the interface once they are receiving.
  await waitFor(() => packetSocketsOn(pair.hostIndex) >= 2, 'tcpdump and dllt to open the interface');
  await new Promise((r) => setTimeout(r, 500));

  const curl = await lab.runIn(client.name, 'bash', ['-c',
    `for i in $(seq ${HTTP_REQUESTS}); do curl -sS -o /dev/null --max-time 5 http://${server.ipv4}:${HTTP_PORT}/ || exit 1; done`], 90_000);
  assert.equal(curl.code, 0, `curl: ${curl.stderr}`);
  for (let i = 0; i < UDP_EXCHANGES; i++) {
    const r = await lab.runIn(client.name, 'bash', ['-c', `(echo udp-${i}; sleep 0.3) | nc -u -w 1 ${server.ipv4} ${UDP_PORT}`], 10_000);
    assert.ok(r.stdout.includes(`udp-${i}`), `UDP echo ${i}: ${JSON.stringify(r)}`);
  }
  const holder = lab.spawnIn(client.name, 'python3', ['-u', '-c', HOLD_CLIENT_PY, server.ipv4]);
  const heldPort = await new Promise<number>((res, rej) => {
    let text = '';
    holder.stdout!.setEncoding('utf8');
    holder.stdout!.on('data', (d: string) => {
      text += d;
      const m = /held (\d+)/.exec(text);
      if (m) res(Number(m[1]));
    });
    holder.on('close', () => rej(new Error('hold client exited early')));
  });
  // Let the last ACKs reach both captures.
  await new Promise((r) => setTimeout(r, 1000));

  dllt.kill('SIGTERM');
  const dlltRun = await dlltDone;
  assert.equal(dlltRun.code, 0, `dllt exit ${dlltRun.code} ${dlltRun.signal}: ${dlltRun.stderr}`);
  ref.kill('SIGTERM');
  await collect(ref, 10_000);

  const flows = readEndFlows(out, pair.hostIndex);
  const tcp = flows.filter((f) => f.proto === 'tcp');
  const udp = flows.filter((f) => f.proto === 'udp');

  const http = tcp.filter((f) => f.dstPort === HTTP_PORT);
  assert.equal(http.length, HTTP_REQUESTS, `HTTP flows: ${JSON.stringify(http)}`);
  for (const f of http) {
    assert.equal(f.srcIP, client.ipv4);
    assert.equal(f.dstIP, server.ipv4);
    assert.equal(f.connState, 'SF', JSON.stringify(f));
    assert.ok(f.endReason === 'fin', JSON.stringify(f));
  }
  const held = tcp.filter((f) => f.dstPort === HOLD_PORT);
  assert.equal(held.length, 1, JSON.stringify(held));
  assert.equal(held[0]!.srcPort, heldPort);
  assert.equal(held[0]!.endReason, 'shutdown');
  assert.equal(tcp.length, HTTP_REQUESTS + 1, `unexpected TCP flows: ${JSON.stringify(tcp)}`);
  assert.equal(udp.filter((f) => f.dstPort === UDP_PORT).length, UDP_EXCHANGES, JSON.stringify(udp));

  // Outside oracle: tshark on the reference capture.
  for (const proto of ['tcp', 'udp'] as const) {
    const conv = convTable(refPcap, proto);
    const exact = directionTotals(refPcap, proto);
    const ours = proto === 'tcp' ? tcp : udp;
    assert.equal(ours.length, conv.length, `${proto}: dllt ${ours.length} flows, tshark ${conv.length}`);
    for (const f of ours) {
      const row = conv.find(
        (c) =>
          (c.aIP === f.srcIP && c.aPort === f.srcPort && c.bIP === f.dstIP && c.bPort === f.dstPort) ||
          (c.bIP === f.srcIP && c.bPort === f.srcPort && c.aIP === f.dstIP && c.aPort === f.dstPort),
      );
      assert.ok(row, `${proto} flow ${f.srcIP}:${f.srcPort} > ${f.dstIP}:${f.dstPort} not in tshark's conversations`);
      const forward = row.aIP === f.srcIP && row.aPort === f.srcPort;
      const framesSrc = forward ? row.framesAtoB : row.framesBtoA;
      const framesDst = forward ? row.framesBtoA : row.framesAtoB;
      const what = `${proto} ${f.srcIP}:${f.srcPort} > ${f.dstIP}:${f.dstPort}`;
      assert.equal(f.srcPkts, framesSrc, `${what} srcPkts`);
      assert.equal(f.dstPkts, framesDst, `${what} dstPkts`);
      // Byte counts are frame bytes, as tshark's conversation table counts them.
      const none = { pkts: 0, frameBytes: 0, ipBytes: 0 };
      const src = exact.get(`${f.srcIP}:${f.srcPort}>${f.dstIP}:${f.dstPort}`) ?? none;
      const dst = exact.get(`${f.dstIP}:${f.dstPort}>${f.srcIP}:${f.srcPort}`) ?? none;
      assert.equal(f.srcPkts, src.pkts, `${what} srcPkts (tshark fields)`);
      assert.equal(f.dstPkts, dst.pkts, `${what} dstPkts (tshark fields)`);
      assert.equal(f.srcBytes, src.frameBytes, `${what} srcBytes`);
      assert.equal(f.dstBytes, dst.frameBytes, `${what} dstBytes`);
      const convSrc = forward ? row.bytesAtoB : row.bytesBtoA;
      const convDst = forward ? row.bytesBtoA : row.bytesAtoB;
      if (convSrc !== undefined) assert.equal(f.srcBytes, convSrc, `${what} conv bytes src`);
      if (convDst !== undefined) assert.equal(f.dstBytes, convDst, `${what} conv bytes dst`);
    }
  }

  // Kernel counters reached log_notif, the last one final and without drops.
  const dir = join(out, 'logs', `dllt${pair.hostIndex}`);
  const notifFile = readdirSync(dir).find((f) => f.startsWith('log_notif_'));
  assert.ok(notifFile, 'log_notif written');
  const drops = readFileSync(join(dir, notifFile), 'utf8')
    .split('\n')
    .filter((l) => l.includes('"kernel_drops"'))
    .map((l) => JSON.parse(l) as { received: number; dropped: number; final?: boolean });
  assert.ok(drops.length >= 1, 'kernel_drops notifications');
  assert.equal(drops.at(-1)!.final, true);
  assert.equal(drops.at(-1)!.dropped, 0);
  passed = true;
});
