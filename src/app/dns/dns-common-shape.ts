/**
 * Reads the DNS messages nearly all traffic consists of straight from the bytes: a header,
 * questions of the usual types, and A, AAAA and CNAME records (plus an EDNS OPT record without
 * options). dns-packet builds a Buffer, a dozen objects and a string per label for every message;
 * on a host that resolves a name per connection that was the largest part of event detection's
 * cost (docs/bench.md). This reads exactly as the library reads — the same name rules (labels
 * and backward pointers only, 254 bytes at most), the same record lengths (the library's A,
 * AAAA and CNAME decoders ignore RDLENGTH), the same texts — so its summary is the one the
 * library path gives. Anything else (another record type, a label byte above 0x7f, an option,
 * a read past the end) is left to the library: COMMON_SHAPE_ONLY tells the caller so. A test
 * checks the two paths agree on real and fuzzed messages.
 */
import { formatIp } from '../../wire/ip-format.js';
import type { DnsAnswer, DnsQuestion, DnsSummary } from './dns-message.js';

/** The message is not of the common shape: decode it with the library. */
export const COMMON_SHAPE_ONLY = 'common shape only';

const TYPE_A = 1;
const TYPE_CNAME = 5;
const TYPE_AAAA = 28;
const TYPE_OPT = 41;

/** Record types read here (answers and the other sections alike). */
const RECORD_TYPE_NAMES: Readonly<Record<number, string>> = { 1: 'A', 5: 'CNAME', 28: 'AAAA' };

/** Question types read here, with dns-packet's names for them. */
const QUESTION_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 255: 'ANY',
};

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
/** RFC 1035, 1996 (NOTIFY), 2136 (UPDATE), 8490 (DSO); 3 is unassigned. */
const OPCODE_NAMES = ['QUERY', 'IQUERY', 'STATUS', undefined, 'NOTIFY', 'UPDATE', 'DSO'];

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

export function opcodeName(opcode: number): string {
  return OPCODE_NAMES[opcode] ?? `OPCODE${opcode}`;
}

const HEADER_LEN = 12;
/** TYPE, CLASS, TTL and RDLENGTH after a record's name. */
const RECORD_FIXED_LEN = 10;
/** The library refuses names longer than this (label bytes plus one per label). */
const MAX_NAME_LEN = 254;
const LABEL_BYTE_MAX = 0x7f;
const DOT = 0x2e;

/** The dotted name last read by readName; its label bytes are ASCII, so its ASCII text is the
 *  library's UTF-8 reading (a Buffer: its ASCII decoder is the quickest way to a string). */
const nameBytes = Buffer.alloc(MAX_NAME_LEN + 1);
let nameLength = 0;
const addressWords = new Int32Array(4);

/** Reads the name at message offset `at` into nameBytes as dns-packet's name.decode would;
 *  returns the bytes it takes at `at`, or -1 when it is not a plain ASCII name the library
 *  would accept. */
function readName(d: Uint8Array, base: number, length: number, at: number): number {
  let offset = at;
  let segmentStart = at;
  let total = 0;
  let consumed = 0;
  let jumped = false;
  let n = 0;
  for (;;) {
    if (offset >= length) return -1;
    const len = d[base + offset++]!;
    if (!jumped) consumed++;
    if (len === 0) break;
    if ((len & 0xc0) === 0) {
      if (offset + len > length) return -1;
      total += len + 1;
      if (total > MAX_NAME_LEN) return -1;
      if (n > 0) nameBytes[n++] = DOT;
      for (let i = base + offset, stop = i + len; i < stop; i++) {
        const b = d[i]!;
        if (b > LABEL_BYTE_MAX) return -1;
        nameBytes[n++] = b;
      }
      offset += len;
      if (!jumped) consumed += len;
    } else if ((len & 0xc0) === 0xc0) {
      if (offset + 1 > length) return -1;
      const target = ((len & 0x3f) << 8) | d[base + offset]!;
      // Only pointers to earlier data, as the library allows: no loops.
      if (target >= segmentStart) return -1;
      offset = target;
      segmentStart = target;
      if (!jumped) consumed++;
      jumped = true;
    } else {
      return -1;
    }
  }
  nameLength = n;
  return consumed;
}

