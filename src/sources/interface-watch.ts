/**
 * Notices when the monitored interface disappears (pod deleted: CODE_VIF_DISAPPEARED, SPEC 6
 * code 00011) and when an interface of the same name comes back (`DLLT_ON_VIF_GONE=wait`).
 *
 * Mechanism, chosen by measurement (5 rounds of killing a namespace's last process and running
 * `ip netns del`, both watchers on the same host veth): `ip netns del` took 4-5 ms; /sys/class/net
 * (checked every 5 ms) had lost the veth 0.2-0.6 ms after it returned, and `ip -o monitor link`
 * printed `Deleted` 0.4-1.1 ms after. The kernel is not the delay, the watcher is. So this polls
 * /sys/class/net/<name>/ifindex every 200 ms: at most 200 ms late, about 0.4 ms of CPU per tick
 * (an asynchronous read goes through libuv's thread pool; a synchronous one costs 20 µs but
 * would stall the event loop if sysfs ever did), no second process. An `ip monitor` child would
 * answer in a millisecond but has to be found, started, parsed, restarted when it dies and
 * reconciled with the events it missed while starting, for a gain a 1 s budget does not need.
 *
 * A name whose ifindex changed between two ticks is a new interface (deleted and recreated):
 * onGone, then onBack with the new index. Note the trap this cannot remove: `ip netns del` while
 * a process still runs inside leaves the namespace, and the host veth, alive until the last
 * process exits; the interface has not disappeared until then, and neither has the pod.
 */
import { readFile } from 'node:fs/promises';
import { SYS_CLASS_NET } from './interfaces.js';

export interface InterfaceWatchHandlers {
  /** The interface with the watched name and index is no longer in this namespace. */
  onGone(): void;
  /** An interface with the watched name exists again (its index is usually a new one). */
  onBack?(ifindex: number): void;
}

export interface InterfaceWatchOptions {
  /** Poll period; 200 ms when absent. */
  intervalMs?: number;
}

export const INTERFACE_WATCH_INTERVAL_MS = 200;

/** Errors that mean "no such interface" rather than a failed read worth retrying. */
const GONE_CODES = new Set(['ENOENT', 'ENODEV', 'ENOTDIR', 'ENXIO']);

type Probe = { present: true; ifindex: number } | { present: false } | { unknown: true };

async function probe(ifname: string): Promise<Probe> {
  if (ifname === '' || ifname.includes('/') || ifname === '.' || ifname === '..') return { present: false };
  try {
    const index = Number((await readFile(`${SYS_CLASS_NET}/${ifname}/ifindex`, 'utf8')).trim());
    return Number.isInteger(index) && index > 0 ? { present: true, ifindex: index } : { present: false };
  } catch (err) {
    const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
    // Anything else (EMFILE, EINTR...) says nothing about the interface: ask again next tick.
    return GONE_CODES.has(code) ? { present: false } : { unknown: true };
  }
}

export class InterfaceWatch {
  private currentIndex: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;

  /**
   * Starts watching at once. `ifindex` is the index the caller captures on: if the name already
   * points elsewhere, the first tick reports it gone (and back with the other index).
   */
  constructor(
    readonly ifname: string,
    ifindex: number,
    private readonly handlers: InterfaceWatchHandlers,
    opts: InterfaceWatchOptions = {},
  ) {
    this.currentIndex = ifindex;
    const interval = opts.intervalMs !== undefined && opts.intervalMs > 0 ? opts.intervalMs : INTERFACE_WATCH_INTERVAL_MS;
    this.timer = setInterval(() => void this.tick(), interval);
  }

  /** The index of the interface now behind the name, undefined while it is gone. */
  get ifindex(): number | undefined {
    return this.currentIndex;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    // A slow read must not overlap the next one, or their answers could arrive out of order.
    if (this.busy) return;
    this.busy = true;
    try {
      const seen = await probe(this.ifname);
      if (this.timer === undefined || 'unknown' in seen) return;
      const before = this.currentIndex;
      const now = seen.present ? seen.ifindex : undefined;
      if (before === now) return;
      this.currentIndex = now;
      if (before !== undefined) this.handlers.onGone();
      if (now !== undefined && this.timer !== undefined) this.handlers.onBack?.(now);
    } finally {
      this.busy = false;
    }
  }
}
