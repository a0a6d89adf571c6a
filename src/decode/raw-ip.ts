/**
 * Raw IP link types (DLT 12/14/101: version from the first nibble; 228 IPv4; 229 IPv6): no
 * link header at all. Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { MalformedReason } from './status.js';
import { LINK_FAILED, malformed } from './malformed.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethertypes.js';

/** Returns the EtherType matching the IP version nibble and sets view.l3Off, or LINK_FAILED. */
export function decodeRawIp(view: PacketView, off: number, end: number): number {
  if (off >= end) {
    malformed(view, MalformedReason.LINK_TRUNCATED);
    return LINK_FAILED;
  }
  view.l3Off = off;
  const version = view.data[off]! >> 4;
  if (version === 4) return ETHERTYPE_IPV4;
  if (version === 6) return ETHERTYPE_IPV6;
  malformed(view, MalformedReason.IP_UNKNOWN_VERSION);
  return LINK_FAILED;
}
