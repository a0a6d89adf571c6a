/**
 * The `dllt` command as an operator runs it: real child processes, real files, exit codes of
 * SPEC 1 (0 ok, 2 bad usage or configuration, 1 runtime failure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CORPUS_DIR } from './support/corpus.js';
import { ethernet, ipv4, pcapFile, tcp } from './support/packet-builder.js';

const CLI = resolve(import.meta.dirname, '../app/main.js');

/** `oneCpu`: limited to CPU 0, as taskset or a one-CPU container limits an operator's run. */
function dllt(args: string[], env: Record<string, string> = {}, input?: Buffer, oneCpu = false): { status: number | null; stdout: string; stderr: string } {
  const argv = [process.execPath, CLI, ...args];
  const [command, ...rest] = oneCpu ? ['taskset', '-c', '0', ...argv] : argv;
  const r = spawnSync(command!, rest, { env: { PATH: process.env['PATH'] ?? '', ...env }, input, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function runFiles(out: string, name: string): Record<string, string> {
  const dir = join(out, 'logs', name);
  const files: Record<string, string> = {};
  for (const f of readdirSync(dir)) files[f.replace(/_\d{4}(_\d\d){5}/, '')] = readFileSync(join(dir, f), 'utf8');
  return files;
}

test('read writes the run files with one flow_end per flow, and exits 0', () => {
  const out = mkdtempSync(join(tmpdir(), 'dllt-cli-'));
  const r = dllt(['read', join(CORPUS_DIR, 'zeek-pop3.pcap'), '--out', out, '-q']);
  assert.equal(r.status, 0, r.stderr);
  const files = runFiles(out, 'zeek-pop3.pcap');
  assert.deepEqual(Object.keys(files).sort(), ['end_flows.log', 'flows.log', 'log_notif.log', 'netwevents.log', 'outputfile.txt']);
  const ends = files['end_flows.log']!.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  // Zeek's conn.log for this trace: 6 rejected attempts and 5 POP3 sessions.
  assert.deepEqual(ends.map((e) => `${e['connState']} ${e['history']}`).sort(), [...Array(6).fill('REJ Sr'), ...Array(5).fill('SF ShAdDafF')].sort());
  assert.equal(files['flows.log']!.trim().split('\n').length, 11, 'one flow_start per flow');
  const kinds = files['log_notif.log']!.trim().split('\n').map((l) => (JSON.parse(l) as { kind: string }).kind);
  assert.deepEqual(kinds, ['start', 'decode_summary']);
});

test('read - takes a capture on stdin; --format text writes key=value lines', () => {
  const out = mkdtempSync(join(tmpdir(), 'dllt-cli-'));
  const r = dllt(['read', '-', '--out', out, '--format', 'text', '-q'], {}, readFileSync(join(CORPUS_DIR, 'zeek-http-get.pcap')));
  assert.equal(r.status, 0, r.stderr);
  const ends = runFiles(out, 'stdin')['end_flows.log']!.trim().split('\n');
  assert.equal(ends.length, 1);
  assert.match(ends[0]!, / flow_end +zeek-http-get|flow_end/);
  assert.match(ends[0]!, /srcIP=141\.142\.228\.5 srcPort=59856 dstIP=192\.150\.187\.43 dstPort=80 .*connState=SF history=ShADadFf/);
});

test('configuration errors exit 2 with one line naming the key', () => {
  const out = mkdtempSync(join(tmpdir(), 'dllt-cli-'));
  const file = join(CORPUS_DIR, 'zeek-pop3.pcap');
  const unknown = dllt(['read', file, '--out', out], { DLLT_MAX_FLOWZ: '5' });
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /DLLT_ERR_CONFIG_UNKNOWN_KEY.*DLLT_MAX_FLOWZ.*DLLT_MAX_FLOWS/);
  const invalid = dllt(['read', file, '--out', out], { USE_EBPF: 'maybe' });
  assert.equal(invalid.status, 2);
  assert.match(invalid.stderr, /USE_EBPF/);
  const port = dllt(['read', file, '--out', out], { FOLLOW_PORT: '70000' });
  assert.equal(port.status, 2);
  assert.match(port.stderr, /FOLLOW_PORT/);
  const cfg = join(out, 'dlltagent_searchpod');
  writeFileSync(cfg, '# seed-style file\nexport DLLT_TCP_IDLE_S=abc\n');
  const fromFile = dllt(['read', file, '--out', out, '--config', cfg]);
  assert.equal(fromFile.status, 2);
  assert.match(fromFile.stderr, /DLLT_TCP_IDLE_S/);
  const flag = dllt(['read', file, '--bogus']);
  assert.equal(flag.status, 2);
  assert.equal(unknown.stderr.trim().split('\n').length, 1, 'one line');
});

test('a missing capture file exits 1 without creating output; --help exits 0', () => {
  const out = mkdtempSync(join(tmpdir(), 'dllt-cli-'));
  const r = dllt(['read', join(out, 'nope.pcap'), '--out', out]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /DLLT_ERR_FILE_NOT_FOUND.*nope\.pcap/);
  assert.deepEqual(readdirSync(out), []);
  const help = dllt(['read', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--format/);
});

test('a corrupt capture is read as far as it goes, with the offset reported, and exits 0', () => {
  const out = mkdtempSync(join(tmpdir(), 'dllt-cli-'));
  const bytes = Buffer.from(readFileSync(join(CORPUS_DIR, 'zeek-pop3.pcap')));
  // A record header in the middle claims a 1 GB packet.
  bytes.writeUInt32LE(1 << 30, 24 + 16 + 66 + 8);
  const corrupt = join(out, 'corrupt.pcap');
  writeFileSync(corrupt, bytes);
  const r = dllt(['read', corrupt, '--out', out, '-q']);
  assert.equal(r.status, 0, r.stderr);
  const files = runFiles(out, 'corrupt.pcap');
  const notifs = files['log_notif.log']!.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; offset?: number });
  const sourceError = notifs.find((n) => n.kind === 'source_error');
  assert.ok(sourceError, 'the corruption is reported');
  assert.equal(typeof sourceError.offset, 'number');
  assert.ok(files['end_flows.log']!.trim().split('\n').length >= 10, 'the rest of the file is still read');
});

test('an output root that cannot be a directory exits 1 with one line, and does not hang: with the record worker, and on one CPU without it', () => {
  for (const oneCpu of [false, true]) {
    const out = mkdtempSync(join(tmpdir(), 'dllt-cli-'));
    const notADir = join(out, 'a-file');
    writeFileSync(notADir, 'x');
    const r = dllt(['read', join(CORPUS_DIR, 'zeek-pop3.pcap'), '--out', notADir], {}, undefined, oneCpu);
    assert.equal(r.status, 1, `one CPU ${oneCpu}: exit ${r.status}, stderr: ${r.stderr}`);
    assert.match(r.stderr, /DLLT_ERR_OUTPUT_UNWRITABLE.*a-file/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
});

test('an unwritable output root stops a file that fills the record ring before the failure is known: the same one line', () => {
  const out = mkdtempSync(join(tmpdir(), 'dllt-cli-'));
  const notADir = join(out, 'a-file');
  writeFileSync(notADir, 'x');
  // 40,000 one-SYN flows: 80,000 snapshots with their ends, over twice the worker's 16,384-snapshot
  // ring, so reading waits for slots the failed worker never frees.
  const syns: Uint8Array[] = [];
  for (let i = 0; i < 40_000; i++) {
    syns.push(ethernet(0x0800, ipv4(`10.77.${(i >> 8) & 0xff}.${i & 0xff}`, '10.77.250.1', 6, tcp(1024 + (i % 60_000), 80, 0x02, i, new Uint8Array(0)))));
  }
  const file = join(out, 'syns.pcap');
  writeFileSync(file, pcapFile(1, syns));
  const r = dllt(['read', file, '--out', notADir]);
  assert.equal(r.status, 1, `exit ${r.status}, stderr: ${r.stderr}`);
  assert.match(r.stderr, /DLLT_ERR_OUTPUT_UNWRITABLE.*a-file/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

const MULTI_CPU = availableParallelism() >= 2;

test('on one usable CPU, read makes its records on the packet thread: the same records as with the worker', { skip: MULTI_CPU ? false : 'one CPU here: every read already runs without the worker, nothing to compare' }, () => {
  for (const name of ['ndpi-synscan.pcap', 'peafowl-ssl.pcapng', 'ndpi-http_ipv6.pcap', 'zeek-pop3.pcap']) {
    const outWorker = mkdtempSync(join(tmpdir(), 'dllt-cli-'));
    const outInline = mkdtempSync(join(tmpdir(), 'dllt-cli-'));
    const worker = dllt(['read', join(CORPUS_DIR, name), '--out', outWorker, '-q']);
    const inline = dllt(['read', join(CORPUS_DIR, name), '--out', outInline, '-q'], {}, undefined, true);
    assert.equal(worker.status, 0, worker.stderr);
    assert.equal(inline.status, 0, inline.stderr);
    const a = runFiles(outWorker, name);
    const b = runFiles(outInline, name);
    assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
    for (const file of ['flows.log', 'end_flows.log', 'netwevents.log']) {
      assert.ok(a[file]!.length > 0 || file === 'netwevents.log', `${name}: ${file} has records`);
      assert.equal(b[file], a[file], `${name}: ${file}`);
    }
    const start = (files: Record<string, string>) => JSON.parse(files['log_notif.log']!.split('\n')[0]!) as { kind: string; usableCpus: number; recordThread: string };
    assert.deepEqual([start(a).kind, start(a).recordThread], ['start', 'worker']);
    assert.deepEqual([start(b).kind, start(b).usableCpus, start(b).recordThread], ['start', 1, 'packet']);
  }
});
