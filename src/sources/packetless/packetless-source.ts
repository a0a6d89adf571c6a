/**
 * `dllt capture --packetless` (SPEC 9, the ntop seed's system introspection): flows built from
 * the kernel's socket tables alone, for traffic no capture point sees (container to container on
 * one host, loopback). Every `pollMs` it reads each watched network namespace's TCP sockets with
 * `ss` (ss-reader.ts), and between polls it takes sockets' final counters from `ss -E` as the
 * kernel destroys them; socket-flows.ts turns both into flow start / update / end calls.
 *
 * Reads run one namespace after another (the machine has few cores and `ss -p` walks /proc), as
 * async child processes, so the event loop only ever parses lines. A poll cycle never overlaps
 * the previous one: the next starts `pollMs` after the previous started, or at once if it ran
 * longer.
 */
import { DestroyMonitor, netnsStillThere, readTcpSockets, resolveNetns, type NamespaceRef, type WatchedNetns } from './ss-reader.js';
import { SocketFlowTable, type PacketlessFlow, type PacketlessListener, type SocketFlowHandler, type SocketFlowStats } from './socket-flows.js';

export interface PacketlessOptions {
  /** Time between socket table reads (DLLT_PACKETLESS_POLL_MS). */
  pollMs: number;
  /** Sockets tracked at most; a namespace's table is read up to twice this many lines. */
  maxSockets: number;
  /** Follow socket destruction with `ss -E` (exact last counters, connections shorter than a poll). */
  destroyEvents: boolean;
  /** One `ss` run is killed after this long. */
  ssTimeoutMs: number;
}

export const PACKETLESS_DEFAULTS: Readonly<PacketlessOptions> = {
  pollMs: 1000,
  maxSockets: 65536,
  destroyEvents: true,
  ssTimeoutMs: 10_000,
};

/** `ss -E` restarts per namespace before it is left off (e.g. stdbuf missing, no CAP_NET_ADMIN). */
const MAX_MONITOR_STARTS = 3;

export interface PacketlessHandler extends SocketFlowHandler {
  /** An operational problem, said once until it changes: a table that cannot be read, a namespace gone, `ss -E` stopped. */
  onNotice?(message: string, ns?: WatchedNetns): void;
  /** A poll cycle is over: every flow's counters are as the cycle's tables read them. */
  onCycleEnd?(): void;
}

export interface PacketlessStats extends SocketFlowStats {
  cycles: number;
  namespaces: number;
  tableReads: number;
  tableErrors: number;
  /** Tables cut at the line cap (their missing sockets are not taken as gone). */
  truncatedTables: number;
  /** `ss` lines that did not parse. */
  badLines: number;
  monitorStarts: number;
  /** Duration of the last poll cycle, ms. */
  lastCycleMs: number;
}

interface Watched {
  ns: WatchedNetns;
  monitor?: DestroyMonitor;
  monitorStarts: number;
  lastError?: string;
}

export class PacketlessSource {
  private readonly opts: PacketlessOptions;
  private readonly table: SocketFlowTable;
  private readonly watched = new Map<number, Watched>();
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private discover: (() => NamespaceRef[]) | undefined;
  private readonly counters = { cycles: 0, tableReads: 0, tableErrors: 0, truncatedTables: 0, badLines: 0, monitorStarts: 0, lastCycleMs: 0 };

  constructor(
    private readonly handler: PacketlessHandler,
    opts: Partial<PacketlessOptions> = {},
  ) {
    this.opts = { ...PACKETLESS_DEFAULTS, ...opts };
    this.table = new SocketFlowTable(handler, this.opts.maxSockets);
  }

  /**
   * Watches a namespace: `{ pid }` of a process inside it (a pod's), `{ name }` under /run/netns,
   * or `{}` for this process's own. The same namespace given twice is watched once. A string
   * result says why it cannot be watched.
   */
  watch(ref: NamespaceRef = {}): WatchedNetns | string {
    const ns = resolveNetns(ref);
    if (typeof ns === 'string') return ns;
    return this.add(ns);
  }

  /**
   * Instead of watch(): every namespace `discover` lists, asked again at the start of each cycle,
   * so namespaces (pods) that appear are picked up. One no longer listed is unwatched (its flows
   * end as `gone`); one whose listed process exited is entered through another, its flows kept.
   */
  watchAll(discover: () => NamespaceRef[]): void {
    this.discover = discover;
  }

  /** Stops watching; the namespace's open flows end as `gone` at the next cycle. */
  unwatch(inode: number): void {
    const w = this.watched.get(inode);
    if (!w) return;
    w.monitor?.stop();
    this.watched.delete(inode);
    this.table.dropNamespace(inode);
  }

  /**
   * Our own long-lived processes inside watched namespaces (the `ss -E` monitors). A listing for
   * watchAll must not count them: they would keep a gone pod's namespace listed, and alive, forever.
   */
  helperPids(): Set<number> {
    const pids = new Set<number>();
    for (const w of this.watched.values()) if (w.monitor?.running && w.monitor.pid !== undefined) pids.add(w.monitor.pid);
    return pids;
  }

