/**
 * A flow as attribution sees it (SPEC 9): its two ends and which is the client. Shared by the
 * record stage that hands new flows over and the sources that find their processes.
 */
export interface FlowEnds {
  proto: number;
  srcIP: string;
  srcPort: number;
  dstIP: string;
  dstPort: number;
  /** From the flow record's roles: the originator is the client. */
  clientIsSrc: boolean;
}

export type EndSide = 'client' | 'server';

/** `socket`: the process holds the flow's own socket; `listener`: it owns the listening socket
 *  that accepted the flow. */
export type EndVia = 'socket' | 'listener';

/** What found an end: the /proc socket tables, eBPF socket events (USE_EBPF=Y), or `ss` (packetless). */
export type EndFoundBy = 'proc' | 'ebpf' | 'ss';

/** One local end of a flow, found in a network namespace. */
export interface FoundEnd {
  side: EndSide;
  /** Inode of the network namespace the socket lives in (`readlink /proc/<pid>/ns/net`). */
  netns: number;
  via: EndVia;
}
