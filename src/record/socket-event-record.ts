/** The socket_event record of one eBPF socket event (SPEC 3: `processEBPF_` files). */
import { TCP_STATE_NAMES, type SocketEvent } from '../sources/ebpf/socket-event.js';
import { BYTES_COUNTED, EVENT_KINDS } from '../sources/ebpf/bpftrace-program.js';
import { KIND_DESTROY, KIND_IO, KIND_RTT, KIND_STATE, type DrainedEvent } from '../sources/ebpf/drained-event.js';
import { formatIp } from '../wire/ip-format.js';
import { isPlainJsonChar, piece, type LineBytes, type Piece } from './line-bytes.js';
import type { SocketEventRecord } from './records.js';
import { formatTs, writeTs } from './serialize.js';

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

const PIECES = {
  start: piece('{"type":"socket_event","ts":"'),
  tsUs: piece('","tsUs":'),
  if: piece(',"if":'),
  kinds: EVENT_KINDS.map((k) => piece(',"kind":"' + k + '","pid":')),
  tid: piece(',"tid":'),
  comm: piece(',"comm":'),
  processContext: [piece(',"processContext":false'), piece(',"processContext":true')],
  pidFrom: [piece(''), piece(',"pidFrom":"socket"'), piece(',"pidFrom":"listener"')],
  cgroupId: piece(',"cgroupId":'),
  netns: piece(',"netns":'),
  socketId: piece(',"socketId":"'),
  family: [piece(',"family":4,"localIP":"'), piece(',"family":6,"localIP":"')],
  localPort: piece('","localPort":'),
  localIpEnd: piece('"'),
  remoteIp: piece(',"remoteIP":"'),
  remotePort: piece(',"remotePort":'),
  oldState: TCP_STATE_NAMES.map((n) => piece(',"oldState":"' + n + '"')),
  newState: TCP_STATE_NAMES.map((n) => piece(',"newState":"' + n + '"')),
  state: TCP_STATE_NAMES.map((n) => piece(',"state":"' + n + '"')),
  srttUs: piece(',"srttUs":'),
  sndCwnd: piece(',"sndCwnd":'),
  sentBytes: piece(',"sentBytes":'),
  receivedBytes: piece(',"receivedBytes":'),
  end: piece('}\n'),
};

const HEX = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

/**
 * toJsonLine(socketEventRecord(ifName, e.toSocketEvent())) as bytes, written straight from the
 * drained record, then endLine: processEBPF gets one line per kernel event, thousands a second,
 * and building a string per line (and the object before it) was a third of the attribution
 * worker's time (bench section `attribution`). `ifJson` is piece(JSON.stringify(ifName)). A
 * test holds the two byte-identical.
 */
export function writeSocketEventJson(out: LineBytes, ifJson: Piece, e: DrainedEvent): void {
  out.piece(PIECES.start);
  writeTs(out, e.tsUs);
  out.field(PIECES.tsUs, e.tsUs);
  out.piece(PIECES.if);
  out.piece(ifJson);
  out.field(PIECES.kinds[e.kind]!, e.pid);
  out.field(PIECES.tid, e.tid);
  out.piece(PIECES.comm);
  writeComm(out, e);
  out.piece(PIECES.processContext[Number(e.processContext)]!);
  out.piece(PIECES.pidFrom[e.pidFrom]!);
  if (e.cgroupId !== 0) out.field(PIECES.cgroupId, e.cgroupId);
  if (e.netns !== 0) out.field(PIECES.netns, e.netns);
  if (e.hasSocket) {
    out.piece(PIECES.socketId);
    writeHexAddress(out, e.socketHigh, e.socketLow);
    out.ascii(0x22);
  }
  out.piece(PIECES.family[e.family === 4 ? 0 : 1]!);
  writeAddress(out, e.family, e.local);
  if (e.localPort !== 0) out.field(PIECES.localPort, e.localPort);
  else out.piece(PIECES.localIpEnd);
  if (!e.remoteIsUnspecified) {
    out.piece(PIECES.remoteIp);
    writeAddress(out, e.family, e.remote);
    out.ascii(0x22);
  }
  if (e.remotePort !== 0) out.field(PIECES.remotePort, e.remotePort);
  switch (e.kind) {
    case KIND_STATE:
      out.piece(PIECES.oldState[e.oldState]!);
      out.piece(PIECES.newState[e.newState]!);
      break;
    case KIND_RTT:
      out.field(PIECES.srttUs, e.a);
      out.field(PIECES.sndCwnd, e.b);
      break;
    case KIND_IO:
      out.field(PIECES.sentBytes, e.a);
      out.field(PIECES.receivedBytes, e.b);
      break;
    case KIND_DESTROY:
      if ((e.c & BYTES_COUNTED) !== 0) {
        out.field(PIECES.sentBytes, e.a);
        out.field(PIECES.receivedBytes, e.b);
      }
      break;
    default:
      if (e.oldState !== 0) out.piece(PIECES.state[e.oldState]!);
  }
  out.piece(PIECES.end);
  out.endLine();
}

/** The command as JSON.stringify(comm) writes it: printable ASCII without quotes or backslashes
 *  (nearly every command) byte for byte, anything else through the decoded string. */
function writeComm(out: LineBytes, e: DrainedEvent): void {
  const bytes = e.commBytes();
  const start = e.commStart();
  const n = e.commLength();
  for (let i = start; i < start + n; i++) {
    if (!isPlainJsonChar(bytes[i]!)) {
      out.jsonString(e.comm());
      return;
    }
  }
  out.ascii(0x22);
  out.latin1(bytes, start, n);
  out.ascii(0x22);
}

function writeAddress(out: LineBytes, family: 4 | 6, words: Int32Array): void {
  if (family === 4) out.ipv4(words[0]!);
  else out.text(formatIp(6, words));
}

/** A 64-bit value given as two unsigned halves, in lowercase hex without leading zeros. */
function writeHexAddress(out: LineBytes, high: number, low: number): void {
  out.reserve(16);
  const bytes = out.bytes;
  let at = out.length;
  let started = false;
  for (let shift = 28; shift >= 0; shift -= 4) {
    const digit = (high >>> shift) & 15;
    if (digit !== 0 || started) {
      bytes[at++] = HEX[digit]!;
      started = true;
    }
  }
  for (let shift = 28; shift >= 0; shift -= 4) {
    const digit = (low >>> shift) & 15;
    if (digit !== 0 || started || shift === 0) {
      bytes[at++] = HEX[digit]!;
      started = true;
    }
  }
  out.length = at;
}
