/**
 * Linux cooked capture v2 (DLT 276): 20-byte pseudo header starting with the EtherType, then
 * reserved, interface index, ARPHRD type, packet type and link address.
 * Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { MalformedReason } from './status.js';
import { LINK_FAILED, malformed } from './malformed.js';
import { decodeVlanTags } from './vlan.js';

const SLL2_HEADER_LEN = 20;

/** Returns the EtherType (after any VLAN tags) and sets view.l3Off, or LINK_FAILED. */
export function decodeSll2(view: PacketView, off: number, end: number): number {
  if (off + SLL2_HEADER_LEN > end) {
    malformed(view, MalformedReason.LINK_TRUNCATED);
    return LINK_FAILED;
  }
  const protocol = view.dv.getUint16(off);
  return decodeVlanTags(view, off + SLL2_HEADER_LEN, end, protocol, true);
}
