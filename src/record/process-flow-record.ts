/** The process_flow record of one attributed flow end (SPEC 3, 9). */
import type { ProcessIdentity } from '../analyze/enrich/process-identity.js';
import type { EndFoundBy, FoundEnd } from '../analyze/enrich/flow-ends.js';
import type { FlowEndsView } from './flow-record.js';
import { PROTO_NAMES } from './flow-record.js';
import type { ProcessFlowRecord } from './records.js';
import { formatTs } from './serialize.js';

/** A flow end with the process behind it, as the attribution worker returns it. */
export interface IdentifiedEnd extends FoundEnd {
  flow: FlowEndsView;
  identity: ProcessIdentity;
  foundBy: EndFoundBy;
}

/** The identity's record fields, and nothing else an identity object may carry. */
export function processFields(id: ProcessIdentity): ProcessIdentity {
  return {
    pid: id.pid,
    ppid: id.ppid,
    comm: id.comm,
    exe: id.exe,
    cmdline: id.cmdline,
    uid: id.uid,
    user: id.user,
    containerId: id.containerId,
    containerRuntime: id.containerRuntime,
    podUid: id.podUid,
    podName: id.podName,
    podNamespace: id.podNamespace,
    containerName: id.containerName,
  };
}

export function processFlowRecord(ifName: string, end: IdentifiedEnd): ProcessFlowRecord {
  const { flow, identity: id } = end;
  return {
    type: 'process_flow',
    ts: formatTs(flow.firstTsUs),
    tsUs: flow.firstTsUs,
    if: ifName,
    proto: PROTO_NAMES[flow.proto] ?? String(flow.proto),
    srcIP: flow.srcIP,
    srcPort: flow.srcPort,
    dstIP: flow.dstIP,
    dstPort: flow.dstPort,
    communityId: flow.communityId,
    side: end.side,
    ...processFields(id),
    netns: end.netns,
    via: end.via,
    foundBy: end.foundBy,
  };
}
