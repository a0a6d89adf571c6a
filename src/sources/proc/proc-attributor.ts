/**
 * Which process on this host is behind each end of a flow, from /proc (USE_EBPF=N; SPEC 9).
 *
 * Each end is looked up in the socket tables of the network namespaces that use its address:
 * the originator's socket has (src → dst), the responder's (dst → src). The server's end is
 * credited to the process holding its accepted socket, else to the owner of the listening
 * socket that took the connection: accepted sockets of short connections are often gone (or in
 * TIME_WAIT, held by no process) by the time /proc is read, while the listener stays. This is
 * what makes incoming connections attributable inside pods, the seed's open bug.
 */
import { NetnsSockets, type NetnsSocketsOptions, type SendCounts } from './netns-sockets.js';
import { connectionKey } from './socket-table.js';
import { BoundedMap } from '../../util/bounded-map.js';
import type { EndSide, FlowEnds, FoundEnd } from '../../analyze/enrich/flow-ends.js';

export interface AttributedEnd extends FoundEnd {
  pid: number;
}

/** Sockets remembered from polls, for flows that reach attribution after their socket closed. */
const RECENT_MAX = 65_536;
const RECENT_KEEP_MS = 10_000;
const BOTH_PROTOS = [6, 17] as const;
/** A namespace's last table answers for its listeners this long: listeners change rarely, and
 *  re-reading a busy server's table for every pass was most of attribution's cost. */
const LISTENER_TABLE_TRUST_MS = 2_000;

interface RecentSocket {
  pid: number;
  netns: number;
  seenAt: number;
}

export class ProcAttributor {
  readonly sockets: NetnsSockets;
  private readonly clock: () => number;
  /** proto + connection key → the process that held the socket when a poll saw it. */
  private readonly recent = new BoundedMap<string, RecentSocket>(RECENT_MAX);
  /** Local addresses of the sockets in `recent`, when last seen: a namespace that has gone since
   *  (a deleted pod) no longer lists its address, but its remembered sockets still answer. */
  private readonly recentAddresses = new BoundedMap<string, number>(RECENT_MAX);
  /** Each namespace's counters at the last poll. */
  private readonly sentCounts = new Map<number, SendCounts>();

  constructor(opts: NetnsSocketsOptions = {}) {
    this.sockets = new NetnsSockets(opts);
    this.clock = opts.clock ?? Date.now;
  }

  /**
   * Remembers every connection socket of every namespace with its process. Live capture hands
   * new flows over up to ~2 s after their first packet (the kernel's ring block timeout, then a
   * batch), when a short connection's client socket is long gone; a poll every few hundred
   * milliseconds catches it while it exists. `onNewOwner` is told each socket's new owner, so
   * the caller can read the process while it still exists.
   *
   * A namespace's table is read only when its counters say it opened a TCP connection (or sent
   * a UDP datagram) since the last poll: server ends are found through their listener, and a
   * busy server's table (thousands of TIME_WAIT rows the kernel formats on every read) is what
   * made polling every table cost several times dllt's own CPU at 1,000 connections/s (bench
   * section `attribution`); the counters cost one small read.
   */
  poll(onNewOwner?: (pid: number) => void, protos: readonly number[] = BOTH_PROTOS): void {
    this.beginPass();
    const now = this.clock();
    const s = this.sockets;
    const namespaces = s.allNamespaces();
    for (const netns of this.sentCounts.keys()) if (!namespaces.includes(netns)) this.sentCounts.delete(netns);
    for (const netns of namespaces) {
      const sent = s.sendCounts(netns);
      const before = this.sentCounts.get(netns);
      if (sent !== undefined) this.sentCounts.set(netns, sent);
      for (const proto of protos) {
        if (sent !== undefined && before !== undefined && sent[proto === 6 ? 'tcpActiveOpens' : 'udpOutDatagrams'] === before[proto === 6 ? 'tcpActiveOpens' : 'udpOutDatagrams']) continue;
        const index = s.index(netns, proto);
        if (index === undefined) continue;
        for (const e of index.connectedSockets()) {
          if (e.inode === 0) continue;
          const key = recentKey(proto, e.localIp, e.localPort, e.remoteIp, e.remotePort);
          const known = this.recent.get(key);
          if (known !== undefined && known.netns === netns) {
            known.seenAt = now;
            this.recent.set(key, known);
            this.touchAddress(e.localIp, now);
            continue;
          }
          const pid = s.ownerOf(netns, e.inode);
          if (pid === undefined) continue;
          this.recent.set(key, { pid, netns, seenAt: now });
          this.touchAddress(e.localIp, now);
          onNewOwner?.(pid);
        }
      }
    }
    // Oldest seen first: re-seen sockets were set again.
    for (let key = this.recent.oldestKey(); key !== undefined && now - this.recent.get(key)!.seenAt > RECENT_KEEP_MS; key = this.recent.oldestKey()) this.recent.delete(key);
  }

