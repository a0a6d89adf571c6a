/** Fills PacketViews directly, for flow-engine tests that should not depend on decoding. */
import { PacketView } from '../../src/decode/packet-view.js';

export interface SegmentSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  flags: string;
  seq?: number;
  ack?: number;
  len?: number;
  window?: number;
  tsUs: number;
  proto?: number;
}

const FLAG_BITS: Record<string, number> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10 };

function v4(text: string): number {
  return text.split('.').reduce((a, b) => ((a << 8) | Number(b)) | 0, 0);
}

/** A view for one TCP segment (or UDP datagram with proto 17) between IPv4 hosts. */
export function segment(spec: SegmentSpec, view = new PacketView()): PacketView {
  view.reset();
  view.ipVersion = 4;
  view.src.fill(0);
  view.dst.fill(0);
  view.src[0] = v4(spec.src);
  view.dst[0] = v4(spec.dst);
  view.ipProto = spec.proto ?? 6;
  view.srcPort = spec.sport;
  view.dstPort = spec.dport;
  view.tcpFlags = [...spec.flags].reduce((a, c) => a | (FLAG_BITS[c] ?? 0), 0);
  view.seq = spec.seq ?? 0;
  view.ack = spec.ack ?? 0;
  view.window = spec.window ?? 65535;
  view.payloadLen = spec.len ?? 0;
  view.payloadCapLen = spec.len ?? 0;
  view.ipTotalLen = 40 + (spec.len ?? 0);
  view.wireLen = 54 + (spec.len ?? 0);
  view.tsUs = spec.tsUs;
  return view;
}
