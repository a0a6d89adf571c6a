/**
 * Turns what `ss` reports about sockets (full tables per namespace, and sockets as the kernel
 * destroys them) into flows: one flow per TCP connection, with the one or two local sockets
 * behind it, client and server named, counters kept current, start and end reported once.
 *
 * Pure (time comes in with the data) so the joining, role and ending rules are testable without
 * namespaces. Per-cycle work is O(sockets) with string keys: this runs once per poll, not per
 * packet, so the flow table's typed-array design (docs/design/0002) would buy nothing here.
 *
 * Rules, and why:
 * - A socket is known by its namespace and cookie (`sk:`): the inode is 0 before accept() and
 *   after close(), the cookie stays for the socket's whole life, time-wait included.
 * - Two local sockets of one connection (loopback, or two watched pods) are joined by their
 *   swapped 4-tuples; when the peer address can only be in the same namespace (loopback, or the
 *   socket's own address) the namespace is part of the key, so pods' private loopbacks never mix.
 * - Client/server: the side whose local port has a LISTEN socket in its namespace is the server;
 *   a socket whose port is not listening and whose peer is elsewhere called connect(), so it is
 *   the client; otherwise SPEC 8's port rules (a port < 1024, else the lower port, is the server).
 * - Bytes per direction are acknowledged payload, from the sending socket when it is local:
 *   min(tcpi_bytes_acked − the client's SYN, tcpi_bytes_sent − tcpi_bytes_retrans). bytes_acked
 *   counts sequence space, so the client's SYN and each side's FIN once acked (measured: 30,000
 *   bytes sent read 30,001, then 30,002 after close); bytes_sent − bytes_retrans is payload sent
 *   once, FIN excluded, but also counts data not yet acked and data TCP re-sends after a local
 *   drop without calling it a retransmission (measured: 100,000 bytes with 20 % dropped by
 *   netfilter OUTPUT read bytes_sent 135,000, retrans 0). The smaller of the two is exact once
 *   the data is acked; it is one byte high only when a FIN was acked after such local drops.
 *   When only the receiver is local: tcpi_bytes_received minus the peer's FIN when the state says
 *   it arrived (a socket first seen at its destruction cannot say: then possibly one byte high).
 * - A flow ends one poll cycle after all its sockets are closed (time-wait, close, destroyed:
 *   `fin`) or vanished from a full table (`gone`): the grace cycle lets the peer socket of a
 *   short connection, destroyed while a table was being read, join before the end is reported.
 *   The kernel's tcp_info cannot tell a reset from a FIN, so a reset connection ends as `fin`.
 * - Memory: at most `maxSockets` sockets are tracked; sockets beyond are counted and ignored.
 *   Ended sockets are remembered (same cap, oldest forgotten first) so a late report cannot
 *   start their flow again.
 */
import type { SocketUser, TcpSocketInfo, TcpState } from './ss-parse.js';
import { BoundedMap } from '../../util/bounded-map.js';

export type PacketlessEndReason = 'fin' | 'gone' | 'shutdown';
/** How client and server were told apart (see the module comment). */
export type PacketlessRoleMethod = 'listener' | 'connect' | 'port<1024' | 'lower-port';

/** One local socket of a flow. */
export interface SocketEnd {
  /** Inode of the network namespace the socket lives in. */
  netns: number;
  cookie: string;
  /** 0 or absent when no file refers to the socket (not yet accepted, orphaned). */
  inode?: number;
  uid?: number;
  /** The first process holding the socket as `ss -p` lists them; kept after the process closes it. */
  pid?: number;
  comm?: string;
  /** Every process holding the socket (a forked server shares it with its children). */
  users?: SocketUser[];
  state: TcpState;
  srttUs?: number;
  rttvarUs?: number;
  minRttUs?: number;
  retransTotal: number;
  bytesSent: number;
  bytesAcked: number;
  bytesReceived: number;
  bytesRetrans: number;
  segsOut: number;
  segsIn: number;
  dataSegsOut: number;
  dataSegsIn: number;
  /** bytesReceived includes the peer's FIN (the state at the last reading says it had arrived). */
  finReceived: boolean;
  /** `closed`: the kernel said so (time-wait, close, destroyed); `gone`: missing from a full table. */
  status: 'open' | 'closed' | 'gone';
  firstSeenUs: number;
  lastSeenUs: number;
  /** Last data sent or received, from tcpi_last_data_send/recv at the last reading. */
  lastActivityUs?: number;
}

