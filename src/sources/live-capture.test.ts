/**
 * Live capture against real traffic: a client and a server namespace on a bridge of our own,
 * tcpdump on the client's host-side veth. Runs as root with tcpdump present; otherwise the
 * real-capture tests are skipped with the reason printed.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BLOCK_TIMEOUT_MS, LiveCapture, CAPTURE_HELPER, captureArgs, captureProgram, classifyCaptureError, findTcpdump, type CaptureStats, type LiveCaptureFailure, type LiveCaptureOptions } from './live-capture.js';
import type { PacketHandler } from './packet-handler.js';
import { NetnsLab, labUnavailableReason, type BridgedPair } from '../../test/e2e/netns.js';

class Recorder implements PacketHandler {
  packets = 0;
  capLens: number[] = [];
  wireLens: number[] = [];
  linkTypes = new Set<number>();
  interfaces: { name: string; linkType: number; snapLen: number }[] = [];
  errors: string[] = [];
  onPacket(_d: Uint8Array, _dv: DataView, _s: number, capLen: number, wireLen: number, _ts: number, linkType: number): void {
    this.packets++;
    this.capLens.push(capLen);
    this.wireLens.push(wireLen);
    this.linkTypes.add(linkType);
  }
  onInterface(_id: number, linkType: number, name: string, snapLen: number): void {
    this.interfaces.push({ name, linkType, snapLen });
  }
  onSourceError(offset: number, message: string): void {
    this.errors.push(`${offset}: ${message}`);
  }
}

interface Run {
  cap: LiveCapture;
  rec: Recorder;
  stats: CaptureStats[];
  fatal: { message: string; code: LiveCaptureFailure }[];
}

function startCapture(opts: Partial<LiveCaptureOptions> & { ifname: string }): Run {
  const rec = new Recorder();
  const stats: CaptureStats[] = [];
  const fatal: Run['fatal'] = [];
  const cap = new LiveCapture(
    { snaplen: 262144, promisc: false, statsIntervalMs: 10_000, ...opts },
    rec,
    (s) => stats.push(s),
    (message, code) => fatal.push({ message, code }),
  );
  cap.start();
  return { cap, rec, stats, fatal };
}

/** Sends `count` UDP datagrams of `size` bytes from the client to the server's port 9. */
function sendUdp(lab: NetnsLab, pair: BridgedPair, count: number, size: number) {
  const py = `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range(${count}): s.sendto(b"x"*${size},("${pair.server.ipv4}",9))\n`;
  return lab.runIn(pair.client.name, 'python3', ['-c', py], 20_000);
}

const unavailable = labUnavailableReason(['tcpdump', 'python3']);
if (unavailable) console.log(`# live-capture: real-capture tests skipped: ${unavailable}`);

let lab: NetnsLab | undefined;
let pair: BridgedPair | undefined;
function labPair(): { lab: NetnsLab; pair: BridgedPair } {
  if (!lab || !pair) {
    lab = new NetnsLab();
    pair = lab.bridgedPair();
  }
  return { lab, pair };
}
after(() => lab?.cleanup());

test('capture command line: streaming pcap, ring buffer, immediate and promisc switches, filter last; -U for tcpdump only', () => {
  const opts: LiveCaptureOptions = { ifname: 'veth1', snaplen: 128, promisc: false, filter: 'tcp port 80', statsIntervalMs: 0 };
  assert.deepEqual(captureArgs(opts, false), ['-i', 'veth1', '-U', '-w', '-', '-s', '128', '-B', '32768', '-n', '-p', '--', 'tcp port 80']);
  assert.deepEqual(captureArgs(opts, true), ['-i', 'veth1', '-w', '-', '-s', '128', '-B', '32768', '-n', '-p', '--', 'tcp port 80']);
  const other = captureArgs({ ifname: 'x', snaplen: 65535, promisc: true, statsIntervalMs: 0, bufferMiB: 4, immediate: true }, true);
  assert.ok(!other.includes('-p'));
  assert.ok(other.includes('--immediate-mode'));
  assert.equal(other[other.indexOf('-B') + 1], '4096');
});

test('tcpdump errors become operator messages with what to do', () => {
  const perm = classifyCaptureError("tcpdump: eth9: You don't have permission to capture on that device\n(socket: Operation not permitted)\n", 'eth9');
  assert.equal(perm.code, 'DLLT_ERR_CAPTURE_PERMISSION');
  assert.match(perm.message, /root|CAP_NET_RAW/);
  const gone = classifyCaptureError('tcpdump: pcap_loop: The interface disappeared\n', 'veth3');
  assert.equal(gone.code, 'DLLT_ERR_CAPTURE_NO_INTERFACE');
  assert.match(gone.message, /veth3 vanished/);
  const filt = classifyCaptureError("tcpdump: syntax error in filter expression: syntax error\n", 'lo');
  assert.equal(filt.code, 'DLLT_ERR_CONFIG_INVALID');
});

