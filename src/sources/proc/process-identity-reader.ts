/**
 * ProcessIdentity for a pid (SPEC 9): process facts from /proc, container and pod from the cgroup
 * path, pod and container names from the kubelet's log directories, user from the host's passwd.
 *
 * identify() runs for every new connection, thousands a second on busy nodes, so identities are
 * cached (LRU, bounded). A cache hit costs one read of /proc/<pid>/stat, parsed from a reused
 * buffer: the entry is only trusted when the pid's start time and comm still match.
 * - start time: a pid reused by a new process has a later start time, so it never inherits the
 *   old identity;
 * - comm: execve keeps pid and start time but replaces comm (with the new program's name), so a
 *   process identified between fork and exec is read again once it runs its real program.
 * No cheaper check is safe: the /proc/<pid> inode number is reallocated whenever the kernel drops
 * its cached dentry (spurious misses) and comes from a 32-bit counter shared with every socket and
 * pipe on the machine; Node has no pidfd to hold a process without a read.
 * An entry checked less than `trustMs` ago is returned without a read: at 1,000 connections/s the
 * same server and client pids come back for every flow, and their stat reads were a third of
 * attribution's time (bench section `attribution`). Within that window a pid cannot cycle through
 * the kernel's pid space, and an execve right after a socket was found is the only thing missed.
 *
 * A miss reads exe, cmdline, status and cgroup, then stat once more: if the process vanished or the
 * pid was reused meanwhile, the result is undefined rather than a mix of two processes.
 * Pod and container names missing at first (the kubelet creates the log directories shortly after
 * the process starts) are looked up again on later hits; that costs no I/O beyond KubeletPods' own
 * once-a-second refresh.
 */
import { opendirSync } from 'node:fs';
import type { ProcessIdentity } from '../../analyze/enrich/process-identity.js';
import { parseCgroupFile } from './cgroup-path.js';
import { KubeletPods } from './kubelet-pods.js';
import { StatProbe, readCgroupText, readCmdline, readExe, readStatusUid } from './process-info.js';
import { UserNames } from './user-names.js';
import { BoundedMap } from '../../util/bounded-map.js';

export interface ProcessIdentityReaderOptions {
  procRoot?: string;
  /** DLLT_KUBELET_PODS_DIR. */
  podsDir?: string;
  passwdPath?: string;
  /** Most identities cached. */
  maxEntries?: number;
  /** Milliseconds, for the kubelet directory refresh limit and trustMs; Date.now by default. */
  clock?: () => number;
  /** A cached identity checked against /proc less than this many ms ago is returned unchecked (default 250). */
  trustMs?: number;
  /** Names the kubelet's directories lack, from the Kubernetes API (in-cluster only). */
  apiPods?: PodNameSource;
}

/** A second source of pod and container names (KubeApiPods). */
export interface PodNameSource {
  lookup(podUid: string): { name: string; namespace: string } | undefined;
  containerName(podUid: string, containerId: string): string | undefined;
}

interface CacheEntry {
  /** When stat last confirmed the entry (clock ms). */
  checkedAt: number;
  startTime: number;
  comm: Buffer;
  /** Returned to callers as is: treat as read-only. */
  identity: ProcessIdentity;
}

export class ProcessIdentityReader {
  readonly procRoot: string;
  /** Shared with `dllt pod` (findPod). */
  readonly pods: KubeletPods;
  private readonly users: UserNames;
  private readonly apiPods: PodNameSource | undefined;
  private readonly probe: StatProbe;
  private readonly clock: () => number;
  private readonly trustMs: number;
  /** Setting an entry again on a hit makes it the newest: the bound forgets the least recently used. */
  private readonly cache: BoundedMap<number, CacheEntry>;

  constructor(opts: ProcessIdentityReaderOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    const podsOpts = opts.clock === undefined ? {} : { clock: opts.clock };
    this.pods = new KubeletPods(opts.podsDir ?? '/var/log/pods', podsOpts);
    this.users = new UserNames(opts.passwdPath ?? '/etc/passwd');
    this.apiPods = opts.apiPods;
    this.cache = new BoundedMap(Math.max(1, opts.maxEntries ?? 4096));
    this.probe = new StatProbe(this.procRoot);
    this.clock = opts.clock ?? Date.now;
    this.trustMs = opts.trustMs ?? 250;
  }

  /** Identities currently cached. */
  get cachedCount(): number {
    return this.cache.size;
  }

