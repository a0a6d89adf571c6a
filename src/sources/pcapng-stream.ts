/**
 * Push parser for pcapng: sections in either byte order (several per input, interface ids
 * restarting in each and mapped to one global ifaceId), IDB (link type, snaplen, if_name,
 * if_tsresol in its power-of-10 and power-of-2 forms, if_tsoffset), EPB, SPB and the obsolete
 * PB; every other block (NRB, ISB, DSB, custom, unknown) is skipped by its length.
 * Hand-written and allocation-free per packet block: it runs for every packet (see
 * stream-parser-base.ts for the buffering). A block whose length fields are impossible is
 * reported and the parser scans forward for the next plausible block.
 */
import type { PacketHandler } from './packet-handler.js';
import { StreamParserBase, UNIT_INVALID } from './stream-parser-base.js';
import { MAX_CAPLEN } from './capture-limits.js';

export const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 1;
const BLOCK_PB = 2;
const BLOCK_SPB = 3;
const BLOCK_NRB = 4;
const BLOCK_ISB = 5;
const BLOCK_EPB = 6;
const BLOCK_DSB = 0x0a;
const BLOCK_CUSTOM = 0x00000bad;
const BLOCK_CUSTOM_NOCOPY = 0x40000bad;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const MIN_BLOCK_LEN = 12;
/** Large enough for any packet block and generous option/name-resolution blocks. */
const MAX_BLOCK_LEN = 16 * 1024 * 1024;

const OPT_END = 0;
const IF_NAME = 2;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;

/** How an interface's timestamp units become microseconds. */
const TS_MULTIPLY = 0;
const TS_DIVIDE = 1;
const TS_SCALE = 2;

const TWO_POW_32 = 4294967296;
const textDecoder = new TextDecoder();

export class PcapngStreamParser extends StreamParserBase {
  private inSection = false;
  private littleEndian = false;
  /** Global id of the current section's interface 0, and how many the section has defined. */
  private sectionIfaceBase = 0;
  private sectionIfaceCount = 0;
  private ifaceCount = 0;
  /** Per global interface (indexed by ifaceId). */
  private readonly ifLinkType: number[] = [];
  private readonly ifSnapLen: number[] = [];
  private readonly ifTsMode: number[] = [];
  private readonly ifTsFactor: number[] = [];
  private readonly ifTsOffsetUs: number[] = [];
  /** SPBs carry no timestamp: they get the last time seen, which keeps packet time monotonic. */
  private lastTsUs = 0;
  private corruptAt = 0;

  constructor(handler: PacketHandler) {
    super(handler);
  }

  protected unitLength(_buf: Uint8Array, dv: DataView, off: number, avail: number): number {
    if (avail < MIN_BLOCK_LEN) return MIN_BLOCK_LEN;
    const len = this.blockLength(dv, off);
    return len < 0 ? UNIT_INVALID : len;
  }

  protected checkComplete(offset: number): void {
    if (!this.inSection) this.handler.onSourceError(offset, 'input ended before a pcapng section header block');
  }

  /** Length from a block header, in the byte order the block will be read with, or -1 when impossible. */
  private blockLength(dv: DataView, off: number): number {
    let le = this.littleEndian;
    if (dv.getUint32(off, false) === BLOCK_SHB) {
      const magic = dv.getUint32(off + 8, false);
      if (magic === BYTE_ORDER_MAGIC) le = false;
      else if (dv.getUint32(off + 8, true) === BYTE_ORDER_MAGIC) le = true;
      else return -1;
    } else if (!this.inSection) {
      return -1;
    }
    const len = dv.getUint32(off + 4, le);
    if (len < MIN_BLOCK_LEN || (len & 3) !== 0 || len > MAX_BLOCK_LEN) return -1;
    return len;
  }

  protected parseUnits(buf: Uint8Array, dv: DataView, from: number, to: number, final: boolean): number {
    let p = from;
    for (;;) {
      if (this.resyncing) {
        const found = this.scanForBlock(dv, p, to, final);
        if (found < 0) return final ? to : -found - 1;
        p = found;
      }
      if (to - p < MIN_BLOCK_LEN) return p;
      const len = this.blockLength(dv, p);
      if (len < 0) {
        if (!this.inSection && this.bufferBase + p === 0) {
          this.stop(0, 'not a pcapng file (no section header block at the start): nothing read');
          return to;
        }
        this.startResync(p);
        continue;
      }
      if (to - p < len) return p;
      const isShb = dv.getUint32(p, false) === BLOCK_SHB;
      const le = isShb ? dv.getUint32(p + 8, true) === BYTE_ORDER_MAGIC : this.littleEndian;
      if (dv.getUint32(p + len - 4, le) !== len) {
        this.startResync(p);
        continue;
      }
      if (isShb) this.startSection(le);
      else this.handleBlock(buf, dv, p, len);
      p += len;
    }
  }

