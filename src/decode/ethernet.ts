/**
 * Ethernet II (DLT 1), also used for frames inside VXLAN, Geneve and GRE bridging.
 * Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { MalformedReason } from './status.js';
import { LINK_FAILED, malformed } from './malformed.js';
import { decodeVlanTags } from './vlan.js';

const ETHERNET_HEADER_LEN = 14;
/** Below this the type field is an 802.3 length (LLC frames: STP, CDP...), never IP. */
const MIN_ETHERTYPE = 0x0600;
/** Returned for 802.3 length-field frames so the dispatcher reports NOT_IP. */
export const ETHERTYPE_NONE = 0;

/**
 * Returns the EtherType after any VLAN tags and sets view.l3Off, or LINK_FAILED.
 * `recordVlan` is false for frames carried in an overlay (see vlan.ts).
 */
export function decodeEthernet(view: PacketView, off: number, end: number, recordVlan: boolean): number {
  if (off + ETHERNET_HEADER_LEN > end) {
    malformed(view, MalformedReason.LINK_TRUNCATED);
    return LINK_FAILED;
  }
  const etherType = view.dv.getUint16(off + 12);
  if (etherType < MIN_ETHERTYPE) {
    view.l3Off = off + ETHERNET_HEADER_LEN;
    return ETHERTYPE_NONE;
  }
  return decodeVlanTags(view, off + ETHERNET_HEADER_LEN, end, etherType, recordVlan);
}
