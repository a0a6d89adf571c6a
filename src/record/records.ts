/**
 * The one schema for everything dllt writes (SPEC 3). Records are plain objects made when a
 * record is emitted (never per packet). An unknown value is an absent property, never 0 or "".
 * docs/records.md documents every field; a test keeps the two in step.
 */

import type { ProcessIdentity } from '../analyze/enrich/process-identity.js';
import type { EndFoundBy, EndSide, EndVia } from '../analyze/enrich/flow-ends.js';
import type { SocketEvent } from '../sources/ebpf/socket-event.js';

export type RecordType = 'flow_start' | 'flow_update' | 'flow_end' | 'event' | 'notif' | 'process_flow' | 'socket_event';

/** `gone`: packetless flows only, the flow's sockets vanished without a close being seen. */
export type EndReason = 'fin' | 'rst' | 'idle' | 'evicted' | 'shutdown' | 'eof' | 'reused' | 'interface_gone' | 'gone';

export interface BaseRecord {
  type: RecordType;
  /** ISO-8601 UTC with microseconds. */
  ts: string;
  /** Microseconds since the epoch. */
  tsUs: number;
  /** Interface: `dllt<ifindex>`-style name of the monitored interface or the capture file name. */
  if: string;
}

export interface TlsInfo {
  version?: string;
  sni?: string;
  alpn?: string;
  alert?: string;
}

export interface HttpInfo {
  method?: string;
  host?: string;
  path?: string;
}

/** DNS question of a port-53 flow (not written in flow records; events 00103 use it). */
export interface DnsInfo {
  query: string;
  qtype: string;
  /** Set when the answer was a failure: NXDOMAIN, SERVFAIL, REFUSED. */
  rcode?: string;
}

/** What the application parsers learned about one flow, sent to the record stage by serial. */
export interface FlowAppInfo {
  tls?: TlsInfo;
  http?: HttpInfo;
  dns?: DnsInfo;
}

/** The flow a record is about: protocol name (`tcp`, `udp`, `icmp`, `icmp6` or the number),
 *  its ends (src = the originator; ports only for protocols with ports), Community ID v1. */
export interface FlowAddressing {
  proto: string;
  srcIP: string;
  srcPort?: number;
  dstIP: string;
  dstPort?: number;
  communityId: string;
}

export interface FlowRecord extends BaseRecord, FlowAddressing {
  type: 'flow_start' | 'flow_update' | 'flow_end';
  firstTs: string;
  lastTs: string;
  durationUs: number;
  srcPkts: number;
  /** Bytes on the wire; absent in packetless flows, which never see frames. */
  srcBytes?: number;
  dstPkts: number;
  dstBytes?: number;
  srcPayloadBytes: number;
  dstPayloadBytes: number;
  connState?: string;
  history?: string;
  endReason?: EndReason;
  clientIP?: string;
  serverIP?: string;
  servicePort?: number;
  roleMethod?: string;
  flowKey?: string;
  srcTcpFlags?: string;
  dstTcpFlags?: string;
  retransSrc?: number;
  retransDst?: number;
  outOfOrderSrc?: number;
  outOfOrderDst?: number;
  dupAckSrc?: number;
  dupAckDst?: number;
  zeroWindowSrc?: number;
  zeroWindowDst?: number;
  synToSynAckUs?: number;
  synAckToAckUs?: number;
  icmpType?: number;
  icmpCode?: number;
  icmpId?: number;
  icmpErrors?: number;
  icmpErrorType?: number;
  icmpErrorCode?: number;
  rolesFlipped?: boolean;
  vlan?: number;
  vlanInner?: number;
  tunnel?: string;
  tunnelId?: number;
  outerSrcIP?: string;
  outerDstIP?: string;
  fragments?: number;
  tls?: TlsInfo;
  http?: HttpInfo;
  serverName?: string;
  serverNameChain?: string[];
  serverNameTtl?: number;
  /** `packetless`: built from socket introspection (`dllt capture --packetless`), not packets. */
  source?: 'packetless';
  /** Packetless: the kernel's smoothed RTT, its variation and the minimum seen, µs, as `rttSide`'s socket measured them. */
  rttUs?: number;
  rttVarUs?: number;
  minRttUs?: number;
  rttSide?: 'client' | 'server';
  /** Packetless: the kernel's TCP state of the `rttSide` socket (`ESTABLISHED`, `CLOSE_WAIT`...). */
  tcpState?: string;
}

