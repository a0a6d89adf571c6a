/**
 * The decoder's entry point: one captured packet in, the reused PacketView filled, a
 * DecodeStatus out. Hand-written and allocation-free because it runs once per packet: no
 * subarray, no DataView, no closures, no strings, no exceptions (DESIGN 3).
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason, TunnelType } from './status.js';
import { LINK_FAILED, malformed } from './malformed.js';
import { decodeEthernet } from './ethernet.js';
import { decodeSll } from './sll.js';
import { decodeSll2 } from './sll2.js';
import { decodeNullLoopback } from './null-loopback.js';
import { decodeRawIp } from './raw-ip.js';
import { decodeNflog } from './nflog.js';
import { decodeNetwork } from './network.js';
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NFLOG,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  LINKTYPE_RAW_12,
  LINKTYPE_RAW_14,
} from '../wire/linktypes.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethertypes.js';

export function decodePacket(
  view: PacketView,
  data: Uint8Array,
  dv: DataView,
  start: number,
  capLen: number,
  wireLen: number,
  tsUs: number,
  linkType: number,
  ifaceId: number,
): DecodeStatus {
  // reset() leaves the address arrays alone; clear the ones the previous packet filled so a
  // reused view never shows another packet's outer or quoted endpoints.
  if (view.tunnel !== TunnelType.NONE) {
    view.outerSrc.fill(0);
    view.outerDst.fill(0);
  }
  if (view.hasQuoted) {
    view.quotedSrc.fill(0);
    view.quotedDst.fill(0);
  }
  view.reset();
  // Stored only when the chunk changes (every few thousand packets): storing a young chunk
  // into the long-lived view costs a write-barrier call each time.
  if (view.data !== data || view.dv !== dv) {
    view.data = data;
    view.dv = dv;
  }
  view.start = start;
  // Never read past the buffer, whatever the source claims.
  const end = capLen > 0 ? Math.min(start + capLen, data.length) : start;
  view.end = end;
  view.wireLen = wireLen;
  view.tsUs = tsUs;
  view.linkType = linkType;
  view.ifaceId = ifaceId;
  // A wire length below the captured length is a writer's bug: trust the bytes we have.
  const wireEnd = start + (wireLen > end - start ? wireLen : end - start);
  const status = decodeLink(view, start, end, wireEnd);
  view.status = status;
  return status;
}

function decodeLink(view: PacketView, start: number, end: number, wireEnd: number): DecodeStatus {
  let etherType: number;
  switch (view.linkType) {
    case LINKTYPE_ETHERNET:
      etherType = decodeEthernet(view, start, end, true);
      break;
    case LINKTYPE_LINUX_SLL:
      etherType = decodeSll(view, start, end);
      break;
    case LINKTYPE_LINUX_SLL2:
      etherType = decodeSll2(view, start, end);
      break;
    case LINKTYPE_NULL:
      etherType = decodeNullLoopback(view, start, end, false);
      break;
    case LINKTYPE_LOOP:
      etherType = decodeNullLoopback(view, start, end, true);
      break;
    case LINKTYPE_RAW_12:
    case LINKTYPE_RAW_14:
    case LINKTYPE_RAW:
      etherType = decodeRawIp(view, start, end);
      break;
    case LINKTYPE_IPV4:
      view.l3Off = start;
      etherType = ETHERTYPE_IPV4;
      break;
    case LINKTYPE_IPV6:
      view.l3Off = start;
      etherType = ETHERTYPE_IPV6;
      break;
    case LINKTYPE_NFLOG:
      return decodeNflog(view, start, end);
    default:
      malformed(view, MalformedReason.LINKTYPE_UNSUPPORTED);
      return DecodeStatus.UNSUPPORTED;
  }
  if (etherType === LINK_FAILED) return DecodeStatus.MALFORMED;
  return decodeNetwork(view, etherType, view.l3Off, end, wireEnd, 0);
}
