import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DlltFileSink, type DlltFileSinkOptions } from './dllt-files.js';
import { DlltError } from '../cli/errors.js';
import { formatTs } from '../record/serialize.js';
import { LineBytes } from '../record/line-bytes.js';
import type { FlowRecord, NotifRecord } from '../record/records.js';

const START = new Date(2026, 10, 22, 16, 48, 12);
const TS = '2026_11_22_16_48_12';

interface Notice {
  level: string;
  kind: string;
  message: string;
  extra?: Record<string, unknown>;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'dllt-files-'));
}

function makeSink(dir: string, over: Partial<DlltFileSinkOptions> = {}): { sink: DlltFileSink; notices: Notice[] } {
  const notices: Notice[] = [];
  const sink = new DlltFileSink({
    dir,
    startTime: START,
    format: 'json',
    rotateBytes: 1 << 20,
    maxDiskBytes: 1 << 30,
    flushIntervalMs: 60_000,
    onNotice: (level, kind, message, extra) => notices.push({ level, kind, message, ...(extra ? { extra } : {}) }),
    ...over,
  });
  return { sink, notices };
}

function flow(type: FlowRecord['type'], n: number): FlowRecord {
  const tsUs = 1_795_366_092_000_000 + n;
  return {
    type, ts: formatTs(tsUs), tsUs, if: 'dllt5', proto: 'udp', srcIP: '10.0.0.1', srcPort: 1000 + n,
    dstIP: '10.0.0.2', dstPort: 53, communityId: '1:x', firstTs: formatTs(tsUs), lastTs: formatTs(tsUs),
    durationUs: 0, srcPkts: 1, srcBytes: 60, dstPkts: 0, dstBytes: 0, srcPayloadBytes: 32, dstPayloadBytes: 0,
  };
}

function notif(message: string): NotifRecord {
  return { type: 'notif', ts: formatTs(0), tsUs: 0, if: 'dllt5', level: 'info', kind: 'start', message };
}

function lines(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  if (text !== '') assert.ok(text.endsWith('\n'), `${path} ends in a partial line`);
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

test('open creates the seed-named files; records go to the right one', async () => {
  const dir = join(tempDir(), 'logs', 'dllt5');
  const { sink } = makeSink(dir);
  sink.open();
  assert.deepEqual(readdirSync(dir).sort(), [
    `end_flows_${TS}.log`, `flows_${TS}.log`, `log_notif_${TS}.log`, `netwevents_${TS}.log`, 'outputfile.txt',
  ]);
  sink.writeFlow(flow('flow_start', 1));
  sink.writeFlow(flow('flow_update', 2));
  sink.writeFlow(flow('flow_end', 3));
  sink.writeNotif(notif('started'));
  sink.writeEvent({
    type: 'event', ts: formatTs(0), tsUs: 0, if: 'dllt5', code: '00001', name: 'CODE_TCP_SYN_RETRANS_STR', nodeIP: 0,
    proto: 'tcp', srcIP: '10.77.0.1', dstIP: '10.77.0.2', communityId: '1:x', description: 'd', cause: 'c',
  });
  sink.writeSummary('3 flows');
  sink.writeSummary('done\n');
  await sink.close();
  assert.deepEqual(lines(join(dir, `flows_${TS}.log`)).map((l) => JSON.parse(l).type), ['flow_start', 'flow_update']);
  assert.deepEqual(lines(join(dir, `end_flows_${TS}.log`)).map((l) => JSON.parse(l).srcPort), [1003]);
  assert.equal(JSON.parse(lines(join(dir, `log_notif_${TS}.log`))[0]!).message, 'started');
  assert.equal(lines(join(dir, `netwevents_${TS}.log`))[0],
    '{"type":"event","ts":"1970-01-01T00:00:00.000000Z","tsUs":0,"if":"dllt5","code":"00001","name":"CODE_TCP_SYN_RETRANS_STR","nodeIP":0,"proto":"tcp","srcIP":"10.77.0.1","dstIP":"10.77.0.2","communityId":"1:x","description":"d","cause":"c"}');
  assert.equal(readFileSync(join(dir, 'outputfile.txt'), 'utf8'), '3 flows\ndone\n');
});

test('text format writes the aligned rendering', async () => {
  const dir = tempDir();
  const { sink } = makeSink(dir, { format: 'text' });
  sink.open();
  sink.writeNotif(notif('interface up'));
  await sink.close();
  assert.deepEqual(lines(join(dir, `log_notif_${TS}.log`)), [
    '1970-01-01T00:00:00.000000Z notif        dllt5    level=info kind=start message="interface up"',
  ]);
});

test('outputfile.txt is appended across runs', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'outputfile.txt'), 'earlier run\n');
  const { sink } = makeSink(dir);
  sink.open();
  sink.writeSummary('this run');
  await sink.close();
  assert.equal(readFileSync(join(dir, 'outputfile.txt'), 'utf8'), 'earlier run\nthis run\n');
});

