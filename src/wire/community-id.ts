/**
 * Community ID v1 (corelight/community-id-spec), so every record can be joined with Zeek,
 * Suricata and Arkime data. Computed once per record, not per packet. SHA-1 is written out here
 * because src/wire stays free of node:* imports (replayable, testable anywhere); it hashes a
 * fixed 40-byte-at-most input, so a small one-block implementation suffices.
 */

const SHA1_W = new Int32Array(80);
const INPUT = new Uint8Array(48);
const DIGEST = new Uint8Array(20);

function writeWord(out: Uint8Array, off: number, w: number): void {
  out[off] = (w >>> 24) & 0xff;
  out[off + 1] = (w >>> 16) & 0xff;
  out[off + 2] = (w >>> 8) & 0xff;
  out[off + 3] = w & 0xff;
}

/** SHA-1 of input[0, len) for len ≤ 55 (one 64-byte block), into DIGEST. Words are read from
 *  the input with the padding folded in, and the rounds run as four branch-free loops. */
function sha1SingleBlock(input: Uint8Array, len: number): Uint8Array {
  const w = SHA1_W;
  for (let i = 0; i < 16; i++) {
    let word = 0;
    for (let j = i * 4; j < i * 4 + 4; j++) word = (word << 8) | (j < len ? input[j]! : j === len ? 0x80 : 0);
    w[i] = word;
  }
  w[15] = len * 8;
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
    w[i] = (x << 1) | (x >>> 31);
  }
  let a = 0x67452301 | 0;
  let b = 0xefcdab89 | 0;
  let c = 0x98badcfe | 0;
  let d = 0x10325476 | 0;
  let e = 0xc3d2e1f0 | 0;
  let i = 0;
  for (; i < 20; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (~b & d)) + e + 0x5a827999 + w[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (; i < 40; i++) {
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0x6ed9eba1 + w[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (; i < 60; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((b & c) | (b & d) | (c & d)) + e + 0x8f1bbcdc + w[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  for (; i < 80; i++) {
    const t = (((a << 5) | (a >>> 27)) + (b ^ c ^ d) + e + 0xca62c1d6 + w[i]!) | 0;
    e = d;
    d = c;
    c = (b << 30) | (b >>> 2);
    b = a;
    a = t;
  }
  writeWord(DIGEST, 0, (0x67452301 + a) | 0);
  writeWord(DIGEST, 4, (0xefcdab89 + b) | 0);
  writeWord(DIGEST, 8, (0x98badcfe + c) | 0);
  writeWord(DIGEST, 12, (0x10325476 + d) | 0);
  writeWord(DIGEST, 16, (0xc3d2e1f0 + e) | 0);
  return DIGEST;
}

/** Hex SHA-1 of a short byte string; exported for the test against known vectors. */
export function sha1Hex(bytes: Uint8Array): string {
  const d = sha1SingleBlock(bytes, bytes.length);
  let s = '';
  for (let i = 0; i < 20; i++) s += d[i]!.toString(16).padStart(2, '0');
  return s;
}

const B64 = Uint8Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', (c) => c.charCodeAt(0));
/** `1:` and the digest's base64 (27 characters and one '=' of padding). */
const ID_CHARS = new Uint8Array(30);
ID_CHARS[0] = 0x31;
ID_CHARS[1] = 0x3a;
ID_CHARS[29] = 0x3d;

/**
 * The ID of a 20-byte digest, made from its character codes in one step: a string concatenated
 * piece by piece is a tree that every later read of it (the record writer copies it char by
 * char) walks again.
 */
function communityIdOf(d: Uint8Array): string {
  let at = 2;
  for (let i = 0; i < 18; i += 3) {
    const n = (d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!;
    ID_CHARS[at++] = B64[n >>> 18]!;
    ID_CHARS[at++] = B64[(n >>> 12) & 63]!;
    ID_CHARS[at++] = B64[(n >>> 6) & 63]!;
    ID_CHARS[at++] = B64[n & 63]!;
  }
  const n = (d[18]! << 16) | (d[19]! << 8);
  ID_CHARS[at++] = B64[n >>> 18]!;
  ID_CHARS[at++] = B64[(n >>> 12) & 63]!;
  ID_CHARS[at] = B64[(n >>> 6) & 63]!;
  // Thirty arguments: three times faster than apply() over the array (which lists it first).
  const c = ID_CHARS;
  return String.fromCharCode(
    c[0]!, c[1]!, c[2]!, c[3]!, c[4]!, c[5]!, c[6]!, c[7]!, c[8]!, c[9]!, c[10]!, c[11]!, c[12]!, c[13]!, c[14]!,
    c[15]!, c[16]!, c[17]!, c[18]!, c[19]!, c[20]!, c[21]!, c[22]!, c[23]!, c[24]!, c[25]!, c[26]!, c[27]!, c[28]!, c[29]!,
  );
}

/** ICMP message types that come in request/reply pairs (the spec's port equivalents); the flow
 *  key uses the same pairs so both messages of a pair land in one flow. */
const ICMP4_COUNTERPART = new Int16Array(256).fill(-1);
const ICMP6_COUNTERPART = new Int16Array(256).fill(-1);
for (const [a, b] of [[8, 0], [13, 14], [15, 16], [10, 9], [17, 18]] as const) {
  ICMP4_COUNTERPART[a] = b;
  ICMP4_COUNTERPART[b] = a;
}
for (const [a, b] of [[128, 129], [133, 134], [135, 136], [130, 131], [144, 145]] as const) {
  ICMP6_COUNTERPART[a] = b;
  ICMP6_COUNTERPART[b] = a;
}

/** The paired type of an ICMP (proto 1) or ICMPv6 (58) type, or -1 for one-way messages. */
export function icmpCounterpart(proto: number, type: number): number {
  return (proto === 1 ? ICMP4_COUNTERPART : ICMP6_COUNTERPART)[type & 0xff]!;
}

function writeAddr(out: Uint8Array, off: number, version: number, words: Int32Array): number {
  const n = version === 4 ? 1 : 4;
  for (let i = 0; i < n; i++) {
    const w = words[i]!;
    out[off++] = (w >>> 24) & 0xff;
    out[off++] = (w >>> 16) & 0xff;
    out[off++] = (w >>> 8) & 0xff;
    out[off++] = w & 0xff;
  }
  return off;
}

/** Unsigned lexicographic comparison of two addresses of one family (words are int32). */
function compareAddr(version: number, a: Int32Array, b: Int32Array): number {
  const n = version === 4 ? 1 : 4;
  for (let i = 0; i < n; i++) {
    const x = a[i]! >>> 0;
    const y = b[i]! >>> 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * Community ID v1 of a flow as seen from src to dst. For ICMP/ICMPv6 pass the type as srcPort
 * and the code as dstPort: the spec's port equivalents are applied here.
 */
export function communityId(
  version: number,
  proto: number,
  src: Int32Array,
  dst: Int32Array,
  srcPort: number,
  dstPort: number,
  seed = 0,
): string {
  let sport = srcPort;
  let dport = dstPort;
  let oneWay = false;
  const isIcmp = proto === 1 || proto === 58;
  if (isIcmp) {
    const counterpart = icmpCounterpart(proto, srcPort);
    if (counterpart < 0) oneWay = true;
    else dport = counterpart;
  }
  const hasPorts = isIcmp || proto === 6 || proto === 17 || proto === 132;
  let a = src;
  let b = dst;
  const cmp = compareAddr(version, src, dst);
  const ordered = cmp < 0 || (cmp === 0 && (!hasPorts || sport <= dport));
  if (!oneWay && !ordered) {
    a = dst;
    b = src;
    const t = sport;
    sport = dport;
    dport = t;
  }
  let off = 0;
  INPUT[off++] = (seed >>> 8) & 0xff;
  INPUT[off++] = seed & 0xff;
  off = writeAddr(INPUT, off, version, a);
  off = writeAddr(INPUT, off, version, b);
  INPUT[off++] = proto & 0xff;
  INPUT[off++] = 0;
  if (hasPorts) {
    INPUT[off++] = (sport >>> 8) & 0xff;
    INPUT[off++] = sport & 0xff;
    INPUT[off++] = (dport >>> 8) & 0xff;
    INPUT[off++] = dport & 0xff;
  }
  return communityIdOf(sha1SingleBlock(INPUT, off));
}
