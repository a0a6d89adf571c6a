/**
 * The push-parser machinery shared by the pcap and pcapng parsers: chunks of any size go in
 * (file reads, stdin, gunzip output, a live `tcpdump -w -` pipe), whole records come out in
 * place. Hand-written because it runs for every packet: records that lie inside one chunk are
 * handed over straight from the chunk (one DataView per chunk, no copy); only a record that
 * spans a chunk boundary is assembled in a reusable, growable leftover buffer, taking from the
 * next chunk just the bytes it still lacks. While resynchronizing after corrupt input the
 * parser falls back to appending whole chunks to the leftover buffer, which is simpler and
 * only costs on damaged files.
 */
import type { PacketHandler } from './packet-handler.js';

/** Returned by unitLength() when the bytes at the cursor cannot start a valid unit. */
export const UNIT_INVALID = -1;

const INITIAL_LEFTOVER_CAPACITY = 64 * 1024;

export abstract class StreamParserBase {
  protected readonly handler: PacketHandler;
  /** Packets handed to the handler so far. */
  packets = 0;
  /** Absolute input offset of `buffer[0]` in the call to parseUnits() under way. */
  protected bufferBase = 0;
  /** Set after an unrecoverable problem: further input is ignored. */
  protected stopped = false;
  /** True while scanning forward for the next plausible record after corrupt input. */
  protected resyncing = false;

  private leftover = new Uint8Array(INITIAL_LEFTOVER_CAPACITY);
  private leftoverDv = new DataView(this.leftover.buffer);
  private leftoverLen = 0;
  /** Absolute input offset of leftover[0]; everything before it is consumed. */
  private leftoverBase = 0;
  private ended = false;

  constructor(handler: PacketHandler) {
    this.handler = handler;
  }

  /** Input bytes fully processed (records delivered or skipped); the rest waits for more input. */
  get bytesConsumed(): number {
    return this.leftoverBase;
  }

  /**
   * Bytes the unit (file header, record, block) starting at `off` needs in total, judged from
   * the `avail` bytes present: the header size when too few bytes to read a length, else the
   * unit's full length, or UNIT_INVALID when those bytes cannot start a unit.
   */
  protected abstract unitLength(buf: Uint8Array, dv: DataView, off: number, avail: number): number;

  /**
   * Processes whole units in buf[from, to) and returns the offset of the first byte not yet
   * consumed. `final` means no more input will come (resync scans may then give up on a tail).
   */
  protected abstract parseUnits(buf: Uint8Array, dv: DataView, from: number, to: number, final: boolean): number;

  feed(input: Uint8Array): void {
    if (this.stopped || this.ended || input.length === 0) return;
    // Records reach the decoders and parsers from a chunk or from the leftover buffer: both as
    // plain Uint8Arrays, because a Node Buffer has another map, and code that met both kinds
    // is deoptimized and compiled again for the second (several times per run, packet thread).
    const chunk = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    let pos = 0;
    while (this.leftoverLen > 0 && pos < chunk.length) {
      const need = this.resyncing
        ? UNIT_INVALID
        : this.unitLength(this.leftover, this.leftoverDv, 0, this.leftoverLen);
      if (need === UNIT_INVALID) {
        this.append(chunk, pos, chunk.length);
        pos = chunk.length;
        this.parseLeftover(false);
        return;
      }
      if (need > this.leftoverLen) {
        const take = Math.min(need - this.leftoverLen, chunk.length - pos);
        this.append(chunk, pos, pos + take);
        pos += take;
        if (this.leftoverLen < need) return;
      }
      const before = this.leftoverLen;
      this.parseLeftover(false);
      if (this.stopped) return;
      if (this.leftoverLen === before && this.leftoverLen > 0 && !this.resyncing) {
        // The header said this much was enough but the parser wants more: let it see everything.
        this.append(chunk, pos, chunk.length);
        this.parseLeftover(false);
        return;
      }
    }
    if (pos >= chunk.length) return;
    const dv = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const chunkBase = this.leftoverBase + this.leftoverLen - pos;
    this.bufferBase = chunkBase;
    const consumed = this.stopped ? chunk.length : this.parseUnits(chunk, dv, pos, chunk.length, false);
    this.leftoverBase = chunkBase + consumed;
    this.leftoverLen = 0;
    if (consumed < chunk.length && !this.stopped) this.append(chunk, consumed, chunk.length);
  }

  /** No more input: a partial record at the end is reported and dropped. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.stopped) return;
    if (this.leftoverLen > 0) this.parseLeftover(true);
    if (!this.stopped && this.leftoverLen > 0) {
      this.handler.onSourceError(
        this.leftoverBase,
        `input ends inside a record: last ${this.leftoverLen} bytes ignored (truncated capture)`,
      );
    } else if (!this.stopped) {
      this.checkComplete(this.leftoverBase);
    }
    this.leftoverBase += this.leftoverLen;
    this.leftoverLen = 0;
    this.stopped = true;
  }

  /** Called at a clean end of input; a parser that never saw its file header reports it here. */
  protected abstract checkComplete(offset: number): void;

  /** Reports a problem and ignores the rest of the input. */
  protected stop(offset: number, message: string): void {
    this.handler.onSourceError(offset, message);
    this.stopped = true;
  }

  private parseLeftover(final: boolean): void {
    this.bufferBase = this.leftoverBase;
    const consumed = this.parseUnits(this.leftover, this.leftoverDv, 0, this.leftoverLen, final);
    if (this.stopped) {
      this.leftoverBase += this.leftoverLen;
      this.leftoverLen = 0;
      return;
    }
    if (consumed > 0) {
      this.leftover.copyWithin(0, consumed, this.leftoverLen);
      this.leftoverLen -= consumed;
      this.leftoverBase += consumed;
    }
  }

  private append(src: Uint8Array, from: number, to: number): void {
    const needed = this.leftoverLen + (to - from);
    if (needed > this.leftover.length) {
      let capacity = this.leftover.length * 2;
      while (capacity < needed) capacity *= 2;
      const grown = new Uint8Array(capacity);
      grown.set(this.leftover.subarray(0, this.leftoverLen));
      this.leftover = grown;
      this.leftoverDv = new DataView(grown.buffer);
    }
    this.leftover.set(src.subarray(from, to), this.leftoverLen);
    this.leftoverLen = needed;
  }
}
