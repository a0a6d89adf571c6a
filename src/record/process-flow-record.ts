/** The process_flow record of one attributed flow end (SPEC 3, 9). */
import type { ProcessIdentity } from '../analyze/enrich/process-identity.js';
import type { EndFoundBy, EndVia, FoundEnd } from '../analyze/enrich/flow-ends.js';
import { piece, type LineBytes, type Piece } from './line-bytes.js';
import type { FlowEndsView } from './flow-record.js';
import { PROTO_NAMES } from './flow-record.js';
import type { ProcessFlowRecord } from './records.js';
import { formatTs, writeTs } from './serialize.js';

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
 * documented order, absent fields left out), as a piece to copy. The attribution worker makes it
 * once per identity (the same few processes are behind thousands of flows), so the generic
 * JSON.stringify will do.
 */
export function identityJson(id: ProcessIdentity): Piece {
  // processFields' members without the braces: JSON.stringify leaves the absent (undefined) ones out.
  return piece(JSON.stringify(processFields(id)).slice(1, -1));
}

const PIECES = {
  start: piece('{"type":"process_flow","ts":"'),
  tsUs: piece('","tsUs":'),
  if: piece(',"if":'),
  proto: piece(',"proto":'),
  srcIP: piece(',"srcIP":'),
  srcPort: piece(',"srcPort":'),
  dstIP: piece(',"dstIP":'),
  dstPort: piece(',"dstPort":'),
  communityId: piece(',"communityId":'),
  side: { client: piece(',"side":"client",'), server: piece(',"side":"server",') },
  netns: piece(',"netns":'),
  viaFoundBy: Object.fromEntries(
    (['socket', 'listener'] as const).map((via) => [via, Object.fromEntries((['proc', 'ebpf', 'ss'] as const).map((by) => [by, piece(`,"via":"${via}","foundBy":"${by}"}\n`)]))]),
  ) as Record<EndVia, Record<EndFoundBy, Piece>>,
};

/**
 * toJsonLine(processFlowRecord(ifName, end)) as bytes, then endLine, with the identity's members
 * from identityJson: two lines per connection at thousands of connections a second, where the
 * generic serializer (a keyed copy of every record, then JSON.stringify) and then a string per
 * line were most of what process_flows cost (bench section `attribution`). `ifJson` is
 * piece(JSON.stringify(ifName)). A test holds the two byte-identical.
 */
export function writeProcessFlowJson(out: LineBytes, ifJson: Piece, end: IdentifiedEnd, identity: Piece): void {
  const f = end.flow;
  out.piece(PIECES.start);
  writeTs(out, f.firstTsUs);
  out.field(PIECES.tsUs, f.firstTsUs);
  out.piece(PIECES.if);
  out.piece(ifJson);
  out.piece(PIECES.proto);
  out.jsonString(PROTO_NAMES[f.proto] ?? String(f.proto));
  out.piece(PIECES.srcIP);
  out.jsonString(f.srcIP);
  out.field(PIECES.srcPort, f.srcPort);
  out.piece(PIECES.dstIP);
  out.jsonString(f.dstIP);
  out.field(PIECES.dstPort, f.dstPort);
  out.piece(PIECES.communityId);
  out.jsonString(f.communityId);
  out.piece(PIECES.side[end.side]);
  out.piece(identity);
  out.field(PIECES.netns, end.netns);
  out.piece(PIECES.viaFoundBy[end.via][end.foundBy]);
  out.endLine();
}