function nameText(): string {
  return nameLength === 0 ? '.' : nameBytes.toString('ascii', 0, nameLength);
}

function u16(d: Uint8Array, i: number): number {
  return (d[i]! << 8) | d[i + 1]!;
}

/** The summary of the message in data[start..end) (bounds checked by the caller, at least a
 *  header long), or COMMON_SHAPE_ONLY. */
export function readCommonShape(d: Uint8Array, start: number, end: number): DnsSummary | typeof COMMON_SHAPE_ONLY {
  const length = end - start;
  const word = u16(d, start + 2);
  const questionCount = u16(d, start + 4);
  const answerCount = u16(d, start + 6);
  const recordCount = answerCount + u16(d, start + 8) + u16(d, start + 10);
  let at = HEADER_LEN;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < questionCount; i++) {
    const taken = readName(d, start, length, at);
    if (taken < 0) return COMMON_SHAPE_ONLY;
    at += taken;
    if (at + 4 > length) return COMMON_SHAPE_ONLY;
    const type = QUESTION_TYPE_NAMES[u16(d, start + at)];
    if (type === undefined) return COMMON_SHAPE_ONLY;
    questions.push({ name: nameText(), type });
    at += 4;
  }
  const answers: DnsAnswer[] = [];
  for (let i = 0; i < recordCount; i++) {
    const taken = readName(d, start, length, at);
    if (taken < 0) return COMMON_SHAPE_ONLY;
    const owner = i < answerCount ? nameText() : '';
    at += taken;
    if (at + RECORD_FIXED_LEN > length) return COMMON_SHAPE_ONLY;
    const p = start + at;
    const type = u16(d, p);
    at += RECORD_FIXED_LEN;
    let data: string;
    if (type === TYPE_A) {
      if (at + 4 > length) return COMMON_SHAPE_ONLY;
      const q = start + at;
      data = `${d[q]}.${d[q + 1]}.${d[q + 2]}.${d[q + 3]}`;
      at += 4;
    } else if (type === TYPE_AAAA) {
      if (at + 16 > length) return COMMON_SHAPE_ONLY;
      const q = start + at;
      for (let w = 0; w < 4; w++) addressWords[w] = (d[q + 4 * w]! << 24) | (d[q + 4 * w + 1]! << 16) | (d[q + 4 * w + 2]! << 8) | d[q + 4 * w + 3]!;
      data = formatIp(6, addressWords);
      at += 16;
    } else if (type === TYPE_CNAME) {
      const targetTaken = readName(d, start, length, at);
      if (targetTaken < 0) return COMMON_SHAPE_ONLY;
      data = nameText();
      at += targetTaken;
    } else if (type === TYPE_OPT && u16(d, p + 8) === 0) {
      continue;
    } else {
      return COMMON_SHAPE_ONLY;
    }
    if (i < answerCount) answers.push({ name: owner, type: RECORD_TYPE_NAMES[type]!, ttl: ttlAt(d, p), data });
  }
  const flags = word & 0x7fff;
  const rcode = flags & 0xf;
  return {
    id: u16(d, start),
    isResponse: (word & 0x8000) !== 0,
    opcode: opcodeName((flags >> 11) & 0xf),
    rcode,
    rcodeName: rcodeName(rcode),
    truncated: (word & 0x0200) !== 0,
    questions,
    answers,
  };
}

function ttlAt(d: Uint8Array, p: number): number {
  return ((d[p + 4]! << 24) | (d[p + 5]! << 16) | (d[p + 6]! << 8) | d[p + 7]!) >>> 0;
}
