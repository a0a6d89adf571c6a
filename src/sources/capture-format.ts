/** Picks the container parser from the first bytes of the input (its magic number). */
import type { PacketHandler } from './packet-handler.js';
import { PCAP_MAGIC_NS, PCAP_MAGIC_US, PcapStreamParser } from './pcap-stream.js';
import { BLOCK_SHB, PcapngStreamParser } from './pcapng-stream.js';

/** Bytes needed to tell the formats apart. */
export const FORMAT_MAGIC_LEN = 4;

export type CaptureFormat = 'pcap' | 'pcapng';

export function detectCaptureFormat(firstBytes: Uint8Array): CaptureFormat | null {
  if (firstBytes.length < FORMAT_MAGIC_LEN) return null;
  const dv = new DataView(firstBytes.buffer, firstBytes.byteOffset, FORMAT_MAGIC_LEN);
  const big = dv.getUint32(0, false);
  const little = dv.getUint32(0, true);
  if (big === PCAP_MAGIC_US || big === PCAP_MAGIC_NS || little === PCAP_MAGIC_US || little === PCAP_MAGIC_NS) {
    return 'pcap';
  }
  if (big === BLOCK_SHB) return 'pcapng';
  return null;
}

export function createStreamParser(
  firstBytes: Uint8Array,
  handler: PacketHandler,
): PcapStreamParser | PcapngStreamParser | null {
  const format = detectCaptureFormat(firstBytes);
  if (format === 'pcap') return new PcapStreamParser(handler);
  if (format === 'pcapng') return new PcapngStreamParser(handler);
  return null;
}
