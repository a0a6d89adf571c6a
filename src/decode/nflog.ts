/**
 * Linux NFLOG (DLT 239): a 4-byte header (address family, version 0, resource id) followed by
 * TLVs padded to 4 bytes; TLV type 9 (NFULA_PAYLOAD) holds the IP packet. TLV length and type
 * are in the writer's host byte order (libpcap swaps them only for readers), so a length that
 * does not fit little-endian is retried big-endian. Hand-written and allocation-free.
 */
import type { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason } from './status.js';
import { malformed } from './malformed.js';
import { decodeNetwork } from './network.js';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../wire/ethertypes.js';

const NFLOG_HEADER_LEN = 4;
const TLV_HEADER_LEN = 4;
const NFULA_PAYLOAD = 9;
const AF_INET = 2;
const AF_INET6 = 10;

export function decodeNflog(view: PacketView, off: number, end: number): DecodeStatus {
  if (off + NFLOG_HEADER_LEN > end) return malformed(view, MalformedReason.NFLOG_TRUNCATED);
  const dv = view.dv;
  const family = view.data[off]!;
  let p = off + NFLOG_HEADER_LEN;
  while (p + TLV_HEADER_LEN <= end) {
    let littleEndian = true;
    let len = dv.getUint16(p, true);
    if (len < TLV_HEADER_LEN || p + len > end) {
      const bigEndianLen = dv.getUint16(p, false);
      if (bigEndianLen >= TLV_HEADER_LEN && p + bigEndianLen <= end) {
        len = bigEndianLen;
        littleEndian = false;
      }
    }
    if (len < TLV_HEADER_LEN) return malformed(view, MalformedReason.NFLOG_TRUNCATED);
    // The top bits of the type are netlink flags (nested, byte order).
    const type = dv.getUint16(p + 2, littleEndian) & 0x3fff;
    if (type === NFULA_PAYLOAD) {
      const payloadOff = p + TLV_HEADER_LEN;
      // The TLV length is the real payload length even when the snaplen cut the capture.
      const payloadWireEnd = p + len;
      const payloadEnd = payloadWireEnd < end ? payloadWireEnd : end;
      view.l3Off = payloadOff;
      if (family === AF_INET) return decodeNetwork(view, ETHERTYPE_IPV4, payloadOff, payloadEnd, payloadWireEnd, 0);
      if (family === AF_INET6) return decodeNetwork(view, ETHERTYPE_IPV6, payloadOff, payloadEnd, payloadWireEnd, 0);
      return DecodeStatus.NOT_IP;
    }
    p += (len + 3) & ~3;
  }
  // A payload TLV cut by the snaplen, or a log message without a packet.
  return p < end ? malformed(view, MalformedReason.NFLOG_TRUNCATED) : DecodeStatus.NOT_IP;
}
