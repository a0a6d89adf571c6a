/**
 * Records of `dllt capture --packetless` flows (SPEC 9): the packet flows' record shape wherever
 * socket introspection measures the same thing, and absent fields wherever only packets could
 * tell (bytes on the wire, Zeek's connState and history, TCP flags, handshake times, out-of-order
 * and duplicate ACK counts: SPEC 3, unknown is absent). Separate from flow-record.ts, which reads
 * the packet engine's numeric snapshots; nothing here runs per packet.
 */
import type { PacketlessFlow } from '../sources/packetless/socket-flows.js';
import { communityId } from '../wire/community-id.js';
import { parseIp } from '../wire/ip-parse.js';
import type { FlowEndsView } from './flow-record.js';
import type { FlowRecord } from './records.js';
import { formatTs } from './serialize.js';

const TCP = 6;

/** Community ID v1 of the flow (client → server); undefined for an address `ss` cannot have printed. */
export function packetlessCommunityId(flow: PacketlessFlow): string | undefined {
  const src = parseIp(flow.srcIP);
  const dst = parseIp(flow.dstIP);
  if (src === undefined || dst === undefined || src.version !== dst.version) return undefined;
  return communityId(src.version, TCP, src.words, dst.words, flow.srcPort, flow.dstPort);
}

/** When the counters the flow carries were read: the latest reading of its sockets, µs. */
export function packetlessReadUs(flow: PacketlessFlow): number {
  return Math.max(flow.client?.lastSeenUs ?? 0, flow.server?.lastSeenUs ?? 0, flow.firstSeenUs);
}

/** The flow as process attribution sees it, for processFlowRecord. */
export function packetlessFlowEnds(flow: PacketlessFlow, cid: string): FlowEndsView {
  return {
    serial: flow.id,
    proto: TCP,
    srcIP: flow.srcIP,
    srcPort: flow.srcPort,
    dstIP: flow.dstIP,
    dstPort: flow.dstPort,
    clientIsSrc: true,
    communityId: cid,
    firstTsUs: flow.firstSeenUs,
  };
}

/**
 * The flow's record now. `firstTs` is the first reading that saw the connection (within one poll
 * of its start; the kernel keeps no start time), `lastTs` its last data sent or received
 * (tcpi_last_data_send/recv), never before `firstTs`.
 */
export function packetlessFlowRecord(type: FlowRecord['type'], flow: PacketlessFlow, ifName: string, cid: string): FlowRecord {
  const atUs = packetlessReadUs(flow);
  const lastUs = Math.max(flow.firstSeenUs, flow.lastActivityUs ?? flow.firstSeenUs);
  const rttSide = flow.srttUs === undefined ? undefined : flow.client !== undefined ? 'client' : 'server';
  return {
    type,
    ts: formatTs(atUs),
    tsUs: atUs,
    if: ifName,
    proto: 'tcp',
    srcIP: flow.srcIP,
    srcPort: flow.srcPort,
    dstIP: flow.dstIP,
    dstPort: flow.dstPort,
    communityId: cid,
    firstTs: formatTs(flow.firstSeenUs),
    lastTs: formatTs(lastUs),
    durationUs: lastUs - flow.firstSeenUs,
    srcPkts: flow.srcSegs,
    dstPkts: flow.dstSegs,
    srcPayloadBytes: flow.srcBytes,
    dstPayloadBytes: flow.dstBytes,
    endReason: type === 'flow_end' ? flow.endReason : undefined,
    clientIP: flow.srcIP,
    serverIP: flow.dstIP,
    servicePort: flow.dstPort,
    roleMethod: flow.roleMethod,
    flowKey: `${flow.srcIP};${flow.dstIP};${flow.dstPort};flow`,
    retransSrc: flow.retransSrc,
    retransDst: flow.retransDst,
    source: 'packetless',
    rttUs: flow.srttUs,
    rttVarUs: flow.rttvarUs,
    minRttUs: flow.minRttUs,
    rttSide,
    tcpState: flow.tcpState,
  };
}
