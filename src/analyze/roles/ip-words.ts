/**
 * Address and CIDR text to the four int32 words dllt holds addresses in (IPv4 in word 0, IPv6
 * as four big-endian 32-bit groups), so role rules compare with masks instead of parsing per
 * flow. Problems come back as sentences for the validator to prefix with where they occur.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface ParsedAddress {
  version: 4 | 6;
  words: Int32Array;
}

export interface ParsedCidr extends ParsedAddress {
  prefix: number;
}

/** shodohflo parses its CIDRs strictly (Python's `ip_network`), so a file rejects host bits;
 *  dllt's own local networks come from interface addresses, so they are cleared there. */
export type HostBits = 'reject' | 'clear';

export type CidrParse = { cidr: ParsedCidr; problem?: undefined } | { cidr?: undefined; problem: string };

export function parseAddress(text: string): ParsedAddress | undefined {
  if (isIPv4(text)) return { version: 4, words: Int32Array.of(ipv4Word(text), 0, 0, 0) };
  if (isIPv6(text) && !text.includes('%')) return { version: 6, words: ipv6Words(text) };
  return undefined;
}

export function parseCidr(text: string, hostBits: HostBits): CidrParse {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseAddress(addressText);
  if (address === undefined) {
    if (addressText.includes('%') && isIPv6(addressText)) {
      return { problem: `${JSON.stringify(text)} has a zone index (%...), which a network cannot have` };
    }
    return { problem: `${JSON.stringify(text)} is not an IPv4 or IPv6 network (such as 10.0.0.0/8 or 2001:db8::/32)` };
  }
  const bits = address.version === 4 ? 32 : 128;
  let prefix = bits;
  if (slash >= 0) {
    const prefixText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText)) {
      return { problem: `${JSON.stringify(text)} has prefix length ${JSON.stringify(prefixText)}, which is not a whole number` };
    }
    prefix = Number(prefixText);
  }
  if (prefix > bits) {
    const ipv6Prefix = address.version === 4 && prefix <= 128 ? '; is this an IPv6 prefix length on an IPv4 address?' : '';
    return { problem: `${JSON.stringify(text)} has prefix length ${prefix}, but an IPv${address.version} network allows 0..${bits}${ipv6Prefix}` };
  }
  const cidr: ParsedCidr = { ...address, prefix };
  let hasHostBits = false;
  for (let w = 0; w < 4; w++) {
    const masked = cidr.words[w]! & prefixMaskWord(prefix, w);
    if (masked !== cidr.words[w]) hasHostBits = true;
    cidr.words[w] = masked;
  }
  if (hasHostBits && hostBits === 'reject') {
    return { problem: `${JSON.stringify(text)} has host bits set; did you mean ${JSON.stringify(`${formatAddress(cidr)}/${prefix}`)}?` };
  }
  return { cidr };
}

/** The mask of word `word` (0..3) for a prefix length counted from the top of word 0. */
export function prefixMaskWord(prefix: number, word: number): number {
  const bits = Math.min(32, Math.max(0, prefix - word * 32));
  return bits === 0 ? 0 : bits === 32 ? -1 : -1 << (32 - bits);
}

/** Inside ::ffff:0:0/96. dllt carries IPv4 flows as version 4, so such a network never matches
 *  one, which is almost certainly not what its author meant. */
export function isIpv4MappedNetwork(cidr: ParsedCidr): boolean {
  return cidr.version === 6 && cidr.prefix >= 96 && cidr.words[0] === 0 && cidr.words[1] === 0 && cidr.words[2] === 0xffff;
}

export function formatAddress(address: ParsedAddress): string {
  const w = address.words;
  if (address.version === 4) {
    const v = w[0]! >>> 0;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: number[] = [];
  for (let i = 0; i < 4; i++) groups.push((w[i]! >>> 16) & 0xffff, w[i]! & 0xffff);
  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start++) {
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
  }
  const hex = (part: number[]): string => part.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
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