  private startResync(p: number): void {
    this.resyncing = true;
    this.corruptAt = this.bufferBase + p;
  }

  private startSection(littleEndian: boolean): void {
    this.inSection = true;
    this.littleEndian = littleEndian;
    this.sectionIfaceBase = this.ifaceCount;
    this.sectionIfaceCount = 0;
  }

  private handleBlock(buf: Uint8Array, dv: DataView, p: number, len: number): void {
    const le = this.littleEndian;
    const type = dv.getUint32(p, le);
    if (type === BLOCK_EPB || type === BLOCK_PB) {
      if (len < 32) return this.reportBlock(p, 'packet block too short');
      const localIface = type === BLOCK_EPB ? dv.getUint32(p + 8, le) : dv.getUint16(p + 8, le);
      if (localIface >= this.sectionIfaceCount) return this.reportBlock(p, `packet for undefined interface ${localIface}`);
      const capLen = dv.getUint32(p + 20, le);
      if (capLen > len - 32 || capLen > MAX_CAPLEN) return this.reportBlock(p, `impossible captured length ${capLen}`);
      const iface = this.sectionIfaceBase + localIface;
      const tsUs = this.toMicroseconds(iface, dv.getUint32(p + 12, le), dv.getUint32(p + 16, le));
      this.lastTsUs = tsUs;
      this.packets++;
      this.handler.onPacket(buf, dv, p + 28, capLen, dv.getUint32(p + 24, le), tsUs, this.ifLinkType[iface]!, iface);
    } else if (type === BLOCK_SPB) {
      if (len < 16) return this.reportBlock(p, 'simple packet block too short');
      if (this.sectionIfaceCount === 0) return this.reportBlock(p, 'simple packet block before any interface');
      const iface = this.sectionIfaceBase;
      const wireLen = dv.getUint32(p + 8, le);
      const snapLen = this.ifSnapLen[iface]!;
      let capLen = Math.min(wireLen, len - 16);
      if (snapLen > 0 && capLen > snapLen) capLen = snapLen;
      this.packets++;
      this.handler.onPacket(buf, dv, p + 12, capLen, wireLen, this.lastTsUs, this.ifLinkType[iface]!, iface);
    } else if (type === BLOCK_IDB) {
      if (len < 20) return this.reportBlock(p, 'interface description block too short');
      this.addInterface(buf, dv, p, len);
    }
    // NRB, ISB, DSB, custom and unknown blocks carry nothing a flow needs.
  }

  private reportBlock(p: number, problem: string): void {
    this.handler.onSourceError(this.bufferBase + p, `pcapng ${problem}: block skipped`);
  }

  private addInterface(buf: Uint8Array, dv: DataView, p: number, len: number): void {
    const le = this.littleEndian;
    const linkType = dv.getUint16(p + 8, le);
    const snapLen = dv.getUint32(p + 12, le);
    let name = '';
    let tsMode = TS_MULTIPLY;
    let tsFactor = 1;
    let tsOffsetUs = 0;
    const optEnd = p + len - 4;
    for (let o = p + 16; o + 4 <= optEnd; ) {
      const code = dv.getUint16(o, le);
      const optLen = dv.getUint16(o + 2, le);
      const value = o + 4;
      if (code === OPT_END || value + optLen > optEnd) break;
      if (code === IF_NAME) {
        let nameEnd = value + optLen;
        while (nameEnd > value && buf[nameEnd - 1] === 0) nameEnd--;
        name = textDecoder.decode(buf.subarray(value, nameEnd));
      } else if (code === IF_TSRESOL && optLen >= 1) {
        const resol = buf[value]!;
        const exponent = resol & 0x7f;
        if ((resol & 0x80) !== 0) {
          tsMode = TS_SCALE;
          tsFactor = 1e6 / 2 ** exponent;
        } else if (exponent <= 6) {
          tsMode = TS_MULTIPLY;
          tsFactor = 10 ** (6 - exponent);
        } else {
          tsMode = TS_DIVIDE;
          tsFactor = 10 ** (exponent - 6);
        }
      } else if (code === IF_TSOFFSET && optLen >= 8) {
        const hi = le ? dv.getInt32(value + 4, true) : dv.getInt32(value, false);
        const lo = le ? dv.getUint32(value, true) : dv.getUint32(value + 4, false);
        tsOffsetUs = (hi * TWO_POW_32 + lo) * 1e6;
      }
      o = value + ((optLen + 3) & ~3);
    }
    const iface = this.ifaceCount++;
    this.sectionIfaceCount++;
    this.ifLinkType[iface] = linkType;
    this.ifSnapLen[iface] = snapLen;
    this.ifTsMode[iface] = tsMode;
    this.ifTsFactor[iface] = tsFactor;
    this.ifTsOffsetUs[iface] = tsOffsetUs;
    this.handler.onInterface(iface, linkType, name, snapLen);
  }

