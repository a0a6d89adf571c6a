/**
 * UDP, and the UDP overlays (VXLAN 4789/8472, Geneve 6081) by destination port.
 * Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason } from './status.js';
import { malformed } from './malformed.js';
import { decodeVxlan } from './vxlan.js';
import { decodeGeneve } from './geneve.js';
import { UDP_PORT_GENEVE, UDP_PORT_VXLAN, UDP_PORT_VXLAN_LINUX } from '../wire/ip-protocols.js';

const UDP_HEADER_LEN = 8;

export function decodeUdp(view: PacketView, off: number, end: number, wireEnd: number, depth: number): DecodeStatus {
  const dv = view.dv;
  view.l4Off = off;
  if (off + 4 <= end) {
    view.srcPort = dv.getUint16(off);
    view.dstPort = dv.getUint16(off + 2);
  }
  if (off + UDP_HEADER_LEN > end) return malformed(view, MalformedReason.UDP_TRUNCATED);
  const udpLen = dv.getUint16(off + 4);
  if (udpLen < UDP_HEADER_LEN) return malformed(view, MalformedReason.UDP_BAD_LEN);
  // A first fragment holds only part of the datagram the UDP length describes.
  let udpWireEnd = wireEnd;
  if (!view.moreFragments) {
    if (off + udpLen > wireEnd) return malformed(view, MalformedReason.UDP_BAD_LEN);
    udpWireEnd = off + udpLen;
  }
  const udpEnd = udpWireEnd < end ? udpWireEnd : end;
  const payloadOff = off + UDP_HEADER_LEN;
  view.payloadOff = payloadOff;
  view.payloadCapLen = udpEnd - payloadOff;
  view.payloadLen = udpWireEnd - payloadOff;
  if (view.isFragment) return DecodeStatus.OK;
  const dstPort = view.dstPort;
  if (dstPort === UDP_PORT_VXLAN || dstPort === UDP_PORT_VXLAN_LINUX) {
    return decodeVxlan(view, payloadOff, udpEnd, udpWireEnd, depth);
  }
  if (dstPort === UDP_PORT_GENEVE) return decodeGeneve(view, payloadOff, udpEnd, udpWireEnd, depth);
  return DecodeStatus.OK;
}
