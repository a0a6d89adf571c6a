/**
 * 802.1Q / 802.1ad / 0x9100 tag stacks. Hand-written and allocation-free: runs per packet.
 * Both the outermost and the innermost tag are kept (a single slot would let Q-in-Q's inner tag
 * overwrite the outer one, gopacket's known flaw). Tags of a frame carried inside an overlay are
 * skipped but not recorded: they belong to the tenant network, not to the captured interface.
 */
import type { PacketView } from './packet-view.js';
import { MalformedReason } from './status.js';
import { LINK_FAILED, malformed } from './malformed.js';
import { ETHERTYPE_QINQ, ETHERTYPE_QINQ_OLD, ETHERTYPE_VLAN } from '../wire/ethertypes.js';

/** More stacked tags than any real network uses: treat as garbage. */
export const MAX_VLAN_TAGS = 4;

export function isVlanEtherType(etherType: number): boolean {
  return etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ || etherType === ETHERTYPE_QINQ_OLD;
}

/**
 * Skips the tags starting at `off` (the first TCI; `etherType` is the tag type just read).
 * Sets view.l3Off to the byte after the last tag and returns the encapsulated EtherType,
 * or LINK_FAILED after recording VLAN_TRUNCATED / VLAN_TOO_DEEP.
 */
export function decodeVlanTags(view: PacketView, off: number, end: number, etherType: number, record: boolean): number {
  const dv = view.dv;
  let type = etherType;
  let count = 0;
  while (isVlanEtherType(type)) {
    if (count === MAX_VLAN_TAGS) {
      malformed(view, MalformedReason.VLAN_TOO_DEEP);
      return LINK_FAILED;
    }
    if (off + 4 > end) {
      malformed(view, MalformedReason.VLAN_TRUNCATED);
      return LINK_FAILED;
    }
    const vlanId = dv.getUint16(off) & 0x0fff;
    type = dv.getUint16(off + 2);
    off += 4;
    count++;
    if (record) {
      if (count === 1) view.vlanOuter = vlanId;
      else view.vlanInner = vlanId;
      view.vlanCount = count;
    }
  }
  view.l3Off = off;
  return type;
}
