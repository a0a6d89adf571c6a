/**
 * Push parser for classic pcap (magic a1b2c3d4 µs and a1b23c4d ns, either byte order).
 * Hand-written and allocation-free per record: it runs for every packet (see
 * stream-parser-base.ts for the buffering). A corrupt record header is reported through
 * onSourceError and the parser scans forward for the next plausible header (caplen within
 * the snaplen, caplen <= wirelen <= MAX_CAPLEN, sub-second field in range, time within a day
 * of the previous packet).
 */
import type { PacketHandler } from './packet-handler.js';
import { StreamParserBase, UNIT_INVALID } from './stream-parser-base.js';
import { MAX_CAPLEN, RESYNC_MAX_TS_JUMP_S, capLenBeyondSnapLen } from './capture-limits.js';
import { LINKTYPE_MASK } from '../wire/linktypes.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
const FILE_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;

export class PcapStreamParser extends StreamParserBase {
  private headerDone = false;
  private littleEndian = false;
  private nanoseconds = false;
  private snapLen = 0;
  private linkType = 0;
  /** Seconds field of the last good record (-1 before the first): anchors resync plausibility. */
  private lastSec = -1;
  /** Where the corrupt data began, while resyncing (reported once the outcome is known). */
  private corruptAt = 0;

  constructor(handler: PacketHandler) {
    super(handler);
  }

  protected unitLength(_buf: Uint8Array, dv: DataView, off: number, avail: number): number {
    if (!this.headerDone) return FILE_HEADER_LEN;
    if (avail < RECORD_HEADER_LEN) return RECORD_HEADER_LEN;
    const capLen = dv.getUint32(off + 8, this.littleEndian);
    if (!this.recordHeaderUsable(capLen)) return UNIT_INVALID;
    return RECORD_HEADER_LEN + capLen;
  }

  protected checkComplete(offset: number): void {
    if (!this.headerDone) this.handler.onSourceError(offset, 'input ended before the pcap file header was complete');
  }

  protected parseUnits(buf: Uint8Array, dv: DataView, from: number, to: number, final: boolean): number {
    let p = from;
    if (!this.headerDone) {
      if (to - p < FILE_HEADER_LEN) return p;
      if (!this.readFileHeader(dv, p)) return to;
      p += FILE_HEADER_LEN;
    }
    const le = this.littleEndian;
    const handler = this.handler;
    const linkType = this.linkType;
    for (;;) {
      if (this.resyncing) {
        const found = this.scanForRecord(dv, p, to, final);
        if (found < 0) return final ? to : -found - 1;
        p = found;
      }
      if (to - p < RECORD_HEADER_LEN) return p;
      const sec = dv.getUint32(p, le);
      const frac = dv.getUint32(p + 4, le);
      const capLen = dv.getUint32(p + 8, le);
      const wireLen = dv.getUint32(p + 12, le);
      if (!this.recordHeaderUsable(capLen)) {
        this.resyncing = true;
        this.corruptAt = this.bufferBase + p;
        p++;
        continue;
      }
      if (to - p - RECORD_HEADER_LEN < capLen) return p;
      const tsUs = this.nanoseconds ? sec * 1e6 + Math.floor(frac / 1000) : sec * 1e6 + frac;
      this.lastSec = sec;
      this.packets++;
      handler.onPacket(buf, dv, p + RECORD_HEADER_LEN, capLen, wireLen, tsUs, linkType, 0);
      p += RECORD_HEADER_LEN + capLen;
    }
  }

  private readFileHeader(dv: DataView, p: number): boolean {
    const magic = dv.getUint32(p, false);
    const swappedMagic = dv.getUint32(p, true);
    if (magic === PCAP_MAGIC_US || magic === PCAP_MAGIC_NS) {
      this.littleEndian = false;
      this.nanoseconds = magic === PCAP_MAGIC_NS;
    } else if (swappedMagic === PCAP_MAGIC_US || swappedMagic === PCAP_MAGIC_NS) {
      this.littleEndian = true;
      this.nanoseconds = swappedMagic === PCAP_MAGIC_NS;
    } else {
      this.stop(this.bufferBase + p, `not a pcap file (magic 0x${magic.toString(16)}): nothing read`);
      return false;
    }
    this.snapLen = dv.getUint32(p + 16, this.littleEndian);
    this.linkType = dv.getUint32(p + 20, this.littleEndian) & LINKTYPE_MASK;
    this.headerDone = true;
    this.handler.onInterface(0, this.linkType, '', this.snapLen);
    return true;
  }

  /** Only the captured length decides where the next record is; a wrong wire length is harmless. */
  private recordHeaderUsable(capLen: number): boolean {
    return capLen <= MAX_CAPLEN && !capLenBeyondSnapLen(capLen, this.snapLen);
  }

  /** The stricter test applied to candidate headers while resyncing. */
  private plausibleRecord(dv: DataView, q: number): boolean {
    const le = this.littleEndian;
    const sec = dv.getUint32(q, le);
    const frac = dv.getUint32(q + 4, le);
    const capLen = dv.getUint32(q + 8, le);
    const wireLen = dv.getUint32(q + 12, le);
    const snapLimit = this.snapLen > 0 && this.snapLen < MAX_CAPLEN ? this.snapLen : MAX_CAPLEN;
    if (capLen > snapLimit || capLen > wireLen || wireLen > MAX_CAPLEN || wireLen === 0) return false;
    if (frac >= (this.nanoseconds ? 1e9 : 1e6)) return false;
    return this.lastSec < 0 || Math.abs(sec - this.lastSec) <= RESYNC_MAX_TS_JUMP_S;
  }

  /**
   * Returns the offset of the next plausible record header at or after `from`, or, when the
   * buffer ends first, -(offset to continue from) - 1 (the unscanned tail must wait for input).
   */
  private scanForRecord(dv: DataView, from: number, to: number, final: boolean): number {
    for (let q = from; q + RECORD_HEADER_LEN <= to; q++) {
      if (this.plausibleRecord(dv, q)) {
        this.resyncing = false;
        const skipped = this.bufferBase + q - this.corruptAt;
        this.handler.onSourceError(
          this.corruptAt,
          `corrupt pcap record header: skipped ${skipped} bytes to the next plausible record`,
        );
        return q;
      }
    }
    const resumeAt = Math.max(from, to - RECORD_HEADER_LEN + 1);
    if (final) {
      this.handler.onSourceError(
        this.corruptAt,
        'corrupt pcap record header: no plausible record before the end of input, stopped',
      );
      this.stopped = true;
    }
    return -resumeAt - 1;
  }
}