  /**
   * 64-bit timestamp (hi, lo) in the interface's units to µs. Nanosecond counts exceed 2^53,
   * so division splits hi * 2^32 into an exact quotient and a remainder instead of forming the
   * inexact 64-bit product first.
   */
  private toMicroseconds(iface: number, hi: number, lo: number): number {
    const mode = this.ifTsMode[iface]!;
    const factor = this.ifTsFactor[iface]!;
    let us: number;
    if (mode === TS_MULTIPLY) {
      us = (hi * TWO_POW_32 + lo) * factor;
    } else if (mode === TS_DIVIDE) {
      const quotient = Math.floor(TWO_POW_32 / factor);
      const remainder = TWO_POW_32 - quotient * factor;
      us = hi * quotient + Math.floor((hi * remainder + lo) / factor);
    } else {
      us = Math.floor((hi * TWO_POW_32 + lo) * factor);
    }
    return us + this.ifTsOffsetUs[iface]!;
  }

  /** Whether a block that parses at q looks real: known type, sane lengths, matching trailer. */
  private plausibleBlock(dv: DataView, q: number, to: number, final: boolean): number {
    const len = this.blockLength(dv, q);
    if (len < 0) return 0;
    const isShb = dv.getUint32(q, false) === BLOCK_SHB;
    const le = isShb ? dv.getUint32(q + 8, true) === BYTE_ORDER_MAGIC : this.littleEndian;
    const type = dv.getUint32(q, le);
    const known =
      isShb ||
      type === BLOCK_IDB ||
      type === BLOCK_PB ||
      type === BLOCK_SPB ||
      type === BLOCK_NRB ||
      type === BLOCK_ISB ||
      type === BLOCK_EPB ||
      type === BLOCK_DSB ||
      type === BLOCK_CUSTOM ||
      type === BLOCK_CUSTOM_NOCOPY;
    if (!known) return 0;
    if (type === BLOCK_EPB && !isShb && dv.getUint32(q + 8, le) >= this.sectionIfaceCount) return 0;
    if (q + len > to) return final ? 0 : -1;
    return dv.getUint32(q + len - 4, le) === len ? 1 : 0;
  }

  /** Like PcapStreamParser.scanForRecord: the next plausible block, or -(resume offset) - 1. */
  private scanForBlock(dv: DataView, from: number, to: number, final: boolean): number {
    // Start one byte past the bad block so the scan always moves forward.
    const first = this.bufferBase + from === this.corruptAt ? from + 1 : from;
    for (let q = first; q + MIN_BLOCK_LEN <= to; q++) {
      const verdict = this.plausibleBlock(dv, q, to, final);
      if (verdict < 0) return -q - 1;
      if (verdict > 0) {
        this.resyncing = false;
        this.handler.onSourceError(
          this.corruptAt,
          `corrupt pcapng block: skipped ${this.bufferBase + q - this.corruptAt} bytes to the next plausible block`,
        );
        return q;
      }
    }
    if (final) {
      this.handler.onSourceError(this.corruptAt, 'corrupt pcapng block: no plausible block before the end of input, stopped');
      this.stopped = true;
    }
    return -Math.max(first, to - MIN_BLOCK_LEN + 1) - 1;
  }
}
