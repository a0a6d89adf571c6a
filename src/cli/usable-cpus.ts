/**
 * How many CPUs this process may really use: the affinity mask (taskset, cpusets) and the
 * cgroup v2 CPU quota (`cpu.max` of its cgroup and every ancestor: a pod's CPU limit). A quota
 * does not show in the affinity mask: a pod limited to one CPU still sees every core of the node.
 */
import { availableParallelism } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface CpuSources {
  /** Where cgroup v2 is mounted. */
  cgroupRoot: string;
  /** The process's /proc/<pid>/cgroup. */
  procCgroup: string;
  affinity: number;
}

const SYSTEM: CpuSources = { cgroupRoot: '/sys/fs/cgroup', procCgroup: '/proc/self/cgroup', affinity: 0 };

export function usableCpus(sources: CpuSources = { ...SYSTEM, affinity: availableParallelism() }): number {
  const quota = cgroupQuotaCpus(sources.cgroupRoot, sources.procCgroup);
  return quota === undefined ? sources.affinity : Math.min(sources.affinity, quota);
}

/** The tightest CPU quota on the way from the process's cgroup up to the root, in CPUs;
 *  undefined without one. cgroup v2 (`0::/path`, `cpu.max`) or v1 (`N:...cpu...:/path`,
 *  `cpu.cfs_quota_us` / `cpu.cfs_period_us` under the cpu controller's mount). */
function cgroupQuotaCpus(root: string, procCgroup: string): number | undefined {
  let tightest: number | undefined;
  for (const line of (readText(procCgroup) ?? '').split('\n')) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line);
    if (m === null) continue;
    const [, controllers, path] = m as unknown as [string, string, string];
    const v1 = controllers.split(',').includes('cpu');
    if (controllers !== '' && !v1) continue;
    const mount = v1 ? join(root, 'cpu') : unifiedMount(root);
    for (let dir = join(mount, path); dir.startsWith(mount); dir = dirname(dir)) {
      const cpus = v1 ? quotaOfV1(dir) : quotaOfV2(join(dir, 'cpu.max'));
      if (cpus !== undefined && (tightest === undefined || cpus < tightest)) tightest = cpus;
      if (dir === mount) break;
    }
  }
  return tightest;
}

/** cgroup v2 alone at the root, or beside v1 at `unified` (hybrid). */
function unifiedMount(root: string): string {
  const hybrid = join(root, 'unified');
  return existsSync(join(hybrid, 'cgroup.procs')) ? hybrid : root;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  return q > 0 && p > 0 ? q / p : undefined;
}

/** `cpu.max` is "QUOTA PERIOD" in µs, or "max PERIOD" for none. */
function quotaOfV2(file: string): number | undefined {
  const [quota, period] = (readText(file) ?? '').split(/\s+/);
  return ratio(quota, period);
}

/** A quota of -1 is none. */
function quotaOfV1(dir: string): number | undefined {
  return ratio(readText(join(dir, 'cpu.cfs_quota_us')), readText(join(dir, 'cpu.cfs_period_us')));
}
