/**
 * The documented fields of each record, in the order serializers write them. Type checks
 * below fail the build when records.ts gains a field that is not listed here; tests fail when
 * a listed field is missing from docs/records.md or a serialized record has an unlisted key.
 */

import type { EventRecord, FlowRecord, HttpInfo, InterfaceEventRecord, NotifRecord, ProcessFlowRecord, SocketEventRecord, TlsInfo } from './records.js';

export const BASE_FIELDS = ['type', 'ts', 'tsUs', 'if'] as const;

export const FLOW_FIELDS = [
  ...BASE_FIELDS,
  'proto', 'srcIP', 'srcPort', 'dstIP', 'dstPort', 'communityId',
  'firstTs', 'lastTs', 'durationUs',
  'srcPkts', 'srcBytes', 'dstPkts', 'dstBytes', 'srcPayloadBytes', 'dstPayloadBytes',
  'connState', 'history', 'endReason',
  'clientIP', 'serverIP', 'servicePort', 'roleMethod', 'flowKey', 'rolesFlipped',
  'srcTcpFlags', 'dstTcpFlags',
  'retransSrc', 'retransDst', 'outOfOrderSrc', 'outOfOrderDst', 'dupAckSrc', 'dupAckDst',
  'zeroWindowSrc', 'zeroWindowDst',
  'synToSynAckUs', 'synAckToAckUs',
  'icmpType', 'icmpCode', 'icmpId', 'icmpErrors', 'icmpErrorType', 'icmpErrorCode',
  'vlan', 'vlanInner', 'tunnel', 'tunnelId', 'outerSrcIP', 'outerDstIP', 'fragments',
  'tls', 'http', 'serverName', 'serverNameChain', 'serverNameTtl',
  'source', 'rttUs', 'rttVarUs', 'minRttUs', 'rttSide', 'tcpState',
] as const satisfies readonly (keyof FlowRecord)[];

export const EVENT_FIELDS = [
  ...BASE_FIELDS,
  'code', 'name', 'value', 'nodeIP', 'latency', 'localLatency',
  'proto', 'srcIP', 'srcPort', 'dstIP', 'dstPort', 'communityId', 'side',
  'clientIP', 'serverIP', 'servicePort',
  'ifindex', 'cutFlowCount', 'cutFlows',
  'description', 'cause',
  'processSide', 'pid', 'ppid', 'comm', 'exe', 'cmdline', 'uid', 'user',
  'containerId', 'containerRuntime', 'podUid', 'podName', 'podNamespace', 'containerName',
] as const satisfies readonly (keyof EventRecord | keyof InterfaceEventRecord)[];

export const PROCESS_FLOW_FIELDS = [
  ...BASE_FIELDS,
  'proto', 'srcIP', 'srcPort', 'dstIP', 'dstPort', 'communityId', 'side',
  'pid', 'ppid', 'comm', 'exe', 'cmdline', 'uid', 'user',
  'containerId', 'containerRuntime', 'podUid', 'podName', 'podNamespace', 'containerName',
  'netns', 'via', 'foundBy',
] as const satisfies readonly (keyof ProcessFlowRecord)[];

export const SOCKET_EVENT_FIELDS = [
  ...BASE_FIELDS,
  'kind', 'pid', 'tid', 'comm', 'processContext', 'pidFrom', 'cgroupId', 'netns', 'socketId', 'family',
  'localIP', 'localPort', 'remoteIP', 'remotePort', 'oldState', 'newState', 'state',
  'srttUs', 'sndCwnd', 'sentBytes', 'receivedBytes',
] as const satisfies readonly (keyof SocketEventRecord)[];

export const TLS_FIELDS = ['version', 'sni', 'alpn', 'alert'] as const satisfies readonly (keyof TlsInfo)[];

export const HTTP_FIELDS = ['method', 'host', 'path'] as const satisfies readonly (keyof HttpInfo)[];

export const NOTIF_FIELDS = [...BASE_FIELDS, 'level', 'kind', 'message'] as const satisfies readonly (keyof NotifRecord)[];

/** Extra notification fields with a documented meaning (NotifRecord allows any extra). */
export const NOTIF_EXTRA_FIELDS = ['path', 'nextPath', 'bytes', 'droppedLines', 'errorCode', 'suppressedPerSecond', 'suppressedPerFlow', 'packets', 'truncated', 'packetsNotWritten', 'trigger', 'refused', 'flows', 'localFlows', 'attributedFlows', 'ends', 'startupMs', 'ifindex', 'cutFlowCount', 'namespaces', 'pollCycles', 'tableErrors', 'droppedSockets', 'usableCpus', 'recordThread'] as const;

/** Nested objects and their fields, written `tls.sni` in docs and in the text format. */
export const NESTED_FIELDS: Readonly<Record<string, readonly string[]>> = { tls: TLS_FIELDS, http: HTTP_FIELDS };

/** Every documented name, nested ones as `parent.child`. */
export function documentedFieldNames(): string[] {
  const names = new Set<string>([...FLOW_FIELDS, ...EVENT_FIELDS, ...NOTIF_FIELDS, ...NOTIF_EXTRA_FIELDS, ...PROCESS_FLOW_FIELDS, ...SOCKET_EVENT_FIELDS]);
  for (const [parent, children] of Object.entries(NESTED_FIELDS)) {
    for (const child of children) names.add(`${parent}.${child}`);
  }
  return [...names];
}

type AssertNever<T extends never> = T;
export type FlowFieldsAreComplete = AssertNever<Exclude<keyof FlowRecord, (typeof FLOW_FIELDS)[number]>>;
export type EventFieldsAreComplete = AssertNever<Exclude<keyof EventRecord | keyof InterfaceEventRecord, (typeof EVENT_FIELDS)[number]>>;
export type ProcessFlowFieldsAreComplete = AssertNever<Exclude<keyof ProcessFlowRecord, (typeof PROCESS_FLOW_FIELDS)[number]>>;
export type SocketEventFieldsAreComplete = AssertNever<Exclude<keyof SocketEventRecord, (typeof SOCKET_EVENT_FIELDS)[number]>>;
export type TlsFieldsAreComplete = AssertNever<Exclude<keyof TlsInfo, (typeof TLS_FIELDS)[number]>>;
export type HttpFieldsAreComplete = AssertNever<Exclude<keyof HttpInfo, (typeof HTTP_FIELDS)[number]>>;
