/**
 * Text form of the four-word addresses kept in PacketView: IPv4 dotted quad, IPv6 in RFC 5952
 * canonical form (lower case, longest run of two or more zero groups shortened to "::", first
 * run on ties, IPv4-mapped addresses as ::ffff:a.b.c.d). Called when a record is written, not
 * per packet, so it may build strings.
 */

/** `0.` to `255.` and `0` to `255`: an address is three joins of ready-made pieces. */
const DOTTED_OCTETS: readonly string[] = Array.from({ length: 256 }, (_, i) => `${i}.`);
const OCTETS: readonly string[] = Array.from({ length: 256 }, (_, i) => `${i}`);

function formatIpv4Word(word: number): string {
  return DOTTED_OCTETS[(word >>> 24) & 0xff]! + DOTTED_OCTETS[(word >>> 16) & 0xff]! + DOTTED_OCTETS[(word >>> 8) & 0xff]! + OCTETS[word & 0xff]!;
}

function formatIpv6(words: Int32Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 4; i++) {
    groups.push((words[i]! >>> 16) & 0xffff, words[i]! & 0xffff);
  }
  // ::ffff:a.b.c.d keeps the embedded IPv4 address readable (RFC 5952 section 5).
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) {
    return `::ffff:${formatIpv4Word(words[3]!)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestLen < 2) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Formats an address held as four int32 words; version 4 uses word 0, version 6 all four. */
export function formatIp(version: number, words: Int32Array): string {
  if (version === 4) return formatIpv4Word(words[0]!);
  return formatIpv6(words);
}
