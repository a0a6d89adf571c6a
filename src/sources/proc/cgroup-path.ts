/**
 * Container id, runtime and pod uid from the text of /proc/<pid>/cgroup (SPEC 9).
 *
 * Hand-written because no npm package knows the shapes kubelet and the runtimes give the path;
 * each shape below was seen on real nodes (the test file names where):
 * - kubelet systemd driver: `kubepods[-<qos>]-pod<uid with _ for ->.slice`, possibly nested under a
 *   prefix (kind: `kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort-pod<uid>.slice`),
 *   with the container as `cri-containerd-<id>.scope`, `crio-<id>.scope` or `docker-<id>.scope`;
 * - containerd on cgroup v1 without its systemd cgroup option writes the literal systemd triple:
 *   `kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>`;
 * - kubelet cgroupfs driver: `/kubepods[/<qos>]/pod<uid>/<id>` (CRI-O: `crio-<id>`);
 * - plain Docker: `/docker/<id>`, `/system.slice/docker-<id>.scope`.
 * CRI-O's `crio-conmon-<id>.scope` holds the monitor process, not the container: no id for it.
 * Static pods have a 32-hex uid (a hash of their manifest) instead of a dashed UUID.
 */

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker';

export interface CgroupIdentity {
  containerId?: string;
  containerRuntime?: ContainerRuntime;
  podUid?: string;
}

const RUNTIME_BY_PREFIX: Readonly<Record<string, ContainerRuntime>> = {
  'cri-containerd': 'containerd',
  crio: 'cri-o',
  docker: 'docker',
};

const UID = '[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}';
/** `kubepods-pod<uid>.slice`, `kubepods-burstable-pod<uid>.slice`, `kubelet-kubepods-besteffort-pod<uid>.slice`. */
const SYSTEMD_POD = new RegExp(`^(?:[a-z0-9]+-)*kubepods(?:-[a-z]+)?-pod(${UID})\\.slice$`);
/** cgroupfs driver: `pod<uid>` somewhere below a `kubepods` directory. */
const CGROUPFS_POD = new RegExp(`^pod(${UID})$`);
const PREFIXED_CONTAINER = /^(cri-containerd|crio|docker)-([0-9a-f]{64})(?:\.scope)?$/;
const BARE_CONTAINER = /^[0-9a-f]{64}$/;

/** Parses the whole file; the cgroup v2 line (`0::`) is preferred, v1 controller lines follow. */
export function parseCgroupFile(text: string): CgroupIdentity {
  const paths: string[] = [];
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    // The path itself may contain ':' (the containerd triple), so only the first two split.
    if (second < 0) continue;
    const path = line.slice(second + 1).trim();
    if (line.startsWith('0::')) paths.unshift(path);
    else paths.push(path);
  }
  let podOnly: CgroupIdentity | undefined;
  for (const path of paths) {
    const id = parseCgroupPath(path);
    if (id.containerId !== undefined) return id;
    if (podOnly === undefined && id.podUid !== undefined) podOnly = id;
  }
  return podOnly ?? {};
}

/** One cgroup path (`/kubepods.slice/...`). The deepest container segment wins. */
export function parseCgroupPath(path: string): CgroupIdentity {
  const out: CgroupIdentity = {};
  let underKubepods = false;
  let parent = '';
  for (const segment of path.split('/')) {
    if (segment === '') continue;
    const triple = segment.split(':');
    const unit = triple[0]!;
    const pod = SYSTEMD_POD.exec(unit) ?? (underKubepods ? CGROUPFS_POD.exec(unit) : null);
    if (pod) out.podUid = pod[1]!.replaceAll('_', '-');
    if (unit === 'kubepods') underKubepods = true;

    if (triple.length === 3 && RUNTIME_BY_PREFIX[triple[1]!] !== undefined && BARE_CONTAINER.test(triple[2]!)) {
      setContainer(out, triple[2]!, RUNTIME_BY_PREFIX[triple[1]!]);
    } else {
      const prefixed = PREFIXED_CONTAINER.exec(segment);
      if (prefixed) setContainer(out, prefixed[2]!, RUNTIME_BY_PREFIX[prefixed[1]!]);
      else if (BARE_CONTAINER.test(segment) && (parent === 'docker' || out.podUid !== undefined)) {
        // A bare id says nothing about the runtime, except under Docker's own /docker parent.
        setContainer(out, segment, parent === 'docker' ? 'docker' : undefined);
      }
    }
    parent = segment;
  }
  return out;
}

function setContainer(out: CgroupIdentity, id: string, runtime: ContainerRuntime | undefined): void {
  out.containerId = id;
  if (runtime === undefined) delete out.containerRuntime;
  else out.containerRuntime = runtime;
}