  namespaces(): WatchedNetns[] {
    return [...this.watched.values()].map((w) => w.ns);
  }

  /** Starts the destroy monitors and the poll timer; the first poll runs at once. */
  start(): void {
    if (this.running) return;
    this.running = true;
    for (const w of this.watched.values()) this.startMonitor(w);
    this.schedule(0);
  }

  /** Runs one poll cycle now (after any cycle in progress) and resolves when its callbacks are done. */
  poll(): Promise<void> {
    this.chain = this.chain.then(() =>
      this.cycle().catch((err: unknown) => this.notice(`packetless poll failed: ${err instanceof Error ? err.message : String(err)}`)),
    );
    return this.chain;
  }

  /** Stops polling and monitors after one last poll; every flow then ends, those still open as `shutdown`. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const wasRunning = this.running;
    this.running = false;
    if (wasRunning) await this.poll();
    await this.chain;
    for (const w of this.watched.values()) w.monitor?.stop();
    this.table.endAll();
  }

  /** Flows not yet ended (live objects: copy what you keep), e.g. for interim records. */
  flows(): PacketlessFlow[] {
    return this.table.openFlows();
  }

  /** Listening sockets in every watched namespace, from the last tables: who serves which port. */
  listeners(): PacketlessListener[] {
    return this.table.allListeners();
  }

  get stats(): PacketlessStats {
    return { ...this.table.stats, ...this.counters, namespaces: this.watched.size };
  }

  private add(ns: WatchedNetns): WatchedNetns {
    const existing = this.watched.get(ns.inode);
    if (existing) return existing.ns;
    const w: Watched = { ns, monitorStarts: 0 };
    this.watched.set(ns.inode, w);
    if (this.running) this.startMonitor(w);
    return ns;
  }

  private syncNamespaces(refs: readonly NamespaceRef[]): void {
    const listed = new Set<number>();
    for (const ref of refs) {
      // A process listed a moment ago may have exited since: its namespace is listed through another or not at all.
      const ns = resolveNetns(ref);
      if (typeof ns === 'string') continue;
      listed.add(ns.inode);
      const w = this.watched.get(ns.inode);
      if (w === undefined) this.add(ns);
      else if (!netnsStillThere(w.ns)) w.ns = ns;
    }
    for (const inode of [...this.watched.keys()]) if (!listed.has(inode)) this.unwatch(inode);
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      const startedAt = Date.now();
      void this.poll().then(() => {
        if (this.running) this.schedule(Math.max(0, this.opts.pollMs - (Date.now() - startedAt)));
      });
    }, delayMs);
  }

  private async cycle(): Promise<void> {
    const startedAt = performance.now();
    if (this.discover) this.syncNamespaces(this.discover());
    for (const w of [...this.watched.values()]) {
      if (!this.watched.has(w.ns.inode)) continue;
      if (!netnsStillThere(w.ns)) {
        // Listed namespaces: the next listing tells whether it lives on (entered through another process) or is gone.
        if (this.discover) continue;
        this.notice(`network namespace of ${w.ns.label} is gone; its flows end`, w.ns);
        this.unwatch(w.ns.inode);
        continue;
      }
      if (this.running && this.opts.destroyEvents && !w.monitor?.running && w.monitorStarts < MAX_MONITOR_STARTS) this.startMonitor(w);
      const snap = await readTcpSockets(w.ns, { maxSockets: this.opts.maxSockets * 2, timeoutMs: this.opts.ssTimeoutMs });
      if (!this.watched.has(w.ns.inode)) continue;
      this.counters.tableReads++;
      this.counters.badLines += snap.badLines;
      if (snap.truncated) this.counters.truncatedTables++;
      if (snap.error !== undefined) {
        this.counters.tableErrors++;
        if (w.lastError !== snap.error) this.notice(snap.error, w.ns);
        w.lastError = snap.error;
      } else {
        w.lastError = undefined;
      }
      this.table.applyTable(w.ns.inode, snap.sockets, snap.startedUs, snap.error === undefined && !snap.truncated);
    }
    this.table.finishCycle();
    this.counters.cycles++;
    this.counters.lastCycleMs = performance.now() - startedAt;
    this.handler.onCycleEnd?.();
  }

  private startMonitor(w: Watched): void {
    if (!this.opts.destroyEvents) return;
    w.monitorStarts++;
    this.counters.monitorStarts++;
    const inode = w.ns.inode;
    w.monitor = new DestroyMonitor(
      w.ns,
      (info, atUs) => {
        if (this.watched.get(inode) === w) this.table.applyDestroyed(inode, info, atUs);
      },
      (reason) => {
        if (this.watched.get(inode) !== w || !this.running) return;
        const more = w.monitorStarts < MAX_MONITOR_STARTS ? 'restarting at the next poll' : 'polling only from now on';
        this.notice(`${reason}; ${more}`, w.ns);
      },
    );
  }

  private notice(message: string, ns?: WatchedNetns): void {
    this.handler.onNotice?.(message, ns);
  }
}
