/**
 * Entering an overlay: the view will hold the inner packet, so the outermost IP endpoints
 * and the outermost overlay's type and id are saved first. Nesting is bounded so a packet of
 * tunnels inside tunnels cannot make the decoder recurse without end.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason, type TunnelType } from './status.js';
import { malformed } from './malformed.js';

export const MAX_TUNNEL_DEPTH = 3;

/** Returns OK when the caller may decode the inner packet at depth + 1, else MALFORMED. */
export function enterTunnel(view: PacketView, type: TunnelType, tunnelId: number, depth: number): DecodeStatus {
  if (depth >= MAX_TUNNEL_DEPTH) return malformed(view, MalformedReason.TUNNEL_TOO_DEEP);
  if (depth === 0) {
    view.tunnel = type;
    view.tunnelId = tunnelId;
    view.outerIpVersion = view.ipVersion;
    view.outerSrc.set(view.src);
    view.outerDst.set(view.dst);
  }
  // The inner packet starts with no transport results of the outer one.
  view.srcPort = 0;
  view.dstPort = 0;
  view.payloadOff = 0;
  view.payloadCapLen = 0;
  view.payloadLen = 0;
  return DecodeStatus.OK;
}
