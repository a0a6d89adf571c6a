/**
 * The cgroup v2 id of a process: the inode of its directory in the unified hierarchy, which is
 * what the kernel's cgroup id (bpftrace's `cgroup` builtin, eBPF's bpf_get_current_cgroup_id)
 * reads. Used to tell the eBPF program about listeners it did not see start, in the same terms
 * as the events it makes itself.
 *
 * The directory is looked up through the mount namespace of init (/proc/1/root) or of dllt's
 * nearest ancestor that shows a cgroup2 mount, then dllt's own: `ip netns exec` (and a container
 * without /sys/fs/cgroup) gives dllt a /sys with no cgroup mount at all.
 */
import { readFileSync, statSync } from 'node:fs';
import { readCgroupText, StatProbe } from './process-info.js';

/** Where cgroup2 is mounted in this mount namespace (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified`
 *  on a hybrid v1/v2 host), from the text of /proc/self/mountinfo; undefined when it is not. */
export function cgroup2MountOf(mountinfo: string): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    // `ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - FSTYPE SOURCE OPTIONS`; a mount of a cgroup
    // namespace's own view shows a ROOT other than "/" and cannot resolve host paths.
    if (separator > 4 && fields[separator + 1] === 'cgroup2' && fields[3] === '/') return unescapeMountPath(fields[4]!);
  }
  return undefined;
}

/** mountinfo writes space, tab, newline and backslash as octal escapes. */
const unescapeMountPath = (path: string): string => path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** The cgroup v2 path in the text of /proc/<pid>/cgroup (its `0::` line), or undefined. */
export function cgroup2PathOf(cgroupFile: string): string | undefined {
  const line = cgroupFile.split('\n').find((l) => l.startsWith('0::'));
  return line === undefined ? undefined : line.slice(3);
}

/** Per procRoot: the root to look through and the cgroup2 mount seen from it, null when none. */
const views = new Map<string, { root: string; mount: string } | null>();

function viewOf(procRoot: string): { root: string; mount: string } | null {
  let view = views.get(procRoot);
  if (view !== undefined) return view;
  view = null;
  const candidates = [...new Set([1, ...ancestorsOf(process.pid, procRoot)])].map((pid) => [`${procRoot}/${pid}/root`, `${procRoot}/${pid}/mountinfo`] as const);
  for (const [root, mountinfo] of [...candidates, ['', '/proc/self/mountinfo'] as const]) {
    try {
      const mount = cgroup2MountOf(readFileSync(mountinfo, 'utf8'));
      if (mount !== undefined && statSync(root + mount).isDirectory()) {
        view = { root, mount };
        break;
      }
    } catch {
      // Not readable from here (no ptrace access to that process): try the next view.
    }
  }
  views.set(procRoot, view);
  return view;
}

/** The parent, grandparent... of `pid` up to init, as procRoot's stat files name them. */
function ancestorsOf(pid: number, procRoot: string): number[] {
  const found: number[] = [];
  const stat = new StatProbe(procRoot);
  for (let at = pid; at > 1 && found.length < 64 && stat.read(at); ) {
    at = stat.ppid;
    if (at < 1) break;
    found.push(at);
  }
  return found;
}

/** The cgroup v2 id of `pid`, or undefined when it cannot be known (no cgroup2 mount, the process
 *  gone, a path outside the view). */
export function cgroupV2IdOf(pid: number, procRoot = '/proc'): number | undefined {
  const view = viewOf(procRoot);
  if (view === null) return undefined;
  const text = readCgroupText(procRoot, pid);
  const path = text === undefined ? undefined : cgroup2PathOf(text);
  if (path === undefined) return undefined;
  try {
    return statSync(view.root + view.mount + (path === '/' ? '' : path)).ino;
  } catch {
    return undefined;
  }
}
