/**
 * GRE version 0 (RFC 2784/2890): optional checksum, key and sequence words, then IPv4, IPv6
 * or a whole Ethernet frame (0x6558). The key becomes tunnelId. GRE we cannot look into
 * (version 1 PPTP, source routing, other payloads such as ERSPAN) stays an ordinary IP packet
 * of protocol 47, so the outer conversation is still counted.
 * Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason, TunnelType } from './status.js';
import { LINK_FAILED, malformed } from './malformed.js';
import { enterTunnel } from './tunnel.js';
import { decodeEthernet } from './ethernet.js';
import { decodeNetwork } from './network.js';
import { noTransport } from './ipv4.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_TEB } from '../wire/ethertypes.js';

const GRE_BASE_HEADER_LEN = 4;
const FLAG_CHECKSUM = 0x8000;
const FLAG_ROUTING = 0x4000;
const FLAG_KEY = 0x2000;
const FLAG_SEQUENCE = 0x1000;
const VERSION_MASK = 0x0007;

export function decodeGre(view: PacketView, off: number, end: number, wireEnd: number, depth: number): DecodeStatus {
  if (view.isFragment) return noTransport(view, off, end, wireEnd);
  if (off + GRE_BASE_HEADER_LEN > end) return malformed(view, MalformedReason.TUNNEL_TRUNCATED);
  const dv = view.dv;
  const flags = dv.getUint16(off);
  const protocol = dv.getUint16(off + 2);
  const decodable =
    (flags & (VERSION_MASK | FLAG_ROUTING)) === 0 &&
    (protocol === ETHERTYPE_IPV4 || protocol === ETHERTYPE_IPV6 || protocol === ETHERTYPE_TEB);
  if (!decodable) return noTransport(view, off, end, wireEnd);
  let p = off + GRE_BASE_HEADER_LEN;
  if ((flags & FLAG_CHECKSUM) !== 0) p += 4;
  let key = -1;
  if ((flags & FLAG_KEY) !== 0) {
    if (p + 4 > end) return malformed(view, MalformedReason.TUNNEL_TRUNCATED);
    key = dv.getUint32(p);
    p += 4;
  }
  if ((flags & FLAG_SEQUENCE) !== 0) p += 4;
  if (p > end) return malformed(view, MalformedReason.TUNNEL_TRUNCATED);
  if (enterTunnel(view, TunnelType.GRE, key, depth) !== DecodeStatus.OK) return DecodeStatus.MALFORMED;
  if (protocol !== ETHERTYPE_TEB) return decodeNetwork(view, protocol, p, end, wireEnd, depth + 1);
  const etherType = decodeEthernet(view, p, end, false);
  if (etherType === LINK_FAILED) return DecodeStatus.MALFORMED;
  return decodeNetwork(view, etherType, view.l3Off, end, wireEnd, depth + 1);
}
