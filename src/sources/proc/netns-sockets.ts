/**
 * Sockets of every network namespace on the host, seen from the host through /proc: which
 * namespaces exist (the `ns/net` link of every process), their socket tables (read through one
 * process inside each, since /proc/<pid>/net shows that process's namespace; TCP through
 * sock_diag in that namespace when the dllt-sockdiag helper runs, see sock-diag-helper.ts), and
 * which process holds a socket (its inode among the `socket:[N]` links of /proc/<pid>/fd). This is how a pod's
 * sockets are found from the host: the pod's processes are host processes in another namespace.
 *
 * Synchronous on purpose: it runs in the attribution worker, never on the packet thread.
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, readSync } from 'node:fs';
import { parseSocketTable, SocketIndex, type SocketEntry } from './socket-table.js';
import { formatIp } from '../../wire/ip-format.js';
import { SOCK_DIAG_HELPER, SockDiagHelper } from './sock-diag-helper.js';

/** if_inet6 prints addresses in network order (unlike the socket tables). */
const v6Words = new Int32Array(4);

const TABLES: Record<number, readonly string[]> = { 6: ['tcp', 'tcp6'], 17: ['udp', 'udp6'] };
const TIME_WAIT_ON_LOOPBACK_ONLY = { timeWaitOnLoopbackOnly: true };

/**
 * Reading a TCP table walks the kernel's established-connection hash, which every namespace of
 * the host shares (262,144 buckets on a 23 GB machine: ~2.5 ms, whatever the namespace holds),
 * and each read() that finds the end walks it again, so readFileSync's closing empty read
 * doubles the cost. A seq_file read stops short of a full page (4 KiB or more) only when the
 * table has ended, so a read that returns less than a page minus the longest row (~180 bytes)
 * is the last one.
 */
const TABLE_CHUNK = Buffer.allocUnsafe(64 * 1024);
const TABLE_LAST_READ_BELOW = 4096 - 512;

function readTable(path: string): string {
  const fd = openSync(path, 'r');
  try {
    let text = '';
    for (;;) {
      const n = readSync(fd, TABLE_CHUNK, 0, TABLE_CHUNK.length, null);
      text += TABLE_CHUNK.toString('latin1', 0, n);
      if (n < TABLE_LAST_READ_BELOW) return text;
    }
  } finally {
    closeSync(fd);
  }
}

/** After the sock_diag helper failed, TCP tables come from /proc alone for this long. */
const SOCK_DIAG_RETRY_MS = 60_000;

export interface NetnsSocketsOptions {
  procRoot?: string;
  /** Milliseconds; tests drive time by hand. */
  clock?: () => number;
  /** Process list re-read at most this often (ms). */
  processRefreshMs?: number;
  /** One namespace's processes' fds re-scanned at most this often (ms). */
  fdScanMs?: number;
  /** The dllt-sockdiag binary (tests point it elsewhere to see the fallback). */
  sockDiagHelper?: string;
}

interface Namespace {
  inode: number;
  pids: number[];
  /** Per protocol, the last tables read: when, and in which pass. */
  tables: Map<number, { index: SocketIndex; readAt: number; pass: number }>;
  /** socket inode → pid, from the last fd scan. */
  owners: Map<number, number>;
  /** Inodes more than one process held at the last fd scan (forked servers sharing a listener). */
  shared: Set<number>;
  lastFdScan: number;
  /** Per pid, each fd's socket inode (0: not a socket) at the last scan, and when every fd was last read. */
  fds: Map<number, Map<string, number>>;
  lastFullFdScan: number;
}

/** The namespace with these pids, keeping what was learned of it before (`old`), if anything. */
function namespaceOf(inode: number, pids: number[], old: Namespace | undefined): Namespace {
  return { inode, pids, tables: old?.tables ?? new Map(), owners: old?.owners ?? new Map(), shared: old?.shared ?? new Set(), lastFdScan: old?.lastFdScan ?? -Infinity, fds: old?.fds ?? new Map(), lastFullFdScan: old?.lastFullFdScan ?? -Infinity };
}

