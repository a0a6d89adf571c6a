/**
 * A CPU quota the way a pod's CPU limit sets it: `dllt read` started inside a real cgroup with
 * one CPU of quota (v1 `cpu.cfs_quota_us`, or v2 `cpu.max`) sees one usable CPU although the
 * affinity mask shows every core, and makes its records on the packet thread. The cgroup is
 * the test's own and is removed afterwards.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CORPUS_DIR } from '../support/corpus.js';

const CLI = resolve(import.meta.dirname, '../../app/main.js');

interface QuotaCgroup {
  dir: string;
  limit(): void;
}

/** A cgroup of ours where a CPU quota can be set: v1's cpu controller, or v2 with `cpu` enabled. */
function quotaCgroup(): QuotaCgroup | string {
  if (process.getuid?.() !== 0) return 'needs root to create a cgroup';
  if (availableParallelism() < 2) return 'one CPU here: a one-CPU quota changes nothing to observe';
  const name = `dllt-cpu-test-${process.pid}`;
  if (existsSync('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')) {
    const dir = join('/sys/fs/cgroup/cpu', name);
    return { dir, limit: () => writeFileSync(join(dir, 'cpu.cfs_quota_us'), String(Number(readFileSync(join(dir, 'cpu.cfs_period_us'), 'utf8')))) };
  }
  const controllers = existsSync('/sys/fs/cgroup/cgroup.subtree_control') ? readFileSync('/sys/fs/cgroup/cgroup.subtree_control', 'utf8') : '';
  if (controllers.split(/\s+/).includes('cpu')) {
    const dir = join('/sys/fs/cgroup', name);
    return { dir, limit: () => writeFileSync(join(dir, 'cpu.max'), '100000 100000') };
  }
  return 'no cgroup CPU controller to set a quota with (neither v1 cpu nor v2 cpu enabled at the root)';
}

const cgroup = quotaCgroup();

test('read inside a cgroup limited to one CPU makes its records on the packet thread', { skip: typeof cgroup === 'string' ? cgroup : false }, () => {
  const cg = cgroup as QuotaCgroup;
  const out = mkdtempSync(join(tmpdir(), 'dllt-quota-'));
  mkdirSync(cg.dir);
  try {
    cg.limit();
    const file = join(CORPUS_DIR, 'zeek-pop3.pcap');
    const r = spawnSync('sh', ['-c', `echo $$ > '${cg.dir}/cgroup.procs' && exec "$0" "$@"`, process.execPath, CLI, 'read', file, '--out', out, '-q'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const dir = join(out, 'logs', 'zeek-pop3.pcap');
    const notif = readdirSync(dir).find((f) => f.startsWith('log_notif_'))!;
    const start = JSON.parse(readFileSync(join(dir, notif), 'utf8').split('\n')[0]!) as { kind: string; usableCpus: number; recordThread: string };
    assert.deepEqual([start.kind, start.usableCpus, start.recordThread], ['start', 1, 'packet']);
    const ends = readFileSync(join(dir, readdirSync(dir).find((f) => f.startsWith('end_flows_'))!), 'utf8').trim().split('\n');
    assert.equal(ends.length, 11, 'every flow of the file ended');
  } finally {
    rmdirSync(cg.dir);
  }
});
