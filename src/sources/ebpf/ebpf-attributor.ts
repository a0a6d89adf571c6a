/**
 * Which process is behind each end of a TCP flow, from eBPF socket events (USE_EBPF=Y; SPEC 9).
 *
 * A socket's user is known only from the user's own system calls (SocketEvent.processContext:
 * connect() for a client, listen() for a server, send/recv for whoever reads and writes the
 * socket), which the program carries to the events it stores (pidFrom `socket`). The server side
 * of a handshake completes in softirq, where the task on the CPU is anyone's, which is the seed's
 * bug. So an accepted socket is credited to the process that used it, else to the owner of the
 * listener on its port in its network namespace, as the kernel found it (pidFrom `listener`) or as
 * the listeners seen here say. Sockets are followed by their kernel address (socketId); their
 * 4-tuple is indexed once an event carries it, and kept for a while after the socket is freed,
 * since live capture hands flows over up to ~2 s after their first packet.
 *
 * What eBPF cannot tell (UDP, listeners older than bpftrace, lost events) stays for /proc.
 */
import type { SocketEvent } from './socket-event.js';
import type { EndSide, FlowEnds } from '../../analyze/enrich/flow-ends.js';
import type { AttributedEnd } from '../proc/proc-attributor.js';
import { connectionKey } from '../proc/socket-table.js';

const TCP = 6;
/** Sockets followed at once; beyond it the oldest is forgotten (their destroy events were lost). */
const MAX_SOCKETS = 65_536;
/** Freed sockets' tuples remembered this long, at most MAX_SOCKETS of them. */
const FREED_KEEP_MS = 10_000;

interface Owner {
  pid: number;
}

interface TrackedSocket {
  netns?: number;
  /** The latest process seen using the socket in its own system call. */
  owner?: Owner;
  /** The owner of the listener that accepted it, as the kernel found it. */
  listenerOwner?: Owner;
  /** What events said of its addresses so far (a client's port comes after connect()). */
  localIp?: string;
  localPort?: number;
  /** `ip port` of the peer. */
  remote?: string;
  /** Index key once the 4-tuple is known. */
  key?: string;
  freedAt?: number;
}

interface Listener {
  localIp: string;
  netns: number;
  owner: Owner;
}

export class EbpfAttributor {
  private readonly bySocketId = new Map<string, TrackedSocket>();
  private readonly byConnection = new Map<string, TrackedSocket>();
  /** `netns port` → the listeners on that port (one per bound address). */
  private readonly listeners = new Map<string, Listener[]>();
  /** Freed sockets, oldest first (sweep). */
  private readonly freedOrder: TrackedSocket[] = [];
  private readonly clock: () => number;

  constructor(opts: { clock?: () => number } = {}) {
    this.clock = opts.clock ?? Date.now;
  }

  /** Takes one event into account; `onOwner` hears of each process seen using a socket, while it
   *  most likely still exists (to read its identity), with the event (its comm and cgroup). */
  observe(e: SocketEvent, onOwner?: (pid: number, e: SocketEvent) => void): void {
    if (e.socketId === undefined) return;
    if (e.newState === 'TCP_LISTEN' && e.localPort !== undefined && e.netns !== undefined) {
      this.addListener({ localIp: e.localIp, netns: e.netns, owner: { pid: e.pid } }, e.localPort);
      onOwner?.(e.pid, e);
      return;
    }
    // An accepted socket starts as a copy of its listener: LISTEN → SYN_RECV is its first event.
    if (e.oldState === 'TCP_LISTEN' && e.newState === 'TCP_CLOSE') {
      if (e.localPort !== undefined && e.netns !== undefined) this.removeListener(e.netns, e.localPort, e.localIp);
      return;
    }
    // A socket leaving CLOSE starts a new life (connect, listen), perhaps at a reused address;
    // an accepted socket is new though it starts as a copy of its listener (LISTEN → SYN_RECV,
    // left out, then SYN_RECV → ESTABLISHED before anyone can use it). The program stores a
    // client's SYN_SENT → ESTABLISHED with connect()'s caller instead of connect() itself: a
    // reused address then shows in disagreeing addresses below.
    const reborn =
      e.kind === 'state' &&
      (e.oldState === 'TCP_CLOSE' || (e.oldState === 'TCP_LISTEN' && e.newState === 'TCP_SYN_RECV') || (e.oldState === 'TCP_SYN_RECV' && e.newState === 'TCP_ESTABLISHED'));
    let s = reborn ? undefined : this.bySocketId.get(e.socketId);
    // bpftrace prints each CPU's events in order but not the CPUs' in step: a freed socket's last
    // events can come after the first ones of the next socket at its address. An event whose
    // addresses disagree with the socket's is the other socket's.
    if (s !== undefined && disagrees(s, e)) {
      if (e.kind === 'destroy' || e.newState === 'TCP_CLOSE') {
        const other = this.byConnection.get(fullKey(e) ?? '');
        if (other !== undefined) this.freed(other);
        return;
      }
      s = undefined;
    }
    if (s === undefined) {
      // The last word on a socket already closed (CLOSE comes before destroy): nothing to learn.
      if (e.kind === 'destroy') return;
      s = {};
      this.bySocketId.set(e.socketId, s);
      if (this.bySocketId.size > MAX_SOCKETS) this.bySocketId.delete(this.bySocketId.keys().next().value!);
    }
    if (e.netns !== undefined) s.netns = e.netns;
    if (e.processContext) {
      if (s.owner?.pid !== e.pid) onOwner?.(e.pid, e);
      s.owner = { pid: e.pid };
    } else if (e.pidFrom === 'listener') {
      s.listenerOwner = { pid: e.pid };
    }
    if (!isWildcard(e.localIp)) s.localIp = e.localIp;
    if (e.localPort !== undefined) s.localPort = e.localPort;
    if (e.remoteIp !== undefined && e.remotePort !== undefined) s.remote = e.remoteIp + ' ' + e.remotePort;
    const key = s.key === undefined ? fullKey(e) : undefined;
    if (key !== undefined) {
      s.key = key;
      this.byConnection.delete(key);
      this.byConnection.set(key, s);
      if (this.byConnection.size > MAX_SOCKETS) this.byConnection.delete(this.byConnection.keys().next().value!);
    }
    if (e.newState === 'TCP_CLOSE') this.freed(s);
    if (e.kind === 'destroy') {
      // The kernel may hand the same address to the next socket.
      this.bySocketId.delete(e.socketId);
      this.freed(s);
    }
  }

