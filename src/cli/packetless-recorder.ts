/**
 * Turns what the packetless source reports into DLLT records (SPEC 3, 9): `flow_start` when a
 * connection is first seen, a `flow_update` every DLLT_ACTIVE_TIMEOUT_S while it stays open (as
 * packet flows get them, so a long connection's rtt and retransmissions can be followed), and
 * `flow_end` with the final counters; one `process_flow` per local end as soon as the process
 * holding its socket is known. A server end whose own socket never showed a process (a
 * connection opened and closed between two polls is known only from its destroyed socket) is
 * credited at the end to the owner of the listening socket on its port, as /proc attribution does.
 */
import type { ProcessIdentity } from '../analyze/enrich/process-identity.js';
import type { EndSide, EndVia } from '../analyze/enrich/flow-ends.js';
import { packetlessCommunityId, packetlessFlowEnds, packetlessFlowRecord, packetlessReadUs } from '../record/packetless-flow-record.js';
import { processFlowRecord } from '../record/process-flow-record.js';
import type { FlowRecord, ProcessFlowRecord } from '../record/records.js';
import type { PacketlessHandler } from '../sources/packetless/packetless-source.js';
import type { PacketlessFlow, PacketlessListener, SocketEnd } from '../sources/packetless/socket-flows.js';

export interface PacketlessRecordSink {
  writeFlow(rec: FlowRecord): void;
  writeProcessFlow(rec: ProcessFlowRecord): void;
}

export interface ProcessIdentities {
  identify(pid: number): ProcessIdentity | undefined;
}

interface OpenFlow {
  flow: PacketlessFlow;
  communityId: string;
  nextUpdateUs: number;
  clientWritten: boolean;
  serverWritten: boolean;
}

const WILDCARDS = new Set(['*', '0.0.0.0', '::']);

export class PacketlessRecorder implements Pick<PacketlessHandler, 'onFlowStart' | 'onFlowEnd' | 'onListeners' | 'onCycleEnd'> {
  private readonly open = new Map<number, OpenFlow>();
  private readonly listeners = new Map<number, readonly PacketlessListener[]>();
  readonly counts = { flowsStarted: 0, flowsEnded: 0, updates: 0, processEnds: 0, unreadableFlows: 0 };

  constructor(
    private readonly sink: PacketlessRecordSink,
    private readonly ifName: string,
    private readonly activeTimeoutUs: number,
    private readonly identities: ProcessIdentities,
  ) {}

  onFlowStart(flow: PacketlessFlow): void {
    const cid = packetlessCommunityId(flow);
    if (cid === undefined) {
      this.counts.unreadableFlows++;
      return;
    }
    const open: OpenFlow = { flow, communityId: cid, nextUpdateUs: packetlessReadUs(flow) + this.activeTimeoutUs, clientWritten: false, serverWritten: false };
    this.open.set(flow.id, open);
    this.counts.flowsStarted++;
    this.sink.writeFlow(packetlessFlowRecord('flow_start', flow, this.ifName, cid));
    this.writeProcessEnds(open);
  }

  onFlowEnd(flow: PacketlessFlow): void {
    const open = this.open.get(flow.id);
    if (open === undefined) return;
    this.open.delete(flow.id);
    this.writeProcessEnds(open);
    if (!open.serverWritten && flow.server !== undefined) this.writeListenerEnd(open, flow.server);
    this.counts.flowsEnded++;
    this.sink.writeFlow(packetlessFlowRecord('flow_end', flow, this.ifName, open.communityId));
  }

  onListeners(netns: number, listeners: readonly PacketlessListener[]): void {
    if (listeners.length === 0) this.listeners.delete(netns);
    else this.listeners.set(netns, listeners);
  }

  onCycleEnd(): void {
    for (const open of this.open.values()) {
      this.writeProcessEnds(open);
      const readUs = packetlessReadUs(open.flow);
      if (readUs < open.nextUpdateUs) continue;
      open.nextUpdateUs = readUs + this.activeTimeoutUs;
      this.counts.updates++;
      this.sink.writeFlow(packetlessFlowRecord('flow_update', open.flow, this.ifName, open.communityId));
    }
  }

  private writeProcessEnds(open: OpenFlow): void {
    const { client, server } = open.flow;
    if (!open.clientWritten && client?.pid !== undefined) {
      open.clientWritten = true;
      this.writeEnd(open, 'client', client, client.pid, 'socket', fromSocket(client));
    }
    if (!open.serverWritten && server?.pid !== undefined) {
      open.serverWritten = true;
      this.writeEnd(open, 'server', server, server.pid, 'socket', fromSocket(server));
    }
  }

  private writeListenerEnd(open: OpenFlow, server: SocketEnd): void {
    const { dstIP, dstPort } = open.flow;
    const listener = this.listeners.get(server.netns)?.find((l) => l.port === dstPort && l.pid !== undefined && (l.ip === dstIP || WILDCARDS.has(l.ip)));
    if (listener?.pid === undefined) return;
    open.serverWritten = true;
    this.writeEnd(open, 'server', server, listener.pid, 'listener', { pid: listener.pid, comm: listener.comm, uid: listener.uid });
  }

  /** `known`: what `ss` said of the process, written when /proc no longer has it (it exited). */
  private writeEnd(open: OpenFlow, side: EndSide, end: SocketEnd, pid: number, via: EndVia, known: ProcessIdentity): void {
    const identity = this.identities.identify(pid) ?? known;
    this.counts.processEnds++;
    this.sink.writeProcessFlow(processFlowRecord(this.ifName, { flow: packetlessFlowEnds(open.flow, open.communityId), identity, side, netns: end.netns, via, foundBy: 'ss' }));
  }
}

function fromSocket(end: SocketEnd): ProcessIdentity {
  return { pid: end.pid!, comm: end.comm, uid: end.uid };
}