test('lines wait in memory until the timer, a full buffer or close', async () => {
  const dir = tempDir();
  const { sink } = makeSink(dir, { flushIntervalMs: 20 });
  sink.open();
  const path = join(dir, `flows_${TS}.log`);
  sink.writeFlow(flow('flow_start', 1));
  assert.equal(statSync(path).size, 0);
  await sleep(80);
  assert.equal(lines(path).length, 1);

  const { sink: slow } = makeSink(join(dir, 'slow'));
  slow.open();
  const slowPath = join(dir, 'slow', `flows_${TS}.log`);
  slow.writeFlow(flow('flow_start', 1));
  assert.equal(statSync(slowPath).size, 0);
  for (let i = 0; i < 400; i++) slow.writeFlow(flow('flow_start', i));
  assert.ok(statSync(slowPath).size >= 64 * 1024, 'a 64 KiB buffer is written without waiting');
  await slow.close();
  assert.equal(lines(slowPath).length, 401);
  await sink.close();
});

test('rotation keeps the ts prefix, sorts, never splits a line, and is noticed', async () => {
  const dir = tempDir();
  const { sink, notices } = makeSink(dir, { rotateBytes: 1000 });
  sink.open();
  const written: string[] = [];
  for (let i = 0; i < 40; i++) {
    const rec = flow('flow_start', i);
    written.push(JSON.stringify(rec));
    sink.writeFlow(rec);
    if (i % 7 === 0) sink.flush();
  }
  await sink.close();
  const parts = readdirSync(dir).filter((n) => n.startsWith('flows_')).sort();
  assert.ok(parts.length > 5, `expected several parts, got ${parts.join(' ')}`);
  assert.equal(parts[0], `flows_${TS}.log`);
  assert.equal(parts[1], `flows_${TS}.part000001.log`);
  parts.slice(1).forEach((name, i) => assert.equal(name, `flows_${TS}.part${String(i + 1).padStart(6, '0')}.log`));
  for (const name of parts) assert.ok(statSync(join(dir, name)).size <= 1000, `${name} is over rotateBytes`);
  assert.deepEqual(parts.flatMap((name) => lines(join(dir, name))), written.map((l) => JSON.stringify(JSON.parse(l))));
  const rotations = notices.filter((n) => n.kind === 'rotation');
  assert.equal(rotations.length, parts.length - 1);
  assert.equal(rotations[0]!.extra!['path'], join(dir, parts[0]!));
  assert.equal(rotations[0]!.extra!['nextPath'], join(dir, parts[1]!));
});

test('flow lines given as batches of bytes in a reused array are queued whole, in order with string lines, across rotations', async () => {
  const dir = tempDir();
  const { sink } = makeSink(dir, { rotateBytes: 3000 });
  sink.open();
  const batch = new LineBytes();
  const endBatch = new LineBytes();
  const expected: string[] = [];
  const expectedEnds: string[] = [];
  let inBatch: string[] = [];
  const handOver = (): void => {
    sink.writeFlowJsonLines('flows', batch);
    sink.writeFlowJsonLines('end_flows', endBatch);
    batch.bytes.fill(0x78);
    batch.clear();
    endBatch.clear();
    expected.push(...inBatch);
    inBatch = [];
  };
  for (let i = 0; i < 300; i++) {
    // Lines of varied length, some beyond ASCII, some as records, batches of up to 7 lines:
    // the queue's buffers are compacted and grown along the way.
    if (i % 5 === 0) {
      sink.writeFlow(flow('flow_start', i));
      expected.push(JSON.stringify(flow('flow_start', i)));
    } else {
      const line = JSON.stringify({ type: 'flow_start', n: i, pad: 'é'.repeat(i % 97) });
      batch.text(line + '\n');
      batch.endLine();
      inBatch.push(line);
      endBatch.text(`{"n":${i}}\n`);
      endBatch.endLine();
      expectedEnds.push(`{"n":${i}}`);
    }
    if (i % 7 === 0) handOver();
    if (i % 50 === 0) sink.flush();
  }
  handOver();
  await sink.close();
  const parts = readdirSync(dir).filter((n) => n.startsWith('flows_')).sort();
  assert.ok(parts.length > 10, `several parts: ${parts.length}`);
  for (const name of parts) assert.ok(statSync(join(dir, name)).size <= 3000, `${name} is over rotateBytes`);
  assert.deepEqual(parts.flatMap((name) => lines(join(dir, name))), expected);
  const endParts = readdirSync(dir).filter((n) => n.startsWith('end_flows_')).sort();
  assert.deepEqual(endParts.flatMap((name) => lines(join(dir, name))), expectedEnds);
});

