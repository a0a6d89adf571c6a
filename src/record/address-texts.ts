/**
 * Address strings for flow records, remembered per address: most flows share an end with
 * earlier ones (the host's own address, a busy service), and a remembered string is neither
 * built again (joined from pieces, then flattened when a Map hashes it) nor kept once more by
 * every flow in the per-flow cache, which the record worker's small heap then has to collect.
 */
import { formatIp } from '../wire/ip-format.js';

/** Direct-mapped by a hash of the address: a collision only means a string made again. */
const SLOTS = 4096;
const SLOT_BITS = 12;

export class AddressTexts {
  private readonly words = new Int32Array(SLOTS * 4);
  /** 4 or 6 per filled slot, 0 for an empty one. */
  private readonly versions = new Uint8Array(SLOTS);
  private readonly texts: string[] = new Array<string>(SLOTS).fill('');

  /** formatIp(version, address): the same string as before for an address seen recently. */
  of(version: number, address: Int32Array): string {
    const w0 = address[0]! | 0;
    const v6 = version !== 4;
    const w1 = v6 ? address[1]! | 0 : 0;
    const w2 = v6 ? address[2]! | 0 : 0;
    const w3 = v6 ? address[3]! | 0 : 0;
    const slot = Math.imul(w0 ^ Math.imul(w1, 0x27d4eb2d) ^ Math.imul(w2, 0x165667b1) ^ Math.imul(w3, 0x61c88647), 0x9e3779b1) >>> (32 - SLOT_BITS);
    const at = slot * 4;
    const words = this.words;
    if (this.versions[slot] === version && words[at] === w0 && words[at + 1] === w1 && words[at + 2] === w2 && words[at + 3] === w3) {
      return this.texts[slot]!;
    }
    const text = formatIp(version, address);
    this.versions[slot] = version;
    words[at] = w0;
    words[at + 1] = w1;
    words[at + 2] = w2;
    words[at + 3] = w3;
    this.texts[slot] = text;
    return text;
  }
}