  /**
   * A listener that was already listening when the events began (found by /proc): its LISTEN
   * event came before bpftrace, and without it every accepted connection would wait for /proc.
   * A LISTEN or close event seen since wins.
   */
  learnListener(netns: number, localIp: string, localPort: number, pid: number): void {
    if (this.listenerFor(netns, localIp, localPort)?.localIp === localIp) return;
    this.addListener({ localIp, netns, owner: { pid } }, localPort);
  }

  /** Forgets sockets freed more than FREED_KEEP_MS ago: O(sockets freed since), because it
   *  runs ten times a second and the map holds up to MAX_SOCKETS live ones. */
  sweep(): void {
    const limit = this.clock() - FREED_KEEP_MS;
    let old = 0;
    while (old < this.freedOrder.length && this.freedOrder[old]!.freedAt! < limit) old++;
    this.forgetFreed(old);
  }

  private freed(s: TrackedSocket): void {
    if (s.freedAt !== undefined) return;
    s.freedAt = this.clock();
    this.freedOrder.push(s);
    // More than MAX_SOCKETS freed within FREED_KEEP_MS: the oldest quarter goes at once.
    if (this.freedOrder.length > MAX_SOCKETS) this.forgetFreed(MAX_SOCKETS / 4);
  }

  /** Forgets the `count` sockets freed first. */
  private forgetFreed(count: number): void {
    if (count === 0) return;
    for (let i = 0; i < count; i++) {
      const s = this.freedOrder[i]!;
      if (s.key !== undefined && this.byConnection.get(s.key) === s) this.byConnection.delete(s.key);
    }
    this.freedOrder.splice(0, count);
  }

  /** The ends of a TCP `flow` that eBPF saw, leaving out the sides in `done`. */
  ends(flow: FlowEnds, done: ReadonlySet<EndSide>): AttributedEnd[] {
    const found: AttributedEnd[] = [];
    if (flow.proto !== TCP) return found;
    const srcSide: EndSide = flow.clientIsSrc ? 'client' : 'server';
    const dstSide: EndSide = flow.clientIsSrc ? 'server' : 'client';
    if (!done.has(srcSide)) this.end(flow.srcIP, flow.srcPort, flow.dstIP, flow.dstPort, srcSide, found);
    if (!done.has(dstSide)) this.end(flow.dstIP, flow.dstPort, flow.srcIP, flow.srcPort, dstSide, found);
    return found;
  }

  private end(localIp: string, localPort: number, remoteIp: string, remotePort: number, side: EndSide, out: AttributedEnd[]): void {
    const s = this.byConnection.get(connectionKey(localIp, localPort, remoteIp, remotePort));
    if (s === undefined || s.netns === undefined) return;
    if (s.owner !== undefined) {
      out.push({ side, pid: s.owner.pid, netns: s.netns, via: 'socket' });
      return;
    }
    if (side !== 'server') return;
    if (s.listenerOwner !== undefined) {
      out.push({ side, pid: s.listenerOwner.pid, netns: s.netns, via: 'listener' });
      return;
    }
    const listener = this.listenerFor(s.netns, localIp, localPort);
    if (listener !== undefined) out.push({ side, pid: listener.owner.pid, netns: s.netns, via: 'listener' });
  }

  private listenerFor(netns: number, localIp: string, localPort: number): Listener | undefined {
    const onPort = this.listeners.get(netns + ' ' + localPort);
    if (onPort === undefined) return undefined;
    return onPort.find((l) => l.localIp === localIp) ?? onPort.find((l) => isWildcard(l.localIp));
  }

  private addListener(l: Listener, port: number): void {
    const key = l.netns + ' ' + port;
    const onPort = (this.listeners.get(key) ?? []).filter((x) => x.localIp !== l.localIp);
    onPort.push(l);
    this.listeners.set(key, onPort);
  }

  private removeListener(netns: number, port: number, localIp: string): void {
    const key = netns + ' ' + port;
    const left = (this.listeners.get(key) ?? []).filter((x) => x.localIp !== localIp);
    if (left.length === 0) this.listeners.delete(key);
    else this.listeners.set(key, left);
  }
}

/** The event's connection key, when it names both ends. */
function fullKey(e: SocketEvent): string | undefined {
  if (e.localPort === undefined || e.remoteIp === undefined || e.remotePort === undefined || isWildcard(e.localIp)) return undefined;
  return connectionKey(e.localIp, e.localPort, e.remoteIp, e.remotePort);
}

/** Whether `e` names an address that differs from one the socket's earlier events named. */
function disagrees(s: TrackedSocket, e: SocketEvent): boolean {
  if (s.localIp !== undefined && !isWildcard(e.localIp) && e.localIp !== s.localIp) return true;
  if (s.localPort !== undefined && e.localPort !== undefined && e.localPort !== s.localPort) return true;
  return s.remote !== undefined && e.remoteIp !== undefined && e.remotePort !== undefined && e.remoteIp + ' ' + e.remotePort !== s.remote;
}

function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}
