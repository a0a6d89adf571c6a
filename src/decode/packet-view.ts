/**
 * The one object every decoder fills. It is allocated once per pipeline and re-pointed at each
 * packet (gopacket's DecodingLayerParser idea): decoders write numbers into fixed fields and
 * never allocate. Offsets are absolute indexes into `data`, which is the source's whole batch
 * buffer (one DataView per batch, never one per packet).
 *
 * Addresses are kept as four 32-bit words so IPv4 and IPv6 share one key layout: IPv4 uses
 * word 0 and leaves words 1..3 zero. Words are stored as signed int32 (`| 0`) so V8 keeps them
 * as small integers.
 */
import { DecodeStatus, MalformedReason, TunnelType } from './status.js';

export class PacketView {
  /** The batch buffer and a DataView over exactly the same bytes. */
  data: Uint8Array = new Uint8Array(0);
  dv: DataView = new DataView(new ArrayBuffer(0));
  /** First byte of this packet in `data`, and one past its last captured byte. */
  start = 0;
  end = 0;
  /** Length on the wire (pcap orig_len); `end - start` is the captured length. */
  wireLen = 0;
  /** Packet time in microseconds since the epoch (exact below 2^53 µs, i.e. until year 2255). */
  tsUs = 0;
  /** LINKTYPE_* of the packet's interface, and the source's interface id (pcapng IDB index). */
  linkType = 0;
  ifaceId = 0;

  /** Outcome of decoding; reason is set when status is MALFORMED or UNSUPPORTED. */
  status: DecodeStatus = DecodeStatus.OK;
  reason: MalformedReason = MalformedReason.NONE;

  /** 802.1Q/802.1ad tags: outermost and innermost (-1 when absent), and how many were stacked. */
  vlanOuter = -1;
  vlanInner = -1;
  vlanCount = 0;

  /** Overlay that carried the inner packet (the flow is the inner one); outer endpoints kept. */
  tunnel: TunnelType = TunnelType.NONE;
  /** VXLAN/Geneve VNI or GRE key; -1 when absent. */
  tunnelId = -1;
  outerIpVersion = 0;
  readonly outerSrc = new Int32Array(4);
  readonly outerDst = new Int32Array(4);

  /** Network layer of the (inner) packet. */
  l3Off = 0;
  ipVersion = 0;
  readonly src = new Int32Array(4);
  readonly dst = new Int32Array(4);
  /** Transport protocol number after IPv6 extension headers (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6...). */
  ipProto = 0;
  ttl = 0;
  /** IP header length incl. options / extension headers, and the length the IP header claims
   *  for the whole datagram (IPv4 total length, IPv6 40 + payload length). */
  ipHdrLen = 0;
  ipTotalLen = 0;

  /** Fragments: any fragment sets isFragment; only the first one (offset 0) carries ports. */
  isFragment = false;
  fragOffset = 0;
  moreFragments = false;
  fragId = 0;

  /** Transport layer. l4Off is where the TCP/UDP/ICMP header starts. */
  l4Off = 0;
  srcPort = 0;
  dstPort = 0;

  /** TCP: flags byte (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80). */
  tcpFlags = 0;
  /** Sequence and acknowledgement numbers as int32; compare with ((a - b) | 0) < 0. */
  seq = 0;
  ack = 0;
  /** Raw window field (not scaled) and the window scale option (-1 when not in this segment). */
  window = 0;
  windowScale = -1;
  /** MSS option, -1 when not in this segment. */
  mss = -1;
  tcpHdrLen = 0;

  /** Application payload: offset of its first byte, bytes captured, and bytes the headers say
   *  it has on the wire (larger than payloadCapLen when the snaplen cut it). */
  payloadOff = 0;
  payloadCapLen = 0;
  payloadLen = 0;

  /** ICMP/ICMPv6 type, code and echo identifier/sequence (-1 when not an echo). */
  icmpType = -1;
  icmpCode = -1;
  icmpId = -1;
  icmpSeq = -1;

  /** ICMP errors quote the start of the packet that caused them; the quoted flow's tuple
   *  (as the quoted packet was sent) lets the error be attached to that flow. */
  hasQuoted = false;
  quotedIpVersion = 0;
  quotedProto = 0;
  readonly quotedSrc = new Int32Array(4);
  readonly quotedDst = new Int32Array(4);
  quotedSrcPort = 0;
  quotedDstPort = 0;

  /** Clears every decode result; called by decodePacket before each packet. */
  reset(): void {
    this.status = DecodeStatus.OK;
    this.reason = MalformedReason.NONE;
    this.vlanOuter = -1;
    this.vlanInner = -1;
    this.vlanCount = 0;
    this.tunnel = TunnelType.NONE;
    this.tunnelId = -1;
    this.outerIpVersion = 0;
    this.l3Off = 0;
    this.ipVersion = 0;
    this.ipProto = 0;
    this.ttl = 0;
    this.ipHdrLen = 0;
    this.ipTotalLen = 0;
    this.isFragment = false;
    this.fragOffset = 0;
    this.moreFragments = false;
    this.fragId = 0;
    this.l4Off = 0;
    this.srcPort = 0;
    this.dstPort = 0;
    this.tcpFlags = 0;
    this.seq = 0;
    this.ack = 0;
    this.window = 0;
    this.windowScale = -1;
    this.mss = -1;
    this.tcpHdrLen = 0;
    this.payloadOff = 0;
    this.payloadCapLen = 0;
    this.payloadLen = 0;
    this.icmpType = -1;
    this.icmpCode = -1;
    this.icmpId = -1;
    this.icmpSeq = -1;
    this.hasQuoted = false;
    this.quotedIpVersion = 0;
    this.quotedProto = 0;
    this.quotedSrcPort = 0;
    this.quotedDstPort = 0;
  }
}
