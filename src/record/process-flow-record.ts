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

/**
 * processFields(id) as the JSON members a process_flow line carries (`"pid":1,"ppid":…`, in the
 * documented order, absent fields left out). The attribution worker makes it once per identity
 * (the same few processes are behind thousands of flows), so the generic JSON.stringify will do.
 */
export function identityJson(id: ProcessIdentity): string {
  // processFields' members without the braces: JSON.stringify leaves the absent (undefined) ones out.
  return JSON.stringify(processFields(id)).slice(1, -1);
}

/**
 * toJsonLine(processFlowRecord(ifName, end)), written straight from the end with its identity's
 * members from identityJson: two lines per connection at thousands of connections a second, where
 * the generic serializer (a keyed copy of every record, then JSON.stringify) was most of what
 * process_flows cost (bench section `attribution`). `ifJson` is JSON.stringify(ifName). A test
 * holds the two byte-identical.
 */
export function processFlowJsonLine(ifJson: string, end: IdentifiedEnd, identity: string): string {
  const f = end.flow;
  let line = '{"type":"process_flow","ts":"' + formatTs(f.firstTsUs) + '","tsUs":' + f.firstTsUs + ',"if":' + ifJson;
  line += ',"proto":' + JSON.stringify(PROTO_NAMES[f.proto] ?? String(f.proto)) + ',"srcIP":' + JSON.stringify(f.srcIP) + ',"srcPort":' + f.srcPort;
  line += ',"dstIP":' + JSON.stringify(f.dstIP) + ',"dstPort":' + f.dstPort + ',"communityId":' + JSON.stringify(f.communityId);
  return line + ',"side":"' + end.side + '",' + identity + ',"netns":' + end.netns + ',"via":"' + end.via + '","foundBy":"' + end.foundBy + '"}\n';
}