/**
 * Between full fd scans, an fd whose socket a table still lists is taken to hold it still: only
 * new fds and fds of closed sockets are read again. A client with 500 open connections made 500
 * readlinks per scan, five scans a second, for the few dozen sockets that were new (the
 * attribution worker's largest cost after table reads). A full scan now and then catches what
 * that misses (an fd number reused while its old socket lives on in another process).
 */
const FULL_FD_SCAN_MS = 2_000;

/**
 * A process started since the process list was read (every second) may hold sockets nobody
 * looks for: a new client whose first connections last half a second, in a namespace the list
 * does not have (one that had no process: an `ip netns` namespace between two commands). When
 * the kernel gave out a new pid, the processes not seen before are read at the next poll or
 * pass, at most this often (a node starts processes all the time).
 */
const NEW_PROCESS_SCAN_MS = 200;

export class NetnsSockets {
  private readonly procRoot: string;
  private readonly clock: () => number;
  private readonly processRefreshMs: number;
  private readonly fdScanMs: number;
  private namespacesByInode = new Map<number, Namespace>();
  private lastProcessScan = -Infinity;
  /** The last process scan of either kind, full or of new processes only. */
  private lastAnyProcessScan = -Infinity;
  private newestPidAtScan = -1;
  /** pid → its network namespace, as of the scans. */
  private readonly pidNamespaces = new Map<number, number>();
  private pass = 0;
  private freshAfter = -Infinity;
  /** Local address → the namespace that has it (loopback left out: every namespace has it). */
  private readonly addressHome = new Map<string, number>();
  /** The sock_diag helper is not used before then (ms): it failed. */
  private sockDiagBrokenUntil = -Infinity;
  private readonly sockDiagBinary: string;
  private sockDiag: SockDiagHelper | undefined;
  /** Why sock_diag last failed, for the attribution notice. */
  sockDiagProblem: string | undefined;

  constructor(opts: NetnsSocketsOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.clock = opts.clock ?? Date.now;
    this.processRefreshMs = opts.processRefreshMs ?? 1000;
    this.fdScanMs = opts.fdScanMs ?? 50;
    this.sockDiagBinary = opts.sockDiagHelper ?? SOCK_DIAG_HELPER;
  }

  /** Stops the sock_diag helper (started again by the next TCP table read). */
  close(): void {
    this.sockDiag?.close();
    this.sockDiag = undefined;
  }

  /**
   * Starts a lookup pass. Tables read after `freshAfter` (ms) are kept; others are read again,
   * at most once in the pass. A table read after a flow reached us holds every socket of that
   * flow that still exists (its packets came from them), so passes that retry old flows need
   * not pay for reading the tables again (see readTable).
   */
  beginPass(freshAfter = this.clock()): void {
    this.pass++;
    this.freshAfter = freshAfter;
    const now = this.clock();
    if (now - this.lastProcessScan >= this.processRefreshMs) this.scanProcesses();
    else if (now - this.lastAnyProcessScan >= NEW_PROCESS_SCAN_MS && this.newestPid() !== this.newestPidAtScan) this.scanNewProcesses();
  }

  /** The pid the kernel gave last (the last field of /proc/loadavg): when it changed, a process
   *  started, maybe in a namespace that had none (the list then does not hold it yet), and its
   *  first short connections could close before the next full scan. -1 when unreadable. */
  private newestPid(): number {
    try {
      const text = readFileSync(`${this.procRoot}/loadavg`, 'latin1');
      const pid = Number(text.slice(text.lastIndexOf(' ') + 1));
      return Number.isInteger(pid) ? pid : -1;
    } catch {
      return -1;
    }
  }

  /** When the process list (and so the namespaces and their addresses) was last read. */
  get processesReadAt(): number {
    return this.lastProcessScan;
  }

  /** Namespaces that may hold a socket bound to `address`: its namespace, every one for a
   *  loopback address, none for an address no namespace here has (not a local end). */
  candidates(address: string): number[] {
    if (isLoopback(address)) return this.allNamespaces();
    const home = this.homeOf(address);
    return home === undefined ? [] : [home];
  }

  /** Every network namespace with a process in it, as of the last process scan. */
  allNamespaces(): number[] {
    return [...this.namespacesByInode.keys()];
  }

