/**
 * Dispatch from an EtherType to the IP decoders. Every decoder below link level takes
 * (view, off, end, wireEnd, depth): `end` is one past the last *captured* byte that belongs to
 * this layer, `wireEnd` one past its last byte *on the wire* (larger when the snaplen cut it),
 * `depth` the number of overlays already entered.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus } from './status.js';
import { decodeIpv4 } from './ipv4.js';
import { decodeIpv6 } from './ipv6.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethertypes.js';

export function decodeNetwork(
  view: PacketView,
  etherType: number,
  off: number,
  end: number,
  wireEnd: number,
  depth: number,
): DecodeStatus {
  if (etherType === ETHERTYPE_IPV4) return decodeIpv4(view, off, end, wireEnd, depth);
  if (etherType === ETHERTYPE_IPV6) return decodeIpv6(view, off, end, wireEnd, depth);
  return DecodeStatus.NOT_IP;
}
