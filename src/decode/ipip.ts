/**
 * IP-in-IP: protocol 4 carries IPv4, protocol 41 carries IPv6, under either outer family
 * (6in4, 4in6, Calico's IPIP mode). Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, TunnelType } from './status.js';
import { enterTunnel } from './tunnel.js';
import { decodeIpv4, noTransport } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { IPPROTO_IPIP } from '../wire/ip-protocols.js';

export function decodeIpInIp(
  view: PacketView,
  proto: number,
  off: number,
  end: number,
  wireEnd: number,
  depth: number,
): DecodeStatus {
  // A fragmented outer packet cannot be looked into without reassembly.
  if (view.isFragment) return noTransport(view, off, end, wireEnd);
  if (enterTunnel(view, TunnelType.IPIP, -1, depth) !== DecodeStatus.OK) return DecodeStatus.MALFORMED;
  if (proto === IPPROTO_IPIP) return decodeIpv4(view, off, end, wireEnd, depth + 1);
  return decodeIpv6(view, off, end, wireEnd, depth + 1);
}
