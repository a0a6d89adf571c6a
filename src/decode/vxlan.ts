/**
 * VXLAN (RFC 7348): 8-byte header with the I flag and a 24-bit VNI, then an Ethernet frame.
 * A datagram to the VXLAN port without the I flag is left as plain UDP.
 * Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason, TunnelType } from './status.js';
import { LINK_FAILED, malformed } from './malformed.js';
import { enterTunnel } from './tunnel.js';
import { decodeEthernet } from './ethernet.js';
import { decodeNetwork } from './network.js';

const VXLAN_HEADER_LEN = 8;
const FLAG_VNI_VALID = 0x08;

export function decodeVxlan(view: PacketView, off: number, end: number, wireEnd: number, depth: number): DecodeStatus {
  if (off + VXLAN_HEADER_LEN > wireEnd) return DecodeStatus.OK;
  if (off + VXLAN_HEADER_LEN > end) return malformed(view, MalformedReason.TUNNEL_TRUNCATED);
  if ((view.data[off]! & FLAG_VNI_VALID) === 0) return DecodeStatus.OK;
  const vni = view.dv.getUint32(off + 4) >>> 8;
  if (enterTunnel(view, TunnelType.VXLAN, vni, depth) !== DecodeStatus.OK) return DecodeStatus.MALFORMED;
  const inner = off + VXLAN_HEADER_LEN;
  const etherType = decodeEthernet(view, inner, end, false);
  if (etherType === LINK_FAILED) return DecodeStatus.MALFORMED;
  return decodeNetwork(view, etherType, view.l3Off, end, wireEnd, depth + 1);
}
