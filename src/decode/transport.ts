/**
 * Dispatch from an IP protocol number to the transport and overlay decoders. Protocols without
 * a decoder (ESP, OSPF...) still make a valid packet: the flow is then keyed without ports.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason } from './status.js';
import { malformed } from './malformed.js';
import { decodeTcp } from './tcp.js';
import { decodeUdp } from './udp.js';
import { decodeIcmp, decodeIcmpv6 } from './icmp.js';
import { decodeGre } from './gre.js';
import { decodeIpInIp } from './ipip.js';
import { noTransport } from './ipv4.js';
import {
  IPPROTO_GRE,
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
} from '../wire/ip-protocols.js';

const SCTP_COMMON_HEADER_LEN = 12;

export function decodeTransport(
  view: PacketView,
  proto: number,
  off: number,
  end: number,
  wireEnd: number,
  depth: number,
): DecodeStatus {
  switch (proto) {
    case IPPROTO_TCP:
      return decodeTcp(view, off, end, wireEnd);
    case IPPROTO_UDP:
      return decodeUdp(view, off, end, wireEnd, depth);
    case IPPROTO_ICMP:
      return decodeIcmp(view, off, end, wireEnd);
    case IPPROTO_ICMPV6:
      return decodeIcmpv6(view, off, end, wireEnd);
    case IPPROTO_IPIP:
    case IPPROTO_IPV6:
      return decodeIpInIp(view, proto, off, end, wireEnd, depth);
    case IPPROTO_GRE:
      return decodeGre(view, off, end, wireEnd, depth);
    case IPPROTO_SCTP:
      return decodeSctp(view, off, end, wireEnd);
    default:
      return noTransport(view, off, end, wireEnd);
  }
}

/** SCTP shares TCP/UDP's port layout, which is all a flow key needs. */
function decodeSctp(view: PacketView, off: number, end: number, wireEnd: number): DecodeStatus {
  view.l4Off = off;
  if (off + SCTP_COMMON_HEADER_LEN > end) return malformed(view, MalformedReason.SCTP_OR_OTHER_TRUNCATED);
  view.srcPort = view.dv.getUint16(off);
  view.dstPort = view.dv.getUint16(off + 2);
  return noTransport(view, off + SCTP_COMMON_HEADER_LEN, end, wireEnd);
}