export interface PacketlessFlow {
  readonly id: number;
  readonly proto: 'tcp';
  /** src is the client (SPEC 3: the originator). */
  readonly srcIP: string;
  readonly srcPort: number;
  readonly dstIP: string;
  readonly dstPort: number;
  readonly roleMethod: PacketlessRoleMethod;
  /** The local socket on each side, when that side is on this host (in a watched namespace). */
  client?: SocketEnd;
  server?: SocketEnd;
  /** Acknowledged payload bytes client → server and server → client (see the module comment). */
  srcBytes: number;
  dstBytes: number;
  /** Segments the kernel counted from each side (sent by it when local, else received from it). */
  srcSegs: number;
  dstSegs: number;
  /** Segments each side retransmitted (tcpi_total_retrans); absent when that side is not local. */
  retransSrc?: number;
  retransDst?: number;
  /** Smoothed RTT, its variation and the minimum, µs: the client's view when it is local, else the server's. */
  srttUs?: number;
  rttvarUs?: number;
  minRttUs?: number;
  /** TCP state of the client socket when local, else the server's. */
  tcpState: TcpState;
  firstSeenUs: number;
  lastSeenUs: number;
  lastActivityUs?: number;
  endReason?: PacketlessEndReason;
}

export interface PacketlessListener {
  netns: number;
  /** `*`, `0.0.0.0` or `::` for any address. */
  ip: string;
  port: number;
  scope?: string;
  pid?: number;
  comm?: string;
  users?: SocketUser[];
  uid?: number;
  inode?: number;
}

export interface SocketFlowHandler {
  onFlowStart(flow: PacketlessFlow): void;
  /** A started flow's counters or state changed during the cycle. */
  onFlowUpdate?(flow: PacketlessFlow): void;
  onFlowEnd(flow: PacketlessFlow): void;
  /** The namespace's set of listening sockets changed (first table included). */
  onListeners?(netns: number, listeners: readonly PacketlessListener[]): void;
}

export interface SocketFlowStats {
  flowsStarted: number;
  flowsEnded: number;
  /** Sockets currently tracked. */
  trackedSockets: number;
  /** Distinct sockets not tracked because `maxSockets` were. */
  droppedSockets: number;
  /** Destroyed-socket reports received. */
  destroyEvents: number;
}

interface FlowState {
  flow: PacketlessFlow;
  started: boolean;
  changed: boolean;
  /** Cycle in which every socket of the flow was found closed or gone. */
  terminalCycle?: number;
  key: string;
}

interface EndRef {
  state: FlowState;
  side: 'client' | 'server';
}

interface NamespaceListeners {
  list: PacketlessListener[];
  /** `port` → listening addresses, this table and the one before (a listener may close right after accept()). */
  byPort: Map<number, string[]>;
  previousByPort: Map<number, string[]>;
  signature: string;
  changed: boolean;
}

const FIN_RECEIVED_STATES: ReadonlySet<TcpState> = new Set<TcpState>(['CLOSE_WAIT', 'LAST_ACK', 'CLOSING', 'TIME_WAIT']);
const WILDCARDS = new Set(['*', '0.0.0.0', '::']);

function isLoopback(ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1';
}

/** The peer can only be in the socket's own namespace. */
function peerInSameNamespace(info: TcpSocketInfo): boolean {
  return isLoopback(info.peerIP) || info.peerIP === info.localIP;
}