export type NotifLevel = 'info' | 'warn' | 'error';

export interface NotifRecord extends BaseRecord {
  type: 'notif';
  level: NotifLevel;
  /** Stable machine-readable kind: `start`, `stats`, `kernel_drops`, `eviction`, `rotation`,
   *  `source_error`, `decode_summary`, `stop`... */
  kind: string;
  message: string;
  [extra: string]: unknown;
}

/** A network event (SPEC 6): `netwevents_` files. */
export interface EventRecord extends BaseRecord, FlowAddressing, Partial<ProcessIdentity> {
  type: 'event';
  /** Five digits, as the seed writes codes (`00009`). */
  code: string;
  name: string;
  /** Code-dependent, always text (see the README event table). */
  value?: string;
  /** 0: the source address is the monitored side; 1: the destination is. */
  nodeIP: 0 | 1;
  /** µs; nodeIP 0: SYN → SYN-ACK; nodeIP 1: SYN-ACK → final ACK. */
  latency?: number;
  /** µs; nodeIP 1 only: SYN received → SYN-ACK sent. */
  localLatency?: number;
  /** Which endpoint of this record did it: `src` or `dst` (absent when both or neither). */
  side?: 'src' | 'dst';
  clientIP?: string;
  serverIP?: string;
  servicePort?: number;
  description: string;
  cause: string;
  /** Live capture: whose process the process fields are (the end that did it when local). */
  processSide?: EndSide;
}

/** An event about the monitored interface rather than one flow (00011: it disappeared), in
 *  the same `netwevents_` file. It names the flows it cut: all of them in the count, the first
 *  100 in the list (a node's veth can carry thousands; the end_flows records have every one). */
export interface InterfaceEventRecord extends BaseRecord {
  type: 'event';
  code: string;
  name: string;
  /** The interface's name. */
  value: string;
  /** The index the interface had: the one the output directory is named after, or the one it
   *  came back with. */
  ifindex: number;
  /** Open flows the disappearance ended (`endReason` `interface_gone`). */
  cutFlowCount: number;
  /** The first 100 of those flows (CUT_FLOWS_LISTED), in the order they were ended. */
  cutFlows: FlowAddressing[];
  description: string;
  cause: string;
}

/** One local end of a flow joined with the process behind it (SPEC 9): `process_flows_` files.
 *  `ts` is the flow's start. */
export interface ProcessFlowRecord extends BaseRecord, FlowAddressing, Omit<ProcessIdentity, 'pid'> {
  type: 'process_flow';
  /** Which end of the flow this process is. */
  side: EndSide;
  pid: number;
  /** Inode of the network namespace the socket lives in (`readlink /proc/<pid>/ns/net`). */
  netns: number;
  /** `socket`: the process holds the flow's socket; `listener`: it owns the listening socket
   *  that accepted it (the flow's own socket was gone or not yet accepted). */
  via: EndVia;
  /** `proc`: the /proc socket tables; `ebpf`: eBPF socket events (USE_EBPF=Y); `ss`: packetless. */
  foundBy: EndFoundBy;
}

/** One raw TCP socket event seen by eBPF (USE_EBPF=Y, SPEC 3, 9): `processEBPF_` files. `ts` is
 *  the kernel's time of the event. */
export interface SocketEventRecord extends BaseRecord, Omit<SocketEvent, 'tsNs' | 'tsUs' | 'localIp' | 'remoteIp'> {
  type: 'socket_event';
  /** Renamed as in every other record (`srcIP`). */
  localIP: string;
  remoteIP?: string;
}

export type AnyRecord = FlowRecord | NotifRecord | EventRecord | InterfaceEventRecord | ProcessFlowRecord | SocketEventRecord;
