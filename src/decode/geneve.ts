/**
 * Geneve (RFC 8926): 8-byte header, variable options (skipped), protocol type (Ethernet via
 * 0x6558 or IP directly) and a 24-bit VNI. Version other than 0 is left as plain UDP.
 * Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason, TunnelType } from './status.js';
import { LINK_FAILED, malformed } from './malformed.js';
import { enterTunnel } from './tunnel.js';
import { decodeEthernet } from './ethernet.js';
import { decodeNetwork } from './network.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_TEB } from '../wire/ethertypes.js';

const GENEVE_HEADER_LEN = 8;

export function decodeGeneve(view: PacketView, off: number, end: number, wireEnd: number, depth: number): DecodeStatus {
  if (off + GENEVE_HEADER_LEN > wireEnd) return DecodeStatus.OK;
  if (off + GENEVE_HEADER_LEN > end) return malformed(view, MalformedReason.TUNNEL_TRUNCATED);
  const data = view.data;
  const dv = view.dv;
  if (data[off]! >> 6 !== 0) return DecodeStatus.OK;
  const protocol = dv.getUint16(off + 2);
  if (protocol !== ETHERTYPE_TEB && protocol !== ETHERTYPE_IPV4 && protocol !== ETHERTYPE_IPV6) return DecodeStatus.OK;
  const inner = off + GENEVE_HEADER_LEN + ((data[off]! & 0x3f) << 2);
  if (inner > end) return malformed(view, MalformedReason.TUNNEL_TRUNCATED);
  const vni = dv.getUint32(off + 4) >>> 8;
  if (enterTunnel(view, TunnelType.GENEVE, vni, depth) !== DecodeStatus.OK) return DecodeStatus.MALFORMED;
  if (protocol !== ETHERTYPE_TEB) return decodeNetwork(view, protocol, inner, end, wireEnd, depth + 1);
  const etherType = decodeEthernet(view, inner, end, false);
  if (etherType === LINK_FAILED) return DecodeStatus.MALFORMED;
  return decodeNetwork(view, etherType, view.l3Off, end, wireEnd, depth + 1);
}