  /** Whether a flow end with this address can be on this host. */
  isLocal(address: string): boolean {
    return isLoopback(address) || this.homeOf(address) !== undefined;
  }

  /** The namespace whose sockets use this (non-loopback) address, once a table showed it. */
  homeOf(address: string): number | undefined {
    const home = this.addressHome.get(address);
    return home !== undefined && this.namespacesByInode.has(home) ? home : undefined;
  }

  get namespaceCount(): number {
    return this.namespacesByInode.size;
  }

  /** The namespace's count of TCP connections opened and UDP datagrams sent (net/snmp), read
   *  now through one of its processes: it changes when a client may have a new socket. */
  sendCounts(netns: number): SendCounts | undefined {
    const ns = this.namespacesByInode.get(netns);
    if (ns === undefined) return undefined;
    for (const pid of ns.pids) {
      let text: string;
      try {
        text = readFileSync(`${this.procRoot}/${pid}/net/snmp`, 'latin1');
      } catch {
        continue;
      }
      return parseSendCounts(text);
    }
    return undefined;
  }

  /** The namespace's sockets of `proto` (6 or 17): read at most once per pass, kept while fresh (beginPass). */
  index(netns: number, proto: number): SocketIndex | undefined {
    const ns = this.namespacesByInode.get(netns);
    const names = TABLES[proto];
    if (ns === undefined || names === undefined) return undefined;
    const kept = ns.tables.get(proto);
    if (kept !== undefined && (kept.pass === this.pass || kept.readAt > this.freshAfter)) return kept.index;
    const readAt = this.clock();
    const entries = this.readTables(ns, names);
    if (entries === undefined) return undefined;
    const index = new SocketIndex(entries, proto);
    ns.tables.set(proto, { index, readAt, pass: this.pass });
    return index;
  }

  /**
   * The one process holding the listener that takes connections to ip:port, from the address's
   * namespace's last table (read at most `maxAgeMs` ago) and fd scan, without reading anything;
   * undefined when that is not known or several processes share the listener.
   */
  soleListenerOwner(proto: number, ip: string, port: number, maxAgeMs: number): { pid: number; netns: number } | undefined {
    const netns = this.homeOf(ip);
    const ns = netns === undefined ? undefined : this.namespacesByInode.get(netns);
    const kept = ns?.tables.get(proto);
    if (ns === undefined || kept === undefined || this.clock() - kept.readAt > maxAgeMs) return undefined;
    const listener = kept.index.listener(ip, port);
    if (listener === undefined || ns.shared.has(listener.inode)) return undefined;
    const pid = ns.owners.get(listener.inode);
    return pid === undefined ? undefined : { pid, netns: ns.inode };
  }

  /** Where the next TCP table read comes from: sock_diag, unless its helper failed lately. */
  tcpSource(): 'proc' | 'sock_diag' {
    return this.sockDiagBrokenUntil <= this.clock() ? 'sock_diag' : 'proc';
  }

  /** The process holding socket `inode` in `netns`; re-scans the namespace's fds (rate-limited) on a miss. */
  ownerOf(netns: number, inode: number): number | undefined {
    if (inode === 0) return undefined;
    const ns = this.namespacesByInode.get(netns);
    if (ns === undefined) return undefined;
    const known = ns.owners.get(inode);
    if (known !== undefined) return known;
    const now = this.clock();
    if (now - ns.lastFdScan < this.fdScanMs) return undefined;
    ns.lastFdScan = now;
    this.scanOwners(ns, now);
    return ns.owners.get(inode);
  }

  /** Re-scans the namespace's fds now, whenever the last scan was: for a one-time survey (the
   *  listeners' owners when eBPF attaches) that must not miss owners the rate limit would. */
  rescanOwners(netns: number): void {
    const ns = this.namespacesByInode.get(netns);
    if (ns === undefined) return;
    ns.lastFdScan = this.clock();
    this.scanOwners(ns, ns.lastFdScan);
  }