function endpointText(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

function joinKey(netns: number, info: TcpSocketInfo): string {
  const a = endpointText(info.localIP, info.localPort);
  const b = endpointText(info.peerIP, info.peerPort);
  const scope = peerInSameNamespace(info) ? `ns${netns}` : 'any';
  return a < b ? `${scope}|${a}|${b}` : `${scope}|${b}|${a}`;
}

export class SocketFlowTable {
  private readonly ends = new Map<string, EndRef>();
  private readonly flows = new Set<FlowState>();
  private readonly byKey = new Map<string, FlowState>();
  /** Sockets whose flow ended: a table read late that still lists one starts no new flow. */
  private readonly ended: BoundedMap<string, true>;
  private readonly listeners = new Map<number, NamespaceListeners>();
  /** Sockets refused at the cap and still present, so each is counted once. */
  private refused = new Set<string>();
  private refusedThisCycle = new Set<string>();
  private cycle = 0;
  private nextId = 1;
  readonly stats: SocketFlowStats = { flowsStarted: 0, flowsEnded: 0, trackedSockets: 0, droppedSockets: 0, destroyEvents: 0 };

  constructor(
    private readonly handler: SocketFlowHandler,
    readonly maxSockets = 65536,
  ) {
    this.ended = new BoundedMap(maxSockets);
  }

  /**
   * One namespace's socket table read at `atUs`. `complete` is false when the read was cut short
   * or failed: then sockets missing from it are not taken as gone.
   */
  applyTable(netns: number, sockets: readonly TcpSocketInfo[], atUs: number, complete: boolean): void {
    // Listeners first: they decide the roles of the connections in the same table.
    const listening = sockets.filter((info) => info.state === 'LISTEN');
    if (complete) this.setListeners(netns, listening);
    else this.mergeListeners(netns, listening);
    const seen = new Set<string>();
    for (const info of sockets) {
      if (info.state === 'LISTEN' || info.cookie === undefined) continue;
      const endKey = `${netns}:${info.cookie}`;
      seen.add(endKey);
      this.observe(netns, endKey, info, atUs, false);
    }
    if (!complete) return;
    for (const [endKey, ref] of this.ends) {
      const end = ref.state.flow[ref.side]!;
      if (end.netns !== netns || end.status !== 'open' || seen.has(endKey)) continue;
      end.status = 'gone';
      ref.state.changed = true;
    }
  }

  /** A socket's last tcp_info, reported as the kernel destroyed it (`ss -E`). */
  applyDestroyed(netns: number, info: TcpSocketInfo, atUs: number): void {
    this.stats.destroyEvents++;
    if (info.state === 'LISTEN' || info.peerPort === 0 || info.cookie === undefined) return;
    this.observe(netns, `${netns}:${info.cookie}`, info, atUs, true);
  }

  /** The namespace is no longer watched (or no longer exists): its sockets are gone. */
  dropNamespace(netns: number): void {
    for (const ref of this.ends.values()) {
      const end = ref.state.flow[ref.side]!;
      if (end.netns === netns && end.status === 'open') {
        end.status = 'gone';
        ref.state.changed = true;
      }
    }
    if (this.listeners.delete(netns)) this.handler.onListeners?.(netns, []);
  }

  /** Ends a poll cycle: reports new flows, changed ones, ended ones and changed listener sets. */
  finishCycle(): void {
    this.cycle++;
    this.refused = this.refusedThisCycle;
    this.refusedThisCycle = new Set();
    for (const st of this.flows) {
      const { flow } = st;
      if (st.changed) refreshCounters(flow);
      const reason = naturalEnd(flow);
      if (reason === undefined) st.terminalCycle = undefined;
      else st.terminalCycle ??= this.cycle;
      if (!st.started) {
        st.started = true;
        this.stats.flowsStarted++;
        this.handler.onFlowStart(flow);
      } else if (st.changed) {
        this.handler.onFlowUpdate?.(flow);
      }
      st.changed = false;
      if (reason !== undefined && st.terminalCycle! < this.cycle) {
        flow.endReason = reason;
        this.finish(st);
      }
    }
    for (const [netns, ns] of this.listeners) {
      if (!ns.changed) continue;
      ns.changed = false;
      this.handler.onListeners?.(netns, ns.list);
    }
  }

  /**
   * Ends every flow now (the source stops): `shutdown` for those still open, their own reason for
   * those whose sockets had all closed or vanished.
   */
  endAll(): void {
    for (const st of this.flows) {
      if (st.changed) refreshCounters(st.flow);
      if (!st.started) {
        st.started = true;
        this.stats.flowsStarted++;
        this.handler.onFlowStart(st.flow);
      }
      st.flow.endReason = naturalEnd(st.flow) ?? 'shutdown';
      this.finish(st);
    }
  }

  /** Current listening sockets, every watched namespace. */
  allListeners(): PacketlessListener[] {
    return [...this.listeners.values()].flatMap((ns) => ns.list);
  }

  /** Open flows (live objects: copy what you keep). */
  openFlows(): PacketlessFlow[] {
    return [...this.flows].map((st) => st.flow);
  }

  private observe(netns: number, endKey: string, info: TcpSocketInfo, atUs: number, destroyed: boolean): void {
    if (this.ended.has(endKey)) return;
    const ref = this.ends.get(endKey);
    if (ref) {
      const end = ref.state.flow[ref.side]!;
      // A table read before a destroy report can arrive after it: a closed socket stays closed.
      if (end.status === 'closed' && !destroyed) return;
      if (info.hasTcpInfo && readCounters(end, info, atUs)) ref.state.changed = true;
      const closed = destroyed || !info.hasTcpInfo || info.state === 'CLOSE' || info.state === 'TIME_WAIT';
      const status = closed ? 'closed' : 'open';
      if (end.status !== status) {
        end.status = status;
        ref.state.changed = true;
      }
      return;
    }
    // Time-wait and request sockets carry no counters: nothing to start a flow with.
    if (!info.hasTcpInfo || info.peerPort === 0) return;
    if (this.ends.size >= this.maxSockets) {
      if (!this.refused.has(endKey) && !this.refusedThisCycle.has(endKey)) this.stats.droppedSockets++;
      this.refusedThisCycle.add(endKey);
      return;
    }
    const end = newEnd(netns, info, atUs);
    if (destroyed || info.state === 'CLOSE' || info.state === 'TIME_WAIT') end.status = 'closed';
    this.attach(netns, endKey, end, info, atUs);
  }

  private attach(netns: number, endKey: string, end: SocketEnd, info: TcpSocketInfo, atUs: number): void {
    const key = joinKey(netns, info);
    const existing = this.byKey.get(key);
    if (existing) {
      const f = existing.flow;
      const side =
        f.srcIP === info.localIP && f.srcPort === info.localPort ? 'client' : f.dstIP === info.localIP && f.dstPort === info.localPort ? 'server' : undefined;
      if (side !== undefined && f[side] === undefined) {
        f[side] = end;
        f.firstSeenUs = Math.min(f.firstSeenUs, atUs);
        existing.changed = true;
        this.ends.set(endKey, { state: existing, side });
        this.stats.trackedSockets = this.ends.size;
        return;
      }
    }
    const { side, method } = this.decideRole(netns, info);
    const local = { ip: info.localIP, port: info.localPort };
    const peer = { ip: info.peerIP, port: info.peerPort };
    const [client, server] = side === 'client' ? [local, peer] : [peer, local];
    const flow: PacketlessFlow = {
      id: this.nextId++,
      proto: 'tcp',
      srcIP: client.ip,
      srcPort: client.port,
      dstIP: server.ip,
      dstPort: server.port,
      roleMethod: method,
      srcBytes: 0,
      dstBytes: 0,
      srcSegs: 0,
      dstSegs: 0,
      tcpState: end.state,
      firstSeenUs: atUs,
      lastSeenUs: atUs,
    };
    flow[side] = end;
    const st: FlowState = { flow, started: false, changed: true, key };
    this.flows.add(st);
    this.byKey.set(key, st);
    this.ends.set(endKey, { state: st, side });
    this.stats.trackedSockets = this.ends.size;
  }

  private decideRole(netns: number, info: TcpSocketInfo): { side: 'client' | 'server'; method: PacketlessRoleMethod } {
    if (this.isListening(netns, info.localIP, info.localPort)) return { side: 'server', method: 'listener' };
    const sameNs = peerInSameNamespace(info);
    if (sameNs && this.isListening(netns, info.peerIP, info.peerPort)) return { side: 'client', method: 'listener' };
    if (!sameNs) return { side: 'client', method: 'connect' };
    const localPrivileged = info.localPort < 1024;
    if (localPrivileged !== info.peerPort < 1024) return { side: localPrivileged ? 'server' : 'client', method: 'port<1024' };
    return { side: info.localPort < info.peerPort ? 'server' : 'client', method: 'lower-port' };
  }

  private isListening(netns: number, ip: string, port: number): boolean {
    const ns = this.listeners.get(netns);
    if (!ns) return false;
    const matches = (addrs: string[] | undefined): boolean => addrs !== undefined && addrs.some((a) => a === ip || WILDCARDS.has(a));
    return matches(ns.byPort.get(port)) || matches(ns.previousByPort.get(port));
  }

  private setListeners(netns: number, listening: readonly TcpSocketInfo[]): void {
    const list = listening.map((info) => toListener(netns, info));
    const signature = list
      .map((l) => `${endpointText(l.ip, l.port)}%${l.scope ?? ''}@${l.pid ?? ''}`)
      .sort()
      .join(' ');
    const prev = this.listeners.get(netns);
    const byPort = new Map<number, string[]>();
    for (const l of list) byPort.set(l.port, [...(byPort.get(l.port) ?? []), l.ip]);
    this.listeners.set(netns, {
      list,
      byPort,
      previousByPort: prev?.byPort ?? new Map(),
      signature,
      changed: prev === undefined || prev.signature !== signature,
    });
  }

  /** A partial table adds the listeners it saw and removes none. */
  private mergeListeners(netns: number, listening: readonly TcpSocketInfo[]): void {
    const ns = this.listeners.get(netns);
    if (!ns) {
      this.setListeners(netns, listening);
      return;
    }
    for (const info of listening) {
      const addrs = ns.byPort.get(info.localPort) ?? [];
      if (addrs.includes(info.localIP)) continue;
      ns.byPort.set(info.localPort, [...addrs, info.localIP]);
      ns.list.push(toListener(netns, info));
      ns.changed = true;
    }
  }

  private finish(st: FlowState): void {
    const { flow } = st;
    for (const side of ['client', 'server'] as const) {
      const end = flow[side];
      if (!end) continue;
      const endKey = `${end.netns}:${end.cookie}`;
      this.ends.delete(endKey);
      this.ended.set(endKey, true);
    }
    this.flows.delete(st);
    if (this.byKey.get(st.key) === st) this.byKey.delete(st.key);
    this.stats.trackedSockets = this.ends.size;
    this.stats.flowsEnded++;
    this.handler.onFlowEnd(flow);
  }
}

/** `fin` or `gone` once no socket of the flow is open; undefined while one is. */
function naturalEnd(flow: PacketlessFlow): PacketlessEndReason | undefined {
  const ends = [flow.client, flow.server].filter((e): e is SocketEnd => e !== undefined);
  if (ends.some((e) => e.status === 'open')) return undefined;
  return ends.some((e) => e.status === 'closed') ? 'fin' : 'gone';
}

function toListener(netns: number, info: TcpSocketInfo): PacketlessListener {
  const l: PacketlessListener = { netns, ip: info.localIP, port: info.localPort };
  if (info.localScope !== undefined) l.scope = info.localScope;
  const first = info.users?.[0];
  if (first) {
    l.pid = first.pid;
    l.comm = first.comm;
    l.users = info.users!;
  }
  if (info.uid !== undefined) l.uid = info.uid;
  if (info.inode !== undefined) l.inode = info.inode;
  return l;
}

function newEnd(netns: number, info: TcpSocketInfo, atUs: number): SocketEnd {
  const end: SocketEnd = {
    netns,
    cookie: info.cookie!,
    state: info.state,
    retransTotal: 0,
    bytesSent: 0,
    bytesAcked: 0,
    bytesReceived: 0,
    bytesRetrans: 0,
    segsOut: 0,
    segsIn: 0,
    dataSegsOut: 0,
    dataSegsIn: 0,
    finReceived: false,
    status: 'open',
    firstSeenUs: atUs,
    lastSeenUs: atUs,
  };
  readCounters(end, info, atUs);
  return end;
}

/** Copies one reading into the socket's record; true when something a flow reports changed. */
function readCounters(end: SocketEnd, info: TcpSocketInfo, atUs: number): boolean {
  const before = `${end.state} ${end.bytesSent} ${end.bytesRetrans} ${end.bytesAcked} ${end.bytesReceived} ${end.segsOut} ${end.segsIn} ${end.retransTotal} ${end.srttUs}`;
  end.state = info.state;
  end.lastSeenUs = atUs;
  end.retransTotal = info.retransTotal ?? 0;
  end.bytesSent = info.bytesSent ?? 0;
  end.bytesAcked = info.bytesAcked ?? 0;
  end.bytesReceived = info.bytesReceived ?? 0;
  end.bytesRetrans = info.bytesRetrans ?? 0;
  end.segsOut = info.segsOut ?? 0;
  end.segsIn = info.segsIn ?? 0;
  end.dataSegsOut = info.dataSegsOut ?? 0;
  end.dataSegsIn = info.dataSegsIn ?? 0;
  if (info.srttUs !== undefined) end.srttUs = info.srttUs;
  if (info.rttvarUs !== undefined) end.rttvarUs = info.rttvarUs;
  if (info.minRttUs !== undefined) end.minRttUs = info.minRttUs;
  // A destroyed socket reads as CLOSE whatever came before: keep what the last state said.
  end.finReceived = FIN_RECEIVED_STATES.has(info.state) || (info.state === 'CLOSE' && end.finReceived);
  if (info.inode !== undefined && info.inode > 0) end.inode = info.inode;
  if (info.uid !== undefined && info.inode !== undefined && info.inode > 0) end.uid = info.uid;
  const first = info.users?.[0];
  if (first) {
    end.pid = first.pid;
    end.comm = first.comm;
    end.users = info.users!;
  }
  // tcpi_last_data_send/recv count from boot when no data ever moved that way.
  const idleMs = Math.min(
    end.dataSegsOut > 0 ? (info.lastSndMs ?? Infinity) : Infinity,
    end.dataSegsIn > 0 ? (info.lastRcvMs ?? Infinity) : Infinity,
  );
  if (Number.isFinite(idleMs)) end.lastActivityUs = atUs - idleMs * 1000;
  const after = `${end.state} ${end.bytesSent} ${end.bytesRetrans} ${end.bytesAcked} ${end.bytesReceived} ${end.segsOut} ${end.segsIn} ${end.retransTotal} ${end.srttUs}`;
  return before !== after;
}

function payloadSent(end: SocketEnd, connected: boolean): number {
  const acked = end.bytesAcked - (connected ? 1 : 0);
  return Math.max(0, Math.min(acked, end.bytesSent - end.bytesRetrans));
}

function payloadReceived(end: SocketEnd): number {
  return Math.max(0, end.bytesReceived - (end.finReceived ? 1 : 0));
}

function refreshCounters(flow: PacketlessFlow): void {
  const { client, server } = flow;
  flow.srcBytes = client ? payloadSent(client, true) : payloadReceived(server!);
  flow.dstBytes = server ? payloadSent(server, false) : payloadReceived(client!);
  flow.srcSegs = client ? client.segsOut : (server?.segsIn ?? 0);
  flow.dstSegs = server ? server.segsOut : (client?.segsIn ?? 0);
  if (client) flow.retransSrc = client.retransTotal;
  if (server) flow.retransDst = server.retransTotal;
  const view = client ?? server!;
  if (view.srttUs !== undefined) flow.srttUs = view.srttUs;
  if (view.rttvarUs !== undefined) flow.rttvarUs = view.rttvarUs;
  if (view.minRttUs !== undefined) flow.minRttUs = view.minRttUs;
  flow.tcpState = view.state;
  flow.lastSeenUs = Math.max(client?.lastSeenUs ?? 0, server?.lastSeenUs ?? 0);
  const activity = Math.max(client?.lastActivityUs ?? -Infinity, server?.lastActivityUs ?? -Infinity);
  if (Number.isFinite(activity)) flow.lastActivityUs = activity;
}
