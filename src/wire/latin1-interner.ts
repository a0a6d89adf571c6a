/**
 * Strings for short byte runs that recur from message to message — HTTP methods, targets,
 * header names and values — made once and found again by their bytes, so a field common to
 * every request costs a hash and a compare instead of a new string (and its garbage) per message.
 * Direct-mapped and fixed in size: a run hashing to an occupied slot replaces it, and runs longer
 * than the slot width are not kept. Bytes are read as latin1, one char per byte.
 */

/** data[from..to) as latin1 text. */
export function latin1(data: Uint8Array, from: number, to: number): string {
  // apply() takes the typed array as it is; a spread would walk it through the iterator protocol.
  return String.fromCharCode.apply(null, data.subarray(from, to) as unknown as number[]);
}

const FNV_PRIME = 0x01000193;

export class Latin1Interner {
  private readonly keys: Uint8Array;
  /** Key length per slot, -1 for an empty slot. */
  private readonly lengths: Int16Array;
  private readonly texts: string[];
  private readonly mask: number;

  /** `slots` a power of two; runs of up to `width` bytes are kept. */
  constructor(
    slots: number,
    private readonly width: number,
  ) {
    this.keys = new Uint8Array(slots * width);
    this.lengths = new Int16Array(slots).fill(-1);
    this.texts = new Array<string>(slots).fill('');
    this.mask = slots - 1;
  }

  /** latin1(data, from, to). */
  text(data: Uint8Array, from: number, to: number): string {
    const len = to - from;
    if (len > this.width) return latin1(data, from, to);
    let h = len;
    for (let i = from; i < to; i++) h = Math.imul(h ^ data[i]!, FNV_PRIME);
    const slot = (h ^ (h >>> 16)) & this.mask;
    const base = slot * this.width;
    const keys = this.keys;
    if (this.lengths[slot] === len) {
      let i = 0;
      while (i < len && keys[base + i] === data[from + i]) i++;
      if (i === len) return this.texts[slot]!;
    }
    for (let i = 0; i < len; i++) keys[base + i] = data[from + i]!;
    this.lengths[slot] = len;
    const text = latin1(data, from, to);
    this.texts[slot] = text;
    return text;
  }
}
