/**
 * "Pods" built the way a CRI builds them, for end-to-end tests that need dllt to find a pod: the
 * pod's processes in a cgroup shaped like
 * `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope`,
 * and a kubelet-style pods directory (`<namespace>_<name>_<uid>/<container>/`, with the
 * `containers/<pod>_<namespace>_<container>-<id>.log` links beside it). The network namespace is
 * the test's own (NetnsLab).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetnsLab } from './netns.js';

/** The cgroup v2 hierarchy: alone, or hybrid's `unified` (ENVIRONMENT.md). */
export const CGROUP2 = existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : undefined;

/** Why fake pods cannot be built here, or undefined. */
export function fakePodsUnavailable(): string | undefined {
  return CGROUP2 === undefined ? 'no cgroup v2 hierarchy to place the pods\' processes in' : undefined;
}

export interface FakePod {
  namespace: string;
  name: string;
  uid: string;
  container: string;
  containerId: string;
  /** cgroup directory (absolute) the pod's container processes go in. */
  cgroup: string;
}

export function makePod(root: string, podsDir: string, namespace: string, name: string, container: string): FakePod {
  const uid = [8, 4, 4, 4, 12].map((n) => randomBytes(n / 2).toString('hex')).join('-');
  const containerId = randomBytes(32).toString('hex');
  const slice = `kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`;
  const cgroup = join(root, 'kubepods.slice', 'kubepods-besteffort.slice', slice, `cri-containerd-${containerId}.scope`);
  mkdirSync(cgroup, { recursive: true });
  mkdirSync(join(podsDir, `${namespace}_${name}_${uid}`, container), { recursive: true });
  writeFileSync(join(podsDir, `${namespace}_${name}_${uid}`, container, '0.log'), '');
  const containersDir = join(podsDir, '..', 'containers');
  mkdirSync(containersDir, { recursive: true });
  symlinkSync(join(podsDir, `${namespace}_${name}_${uid}`, container, '0.log'), join(containersDir, `${name}_${namespace}_${container}-${containerId}.log`));
  return { namespace, name, uid, container, containerId, cgroup };
}

/** Removes a cgroup tree deepest first (its processes must be gone). */
export function removeCgroups(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeCgroups(join(dir, entry.name));
  try {
    rmdirSync(dir);
  } catch {
    // A process still inside: left for the next run's cleanup rather than failing the test here.
  }
}

/** Runs `argv` inside netns `ns` as a member of cgroup `cgroup` (it joins before exec).
 *  nsenter, not `ip netns exec`: the latter remounts /sys, hiding the cgroup hierarchy. */
export function inPod(lab: NetnsLab, ns: string, cgroup: string, argv: string[]) {
  const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return lab.spawnHost('nsenter', [`--net=/run/netns/${ns}`, 'sh', '-c', `echo $$ > '${cgroup}/cgroup.procs' && exec ${quoted}`]);
}

