/**
 * One output line built as UTF-8 bytes in a reused array, for the flow records written at
 * hundreds of thousands per second: building a string per line (and joining, then encoding it
 * for the file) cost more than the rest of the record stage, mostly in garbage collection.
 * Numbers come out as JavaScript's String(n) writes them, so the bytes equal what string
 * concatenation made.
 */

const INITIAL_BYTES = 4096;
const RAW_LOOP_MAX = 48;
const utf8 = new TextEncoder();

export class LineBytes {
  bytes = new Uint8Array(INITIAL_BYTES);
  /** Bytes written so far: the line is bytes[0, length). */
  length = 0;

  /** Room for `n` more bytes. */
  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  /** `s` as UTF-8; ASCII (the usual case) is copied char by char without an encoder call. */
  text(s: string): void {
    const n = s.length;
    this.reserve(n);
    const out = this.bytes;
    let at = this.length;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.length = at;
        this.encodeRest(s, i);
        return;
      }
      out[at++] = c;
    }
    this.length = at;
  }

  private encodeRest(s: string, from: number): void {
    // Three bytes per UTF-16 unit is the most UTF-8 needs (a surrogate pair: 4 bytes for 2 units).
    this.reserve((s.length - from) * 3);
    this.length += utf8.encodeInto(from === 0 ? s : s.slice(from), this.bytes.subarray(this.length)).written;
  }

  /** Bytes as they are (constant parts encoded once). */
  raw(k: Uint8Array): void {
    const n = k.length;
    this.reserve(n);
    const out = this.bytes;
    const at = this.length;
    // A copy call pays off on long pieces only.
    if (n > RAW_LOOP_MAX) out.set(k, at);
    else for (let i = 0; i < n; i++) out[at + i] = k[i]!;
    this.length = at + n;
  }

  /** One byte below 0x80. */
  ascii(c: number): void {
    this.reserve(1);
    this.bytes[this.length++] = c;
  }

  /** src[from, from + n) read as character codes, as UTF-8 (what String.fromCharCode encodes to). */
  latin1(src: Uint8Array, from: number, n: number): void {
    this.reserve(2 * n);
    const out = this.bytes;
    let at = this.length;
    for (let i = from; i < from + n; i++) {
      const c = src[i]!;
      if (c < 0x80) {
        out[at++] = c;
      } else {
        out[at++] = 0xc0 | (c >> 6);
        out[at++] = 0x80 | (c & 0x3f);
      }
    }
    this.length = at;
  }

  /** `v` as String(v) writes it. */
  number(v: number): void {
    if (v >= 0 && v <= 0x7fffffff && (v | 0) === v) {
      this.digits(v, decimalWidth(v));
    } else if (Number.isSafeInteger(v)) {
      this.reserve(17);
      if (v < 0) {
        this.bytes[this.length++] = 0x2d;
        v = -v;
      }
      // Microsecond timestamps need 16 digits: two int32 halves are cheaper than float division.
      let high = Math.floor(v / 1e8);
      let low = v - high * 1e8;
      // The quotient can round up to the next integer just below a multiple of 1e8.
      if (low < 0) {
        high--;
        low += 1e8;
      }
      if (high === 0) {
        this.digits(low, decimalWidth(low));
      } else {
        this.digits(high, decimalWidth(high));
        this.digits(low, 8);
      }
    } else {
      this.text(String(v));
    }
  }

  /** A non-negative integer below 2^31 in exactly `width` digits, zero-padded on the left. */
  digits(v: number, width: number): void {
    this.reserve(width);
    const out = this.bytes;
    const end = this.length + width;
    let x = v | 0;
    for (let at = end - 1; at >= this.length; at--) {
      const q = (x / 10) | 0;
      out[at] = 0x30 + x - q * 10;
      x = q;
    }
    this.length = end;
  }
}

/** Decimal digits of a non-negative integer below 2^31 (1 for 0). */
function decimalWidth(v: number): number {
  let width = 1;
  for (let limit = 10; v >= limit && width < 10; limit *= 10) width++;
  return width;
}
