/**
 * Builds event records (netwevents) from event snapshots in the record stage: the flow's
 * strings come from the same per-flow cache as its flow records, the texts from the event
 * catalog, and `value` is rendered here from the detector's numbers (roles decide whether a
 * side is called client or server). Events are rare next to flows, so plain objects and the
 * generic serializer are fine. The interface event (00011) is about no single flow: it lists the
 * flows the disappearance cut, gathered from their flow_end snapshots.
 */
import { DNS_NO_ANSWER, eventSpec, EventCode } from '../analyze/events/catalog.js';
import { TLS_VIOLATION_NAMES, tlsAlertDescriptionName, tlsAlertLevelName, tlsVersionName } from '../app/tls/tls-session.js';
import type { EventRecord, FlowAddressing, FlowAppInfo, InterfaceEventRecord } from './records.js';
import { formatTs } from './serialize.js';
import { Snap } from './flow-snapshot.js';
import { PROTO_NAMES, readSnapshot, type FlowStringCache, type SnapshotView } from './flow-record.js';

const ORIG = 0;
const RESP = 1;

const ICMP4_UNREACHABLE: Record<number, string> = {
  0: 'net_unreachable', 1: 'host_unreachable', 2: 'protocol_unreachable', 3: 'port_unreachable', 4: 'frag_needed',
  5: 'source_route_failed', 6: 'net_unknown', 7: 'host_unknown', 8: 'source_host_isolated', 9: 'net_prohibited',
  10: 'host_prohibited', 11: 'net_unreachable_for_tos', 12: 'host_unreachable_for_tos', 13: 'admin_prohibited',
  14: 'host_precedence_violation', 15: 'precedence_cutoff',
};
const ICMP6_UNREACHABLE: Record<number, string> = {
  0: 'no_route', 1: 'admin_prohibited', 2: 'beyond_scope', 3: 'address_unreachable', 4: 'port_unreachable',
  5: 'source_policy_failed', 6: 'reject_route',
};
const DNS_RCODES: Record<number, string> = { 2: 'SERVFAIL', 3: 'NXDOMAIN', 5: 'REFUSED' };

function role(r: SnapshotView, side: number): string {
  if (r.roles === undefined) return side === ORIG ? 'src' : 'dst';
  return (side === ORIG) === r.clientIsOrig ? 'client' : 'server';
}

function silentSides(r: SnapshotView, mask: number): string {
  return mask === 3 ? 'both' : role(r, mask === 1 ? ORIG : RESP);
}

/** The `value` text of an event (the README's event table says what each code carries). */
export function formatEventValue(code: number, side: number, value: number, r: SnapshotView, app: FlowAppInfo | undefined): string | undefined {
  switch (code) {
    case EventCode.TCP_SYN_RETRANS:
    case EventCode.TCP_SYN_RESET:
    case EventCode.TCP_RESET_ABNORMAL:
      return String(value);
    case EventCode.TCP_RESET:
      return role(r, side);
    case EventCode.TCP_IS_TLS: {
      const sni = app?.tls?.sni;
      return sni === undefined ? tlsVersionName(value) : `${tlsVersionName(value)} ${sni}`;
    }
    case EventCode.TLS_ALERT:
      return value < 0 ? 'encrypted' : `${tlsAlertLevelName(value >> 8)} ${tlsAlertDescriptionName(value & 0xff)}`;
    case EventCode.TLS_EXCEPTION:
      return TLS_VIOLATION_NAMES[value] ?? String(value);
    case EventCode.TCP_PARTIAL_CONNECTION:
      return value === 0 ? 'no_syn_ack' : 'no_ack';
    case EventCode.TCP_ESTABLISHED_STALE:
      return silentSides(r, value);
    case EventCode.TCP_ESTABLISHED_STALE2:
      return value >= 4 ? `${role(r, value - 4)}_retransmitting` : silentSides(r, value);
    case EventCode.TCP_ZERO_WINDOW_STALL:
      return role(r, value);
    case EventCode.TCP_HIGH_RETRANS:
      return `${role(r, side)} ${value}%`;
    case EventCode.ICMP_UNREACHABLE:
      return value >= 256 ? ICMP6_UNREACHABLE[value - 256] ?? `code_${value - 256}` : ICMP4_UNREACHABLE[value] ?? `code_${value}`;
    case EventCode.DNS_FAILURE: {
      const dns = app?.dns;
      const what = value === DNS_NO_ANSWER ? 'no_answer' : DNS_RCODES[value] ?? `RCODE${value}`;
      return dns === undefined ? what : `${what} ${dns.query} ${dns.qtype}`;
    }
    default:
      return undefined;
  }
}