test('disk cap deletes the oldest closed dllt files first, with a notice each', async () => {
  const dir = tempDir();
  const oldRun = join(dir, 'flows_2020_01_01_00_00_00.log');
  const foreign = join(dir, 'operator-notes.txt');
  writeFileSync(oldRun, 'x'.repeat(2000) + '\n');
  writeFileSync(foreign, 'y'.repeat(5000));
  utimesSync(oldRun, new Date(2020, 0, 1), new Date(2020, 0, 1));
  const { sink, notices } = makeSink(dir, { rotateBytes: 1000, maxDiskBytes: 4000 });
  sink.open();
  for (let i = 0; i < 60; i++) {
    sink.writeFlow(flow('flow_start', i));
    sink.flush();
  }
  await sink.close();

  const deletions = notices.filter((n) => n.kind === 'disk_cap');
  assert.ok(deletions.length >= 2);
  assert.equal(deletions[0]!.extra!['path'], oldRun, 'the earlier run goes first');
  assert.equal(deletions[0]!.level, 'warn');
  for (const d of deletions) assert.match(d.message, /DLLT_MAX_DISK_MB/);
  const deleted = deletions.map((d) => d.extra!['path'] as string);
  const partsDeleted = deleted.filter((p) => p.includes('.part'));
  assert.deepEqual(partsDeleted, [...partsDeleted].sort(), 'oldest part first');

  const remaining = readdirSync(dir);
  assert.ok(remaining.includes('operator-notes.txt'), 'files that are not dllt files are never deleted');
  assert.ok(remaining.includes(`log_notif_${TS}.log`) && remaining.includes(`end_flows_${TS}.log`));
  const dlltBytes = remaining.filter((n) => n !== 'operator-notes.txt').reduce((s, n) => s + statSync(join(dir, n)).size, 0);
  assert.ok(dlltBytes <= 4000, `dllt files use ${dlltBytes} bytes, cap 4000`);
  for (const p of deleted) assert.ok(!remaining.includes(p.slice(dir.length + 1)));
  // The part being written at the end survives.
  const lastPart = remaining.filter((n) => n.startsWith('flows_2026')).sort().at(-1)!;
  assert.equal(JSON.parse(lines(join(dir, lastPart)).at(-1)!).srcPort, 1059);
});

test('an external file (follow pcap) counts toward the cap', async () => {
  const dir = tempDir();
  const { sink, notices } = makeSink(dir, { maxDiskBytes: 3000 });
  sink.open();
  const pcap = join(dir, 'follow_2026_11_22_16_48_12_tcp_a_1_b_2.pcap');
  writeFileSync(pcap, Buffer.alloc(2000));
  sink.addExternalFile(pcap, 2000);
  assert.equal(notices.length, 0);
  for (let i = 0; i < 20; i++) sink.writeFlow(flow('flow_start', i));
  sink.flush();
  assert.ok(notices.some((n) => n.kind === 'disk_cap' && n.extra!['path'] === pcap));
  assert.throws(() => statSync(pcap));
  await sink.close();
});

test('open reports an unwritable directory as DLLT_ERR_OUTPUT_UNWRITABLE', () => {
  const base = tempDir();
  writeFileSync(join(base, 'file'), '');
  const { sink } = makeSink(join(base, 'file', 'logs'));
  assert.throws(() => sink.open(), (err: unknown) => {
    assert.ok(err instanceof DlltError);
    assert.equal(err.code, 'DLLT_ERR_OUTPUT_UNWRITABLE');
    assert.match(err.message, /file\/logs/);
    assert.match(err.hint, /--out/);
    return true;
  });
});

