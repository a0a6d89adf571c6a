/**
 * The one way a decoder reports a bad packet: record the reason on the view and hand back the
 * MALFORMED status for the caller to return. A status instead of an exception keeps bad input
 * on the fast path (DESIGN 3: throwing is about 1,000x slower).
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, type MalformedReason } from './status.js';

export function malformed(view: PacketView, reason: MalformedReason): DecodeStatus {
  view.reason = reason;
  return DecodeStatus.MALFORMED;
}

/** Link-layer decoders return an EtherType (>= 0) or this marker after calling malformed(). */
export const LINK_FAILED = -1;