export function eventRecordFromSnapshot(nums: Float64Array, slot: number, ifName: string, strings: FlowStringCache, app: FlowAppInfo | undefined): EventRecord {
  const r = readSnapshot(nums, slot, strings);
  const b = r.b;
  const code = nums[b + Snap.EV_CODE]!;
  const side = nums[b + Snap.EV_SIDE]!;
  const nodeIp = nums[b + Snap.EV_NODE_IP] === 0 ? 0 : 1;
  const spec = eventSpec(code);
  const { communityId, srcIP, dstIP } = r.strings;
  const synToSynAck = r.synTs >= 0 && r.synAckTs >= 0 ? r.synAckTs - r.synTs : undefined;
  const synAckToAck = r.synAckTs >= 0 && r.ackTs >= 0 ? r.ackTs - r.synAckTs : undefined;
  const roles = r.roles;
  return {
    type: 'event',
    ts: formatTs(r.nowUs),
    tsUs: r.nowUs,
    if: ifName,
    code: spec.codeText,
    name: spec.name,
    value: formatEventValue(code, side, nums[b + Snap.EV_VALUE]!, r, app),
    nodeIP: nodeIp,
    latency: nodeIp === 0 ? synToSynAck : synAckToAck,
    localLatency: nodeIp === 1 ? synToSynAck : undefined,
    proto: PROTO_NAMES[r.proto] ?? String(r.proto),
    srcIP,
    srcPort: r.hasPorts ? r.origPort : undefined,
    dstIP,
    dstPort: r.hasPorts ? r.respPort : undefined,
    communityId,
    side: side === ORIG ? 'src' : side === RESP ? 'dst' : undefined,
    clientIP: roles ? (r.clientIsOrig ? srcIP : dstIP) : undefined,
    serverIP: roles ? (r.clientIsOrig ? dstIP : srcIP) : undefined,
    servicePort: roles ? r.servicePort : undefined,
    description: spec.description,
    cause: spec.cause,
  };
}

/** How many cut flows an interface event lists; `cutFlowCount` covers them all. */
export const CUT_FLOWS_LISTED = 100;

/** The flows ended because the interface vanished, gathered until the event that names them. */
export class CutFlows {
  count = 0;
  listed: FlowAddressing[] = [];

  /** Flow snapshot `slot` was ended with reason `interface_gone`. */
  add(nums: Float64Array, slot: number, strings: FlowStringCache): void {
    this.count++;
    if (this.listed.length >= CUT_FLOWS_LISTED) return;
    const r = readSnapshot(nums, slot, strings);
    this.listed.push({
      proto: PROTO_NAMES[r.proto] ?? String(r.proto),
      srcIP: r.strings.srcIP,
      srcPort: r.hasPorts ? r.origPort : undefined,
      dstIP: r.strings.dstIP,
      dstPort: r.hasPorts ? r.respPort : undefined,
      communityId: r.strings.communityId,
    });
  }

  /** What was gathered; starts a new gathering. */
  take(): { count: number; listed: FlowAddressing[] } {
    const out = { count: this.count, listed: this.listed };
    this.count = 0;
    this.listed = [];
    return out;
  }
}

/** Event 00011: interface `ifName` (index `ifindex`) disappeared at `tsUs`, cutting `cut`. */
export function interfaceGoneRecord(ifName: string, ifindex: number, tsUs: number, cut: { count: number; listed: FlowAddressing[] }): InterfaceEventRecord {
  const spec = eventSpec(EventCode.VIF_DISAPPEARED);
  return {
    type: 'event',
    ts: formatTs(tsUs),
    tsUs,
    if: ifName,
    code: spec.codeText,
    name: spec.name,
    value: ifName,
    ifindex,
    cutFlowCount: cut.count,
    cutFlows: cut.listed,
    description: spec.description,
    cause: spec.cause,
  };
}
