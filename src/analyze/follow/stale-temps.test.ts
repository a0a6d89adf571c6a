import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStaleFollowTemps } from './stale-temps.js';

test('temp files of a dead dllt are deleted; a live process\'s, finished pcaps and other files are kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dllt-stale-'));
  try {
    // A pid that existed and has exited: a child that ran and was reaped.
    const deadPid = spawnSync('true').pid!;
    const dead = `.follow_2026_11_22_10_00_00_tcp_10.77.1.1_40000_10.77.1.2_80.pcap.${deadPid}.3.tmp`;
    const live = `.follow_2026_11_22_10_00_00_tcp_10.77.1.1_40001_10.77.1.2_80.pcap.${process.pid}.1.tmp`;
    const kept = ['follow_2026_11_22_10_00_00_tcp_10.77.1.1_40000_10.77.1.2_80.pcap', `.other.${deadPid}.1.tmp`, 'flows_2026_11_22_10_00_00.log'];
    writeFileSync(join(dir, dead), Buffer.alloc(1234));
    for (const name of [live, ...kept]) writeFileSync(join(dir, name), 'x');
    assert.deepEqual(removeStaleFollowTemps(dir), { names: [dead], bytes: 1234 });
    assert.equal(existsSync(join(dir, dead)), false);
    assert.deepEqual(readdirSync(dir).sort(), [live, ...kept].sort());
    assert.deepEqual(removeStaleFollowTemps(join(dir, 'missing')), { names: [], bytes: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
