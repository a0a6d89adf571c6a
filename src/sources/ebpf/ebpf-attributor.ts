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
import type { EndSide, FlowEnds } from '../../analyze/enrich/flow-ends.js';
import type { AttributedEnd } from '../proc/proc-attributor.js';
import { parseIp, type IpWords } from '../../wire/ip-parse.js';
import { KIND_DESTROY, KIND_STATE, PidFrom, TcpState, type DrainedEvent } from './drained-event.js';
import { BoundedMap } from '../../util/bounded-map.js';

const TCP = 6;
/** Sockets followed at once; beyond it the oldest is forgotten (their destroy events were lost). */
const MAX_SOCKETS = 65_536;
/** Freed sockets' tuples remembered this long, at most MAX_SOCKETS of them. */
const FREED_KEEP_MS = 10_000;
const NO_PID = -1;
/** Flows' addresses parsed, kept while fewer than this (pod and node addresses repeat). */
const ADDRESSES_KEPT = 4096;

/**
 * One socket's life as events showed it, in numbers: the worker follows thousands a second, and
 * objects of strings keyed by strings were most of what it spent per event.
 */
class TrackedSocket {
  netns = 0;
  /** The latest process seen using the socket in its own system call. */
  owner = NO_PID;
  /** The owner of the listener that accepted it, as the kernel found it. */
  listenerOwner = NO_PID;
  /** What events said of its addresses so far (a client's port comes after connect()); family
   *  0 while unknown. */
  localFamily = 0;
  local0 = 0;
  local1 = 0;
  local2 = 0;
  local3 = 0;
  localPort = 0;
  remoteFamily = 0;
  remote0 = 0;
  remote1 = 0;
  remote2 = 0;
  remote3 = 0;
  remotePort = 0;
  /** Its key in the connection index once an event named its 4-tuple; NaN before. */
  connectionKey = NaN;
  freedAt = NaN;

  constructor(readonly socketHigh: number) {}
}

interface Listener {
  localIp: string;
  netns: number;
  owner: number;
}

export class EbpfAttributor {
  /** By DrainedEvent.socketKey. */
  private readonly bySocket = new BoundedMap<number, TrackedSocket>(MAX_SOCKETS);
  /** By tupleKey of the socket's 4-tuple. */
  private readonly byConnection = new BoundedMap<number, TrackedSocket>(MAX_SOCKETS);
  /** `netns port` → the listeners on that port (one per bound address). */
  private readonly listeners = new Map<string, Listener[]>();
  /** Freed sockets, oldest first from freedHead (sweep). */
  private freedOrder: TrackedSocket[] = [];
  private freedHead = 0;
  private readonly addresses = new Map<string, IpWords | undefined>();
  private readonly clock: () => number;

  constructor(opts: { clock?: () => number } = {}) {
    this.clock = opts.clock ?? Date.now;
  }

