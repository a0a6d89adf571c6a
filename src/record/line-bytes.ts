/**
 * Output lines built as UTF-8 bytes in one reused array, for the flow records written at
 * hundreds of thousands per second: building a string per line (and joining, then encoding it
 * for the file) cost more than the rest of the record stage, mostly in garbage collection.
 * Numbers come out as JavaScript's String(n) writes them, so the bytes equal what string
 * concatenation made.
 *
 * Hand-written fast paths, because a flow line is ~40 short constant pieces and ~25 numbers:
 * pieces are kept as 8-byte words and stored with DataView (one store per 8 bytes instead of
 * a byte loop: a quarter of the cost on 10-20-byte keys), digits are stored two at a time from
 * a table, and IPv4 octets as one 4-byte word each. Word stores may write up to 7 bytes past
 * the end of what they add; every method reserves room for that, and the next write covers it.
 */

const INITIAL_BYTES = 64 * 1024;
const INITIAL_LINES = 1024;
const utf8 = new TextEncoder();

/** Constant bytes as little-endian 8-byte words, the last one zero-padded. */
export interface Piece {
  readonly words: Float64Array;
  /** Bytes that count: the padding after them is overwritten by the next write. */
  readonly length: number;
}

/** `s` as UTF-8, ready to copy as words. */
export function piece(s: string): Piece {
  return pieceOfBytes(utf8.encode(s));
}

/** `bytes` as a piece: see packWords. */
export function pieceOfBytes(bytes: Uint8Array): Piece {
  const words = new Float64Array(Math.ceil(bytes.length / 8));
  packWords(bytes, bytes.length, words, 0);
  return { words, length: bytes.length };
}

const PACK = new Uint8Array(8);
const PACK_VIEW = new DataView(PACK.buffer);

/**
 * bytes[0, length) as little-endian 8-byte words into words[first...], the last one
 * zero-padded. UTF-8 never holds the bit pattern of a NaN (that needs a 0x7f or 0xff byte
 * after a byte of 0xf0 or more), so every word reads back from a Float64Array unchanged.
 */
export function packWords(bytes: Uint8Array, length: number, words: Float64Array, first: number): void {
  for (let w = 0; 8 * w < length; w++) {
    for (let i = 0; i < 8; i++) PACK[i] = 8 * w + i < length ? bytes[8 * w + i]! : 0;
    const word = PACK_VIEW.getFloat64(0, true);
    if (Number.isNaN(word)) throw new Error('packed bytes must be UTF-8: these would not survive as a number');
    words[first + w] = word;
  }
}

const UNPACKED = new Uint8Array(64);
const UNPACKED_VIEW = new DataView(UNPACKED.buffer);

/** The bytes packWords packed (up to 64), in an array the next call reuses. */
export function unpackWords(words: Float64Array, first: number, length: number): Uint8Array {
  for (let w = 0; 8 * w < length; w++) UNPACKED_VIEW.setFloat64(8 * w, words[first + w]!, true);
  return UNPACKED;
}

/** Whether JSON.stringify writes character code `c` as itself inside a string: printable ASCII
 *  other than the quote and the backslash. */
export function isPlainJsonChar(c: number): boolean {
  return c >= 0x20 && c <= 0x7e && c !== 0x22 && c !== 0x5c;
}

/** `00` to `99`, each as the little-endian uint16 of its two ASCII digits. */
const DIGIT_PAIRS = Uint16Array.from({ length: 100 }, (_, n) => (0x30 + ((n / 10) | 0)) | ((0x30 + (n % 10)) << 8));

/** `0.` to `255.` as little-endian uint32 words (the digits, a dot, zero padding), and their lengths. */
const OCTET_DOT = Uint32Array.from({ length: 256 }, (_, n) => {
  let word = 0;
  const text = `${n}.`;
  for (let i = 0; i < text.length; i++) word |= text.charCodeAt(i) << (8 * i);
  return word >>> 0;
});
const OCTET_DOT_LENGTH = Uint8Array.from({ length: 256 }, (_, n) => `${n}.`.length);

export class LineBytes {
  bytes = new Uint8Array(INITIAL_BYTES);
  /** The same memory as `bytes`, for word stores. */
  view = new DataView(this.bytes.buffer);
  /** Bytes written so far: the lines are bytes[0, length). */
  length = 0;
  /** Sizes of the finished lines, in order: lineSizes[0, lines). */
  lineSizes = new Int32Array(INITIAL_LINES);
  lines = 0;
  /** Where the line being written starts. */
  private lineStart = 0;