  private readTables(ns: Namespace, names: readonly string[]): SocketEntry[] | undefined {
    const tcp = names === TABLES[6];
    const now = this.clock();
    // Any process of the namespace will do; one that exited since the scan is skipped.
    for (const pid of ns.pids) {
      if (tcp && this.sockDiagBrokenUntil <= now) {
        const viaSockDiag = this.readTcpViaSockDiag(pid);
        if (typeof viaSockDiag !== 'string') return viaSockDiag;
        // A process that exited since the scan has no namespace file: the next one will do.
        if (!existsSync(`${this.procRoot}/${pid}/ns/net`)) continue;
        this.sockDiagProblem = viaSockDiag;
        this.sockDiagBrokenUntil = now + SOCK_DIAG_RETRY_MS;
        this.close();
      }
      try {
        const entries: SocketEntry[] = [];
        for (const name of names) {
          try {
            for (const e of parseSocketTable(readTable(`${this.procRoot}/${pid}/net/${name}`), TIME_WAIT_ON_LOOPBACK_ONLY)) entries.push(e);
          } catch (err) {
            // No IPv6 in this kernel or namespace: the v4 table alone is the whole story.
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !name.endsWith('6')) throw err;
          }
        }
        return entries;
      } catch {
        continue;
      }
    }
    return undefined;
  }

  private readTcpViaSockDiag(pid: number): SocketEntry[] | string {
    if (this.sockDiag === undefined) {
      const started = SockDiagHelper.start(this.sockDiagBinary);
      if (typeof started === 'string') return started;
      this.sockDiag = started;
    }
    return this.sockDiag.readTcp(`${this.procRoot}/${pid}/ns/net`);
  }

  /** Every process's namespace, the namespaces' addresses with them. */
  private scanProcesses(): void {
    const now = this.clock();
    this.lastProcessScan = now;
    this.lastAnyProcessScan = now;
    this.newestPidAtScan = this.newestPid();
    const listed = listNetworkNamespaces(this.procRoot);
    if (listed === undefined) return;
    const next = new Map<number, Namespace>();
    this.pidNamespaces.clear();
    for (const [inode, pids] of listed) {
      const ns = namespaceOf(inode, pids, this.namespacesByInode.get(inode));
      next.set(inode, ns);
      for (const pid of pids) this.pidNamespaces.set(pid, inode);
      this.readAddresses(ns);
    }
    this.namespacesByInode = next;
  }

  /** Only the processes started since the last scan: their namespaces are read, the known ones'
   *  pids and addresses left as they are (the next full scan drops processes that exited). */
  private scanNewProcesses(): void {
    this.lastAnyProcessScan = this.clock();
    this.newestPidAtScan = this.newestPid();
    const listed = listNetworkNamespaces(this.procRoot, this.pidNamespaces);
    if (listed === undefined) return;
    for (const [inode, pids] of listed) {
      for (const pid of pids) this.pidNamespaces.set(pid, inode);
      const known = this.namespacesByInode.get(inode);
      if (known !== undefined) {
        known.pids.push(...pids);
        continue;
      }
      const ns = namespaceOf(inode, pids, undefined);
      this.namespacesByInode.set(inode, ns);
      this.readAddresses(ns);
    }
  }

  /** The namespace's own addresses, so a server end is placed in its namespace even when its
   *  connection's socket is already gone. */
  private readAddresses(ns: Namespace): void {
    for (const pid of ns.pids) {
      const addresses = namespaceAddresses(pid, this.procRoot);
      if (addresses === undefined) continue;
      for (const a of addresses) this.addressHome.set(a, ns.inode);
      return;
    }
  }

  private scanOwners(ns: Namespace, now: number): void {
    const full = now - ns.lastFullFdScan >= FULL_FD_SCAN_MS;
    if (full) ns.lastFullFdScan = now;
    const listed = [...ns.tables.values()];
    const live = (inode: number): boolean => !full && listed.some((t) => t.index.hasInode(inode));
    const owners = new Map<number, number>();
    const shared = new Set<number>();
    const fdsByPid = new Map<number, Map<string, number>>();
    for (const pid of ns.pids) {
      const dir = `${this.procRoot}/${pid}/fd`;
      let fds: string[];
      try {
        fds = readdirSync(dir);
      } catch {
        continue;
      }
      const before = ns.fds.get(pid);
      const after = new Map<string, number>();
      for (const fd of fds) {
        let inode = before?.get(fd);
        if (inode === undefined || (inode !== 0 && !live(inode))) {
          let target: string;
          try {
            target = readlinkSync(`${dir}/${fd}`);
          } catch {
            continue;
          }
          // socket:[12345]
          inode = target.startsWith('socket:[') ? Number(target.slice(8, -1)) : 0;
        }
        after.set(fd, inode);
        if (inode === 0) continue;
        // The lowest pid keeps a socket that forked children share.
        const holder = owners.get(inode);
        if (holder === undefined) owners.set(inode, pid);
        else if (holder !== pid) shared.add(inode);
      }
      fdsByPid.set(pid, after);
    }
    ns.owners = owners;
    ns.shared = shared;
    ns.fds = fdsByPid;
  }
}

