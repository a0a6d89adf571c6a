/**
 * TCP header, flags and the options a flow needs (MSS, window scale).
 * Hand-written and allocation-free: runs per packet.
 *
 * A header cut short is MALFORMED (TCP_TRUNCATED), but what was captured is still filled in so
 * the packet can be counted against its flow: with at least 4 bytes the ports, with the fixed
 * 20 bytes also seq/ack/flags/window, tcpHdrLen and the wire payload length (payloadCapLen 0),
 * and options only where they were captured whole. A payload cut by the snaplen is NOT malformed:
 * payloadCapLen < payloadLen says so.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason } from './status.js';
import { malformed } from './malformed.js';

const TCP_MIN_HEADER_LEN = 20;
const OPT_END = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WINDOW_SCALE = 3;

export function decodeTcp(view: PacketView, off: number, end: number, wireEnd: number): DecodeStatus {
  const data = view.data;
  const dv = view.dv;
  view.l4Off = off;
  if (off + 4 <= end) {
    view.srcPort = dv.getUint16(off);
    view.dstPort = dv.getUint16(off + 2);
  }
  if (off + TCP_MIN_HEADER_LEN > end) return malformed(view, MalformedReason.TCP_TRUNCATED);
  view.seq = dv.getInt32(off + 4);
  view.ack = dv.getInt32(off + 8);
  const hdrLen = (data[off + 12]! >> 4) << 2;
  view.tcpFlags = data[off + 13]!;
  view.window = dv.getUint16(off + 14);
  if (hdrLen < TCP_MIN_HEADER_LEN || off + hdrLen > wireEnd) return malformed(view, MalformedReason.TCP_BAD_HEADER_LEN);
  view.tcpHdrLen = hdrLen;
  const hdrEnd = off + hdrLen;
  parseOptions(view, off + TCP_MIN_HEADER_LEN, hdrEnd < end ? hdrEnd : end);
  if (hdrEnd > end) {
    // Only options were cut: the segment is still whole for flow tracking, with no payload captured.
    view.payloadOff = end;
    view.payloadLen = wireEnd - hdrEnd;
    return malformed(view, MalformedReason.TCP_TRUNCATED);
  }
  view.payloadOff = hdrEnd;
  view.payloadCapLen = end - hdrEnd;
  view.payloadLen = wireEnd - hdrEnd;
  return DecodeStatus.OK;
}

/** Reads MSS and window scale; a malformed option list just ends the scan (the packet is fine). */
function parseOptions(view: PacketView, p: number, end: number): void {
  const data = view.data;
  while (p < end) {
    const kind = data[p]!;
    if (kind === OPT_END) return;
    if (kind === OPT_NOP) {
      p++;
      continue;
    }
    if (p + 2 > end) return;
    const len = data[p + 1]!;
    if (len < 2 || p + len > end) return;
    if (kind === OPT_MSS && len === 4) view.mss = view.dv.getUint16(p + 2);
    else if (kind === OPT_WINDOW_SCALE && len === 3) view.windowScale = data[p + 2]!;
    p += len;
  }
}