  /** Forgets every line: the array is reused from its start. */
  clear(): void {
    this.length = 0;
    this.lines = 0;
    this.lineStart = 0;
  }

  /** The bytes since the last endLine (or clear) make a line. */
  endLine(): void {
    if (this.lines === this.lineSizes.length) {
      const grown = new Int32Array(this.lineSizes.length * 2);
      grown.set(this.lineSizes);
      this.lineSizes = grown;
    }
    this.lineSizes[this.lines++] = this.length - this.lineStart;
    this.lineStart = this.length;
  }

  /** Room for `n` more bytes. */
  reserve(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  /** Constant bytes, a word at a time. */
  piece(p: Piece): void {
    this.words(p.words, 0, p.words.length, p.length);
  }

  /** `key` then `v` as number() writes it, with one bounds check for both when `v` is a small
   *  integer (counters, ports, durations: most fields of a flow line). */
  field(key: Piece, v: number): void {
    const words = key.words;
    const n = words.length;
    this.reserve(8 * n + 10);
    const view = this.view;
    const start = this.length;
    for (let i = 0; i < n; i++) view.setFloat64(start + 8 * i, words[i]!, true);
    this.length = start + key.length;
    if (v >= 0 && v <= 0x7fffffff && (v | 0) === v) this.digits(v, decimalWidth(v));
    else this.number(v);
  }

  /** `length` bytes packed (packWords) into words[first, first + count). */
  words(words: Float64Array, first: number, count: number, length: number): void {
    this.reserve(8 * count);
    const view = this.view;
    const at = this.length;
    for (let i = 0; i < count; i++) view.setFloat64(at + 8 * i, words[first + i]!, true);
    this.length = at + length;
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

  /** `s` as JSON.stringify(s) writes it: printable ASCII without quotes or backslashes (the
   *  usual host, path, SNI) goes straight in, anything else through JSON.stringify. */
  jsonString(s: string): void {
    const n = s.length;
    this.reserve(n + 2);
    const out = this.bytes;
    let at = this.length;
    out[at++] = 0x22;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (!isPlainJsonChar(c)) {
        this.text(JSON.stringify(s));
        return;
      }
      out[at++] = c;
    }
    out[at++] = 0x22;
    this.length = at;
  }

  private encodeRest(s: string, from: number): void {
    // Three bytes per UTF-16 unit is the most UTF-8 needs (a surrogate pair: 4 bytes for 2 units).
    this.reserve((s.length - from) * 3);
    this.length += utf8.encodeInto(from === 0 ? s : s.slice(from), this.bytes.subarray(this.length)).written;
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

  /** The dotted quad of an IPv4 address held as one int32 word (what formatIp writes). */
  ipv4(word: number): void {
    this.reserve(16);
    const view = this.view;
    let at = this.length;
    let octet = (word >>> 24) & 0xff;
    view.setUint32(at, OCTET_DOT[octet]!, true);
    at += OCTET_DOT_LENGTH[octet]!;
    octet = (word >>> 16) & 0xff;
    view.setUint32(at, OCTET_DOT[octet]!, true);
    at += OCTET_DOT_LENGTH[octet]!;
    octet = (word >>> 8) & 0xff;
    view.setUint32(at, OCTET_DOT[octet]!, true);
    at += OCTET_DOT_LENGTH[octet]!;
    octet = word & 0xff;
    view.setUint32(at, OCTET_DOT[octet]!, true);
    // The last octet's dot is left past the end.
    this.length = at + OCTET_DOT_LENGTH[octet]! - 1;
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
    const view = this.view;
    const start = this.length;
    let at = start + width;
    let x = v | 0;
    while (at - start >= 2) {
      const q = (x / 100) | 0;
      at -= 2;
      view.setUint16(at, DIGIT_PAIRS[x - q * 100]!, true);
      x = q;
    }
    if (at > start) this.bytes[start] = 0x30 + x;
    this.length = start + width;
  }
}

/** Decimal digits of a non-negative integer below 2^31 (1 for 0). */
function decimalWidth(v: number): number {
  if (v < 1e4) return v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : 4;
  if (v < 1e8) return v < 1e5 ? 5 : v < 1e6 ? 6 : v < 1e7 ? 7 : 8;
  return v < 1e9 ? 9 : 10;
}