  /** Who runs as `pid`; undefined when there is no such process (or it exited while being read).
   *  The object is shared with later calls for the same process: treat it as read-only. */
  identify(pid: number): ProcessIdentity | undefined {
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const now = this.clock();
    const trusted = this.cache.get(pid);
    if (trusted !== undefined && now - trusted.checkedAt < this.trustMs) {
      this.cache.set(pid, trusted);
      return trusted.identity;
    }
    if (!this.probe.read(pid)) {
      this.cache.delete(pid);
      return undefined;
    }
    const cached = this.cache.get(pid);
    if (cached !== undefined && cached.startTime === this.probe.startTime && this.probe.commEquals(cached.comm)) {
      cached.checkedAt = now;
      this.cache.set(pid, cached);
      if (missingPodNames(cached.identity)) cached.identity = this.withPodNames(cached.identity);
      return cached.identity;
    }
    const entry = this.readProcess(pid);
    if (entry === undefined) {
      this.cache.delete(pid);
      return undefined;
    }
    this.cache.set(pid, entry);
    return entry.identity;
  }

  /** Pids whose cgroup names the pod, ascending (for `dllt pod`). Scans the whole procRoot. */
  podProcesses(podUid: string): number[] {
    const pids: number[] = [];
    let dir;
    try {
      dir = opendirSync(this.procRoot);
    } catch {
      return pids;
    }
    try {
      for (let entry = dir.readSync(); entry !== null; entry = dir.readSync()) {
        if (!/^\d+$/.test(entry.name)) continue;
        const text = readCgroupText(this.procRoot, Number(entry.name));
        if (text !== undefined && parseCgroupFile(text).podUid === podUid) pids.push(Number(entry.name));
      }
    } catch {
      // procRoot became unreadable mid-scan: report what was found.
    } finally {
      dir.closeSync();
    }
    return pids.sort((a, b) => a - b);
  }

  /** Called with the probe holding this pid's stat. */
  private readProcess(pid: number): CacheEntry | undefined {
    const { startTime, ppid } = this.probe;
    const comm = this.probe.comm();
    const commBytes = this.probe.commBytes();
    const uid = readStatusUid(this.procRoot, pid);
    // status exists for every live process, zombies and kernel threads included.
    if (uid === undefined) return undefined;
    const exe = readExe(this.procRoot, pid);
    const cmdline = readCmdline(this.procRoot, pid);
    const cgroupText = readCgroupText(this.procRoot, pid);
    if (!this.probe.read(pid) || this.probe.startTime !== startTime) return undefined;

    const identity: ProcessIdentity = { pid, ppid };
    if (comm !== '') identity.comm = comm;
    if (exe !== undefined) identity.exe = exe;
    if (cmdline !== undefined) identity.cmdline = cmdline;
    identity.uid = uid;
    const user = this.users.name(uid);
    if (user !== undefined) identity.user = user;
    if (cgroupText !== undefined) {
      const cg = parseCgroupFile(cgroupText);
      if (cg.containerId !== undefined) identity.containerId = cg.containerId;
      if (cg.containerRuntime !== undefined) identity.containerRuntime = cg.containerRuntime;
      if (cg.podUid !== undefined) identity.podUid = cg.podUid;
    }
    return { checkedAt: this.clock(), startTime, comm: commBytes, identity: this.withPodNames(identity) };
  }

  /** The identity with whatever pod and container names the kubelet directories now give. */
  private withPodNames(identity: ProcessIdentity): ProcessIdentity {
    if (identity.podUid === undefined) return identity;
    const uid = identity.podUid;
    const pod = this.pods.lookup(uid) ?? this.apiPods?.lookup(uid);
    const id = identity.containerId;
    const containerName = id === undefined ? undefined : (this.pods.containerName(uid, id) ?? this.apiPods?.containerName(uid, id));
    const unchanged =
      (pod === undefined || (pod.name === identity.podName && pod.namespace === identity.podNamespace)) &&
      (containerName === undefined || containerName === identity.containerName);
    if (unchanged) return identity;
    // A new object: callers may still hold the previous one.
    const named: ProcessIdentity = { ...identity };
    if (pod !== undefined) {
      named.podName = pod.name;
      named.podNamespace = pod.namespace;
    }
    if (containerName !== undefined) named.containerName = containerName;
    return named;
  }
}

function missingPodNames(identity: ProcessIdentity): boolean {
  if (identity.podUid === undefined) return false;
  return identity.podName === undefined || (identity.containerId !== undefined && identity.containerName === undefined);
}
