/**
 * IPv4 with options and fragments. Hand-written and allocation-free: runs per packet.
 * The header checksum is not verified (offloading NICs leave it wrong in captures of sent
 * packets). Only the fragment at offset 0 goes on to the transport decoder: later fragments
 * carry no ports.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason } from './status.js';
import { malformed } from './malformed.js';
import { decodeTransport } from './transport.js';

const IPV4_MIN_HEADER_LEN = 20;
const FLAG_MORE_FRAGMENTS = 0x2000;
const FRAGMENT_OFFSET_MASK = 0x1fff;

export function decodeIpv4(view: PacketView, off: number, end: number, wireEnd: number, depth: number): DecodeStatus {
  if (off + IPV4_MIN_HEADER_LEN > end) return malformed(view, MalformedReason.IPV4_TRUNCATED);
  const data = view.data;
  const dv = view.dv;
  const versionIhl = data[off]!;
  if (versionIhl >> 4 !== 4) return malformed(view, MalformedReason.IPV4_BAD_VERSION);
  const hdrLen = (versionIhl & 0x0f) << 2;
  if (hdrLen < IPV4_MIN_HEADER_LEN) return malformed(view, MalformedReason.IPV4_BAD_HEADER_LEN);
  if (off + hdrLen > end) return malformed(view, MalformedReason.IPV4_TRUNCATED);
  let totalLen = dv.getUint16(off + 2);
  // Total length 0 is what Linux shows for TSO super-packets captured before segmentation:
  // the datagram is then everything that was on the wire.
  if (totalLen === 0) totalLen = wireEnd - off;
  if (totalLen < hdrLen || off + totalLen > wireEnd) return malformed(view, MalformedReason.IPV4_BAD_TOTAL_LEN);

  view.l3Off = off;
  view.ipVersion = 4;
  readIpv4Address(dv, off + 12, view.src);
  readIpv4Address(dv, off + 16, view.dst);
  const proto = data[off + 9]!;
  view.ipProto = proto;
  view.ttl = data[off + 8]!;
  view.ipHdrLen = hdrLen;
  view.ipTotalLen = totalLen;
  const flagsOffset = dv.getUint16(off + 6);
  const fragOffset = (flagsOffset & FRAGMENT_OFFSET_MASK) << 3;
  const more = (flagsOffset & FLAG_MORE_FRAGMENTS) !== 0;
  view.fragId = dv.getUint16(off + 4);
  view.fragOffset = fragOffset;
  view.moreFragments = more;
  view.isFragment = more || fragOffset !== 0;

  const l4Off = off + hdrLen;
  const ipWireEnd = off + totalLen;
  // Bytes past the datagram are Ethernet padding, not payload.
  const ipEnd = ipWireEnd < end ? ipWireEnd : end;
  if (fragOffset !== 0) return noTransport(view, l4Off, ipEnd, ipWireEnd);
  return decodeTransport(view, proto, l4Off, ipEnd, ipWireEnd, depth);
}

/** A later fragment: everything after the IP header is payload of unknown structure. */
export function noTransport(view: PacketView, l4Off: number, end: number, wireEnd: number): DecodeStatus {
  view.l4Off = l4Off;
  view.payloadOff = l4Off;
  view.payloadCapLen = end > l4Off ? end - l4Off : 0;
  view.payloadLen = wireEnd - l4Off;
  return DecodeStatus.OK;
}

/** An IPv4 address into the 4-word form shared with IPv6 (word 0, the rest zero). */
export function readIpv4Address(dv: DataView, off: number, out: Int32Array): void {
  out[0] = dv.getInt32(off);
  out[1] = 0;
  out[2] = 0;
  out[3] = 0;
}
