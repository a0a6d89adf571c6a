/**
 * ICMP and ICMPv6: type, code, echo identifier/sequence, and for error messages the quoted
 * header of the packet that caused them (IP header + first 8 bytes of its transport header),
 * so the error can be attached to the quoted flow. A quote cut short is not an error of this
 * packet: hasQuoted just stays false (or ports stay 0 when only the IP header fits).
 * Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason } from './status.js';
import { malformed } from './malformed.js';
import { readIpv4Address } from './ipv4.js';
import { IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP } from '../wire/ip-protocols.js';

const ICMP_MIN_LEN = 4;
const ICMP_HEADER_LEN = 8;
const IPV6_HEADER_LEN = 40;

const ICMP_ECHO_REPLY = 0;
const ICMP_DEST_UNREACH = 3;
const ICMP_SOURCE_QUENCH = 4;
const ICMP_REDIRECT = 5;
const ICMP_ECHO_REQUEST = 8;
const ICMP_TIME_EXCEEDED = 11;
const ICMP_PARAM_PROBLEM = 12;
const ICMPV6_DEST_UNREACH = 1;
const ICMPV6_PARAM_PROBLEM = 4;
const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;

function isIcmpError(type: number): boolean {
  return (
    type === ICMP_DEST_UNREACH ||
    type === ICMP_SOURCE_QUENCH ||
    type === ICMP_REDIRECT ||
    type === ICMP_TIME_EXCEEDED ||
    type === ICMP_PARAM_PROBLEM
  );
}

export function decodeIcmp(view: PacketView, off: number, end: number, wireEnd: number): DecodeStatus {
  const status = decodeIcmpHeader(view, off, end, wireEnd);
  if (status !== DecodeStatus.OK) return status;
  const type = view.icmpType;
  if (type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY) readEcho(view, off, end);
  else if (isIcmpError(type)) decodeQuoted(view, off + ICMP_HEADER_LEN, end);
  return DecodeStatus.OK;
}

export function decodeIcmpv6(view: PacketView, off: number, end: number, wireEnd: number): DecodeStatus {
  const status = decodeIcmpHeader(view, off, end, wireEnd);
  if (status !== DecodeStatus.OK) return status;
  const type = view.icmpType;
  if (type === ICMPV6_ECHO_REQUEST || type === ICMPV6_ECHO_REPLY) readEcho(view, off, end);
  else if (type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAM_PROBLEM) decodeQuoted(view, off + ICMP_HEADER_LEN, end);
  return DecodeStatus.OK;
}

/** Type and code (4 bytes) are required; the payload is what follows the 8-byte header. */
function decodeIcmpHeader(view: PacketView, off: number, end: number, wireEnd: number): DecodeStatus {
  view.l4Off = off;
  if (off + ICMP_MIN_LEN > end) return malformed(view, MalformedReason.ICMP_TRUNCATED);
  view.icmpType = view.data[off]!;
  view.icmpCode = view.data[off + 1]!;
  const payloadOff = off + ICMP_HEADER_LEN;
  view.payloadOff = payloadOff;
  view.payloadCapLen = end > payloadOff ? end - payloadOff : 0;
  view.payloadLen = wireEnd > payloadOff ? wireEnd - payloadOff : 0;
  return DecodeStatus.OK;
}

function readEcho(view: PacketView, off: number, end: number): void {
  if (off + ICMP_HEADER_LEN > end) return;
  view.icmpId = view.dv.getUint16(off + 4);
  view.icmpSeq = view.dv.getUint16(off + 6);
}

/** Fills the quoted* fields from the IP header at `q`, if it was captured whole. */
function decodeQuoted(view: PacketView, q: number, end: number): void {
  if (q >= end) return;
  const data = view.data;
  const dv = view.dv;
  const version = data[q]! >> 4;
  let l4: number;
  if (version === 4) {
    const hdrLen = (data[q]! & 0x0f) << 2;
    if (hdrLen < 20 || q + hdrLen > end) return;
    view.quotedProto = data[q + 9]!;
    readIpv4Address(dv, q + 12, view.quotedSrc);
    readIpv4Address(dv, q + 16, view.quotedDst);
    // A quoted later fragment has no transport header to read ports from.
    if ((dv.getUint16(q + 6) & 0x1fff) !== 0) l4 = end;
    else l4 = q + hdrLen;
  } else if (version === 6) {
    if (q + IPV6_HEADER_LEN > end) return;
    view.quotedProto = data[q + 6]!;
    for (let i = 0; i < 4; i++) {
      view.quotedSrc[i] = dv.getInt32(q + 8 + 4 * i);
      view.quotedDst[i] = dv.getInt32(q + 24 + 4 * i);
    }
    l4 = q + IPV6_HEADER_LEN;
  } else {
    return;
  }
  view.hasQuoted = true;
  view.quotedIpVersion = version;
  const proto = view.quotedProto;
  if ((proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP) && l4 + 4 <= end) {
    view.quotedSrcPort = dv.getUint16(l4);
    view.quotedDstPort = dv.getUint16(l4 + 2);
  }
}