test('a notice written back into log_notif during a flush is not lost', async () => {
  const dir = tempDir();
  let sinkRef: DlltFileSink | undefined;
  const { sink } = makeSink(dir, {
    rotateBytes: 600,
    onNotice: (level, kind, message) => sinkRef!.writeNotif({ ...notif(message), level, kind }),
  });
  sinkRef = sink;
  sink.open();
  for (let i = 0; i < 10; i++) sink.writeFlow(flow('flow_start', i));
  await sink.close();
  const kinds = readdirSync(dir).filter((n) => n.startsWith('log_notif_')).flatMap((n) => lines(join(dir, n))).map((l) => JSON.parse(l).kind);
  assert.ok(kinds.includes('rotation'), kinds.join(','));
});

/**
 * Runs `body` against a 64 KiB tmpfs (root only), closing the sinks it made before unmounting,
 * so a failed assertion shows up as itself and not as "target is busy".
 */
async function withTinyDisk(t: { skip(message: string): void }, body: (mnt: string, sinks: DlltFileSink[]) => Promise<void>): Promise<void> {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to mount a 64 KiB tmpfs');
    return;
  }
  const mnt = tempDir();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
  } catch (err) {
    t.skip(`cannot mount tmpfs here: ${String(err)}`);
    return;
  }
  const sinks: DlltFileSink[] = [];
  try {
    await body(mnt, sinks);
  } finally {
    for (const sink of sinks) await sink.close();
    execFileSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
}

test('a full disk: one notice, no exception, whole lines only, recovery when space returns', (t) =>
  withTinyDisk(t, async (mnt, sinks) => {
    const dir = join(mnt, 'logs');
    mkdirSync(dir);
    const filler = join(mnt, 'filler');
    const { sink, notices } = makeSink(dir, { backlogBytes: 1 << 20 });
    sinks.push(sink);
    sink.open();
    fillDisk(filler);
    const expected: number[] = [];
    for (let i = 0; i < 100; i++) {
      sink.writeFlow(flow('flow_start', i));
      expected.push(1000 + i);
      if (i % 30 === 0) sink.flush();
    }
    sink.flush();
    const failures = notices.filter((n) => n.level === 'error');
    assert.equal(failures.length, 1, JSON.stringify(notices));
    assert.equal(failures[0]!.kind, 'disk_full');
    assert.match(failures[0]!.message, /ENOSPC/);
    assert.match(failures[0]!.message, /flows_/);
    assert.match(failures[0]!.message, /free space/);
    const path = join(dir, `flows_${TS}.log`);
    lines(path).forEach((l) => JSON.parse(l)); // every line on disk is whole

    unlinkSync(filler);
    sink.flush();
    const recovered = notices.filter((n) => n.kind === 'write_recovered');
    assert.equal(recovered.length, 1);
    assert.equal(recovered[0]!.extra!['droppedLines'], 0);
    await sink.close();
    assert.deepEqual(lines(path).map((l) => JSON.parse(l).srcPort), expected);
  }));

test('a full disk beyond the backlog drops the oldest lines and counts them', (t) =>
  withTinyDisk(t, async (mnt, sinks) => {
    const filler = join(mnt, 'filler');
    const { sink, notices } = makeSink(mnt, { backlogBytes: 4096 });
    sinks.push(sink);
    sink.open();
    fillDisk(filler);
    for (let i = 0; i < 200; i++) sink.writeFlow(flow('flow_start', i));
    sink.flush();
    assert.ok(sink.droppedLinesTotal > 0);
    unlinkSync(filler);
    sink.flush();
    const recovered = notices.find((n) => n.kind === 'write_recovered')!;
    assert.equal(recovered.extra!['droppedLines'], sink.droppedLinesTotal);
    await sink.close();
    const ports = lines(join(mnt, `flows_${TS}.log`)).map((l) => JSON.parse(l).srcPort as number);
    assert.equal(ports.length + sink.droppedLinesTotal, 200);
    assert.equal(ports.at(-1), 1199, 'the newest lines are kept');
  }));

/** Takes every free byte of the filesystem holding `path`. */
function fillDisk(path: string): void {
  try {
    writeFileSync(path, Buffer.alloc(1 << 20));
  } catch {
    // ENOSPC part-way is the point: the filesystem is now full.
  }
}
