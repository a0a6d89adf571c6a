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
