/** The socket_event record of one eBPF socket event (SPEC 3: `processEBPF_` files). */
import type { SocketEvent } from '../sources/ebpf/socket-event.js';
import type { SocketEventRecord } from './records.js';
import { formatTs } from './serialize.js';

export function socketEventRecord(ifName: string, e: SocketEvent): SocketEventRecord {
  return {
    type: 'socket_event',
    ts: formatTs(e.tsUs),
    tsUs: e.tsUs,
    if: ifName,
    kind: e.kind,
    pid: e.pid,
    tid: e.tid,
    comm: e.comm,
    processContext: e.processContext,
    pidFrom: e.pidFrom,
    cgroupId: e.cgroupId,
    netns: e.netns,
    socketId: e.socketId,
    family: e.family,
    localIP: e.localIp,
    localPort: e.localPort,
    remoteIP: e.remoteIp,
    remotePort: e.remotePort,
    oldState: e.oldState,
    newState: e.newState,
    state: e.state,
    srttUs: e.srttUs,
    sndCwnd: e.sndCwnd,
    sentBytes: e.sentBytes,
    receivedBytes: e.receivedBytes,
  };
}

/**
 * toJsonLine(socketEventRecord(ifName, e)), written straight from the event: processEBPF gets
 * one line per kernel event, up to tens of thousands a second, and the generic serializer's
 * object and key ordering were a third of the attribution worker's time (bench section
 * `attribution`). `ifJson` is JSON.stringify(ifName). A test holds the two byte-identical.
 */
export function socketEventJsonLine(ifJson: string, e: SocketEvent): string {
  let line = '{"type":"socket_event","ts":"' + formatTs(e.tsUs) + '","tsUs":' + e.tsUs + ',"if":' + ifJson;
  line += ',"kind":"' + e.kind + '","pid":' + e.pid + ',"tid":' + e.tid + ',"comm":' + JSON.stringify(e.comm);
  line += ',"processContext":' + e.processContext;
  if (e.pidFrom !== undefined) line += ',"pidFrom":"' + e.pidFrom + '"';
  if (e.cgroupId !== undefined) line += ',"cgroupId":' + e.cgroupId;
  if (e.netns !== undefined) line += ',"netns":' + e.netns;
  if (e.socketId !== undefined) line += ',"socketId":"' + e.socketId + '"';
  line += ',"family":' + e.family + ',"localIP":"' + e.localIp + '"';
  if (e.localPort !== undefined) line += ',"localPort":' + e.localPort;
  if (e.remoteIp !== undefined) line += ',"remoteIP":"' + e.remoteIp + '"';
  if (e.remotePort !== undefined) line += ',"remotePort":' + e.remotePort;
  if (e.oldState !== undefined) line += ',"oldState":"' + e.oldState + '"';
  if (e.newState !== undefined) line += ',"newState":"' + e.newState + '"';
  if (e.state !== undefined) line += ',"state":"' + e.state + '"';
  if (e.srttUs !== undefined) line += ',"srttUs":' + e.srttUs;
  if (e.sndCwnd !== undefined) line += ',"sndCwnd":' + e.sndCwnd;
  if (e.sentBytes !== undefined) line += ',"sentBytes":' + e.sentBytes;
  if (e.receivedBytes !== undefined) line += ',"receivedBytes":' + e.receivedBytes;
  return line + '}\n';
}