test('tcpdump not installed: fatal message says apt-get install tcpdump', async () => {
  const run = startCapture({ ifname: 'lo', tcpdumpPath: '/nonexistent/tcpdump' });
  assert.equal(await run.cap.whenListening(), false);
  await run.cap.stop();
  assert.equal(run.fatal.length, 1);
  assert.equal(run.fatal[0]!.code, 'DLLT_ERR_CAPTURE_TOOL_MISSING');
  assert.match(run.fatal[0]!.message, /apt-get install tcpdump/);
});

test('no such interface: fatal message names it and lists what exists', async () => {
  const run = startCapture({ ifname: 'dlltnosuch0' });
  assert.equal(await run.cap.whenListening(), false);
  await run.cap.stop();
  assert.equal(run.fatal.length, 1);
  assert.equal(run.fatal[0]!.code, 'DLLT_ERR_CAPTURE_NO_INTERFACE');
  assert.match(run.fatal[0]!.message, /dlltnosuch0.*lo \(up\)/);
});

/** Each real-capture test runs with dllt-capture (what `dllt capture` uses when it was built)
 *  and with tcpdump (its fallback). */
interface CaptureVia {
  name: string;
  path: string | undefined;
  opts: Partial<LiveCaptureOptions>;
  missing: string | undefined;
}
const tcpdump = findTcpdump();
const vias: CaptureVia[] = [
  { name: 'dllt-capture', path: CAPTURE_HELPER, opts: {}, missing: captureProgram()?.helper ? undefined : `dllt-capture not built (${CAPTURE_HELPER}): npm run build with libpcap-dev installed` },
  { name: 'tcpdump', path: tcpdump, opts: tcpdump === undefined ? {} : { tcpdumpPath: tcpdump }, missing: tcpdump === undefined ? 'tcpdump missing' : undefined },
];
for (const via of vias) if (!unavailable && via.missing) console.log(`# live-capture: ${via.name} tests skipped: ${via.missing}`);
const skipOf = (via: CaptureVia): string | undefined => unavailable ?? via.missing;

