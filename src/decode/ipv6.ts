/**
 * IPv6 with extension headers (hop-by-hop, routing, fragment, destination options, AH), at
 * most MAX_EXTENSION_HEADERS of them so a crafted chain cannot make us loop long.
 * Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason } from './status.js';
import { malformed } from './malformed.js';
import { decodeTransport } from './transport.js';
import { noTransport } from './ipv4.js';
import {
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ROUTING,
} from '../wire/ip-protocols.js';

const IPV6_HEADER_LEN = 40;
const FRAGMENT_HEADER_LEN = 8;
export const MAX_EXTENSION_HEADERS = 8;

export function decodeIpv6(view: PacketView, off: number, end: number, wireEnd: number, depth: number): DecodeStatus {
  if (off + IPV6_HEADER_LEN > end) return malformed(view, MalformedReason.IPV6_TRUNCATED);
  const data = view.data;
  const dv = view.dv;
  if (data[off]! >> 4 !== 6) return malformed(view, MalformedReason.IPV6_BAD_VERSION);
  let payloadLen = dv.getUint16(off + 4);
  // 0 means a jumbogram or a TSO super-packet: the datagram is everything on the wire.
  if (payloadLen === 0) payloadLen = wireEnd - off - IPV6_HEADER_LEN;
  const ipWireEnd = off + IPV6_HEADER_LEN + payloadLen;
  if (ipWireEnd > wireEnd) return malformed(view, MalformedReason.IPV6_BAD_PAYLOAD_LEN);

  view.l3Off = off;
  view.ipVersion = 6;
  const src = view.src;
  const dst = view.dst;
  for (let i = 0; i < 4; i++) {
    src[i] = dv.getInt32(off + 8 + 4 * i);
    dst[i] = dv.getInt32(off + 24 + 4 * i);
  }
  view.ttl = data[off + 7]!;
  view.ipTotalLen = IPV6_HEADER_LEN + payloadLen;
  view.isFragment = false;
  view.fragOffset = 0;
  view.moreFragments = false;
  view.fragId = 0;

  const ipEnd = ipWireEnd < end ? ipWireEnd : end;
  let next = data[off + 6]!;
  let p = off + IPV6_HEADER_LEN;
  let count = 0;
  for (;;) {
    let extLen: number;
    if (next === IPPROTO_HOPOPTS || next === IPPROTO_ROUTING || next === IPPROTO_DSTOPTS) {
      if (p + 2 > ipEnd) return malformed(view, MalformedReason.IPV6_EXT_TRUNCATED);
      extLen = (data[p + 1]! + 1) << 3;
    } else if (next === IPPROTO_AH) {
      if (p + 2 > ipEnd) return malformed(view, MalformedReason.IPV6_EXT_TRUNCATED);
      extLen = (data[p + 1]! + 2) << 2;
    } else if (next === IPPROTO_FRAGMENT) {
      if (p + FRAGMENT_HEADER_LEN > ipEnd) return malformed(view, MalformedReason.IPV6_EXT_TRUNCATED);
      const offsetFlags = dv.getUint16(p + 2);
      const fragOffset = offsetFlags & 0xfff8;
      const more = (offsetFlags & 1) !== 0;
      view.fragOffset = fragOffset;
      view.moreFragments = more;
      view.fragId = dv.getInt32(p + 4);
      // An atomic fragment (offset 0, no more) is a whole datagram (RFC 6946).
      view.isFragment = more || fragOffset !== 0;
      extLen = FRAGMENT_HEADER_LEN;
    } else {
      break;
    }
    if (++count > MAX_EXTENSION_HEADERS) return malformed(view, MalformedReason.IPV6_EXT_TOO_MANY);
    next = data[p]!;
    p += extLen;
    if (p > ipEnd) return malformed(view, MalformedReason.IPV6_EXT_TRUNCATED);
  }
  view.ipProto = next;
  view.ipHdrLen = p - off;
  if (view.fragOffset !== 0) return noTransport(view, p, ipEnd, ipWireEnd);
  return decodeTransport(view, next, p, ipEnd, ipWireEnd, depth);
}