export interface SendCounts {
  tcpActiveOpens: number;
  udpOutDatagrams: number;
}

/** `Tcp: ... ActiveOpens ...` / `Udp: ... OutDatagrams ...` of /proc/net/snmp (a header line
 *  of names, then a line of values); undefined when either is missing. */
export function parseSendCounts(text: string): SendCounts | undefined {
  const value = (group: string, name: string): number | undefined => {
    const lines = text.split('\n').filter((l) => l.startsWith(group + ':'));
    if (lines.length < 2) return undefined;
    const i = lines[0]!.split(/\s+/).indexOf(name);
    const v = i > 0 ? Number(lines[1]!.split(/\s+/)[i]) : NaN;
    return Number.isFinite(v) ? v : undefined;
  };
  const tcpActiveOpens = value('Tcp', 'ActiveOpens');
  const udpOutDatagrams = value('Udp', 'OutDatagrams');
  return tcpActiveOpens === undefined || udpOutDatagrams === undefined ? undefined : { tcpActiveOpens, udpOutDatagrams };
}

/**
 * The addresses of the network namespace `pid` lives in, loopback and link-local left out: IPv4
 * from the LOCAL host routes of fib_trie, IPv6 from if_inet6. Undefined when the process is gone.
 */
export function namespaceAddresses(pid: number, procRoot = '/proc'): string[] | undefined {
  let trie: string;
  try {
    trie = readFileSync(`${procRoot}/${pid}/net/fib_trie`, 'latin1');
  } catch {
    return undefined;
  }
  const addresses = new Set<string>();
  let last = '';
  for (const line of trie.split('\n')) {
    const leaf = line.indexOf('|-- ');
    if (leaf >= 0) last = line.slice(leaf + 4).trim();
    else if (line.includes('/32 host LOCAL') && !isLoopback(last)) addresses.add(last);
  }
  try {
    for (const line of readFileSync(`${procRoot}/${pid}/net/if_inet6`, 'latin1').split('\n')) {
      const hex = line.slice(0, 32);
      if (!/^[0-9a-f]{32}$/.test(hex) || hex === '00000000000000000000000000000001' || hex.startsWith('fe80')) continue;
      for (let i = 0; i < 4; i++) v6Words[i] = parseInt(hex.slice(i * 8, i * 8 + 8), 16) | 0;
      addresses.add(formatIp(6, v6Words));
    }
  } catch {
    // No IPv6 here.
  }
  return [...addresses];
}

/**
 * Every network namespace with a process in it, from the `ns/net` link of each process: inode →
 * its pids in /proc's order. Undefined when /proc cannot be listed. Pids in `known` are left out
 * (their namespace is known: only new processes are read).
 */
export function listNetworkNamespaces(procRoot = '/proc', known?: ReadonlyMap<number, number>): Map<number, number[]> | undefined {
  let names: string[];
  try {
    names = readdirSync(procRoot);
  } catch {
    return undefined;
  }
  const found = new Map<number, number[]>();
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    if (known?.has(Number(name))) continue;
    let link: string;
    try {
      link = readlinkSync(`${procRoot}/${name}/ns/net`);
    } catch {
      continue;
    }
    const inode = Number(link.slice(link.indexOf('[') + 1, -1));
    if (!Number.isInteger(inode)) continue;
    const pids = found.get(inode);
    if (pids === undefined) found.set(inode, [Number(name)]);
    else pids.push(Number(name));
  }
  return found;
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}