for (const via of vias) {
  test(`${via.name}: real capture: every datagram delivered, named interface, periodic and final kernel counters`, { skip: skipOf(via) }, async () => {
    const { lab, pair } = labPair();
    const run = startCapture({ ...via.opts, ifname: pair.hostIf, filter: 'udp', statsIntervalMs: 200 });
    assert.equal(await run.cap.whenListening(), true, JSON.stringify(run.fatal));
    const sent = await sendUdp(lab, pair, 500, 100);
    assert.equal(sent.code, 0, sent.stderr);
    await new Promise((r) => setTimeout(r, 500));
    // Stopped right after the traffic, inside the kernel's block timeout: stop() must wait it out.
    await run.cap.stop();
    assert.deepEqual(run.fatal, []);
    assert.deepEqual(run.rec.errors, []);
    assert.equal(run.rec.packets, 500);
    assert.equal(run.cap.packets, 500);
    assert.deepEqual([...run.rec.linkTypes], [1]);
    assert.deepEqual(run.rec.interfaces, [{ name: pair.hostIf, linkType: 1, snapLen: 262144 }]);
    assert.ok(run.rec.wireLens.every((l) => l === 14 + 20 + 8 + 100));
    const periodic = run.stats.filter((s) => !s.final);
    const finals = run.stats.filter((s) => s.final);
    assert.ok(periodic.length >= 1, `expected a periodic report, got ${JSON.stringify(run.stats)}`);
    assert.equal(finals.length, 1);
    assert.equal(finals[0]!.received, 500);
    assert.equal(finals[0]!.dropped, 0);
    assert.equal(run.stats.at(-1)!.final, true);
  });

  test(`${via.name}: real capture: on a quiet link a packet arrives within one block timeout, without a stop`, { skip: skipOf(via) }, async () => {
    const { lab, pair } = labPair();
    const run = startCapture({ ...via.opts, ifname: pair.hostIf, filter: 'udp' });
    assert.equal(await run.cap.whenListening(), true, JSON.stringify(run.fatal));
    await sendUdp(lab, pair, 3, 10);
    const deadline = Date.now() + BLOCK_TIMEOUT_MS + 500;
    while (run.rec.packets < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(run.rec.packets, 3);
    await run.cap.stop();
  });

  // tcpdump changes user only where its build says so; ours always does.
  if (via.name === 'dllt-capture') test(`${via.name}: real capture: started as root, it runs as nobody once the interface is open`, { skip: skipOf(via) ?? (process.getuid?.() === 0 ? undefined : 'not root') }, async () => {
    const { pair } = labPair();
    const run = startCapture({ ...via.opts, ifname: pair.hostIf, filter: 'udp' });
    try {
      assert.equal(await run.cap.whenListening(), true, JSON.stringify(run.fatal));
      const pid = execFileSync('pgrep', ['-P', String(process.pid), '-x', 'dllt-capture'], { encoding: 'utf8' }).trim();
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      assert.match(status, /^Uid:\t65534\t65534\t65534\t65534$/m);
      assert.match(status, /^Gid:\t65534\t65534\t65534\t65534$/m);
    } finally {
      await run.cap.stop();
    }
    assert.deepEqual(run.fatal, []);
    assert.equal(run.stats.at(-1)?.final, true);
  });

  test(`${via.name}: real capture, immediate mode: packets arrive without waiting for the block timeout`, { skip: skipOf(via) }, async () => {
    const { lab, pair } = labPair();
    const run = startCapture({ ...via.opts, ifname: pair.hostIf, filter: 'udp', immediate: true });
    assert.equal(await run.cap.whenListening(), true, JSON.stringify(run.fatal));
    await sendUdp(lab, pair, 5, 10);
    const deadline = Date.now() + BLOCK_TIMEOUT_MS / 2;
    while (run.rec.packets < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(run.rec.packets, 5);
    await run.cap.stop();
  });

  test(`${via.name}: real capture: snaplen cuts packets, wire length kept`, { skip: skipOf(via) }, async () => {
    const { lab, pair } = labPair();
    const run = startCapture({ ...via.opts, ifname: pair.hostIf, filter: 'udp', snaplen: 64 });
    assert.equal(await run.cap.whenListening(), true, JSON.stringify(run.fatal));
    await sendUdp(lab, pair, 20, 400);
    await new Promise((r) => setTimeout(r, 300));
    await run.cap.stop();
    assert.equal(run.rec.packets, 20);
    assert.ok(run.rec.capLens.every((l) => l === 64));
    assert.ok(run.rec.wireLens.every((l) => l === 14 + 20 + 8 + 400));
  });

  test(`${via.name}: real capture: invalid BPF filter is a config error`, { skip: skipOf(via) }, async () => {
    const { pair } = labPair();
    const run = startCapture({ ...via.opts, ifname: pair.hostIf, filter: 'tcp port' });
    assert.equal(await run.cap.whenListening(), false);
    await run.cap.stop();
    assert.equal(run.fatal.length, 1);
    assert.equal(run.fatal[0]!.code, 'DLLT_ERR_CONFIG_INVALID');
  });

  test(`${via.name}: real capture: no capture privilege says what to do`, { skip: skipOf(via) }, async () => {
    const { pair } = labPair();
    // The program run as `nobody` (no CAP_NET_RAW), through a wrapper passed as the tcpdump path.
    const dir = mkdtempSync(join(tmpdir(), 'dllt-perm-'));
    try {
      const wrapper = join(dir, 'tcpdump');
      writeFileSync(wrapper, `#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all ${via.path} "$@"\n`);
      chmodSync(wrapper, 0o755);
      const run = startCapture({ ifname: pair.hostIf, tcpdumpPath: wrapper });
      assert.equal(await run.cap.whenListening(), false);
      await run.cap.stop();
      assert.equal(run.fatal.length, 1, JSON.stringify(run.fatal));
      assert.equal(run.fatal[0]!.code, 'DLLT_ERR_CAPTURE_PERMISSION');
      assert.match(run.fatal[0]!.message, /root.*CAP_NET_RAW/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`${via.name}: real capture: the interface vanishing mid-capture is reported as such`, { skip: skipOf(via) }, async () => {
    // A lab of its own: this test deletes its interface.
    const own = new NetnsLab();
    try {
      const p = own.bridgedPair();
      const run = startCapture({ ...via.opts, ifname: p.hostIf, filter: 'udp' });
      assert.equal(await run.cap.whenListening(), true, JSON.stringify(run.fatal));
      await sendUdp(own, p, 10, 50);
      // Let the kernel retire the ring block (BLOCK_TIMEOUT_MS): a vanishing interface takes
      // whatever is still in the ring with it.
      await new Promise((r) => setTimeout(r, BLOCK_TIMEOUT_MS + 200));
      own.deleteHostLink(p.hostIf);
      const deadline = Date.now() + 5000;
      while (run.fatal.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await run.cap.stop();
      assert.equal(run.rec.packets, 10);
      assert.equal(run.fatal.length, 1);
      assert.equal(run.fatal[0]!.code, 'DLLT_ERR_CAPTURE_NO_INTERFACE');
      assert.match(run.fatal[0]!.message, new RegExp(`${p.hostIf} vanished`));
    } finally {
      own.cleanup();
    }
  });
}