  /** Starts a pass over a batch of flows: socket tables are read at most once per pass, and
   *  not at all where the last read came after `newestFlowAt` (when the newest flow arrived). */
  beginPass(newestFlowAt?: number): void {
    this.sockets.beginPass(newestFlowAt);
  }

  /** A namespace's sockets share a few addresses: each is set once per poll, not once per socket. */
  private touchAddress(address: string, now: number): void {
    if (this.recentAddresses.get(address) !== now) this.recentAddresses.set(address, now);
  }

  /**
   * Whether a socket of this host may have `address` as its local address: a namespace has it
   * (as of the last process scan), or a socket with it was seen within RECENT_KEEP_MS. When not,
   * no lookup can find an end there, and a flow with neither end so is settled without one.
   */
  mightBeLocal(address: string): boolean {
    if (this.sockets.isLocal(address)) return true;
    const seenAt = this.recentAddresses.get(address);
    return seenAt !== undefined && this.clock() - seenAt <= RECENT_KEEP_MS;
  }

  /** The ends of `flow` found in this pass, leaving out the sides in `done`. */
  ends(flow: FlowEnds, done: ReadonlySet<EndSide> = NO_SIDES): AttributedEnd[] {
    const found: AttributedEnd[] = [];
    const srcSide: EndSide = flow.clientIsSrc ? 'client' : 'server';
    const dstSide: EndSide = flow.clientIsSrc ? 'server' : 'client';
    if (!done.has(srcSide)) this.end(flow, flow.srcIP, flow.srcPort, flow.dstIP, flow.dstPort, srcSide, found);
    if (!done.has(dstSide)) this.end(flow, flow.dstIP, flow.dstPort, flow.srcIP, flow.srcPort, dstSide, found);
    return found;
  }

  private end(flow: FlowEnds, localIp: string, localPort: number, remoteIp: string, remotePort: number, side: EndSide, out: AttributedEnd[]): void {
    if (!this.mightBeLocal(localIp)) return;
    const s = this.sockets;
    // A server whose listener one process holds: no table read for its accepted socket, whose
    // holder is that process (or a child it handed the socket to, which then holds the listener
    // too and makes it shared).
    const sole = side === 'server' ? s.soleListenerOwner(flow.proto, localIp, localPort, LISTENER_TABLE_TRUST_MS) : undefined;
    if (sole !== undefined) {
      out.push({ side, pid: sole.pid, netns: sole.netns, via: 'listener' });
      return;
    }
    // The connection's own socket, where a namespace still has it (in TIME_WAIT it has no holder).
    let socketNetns: number | undefined;
    for (const netns of s.candidates(localIp)) {
      const socket = s.index(netns, flow.proto)?.socket(localIp, localPort, remoteIp, remotePort);
      if (socket === undefined) continue;
      const holder = s.ownerOf(netns, socket.inode);
      if (holder !== undefined) {
        out.push({ side, pid: holder, netns, via: 'socket' });
        return;
      }
      socketNetns = netns;
      break;
    }
    // Its holder as a poll saw it, before it closed.
    const remembered = this.recent.size > 0 ? this.recent.get(recentKey(flow.proto, localIp, localPort, remoteIp, remotePort)) : undefined;
    if (remembered !== undefined && (socketNetns === undefined || remembered.netns === socketNetns)) {
      out.push({ side, pid: remembered.pid, netns: remembered.netns, via: 'socket' });
      return;
    }
    // A server end is still known by the listener on its address, in the namespace of the
    // socket or, with none left, of the address: a wildcard listener on the same port in another
    // namespace is someone else's server.
    if (side !== 'server') return;
    const netns = socketNetns ?? s.homeOf(localIp);
    if (netns === undefined) return;
    const listener = s.index(netns, flow.proto)?.listener(localIp, localPort);
    const owner = listener === undefined ? undefined : s.ownerOf(netns, listener.inode);
    if (owner !== undefined) out.push({ side, pid: owner, netns, via: 'listener' });
  }
}

function recentKey(proto: number, localIp: string, localPort: number, remoteIp: string, remotePort: number): string {
  return proto + ' ' + connectionKey(localIp, localPort, remoteIp, remotePort);
}

const NO_SIDES: ReadonlySet<EndSide> = new Set();
