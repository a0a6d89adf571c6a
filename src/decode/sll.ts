/**
 * Linux cooked capture v1 (DLT 113, `tcpdump -i any`): 16-byte pseudo header whose last field
 * is the EtherType. Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { MalformedReason } from './status.js';
import { LINK_FAILED, malformed } from './malformed.js';
import { decodeVlanTags } from './vlan.js';

const SLL_HEADER_LEN = 16;

/** Returns the EtherType (after VLAN tags libpcap may have re-inserted) and sets view.l3Off, or LINK_FAILED. */
export function decodeSll(view: PacketView, off: number, end: number): number {
  if (off + SLL_HEADER_LEN > end) {
    malformed(view, MalformedReason.LINK_TRUNCATED);
    return LINK_FAILED;
  }
  const protocol = view.dv.getUint16(off + 14);
  return decodeVlanTags(view, off + SLL_HEADER_LEN, end, protocol, true);
}
