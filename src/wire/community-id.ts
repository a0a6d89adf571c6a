/**
 * Community ID v1 (corelight/community-id-spec), so every record can be joined with Zeek,
 * Suricata and Arkime data. Computed once per record, not per packet. SHA-1 is written out here
 * because src/wire stays free of node:* imports (replayable, testable anywhere); it hashes a
 * fixed 40-byte-at-most input, so a small one-block implementation suffices.
 */

const SHA1_W = new Int32Array(80);
/** The one 64-byte block hashed: the input is written here, the padding added in place. */
const BLOCK = new Uint8Array(64);
const BLOCK_VIEW = new DataView(BLOCK.buffer);
const DIGEST = new Uint8Array(20);
const DIGEST_VIEW = new DataView(DIGEST.buffer);

/** SHA-1 of BLOCK[0, len) for len ≤ 55 (one block), into DIGEST. The padding is written into
 *  the block and its words read with big-endian DataView loads: less than half the time of
 *  assembling each word from bytes with the padding folded in. */
function sha1SingleBlock(len: number): Uint8Array {
  BLOCK[len] = 0x80;
  BLOCK.fill(0, len + 1, 60);
  BLOCK_VIEW.setInt32(60, len * 8);
  const w = SHA1_W;
  for (let i = 0; i < 16; i++) w[i] = BLOCK_VIEW.getInt32(4 * i);
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
  DIGEST_VIEW.setInt32(0, (0x67452301 + a) | 0);
  DIGEST_VIEW.setInt32(4, (0xefcdab89 + b) | 0);
  DIGEST_VIEW.setInt32(8, (0x98badcfe + c) | 0);
  DIGEST_VIEW.setInt32(12, (0x10325476 + d) | 0);
  DIGEST_VIEW.setInt32(16, (0xc3d2e1f0 + e) | 0);
  return DIGEST;
}

/** Hex SHA-1 of a short byte string; exported for the test against known vectors. */
export function sha1Hex(bytes: Uint8Array): string {
  BLOCK.set(bytes);
  const d = sha1SingleBlock(bytes.length);
  let s = '';
  for (let i = 0; i < 20; i++) s += d[i]!.toString(16).padStart(2, '0');
  return s;
}

const B64 = Uint8Array.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', (c) => c.charCodeAt(0));
/** Characters in an ID: `1:` and the digest's base64 (27 characters and one '=' of padding). */
export const COMMUNITY_ID_LENGTH = 30;
const ID_CHARS = new Uint8Array(COMMUNITY_ID_LENGTH);
ID_CHARS[0] = 0x31;
ID_CHARS[1] = 0x3a;
ID_CHARS[29] = 0x3d;

/** The ID of a 20-byte digest as character codes, in ID_CHARS. */
function communityIdCharsOf(d: Uint8Array): Uint8Array {
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
  return ID_CHARS;
}

/**
 * The ID from its character codes, made in one step: a string concatenated piece by piece is a
 * tree that every later read of it walks again.
 */
export function communityIdString(c: Uint8Array): string {
  // Thirty arguments: three times faster than apply() over the array (which lists it first).
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
export function communityId(version: number, proto: number, src: Int32Array, dst: Int32Array, srcPort: number, dstPort: number, seed = 0): string {
  return communityIdString(communityIdChars(version, proto, src, dst, srcPort, dstPort, seed));
}

/** communityId's characters as ASCII codes (COMMUNITY_ID_LENGTH of them), in an array the next
 *  call reuses: for writers that copy the bytes and need no string. */
export function communityIdChars(
  version: number,
  proto: number,
  src: Int32Array,
  dst: Int32Array,
  srcPort: number,
  dstPort: number,
  seed = 0,
): Uint8Array {
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
  BLOCK[off++] = (seed >>> 8) & 0xff;
  BLOCK[off++] = seed & 0xff;
  off = writeAddr(BLOCK, off, version, a);
  off = writeAddr(BLOCK, off, version, b);
  BLOCK[off++] = proto & 0xff;
  BLOCK[off++] = 0;
  if (hasPorts) {
    BLOCK[off++] = (sport >>> 8) & 0xff;
    BLOCK[off++] = sport & 0xff;
    BLOCK[off++] = (dport >>> 8) & 0xff;
    BLOCK[off++] = dport & 0xff;
  }
  return communityIdCharsOf(sha1SingleBlock(off));
}