  /** Takes one event into account; `onOwner` hears of each process seen using a socket, while it
   *  most likely still exists (to read its identity), with the event (its comm and cgroup). */
  observe(e: DrainedEvent, onOwner?: (pid: number, e: DrainedEvent) => void): void {
    if (!e.hasSocket) return;
    const state = e.kind === KIND_STATE;
    if (state && e.newState === TcpState.LISTEN && e.localPort !== 0 && e.netns !== 0) {
      this.addListener({ localIp: e.localIp(), netns: e.netns, owner: e.pid }, e.localPort);
      onOwner?.(e.pid, e);
      return;
    }
    // An accepted socket starts as a copy of its listener: LISTEN → SYN_RECV is its first event.
    if (state && e.oldState === TcpState.LISTEN && e.newState === TcpState.CLOSE) {
      if (e.localPort !== 0 && e.netns !== 0) this.removeListener(e.netns, e.localPort, e.localIp());
      return;
    }
    // A socket leaving CLOSE starts a new life (connect, listen), perhaps at a reused address;
    // an accepted socket is new though it starts as a copy of its listener (LISTEN → SYN_RECV,
    // left out, then SYN_RECV → ESTABLISHED before anyone can use it). The program stores a
    // client's SYN_SENT → ESTABLISHED with connect()'s caller instead of connect() itself: a
    // reused address then shows in disagreeing addresses below.
    const reborn =
      state &&
      (e.oldState === TcpState.CLOSE ||
        (e.oldState === TcpState.LISTEN && e.newState === TcpState.SYN_RECV) ||
        (e.oldState === TcpState.SYN_RECV && e.newState === TcpState.ESTABLISHED));
    const socketKey = e.socketKey;
    let s = reborn ? undefined : this.bySocket.get(socketKey);
    if (s !== undefined && s.socketHigh !== e.socketHigh) s = undefined;
    // bpftrace stores each CPU's events in order but not the CPUs' in step: a freed socket's last
    // events can come after the first ones of the next socket at its address. An event whose
    // addresses disagree with the socket's is the other socket's.
    if (s !== undefined && disagrees(s, e)) {
      if (e.kind === KIND_DESTROY || (state && e.newState === TcpState.CLOSE)) {
        const other = this.connectionOf(e);
        if (other !== undefined) this.freed(other);
        return;
      }
      s = undefined;
    }
    if (s === undefined) {
      // The last word on a socket already closed (CLOSE comes before destroy): nothing to learn.
      if (e.kind === KIND_DESTROY) return;
      s = new TrackedSocket(e.socketHigh);
      this.bySocket.set(socketKey, s);
    }
    if (e.netns !== 0) s.netns = e.netns;
    if (e.processContext) {
      if (s.owner !== e.pid) onOwner?.(e.pid, e);
      s.owner = e.pid;
    } else if (e.pidFrom === PidFrom.LISTENER) {
      s.listenerOwner = e.pid;
    }
    const local = e.local;
    if (!e.localIsWildcard) {
      s.localFamily = e.family;
      s.local0 = local[0]!;
      s.local1 = local[1]!;
      s.local2 = local[2]!;
      s.local3 = local[3]!;
    }
    if (e.localPort !== 0) s.localPort = e.localPort;
    const remote = e.remote;
    if (!e.remoteIsUnspecified && e.remotePort !== 0) {
      s.remoteFamily = e.family;
      s.remote0 = remote[0]!;
      s.remote1 = remote[1]!;
      s.remote2 = remote[2]!;
      s.remote3 = remote[3]!;
      s.remotePort = e.remotePort;
    }
    if (Number.isNaN(s.connectionKey) && namesConnection(e)) {
      const key = tupleKey(e.family, local, e.localPort, remote, e.remotePort);
      s.connectionKey = key;
      this.byConnection.set(key, s);
    }
    if (state && e.newState === TcpState.CLOSE) this.freed(s);
    if (e.kind === KIND_DESTROY) {
      // The kernel may hand the same address to the next socket.
      this.bySocket.delete(socketKey);
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
    this.addListener({ localIp, netns, owner: pid }, localPort);
  }

  /** Forgets sockets freed more than FREED_KEEP_MS ago: O(sockets freed since), because it
   *  runs ten times a second and the map holds up to MAX_SOCKETS live ones. */
  sweep(): void {
    const limit = this.clock() - FREED_KEEP_MS;
    let old = 0;
    while (this.freedHead + old < this.freedOrder.length && this.freedOrder[this.freedHead + old]!.freedAt < limit) old++;
    this.forgetFreed(old);
  }

  private freed(s: TrackedSocket): void {
    if (!Number.isNaN(s.freedAt)) return;
    s.freedAt = this.clock();
    this.freedOrder.push(s);
    // More than MAX_SOCKETS freed within FREED_KEEP_MS: the oldest quarter goes at once.
    if (this.freedOrder.length - this.freedHead > MAX_SOCKETS) this.forgetFreed(MAX_SOCKETS / 4);
  }

  /** Forgets the `count` sockets freed first. */
  private forgetFreed(count: number): void {
    if (count === 0) return;
    const order = this.freedOrder;
    const end = this.freedHead + count;
    for (let i = this.freedHead; i < end; i++) {
      const s = order[i]!;
      if (!Number.isNaN(s.connectionKey) && this.byConnection.get(s.connectionKey) === s) this.byConnection.delete(s.connectionKey);
    }
    this.freedHead = end;
    // Compacted once the forgotten part is the larger: amortized O(1) per socket.
    if (this.freedHead * 2 > order.length) {
      this.freedOrder = order.slice(this.freedHead);
      this.freedHead = 0;
    }
  }

  /** The ends of a TCP `flow` that eBPF saw, leaving out the sides in `done`. */
  ends(flow: FlowEnds, done: ReadonlySet<EndSide>): AttributedEnd[] {
    const found: AttributedEnd[] = [];
    if (flow.proto !== TCP) return found;
    const src = this.address(flow.srcIP);
    const dst = this.address(flow.dstIP);
    if (src === undefined || dst === undefined || src.version !== dst.version) return found;
    const srcSide: EndSide = flow.clientIsSrc ? 'client' : 'server';
    const dstSide: EndSide = flow.clientIsSrc ? 'server' : 'client';
    if (!done.has(srcSide)) this.end(src, flow.srcIP, flow.srcPort, dst, flow.dstPort, srcSide, found);
    if (!done.has(dstSide)) this.end(dst, flow.dstIP, flow.dstPort, src, flow.srcPort, dstSide, found);
    return found;
  }

  private address(text: string): IpWords | undefined {
    if (this.addresses.has(text)) return this.addresses.get(text);
    const ip = parseIp(text);
    if (this.addresses.size >= ADDRESSES_KEPT) this.addresses.clear();
    this.addresses.set(text, ip);
    return ip;
  }

  private end(local: IpWords, localIp: string, localPort: number, remote: IpWords, remotePort: number, side: EndSide, out: AttributedEnd[]): void {
    const s = this.byConnection.get(tupleKey(local.version, local.words, localPort, remote.words, remotePort));
    if (s === undefined || s.netns === 0 || !holds(s, local.version, local.words, localPort, remote.words, remotePort)) return;
    if (s.owner !== NO_PID) {
      out.push({ side, pid: s.owner, netns: s.netns, via: 'socket' });
      return;
    }
    if (side !== 'server') return;
    if (s.listenerOwner !== NO_PID) {
      out.push({ side, pid: s.listenerOwner, netns: s.netns, via: 'listener' });
      return;
    }
    const listener = this.listenerFor(s.netns, localIp, localPort);
    if (listener !== undefined) out.push({ side, pid: listener.owner, netns: s.netns, via: 'listener' });
  }

  /** The socket indexed under the 4-tuple `e` names, if it names one. */
  private connectionOf(e: DrainedEvent): TrackedSocket | undefined {
    if (!namesConnection(e)) return undefined;
    const s = this.byConnection.get(tupleKey(e.family, e.local, e.localPort, e.remote, e.remotePort));
    return s !== undefined && holds(s, e.family, e.local, e.localPort, e.remote, e.remotePort) ? s : undefined;
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

/** Whether `e` names both ends of a connection (its 4-tuple). */
function namesConnection(e: DrainedEvent): boolean {
  return e.localPort !== 0 && !e.remoteIsUnspecified && e.remotePort !== 0 && !e.localIsWildcard;
}

/**
 * A 4-tuple as one Map key below 2^53, from two 32-bit hashes of its words. Two tuples may share
 * a key (about once in 2^53): the index then holds the later one, and lookups check the whole
 * tuple (holds), so a collision can only leave a connection to /proc, never misattribute it.
 */
function tupleKey(family: number, local: ArrayLike<number>, localPort: number, remote: ArrayLike<number>, remotePort: number): number {
  let h1 = 0x9e3779b9 ^ family;
  let h2 = 0x85ebca6b ^ family;
  for (let i = 0; i < 9; i++) {
    const word = i < 4 ? local[i]! : i < 8 ? remote[i - 4]! : (localPort << 16) | remotePort;
    h1 = Math.imul(h1 ^ word, 0xcc9e2d51);
    h1 = (h1 << 15) | (h1 >>> 17);
    h2 = Math.imul(h2 + word, 0x1b873593);
    h2 ^= h2 >>> 13;
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 0x85ebca6b);
  h2 = Math.imul(h2 ^ (h2 >>> 15), 0xc2b2ae35);
  return (h1 >>> 0) * 0x200000 + ((h2 ^ (h2 >>> 16)) >>> 11);
}

/** Whether `s` is the socket of that 4-tuple. */
function holds(s: TrackedSocket, family: number, local: ArrayLike<number>, localPort: number, remote: ArrayLike<number>, remotePort: number): boolean {
  return (
    s.localFamily === family && s.remoteFamily === family && s.localPort === localPort && s.remotePort === remotePort &&
    s.local0 === local[0] && s.local1 === local[1] && s.local2 === local[2] && s.local3 === local[3] &&
    s.remote0 === remote[0] && s.remote1 === remote[1] && s.remote2 === remote[2] && s.remote3 === remote[3]
  );
}

/** Whether `e` names an address that differs from one the socket's earlier events named. */
function disagrees(s: TrackedSocket, e: DrainedEvent): boolean {
  const l = e.local;
  if (s.localFamily !== 0 && !e.localIsWildcard && (e.family !== s.localFamily || l[0] !== s.local0 || l[1] !== s.local1 || l[2] !== s.local2 || l[3] !== s.local3)) return true;
  if (s.localPort !== 0 && e.localPort !== 0 && e.localPort !== s.localPort) return true;
  const r = e.remote;
  return (
    s.remoteFamily !== 0 &&
    !e.remoteIsUnspecified &&
    e.remotePort !== 0 &&
    (e.family !== s.remoteFamily || r[0] !== s.remote0 || r[1] !== s.remote1 || r[2] !== s.remote2 || r[3] !== s.remote3 || e.remotePort !== s.remotePort)
  );
}

function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}
