/**
 * BSD loopback: DLT 0 (NULL, address family in the *capturing host's* byte order, so either
 * order must be accepted) and DLT 108 (LOOP, always big-endian).
 * Hand-written and allocation-free: runs per packet.
 */
import type { PacketView } from './packet-view.js';
import { MalformedReason } from './status.js';
import { LINK_FAILED, malformed } from './malformed.js';
import { ETHERTYPE_NONE } from './ethernet.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethertypes.js';

const LOOPBACK_HEADER_LEN = 4;
const AF_INET = 2;
/** AF_INET6 differs per OS: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, macOS 30. */
const AF_INET6_LINUX = 10;
const AF_INET6_BSD = 24;
const AF_INET6_FREEBSD = 28;
const AF_INET6_DARWIN = 30;

function etherTypeOfFamily(family: number): number {
  if (family === AF_INET) return ETHERTYPE_IPV4;
  if (family === AF_INET6_BSD || family === AF_INET6_FREEBSD || family === AF_INET6_DARWIN || family === AF_INET6_LINUX) {
    return ETHERTYPE_IPV6;
  }
  return ETHERTYPE_NONE;
}

/** Returns the EtherType equivalent of the address family and sets view.l3Off, or LINK_FAILED. */
export function decodeNullLoopback(view: PacketView, off: number, end: number, bigEndianOnly: boolean): number {
  if (off + LOOPBACK_HEADER_LEN > end) {
    malformed(view, MalformedReason.LINK_TRUNCATED);
    return LINK_FAILED;
  }
  let family = view.dv.getUint32(off, false);
  // Families are small numbers: a value with high bits set was written little-endian.
  if (!bigEndianOnly && family > 0xffff) family = view.dv.getUint32(off, true);
  view.l3Off = off + LOOPBACK_HEADER_LEN;
  return etherTypeOfFamily(family);
}
