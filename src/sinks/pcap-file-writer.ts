/**
 * Writes one classic pcap file (µs timestamps, little-endian, the format every reader takes)
 * for a followed connection. Hand-written because it is thirty lines of a fixed layout, and the
 * npm pcap writers either need a native build or pull in a capture stack.
 *
 * The file appears only when complete: packets go to a hidden temp file (mode 0600, created
 * exclusively) and `commit` renames it into place, so tools watching the directory never see a
 * half-written pcap. Writes are synchronous on the packet thread through a 256 KiB buffer: a
 * follow is a handful of connections, and a write error must be known where the follow is.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';

const PCAP_MAGIC_US = 0xa1b2c3d4;
const GLOBAL_HEADER_BYTES = 24;
const RECORD_HEADER_BYTES = 16;
const BUFFER_BYTES = 256 * 1024;
export const PCAP_SNAPLEN = 262_144;

export class PcapFileWriter {
  /** Packets and bytes (headers included) in the file so far. */
  packets = 0;
  bytes = 0;
  /** Packets refused because the file reached its byte cap. */
  packetsOverCap = 0;
  private readonly fd: number;
  private readonly buf = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  private closed = false;

  constructor(
    readonly tempPath: string,
    readonly linkType: number,
    private readonly maxBytes: number,
  ) {
    this.fd = openSync(tempPath, 'wx', 0o600);
    const b = this.buf;
    b.writeUInt32LE(PCAP_MAGIC_US, 0);
    b.writeUInt16LE(2, 4);
    b.writeUInt16LE(4, 6);
    b.writeInt32LE(0, 8);
    b.writeUInt32LE(0, 12);
    b.writeUInt32LE(PCAP_SNAPLEN, 16);
    b.writeUInt32LE(linkType >>> 0, 20);
    this.used = GLOBAL_HEADER_BYTES;
    this.bytes = GLOBAL_HEADER_BYTES;
  }

  get truncated(): boolean {
    return this.packetsOverCap > 0;
  }

  /** Appends one packet (`data[start..start+capLen)`); false when the byte cap refused it (and
   *  so every packet after it). */
  append(data: Uint8Array, start: number, capLen: number, wireLen: number, tsUs: number): boolean {
    const len = Math.min(capLen, PCAP_SNAPLEN);
    const need = RECORD_HEADER_BYTES + len;
    // Once one packet is refused every later one is too: the file stays a prefix of the
    // connection instead of a pcap with holes in it.
    if (this.packetsOverCap > 0 || this.bytes + need > this.maxBytes) {
      this.packetsOverCap++;
      return false;
    }
    if (this.used + need > BUFFER_BYTES) this.flush();
    const sec = Math.floor(tsUs / 1_000_000);
    const b = this.buf;
    if (need > BUFFER_BYTES) {
      const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
      writeRecordHeader(header, 0, sec, tsUs - sec * 1_000_000, len, wireLen);
      this.writeAll(header, RECORD_HEADER_BYTES);
      this.writeAll(data.subarray(start, start + len), len);
    } else {
      writeRecordHeader(b, this.used, sec, tsUs - sec * 1_000_000, len, wireLen);
      b.set(data.subarray(start, start + len), this.used + RECORD_HEADER_BYTES);
      this.used += need;
    }
    this.packets++;
    this.bytes += need;
    return true;
  }

  /** Flushes, syncs and renames the temp file to `path`. */
  commit(path: string): void {
    this.flush();
    fsyncSync(this.fd);
    this.close();
    renameSync(this.tempPath, path);
  }

  /** Drops the file (a cancelled follow, or one that failed). Never throws. */
  abort(): void {
    try {
      this.close();
    } catch {
      // Already failing: the unlink below is what matters.
    }
    try {
      unlinkSync(this.tempPath);
    } catch {
      // Gone already.
    }
  }

  private flush(): void {
    if (this.used === 0) return;
    this.writeAll(this.buf, this.used);
    this.used = 0;
  }

  private writeAll(bytes: Uint8Array, len: number): void {
    let off = 0;
    while (off < len) off += writeSync(this.fd, bytes, off, len - off);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

function writeRecordHeader(b: Buffer, at: number, sec: number, usec: number, capLen: number, wireLen: number): void {
  b.writeUInt32LE(sec >>> 0, at);
  b.writeUInt32LE(usec >>> 0, at + 4);
  b.writeUInt32LE(capLen >>> 0, at + 8);
  b.writeUInt32LE(Math.max(wireLen, capLen) >>> 0, at + 12);
}
