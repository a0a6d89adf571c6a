/**
 * Role-rule CIDR text to address words (wire/ip-parse.ts), so role rules compare with masks
 * instead of parsing per flow. Problems come back as sentences for the validator to prefix
 * with where they occur.
 */
import { isIPv6 } from 'node:net';
import { parseIp, prefixMaskWord, type IpWords } from '../../wire/ip-parse.js';
import { formatIp } from '../../wire/ip-format.js';

export interface ParsedCidr extends IpWords {
  prefix: number;
}

/** shodohflo parses its CIDRs strictly (Python's `ip_network`), so a file rejects host bits;
 *  dllt's own local networks come from interface addresses, so they are cleared there. */
export type HostBits = 'reject' | 'clear';

export type CidrParse = { cidr: ParsedCidr; problem?: undefined } | { cidr?: undefined; problem: string };

export function parseCidr(text: string, hostBits: HostBits): CidrParse {
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const address = parseIp(addressText);
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
    return { problem: `${JSON.stringify(text)} has host bits set; did you mean ${JSON.stringify(`${formatIp(cidr.version, cidr.words)}/${prefix}`)}?` };
  }
  return { cidr };
}

/** Inside ::ffff:0:0/96. dllt carries IPv4 flows as version 4, so such a network never matches
 *  one, which is almost certainly not what its author meant. */
export function isIpv4MappedNetwork(cidr: ParsedCidr): boolean {
  return cidr.version === 6 && cidr.prefix >= 96 && cidr.words[0] === 0 && cidr.words[1] === 0 && cidr.words[2] === 0xffff;
}
