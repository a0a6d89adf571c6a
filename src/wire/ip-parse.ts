/**
 * Address text to the four int32 words dllt holds addresses in (IPv4 in word 0, IPv6 as four
 * big-endian 32-bit groups), the inverse of ip-format.ts. Used where operators write addresses
 * (DLLT_LOCAL_NETS, role rules), never per packet. node:net validates the text; this only
 * converts it.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface IpWords {
  version: 4 | 6;
  /** Always four words; IPv4 uses word 0. */
  words: Int32Array;
}

/** An IPv4 or IPv6 address without zone index; undefined for anything else. */
export function parseIp(text: string): IpWords | undefined {
  if (isIPv4(text)) return { version: 4, words: Int32Array.of(ipv4Word(text), 0, 0, 0) };
  if (isIPv6(text) && !text.includes('%')) return { version: 6, words: ipv6Words(text) };
  return undefined;
}

/** The mask of word `word` (0..3) for a prefix length counted from the top of word 0. */
export function prefixMaskWord(prefix: number, word: number): number {
  const bits = Math.min(32, Math.max(0, prefix - word * 32));
  return bits === 0 ? 0 : bits === 32 ? -1 : -1 << (32 - bits);
}

function ipv4Word(text: string): number {
  const [a, b, c, d] = text.split('.').map(Number) as [number, number, number, number];
  return (a << 24) | (b << 16) | (c << 8) | d;
}

/** Takes text node:net has already accepted as IPv6, so only `::` and a dotted tail need care. */
function ipv6Words(text: string): Int32Array {
  let hexPart = text;
  const tail: number[] = [];
  if (text.includes('.')) {
    const lastColon = text.lastIndexOf(':');
    const v4 = ipv4Word(text.slice(lastColon + 1)) >>> 0;
    tail.push(v4 >>> 16, v4 & 0xffff);
    hexPart = text.slice(0, lastColon + 1);
    if (!hexPart.endsWith('::')) hexPart = hexPart.slice(0, -1);
  }
  const groupsOf = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const gap = hexPart.indexOf('::');
  let groups: number[];
  if (gap < 0) {
    groups = [...groupsOf(hexPart), ...tail];
  } else {
    const head = groupsOf(hexPart.slice(0, gap));
    const rest = [...groupsOf(hexPart.slice(gap + 2)), ...tail];
    groups = [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest];
  }
  const words = new Int32Array(4);
  for (let w = 0; w < 4; w++) words[w] = (groups[2 * w]! << 16) | groups[2 * w + 1]!;
  return words;
}
