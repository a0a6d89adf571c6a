/**
 * Pod name, namespace and container names from the kubelet's log directories (SPEC 9), so pods are
 * named without reaching the API server:
 * - `<podsDir>/<namespace>_<name>_<uid>/<container name>/` (DLLT_KUBELET_PODS_DIR, /var/log/pods);
 * - `<podsDir>/../containers/<pod name>_<namespace>_<container name>-<container id>.log`, the symlinks
 *   kubelet keeps for log shippers: the only place on disk that ties a container id to its name.
 * Namespaces, pod names and container names are DNS names and never contain `_`, so `_` splits
 * them unambiguously.
 *
 * The directories are read whole, again only on a miss and at most once per refresh interval, so a
 * burst of lookups for a pod that has no directory (yet) costs one listing per second. Every map
 * is capped at maxEntries: a huge or hostile directory cannot grow memory without bound.
 */
import { opendirSync, statSync, type Dirent } from 'node:fs';
import { dirname, join } from 'node:path';

export interface KubeletPod {
  namespace: string;
  name: string;
  /** Container folder names, sorted. */
  containers: string[];
}

export interface KubeletPodsOptions {
  /** The log symlink directory; default `containers` beside the pods directory. */
  containersDir?: string;
  /** Most pods, and most container symlinks, remembered. */
  maxEntries?: number;
  /** Milliseconds; Date.now by default, injected by tests. */
  clock?: () => number;
  /** A miss re-reads the directories at most this often. */
  refreshIntervalMs?: number;
}

interface ContainerLink {
  podName: string;
  namespace: string;
  containerName: string;
}

const DEFAULT_MAX_ENTRIES = 8192;
const MAX_CONTAINERS_PER_POD = 256;
const SCAN_FACTOR = 4;
const CONTAINER_LINK = /^([^_]+)_([^_]+)_([^_]+)-([0-9a-f]{64})\.log$/;

export class KubeletPods {
  readonly containersDir: string;
  private readonly maxEntries: number;
  private readonly clock: () => number;
  private readonly refreshIntervalMs: number;
  private pods = new Map<string, KubeletPod>();
  private uidByName = new Map<string, string>();
  private links = new Map<string, ContainerLink>();
  /** `<namespace>/<name>` of pods that have at least one log symlink. */
  private podsWithLinks = new Set<string>();
  private lastRefresh = -Infinity;

  constructor(readonly podsDir = '/var/log/pods', opts: KubeletPodsOptions = {}) {
    this.containersDir = opts.containersDir ?? join(dirname(podsDir), 'containers');
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.clock = opts.clock ?? Date.now;
    this.refreshIntervalMs = opts.refreshIntervalMs ?? 1000;
  }

  /** Pods currently known. */
  get size(): number {
    return this.pods.size;
  }

  lookup(podUid: string): KubeletPod | undefined {
    const pod = this.pods.get(podUid);
    if (pod !== undefined || !this.refreshAllowed()) return pod;
    this.refresh();
    return this.pods.get(podUid);
  }

  /**
   * The container's name: from its log symlink, else the pod's only container folder. When the pod
   * has symlinks but none for this id, the id is not a logging container (the pod sandbox's pause
   * process): no name rather than a wrong one.
   */
  containerName(podUid: string, containerId: string): string | undefined {
    const pod = this.lookup(podUid);
    let link = this.links.get(containerId);
    if (link === undefined && this.refreshAllowed()) {
      this.refresh();
      link = this.links.get(containerId);
    }
    if (link !== undefined) {
      if (pod === undefined || (link.namespace === pod.namespace && link.podName === pod.name)) return link.containerName;
      return undefined;
    }
    if (pod === undefined || this.podsWithLinks.has(`${pod.namespace}/${pod.name}`)) return undefined;
    return pod.containers.length === 1 ? pod.containers[0] : undefined;
  }

  /** For `dllt pod NAMESPACE/NAME`: when several uids carry the name (a recreated pod whose old
   *  logs remain), the most recently modified directory wins. */
  findPod(namespace: string, name: string): { uid: string } | undefined {
    const key = `${namespace}/${name}`;
    let uid = this.uidByName.get(key);
    if (uid === undefined && this.refreshAllowed()) {
      this.refresh();
      uid = this.uidByName.get(key);
    }
    return uid === undefined ? undefined : { uid };
  }

  private refreshAllowed(): boolean {
    return this.clock() - this.lastRefresh >= this.refreshIntervalMs;
  }

  private refresh(): void {
    this.lastRefresh = this.clock();
    const pods = new Map<string, KubeletPod>();
    const uidByName = new Map<string, string>();
    eachEntry(this.podsDir, this.maxEntries, (entry) => {
      if (!entry.isDirectory()) return false;
      const parts = entry.name.split('_');
      if (parts.length !== 3 || parts.some((p) => p === '')) return false;
      const [namespace, name, uid] = parts as [string, string, string];
      const containers: string[] = [];
      eachEntry(join(this.podsDir, entry.name), MAX_CONTAINERS_PER_POD, (c) => {
        if (!c.isDirectory()) return false;
        containers.push(c.name);
        return true;
      });
      pods.set(uid, { namespace, name, containers: containers.sort() });
      const key = `${namespace}/${name}`;
      const other = uidByName.get(key);
      if (other === undefined || this.newer(`${namespace}_${name}_${uid}`, `${namespace}_${name}_${other}`)) uidByName.set(key, uid);
      return true;
    });
    const links = new Map<string, ContainerLink>();
    const podsWithLinks = new Set<string>();
    eachEntry(this.containersDir, this.maxEntries, (entry) => {
      const m = CONTAINER_LINK.exec(entry.name);
      if (!m) return false;
      const [, podName, namespace, containerName, id] = m as unknown as [string, string, string, string, string];
      links.set(id, { podName, namespace, containerName });
      podsWithLinks.add(`${namespace}/${podName}`);
      return true;
    });
    this.pods = pods;
    this.uidByName = uidByName;
    this.links = links;
    this.podsWithLinks = podsWithLinks;
  }

  private newer(dirA: string, dirB: string): boolean {
    try {
      return statSync(join(this.podsDir, dirA)).mtimeMs > statSync(join(this.podsDir, dirB)).mtimeMs;
    } catch {
      return false;
    }
  }
}

/**
 * Calls `take` for a directory's entries until it has accepted `limit` of them (it returns whether
 * it kept the entry) or SCAN_FACTOR × limit were looked at, so neither memory nor the time of one
 * refresh grows with a directory full of junk. A missing or unreadable directory has no entries.
 */
function eachEntry(path: string, limit: number, take: (entry: Dirent) => boolean): void {
  let dir;
  try {
    dir = opendirSync(path);
  } catch {
    return;
  }
  let kept = 0;
  try {
    for (let seen = 0, entry = dir.readSync(); entry !== null && kept < limit && seen < SCAN_FACTOR * limit; seen++, entry = dir.readSync()) {
      if (take(entry)) kept++;
    }
  } catch {
    // The directory vanished while being read: keep what was listed.
  } finally {
    try {
      dir.closeSync();
    } catch {
      // already closed by the failed read
    }
  }
}
