/**
 * CPU quotas read from cgroup files laid out as the kernel lays them out (v2 `cpu.max`, v1
 * `cpu.cfs_quota_us`), in a temporary tree, and the affinity count they cap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { usableCpus } from './usable-cpus.js';

function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'dllt-cpus-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

function cpusWith(files: Record<string, string>, affinity: number): number {
  const root = tree(files);
  try {
    return usableCpus({ cgroupRoot: join(root, 'sys'), procCgroup: join(root, 'proc-cgroup'), affinity });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

test('cgroup v2: a pod limit of one CPU caps the cores the affinity mask shows', () => {
  const files = {
    'proc-cgroup': '0::/kubepods.slice/pod1/cri-abc\n',
    'sys/cpu.max': 'max 100000\n',
    'sys/kubepods.slice/cpu.max': 'max 100000\n',
    'sys/kubepods.slice/pod1/cpu.max': '100000 100000\n',
    'sys/kubepods.slice/pod1/cri-abc/cpu.max': 'max 100000\n',
  };
  assert.equal(cpusWith(files, 8), 1);
});

test('cgroup v2: the tightest quota of the ancestors wins, and fractions stay fractions', () => {
  const files = {
    'proc-cgroup': '0::/a/b\n',
    'sys/a/cpu.max': '250000 100000\n',
    'sys/a/b/cpu.max': '150000 100000\n',
  };
  assert.equal(cpusWith(files, 4), 1.5);
});

test('no quota anywhere: the affinity count', () => {
  assert.equal(cpusWith({ 'proc-cgroup': '0::/a\n', 'sys/a/cpu.max': 'max 100000\n' }, 2), 2);
  assert.equal(cpusWith({ 'proc-cgroup': '0::/\n' }, 3), 3);
});

test('cgroup v1: the cpu controller quota (-1 is none), merged with cpuacct', () => {
  const files = {
    'proc-cgroup': '4:memory:/x\n3:cpu,cpuacct:/docker/c1\n0::/\n',
    'sys/cpu/cpu.cfs_quota_us': '-1\n',
    'sys/cpu/cpu.cfs_period_us': '100000\n',
    'sys/cpu/docker/c1/cpu.cfs_quota_us': '50000\n',
    'sys/cpu/docker/c1/cpu.cfs_period_us': '100000\n',
  };
  assert.equal(cpusWith(files, 2), 0.5);
});

test('unreadable or garbled files mean no quota, never an exception', () => {
  assert.equal(cpusWith({}, 2), 2);
  assert.equal(cpusWith({ 'proc-cgroup': 'garbage', 'sys/cpu.max': 'x y' }, 2), 2);
  assert.equal(cpusWith({ 'proc-cgroup': '0::/a\n', 'sys/a/cpu.max': '0 100000\n' }, 2), 2);
});

test('this process: its own files read without an exception, a positive count', () => {
  assert.ok(usableCpus() > 0);
});

test('hybrid cgroups: the v2 path is under `unified`, the quota under the v1 cpu controller', () => {
  const files = {
    'proc-cgroup': '3:cpu,cpuacct:/slow\n0::/slow\n',
    'sys/unified/cgroup.procs': '',
    'sys/unified/slow/cpu.max': '300000 100000\n',
    'sys/cpu/slow/cpu.cfs_quota_us': '100000\n',
    'sys/cpu/slow/cpu.cfs_period_us': '100000\n',
  };
  assert.equal(cpusWith(files, 4), 1);
  assert.equal(cpusWith({ ...files, 'sys/cpu/slow/cpu.cfs_quota_us': '-1\n' }, 4), 3);
});
