/**
 * A summary of one DNS message — id, response bit, opcode, rcode, TC, questions, answers —
 * for DNS failure events (NXDOMAIN/SERVFAIL/no answer) and for naming flow servers from the
 * answers observed.
 *
 * Messages of the common shape (A/AAAA/CNAME answers, see dns-common-shape.ts) are read straight
 * from the bytes; everything else is decoded by the `dns-packet` library: name compression,
 * pointer-loop defences and forty-odd record types are a library's job, well kept there. What
 * this file adds is what the library does not promise: it never throws (the library throws on
 * malformed input, and is caught here), it rejects a message the library read past the end
 * of (its A/AAAA decoders check neither the record length nor the buffer's end, and return
 * text like "1.2.undefined.undefined" for a cut record), and IPv6 answers are rewritten in RFC 5952 form, the one
 * wire/ip-format writes for flow addresses, so the two can be compared as strings.
 */
import { decode } from 'dns-packet';
import { formatIp } from '../../wire/ip-format.js';
import { COMMON_SHAPE_ONLY, opcodeName, rcodeName, readCommonShape } from './dns-common-shape.js';

export interface DnsQuestion {
  name: string;
  /** As dns-packet names it: 'A', 'AAAA', 'CNAME', ..., 'UNKNOWN_<n>'. */
  type: string;
}

export interface DnsAnswer {
  name: string;
  type: string;
  ttl: number;
  /** A/AAAA: the address; CNAME/PTR/NS: the target name; absent for other types. */
  data?: string;
}

export interface DnsSummary {
  id: number;
  isResponse: boolean;
  opcode: string;
  rcode: number;
  /** 'NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', else 'RCODE<n>'. */
  rcodeName: string;
  truncated: boolean;
  questions: DnsQuestion[];
  answers: DnsAnswer[];
}

const DNS_HEADER_LEN = 12;
const TCP_LENGTH_PREFIX = 2;

/** The header's 4-bit codes sit in dns-packet's `flags` (the header word without QR). */
const RCODE_MASK = 0xf;
const OPCODE_SHIFT = 11;
const OPCODE_MASK = 0xf;

/** dns-packet's IPv6 text shortens the first run of zero groups, not the longest one that
 *  RFC 5952 asks for (2001:0:0:1:0:0:0:1 comes out as 2001::1:0:0:0:1): re-render it. */
function canonicalIpv6(text: string): string {
  const halves = text.split('::');
  if (halves.length > 2) return text;
  const groupsOf = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return text;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  if (groups.some((g) => !(g >= 0 && g <= 0xffff))) return text;
  const words = new Int32Array(4);
  for (let i = 0; i < 4; i++) words[i] = (groups[2 * i]! << 16) | groups[2 * i + 1]!;
  return formatIp(6, words);
}

function summarize(data: Uint8Array, start: number, end: number, commonShape: boolean): DnsSummary | undefined {
  const length = end - start;
  if (!(start >= 0 && end <= data.length && length >= DNS_HEADER_LEN)) return undefined;
  if (commonShape && Number.isInteger(start) && Number.isInteger(end)) {
    const common = readCommonShape(data, start, end);
    if (common !== COMMON_SHAPE_ONLY) return common;
  }
  return decodeWithLibrary(data, start, length);
}

function decodeWithLibrary(data: Uint8Array, start: number, length: number): DnsSummary | undefined {
  const packet = decode(Buffer.from(data.buffer, data.byteOffset + start, length));
  if (decode.bytes > length) return undefined;

  const flags = packet.flags ?? 0;
  const rcode = flags & RCODE_MASK;
  const questions: DnsQuestion[] = (packet.questions ?? []).map((q) => ({ name: q.name, type: q.type }));
  const answers: DnsAnswer[] = [];
  for (const a of packet.answers ?? []) {
    // An OPT pseudo-record belongs in the additional section; in the answers it answers nothing.
    if (a.type === 'OPT') continue;
    const answer: DnsAnswer = { name: a.name, type: a.type, ttl: a.ttl ?? 0 };
    if (a.type === 'AAAA') answer.data = canonicalIpv6(a.data);
    else if (a.type === 'A' || a.type === 'CNAME' || a.type === 'PTR' || a.type === 'NS') answer.data = a.data;
    answers.push(answer);
  }
  return {
    id: packet.id ?? 0,
    isResponse: packet.flag_qr,
    opcode: opcodeName((flags >> OPCODE_SHIFT) & OPCODE_MASK),
    rcode,
    rcodeName: rcodeName(rcode),
    truncated: packet.flag_tc,
    questions,
    answers,
  };
}

/** One DNS message in data[start..end) (a UDP payload); undefined when it does not decode. */
export function parseDnsMessage(data: Uint8Array, start: number, end: number): DnsSummary | undefined {
  // dns-packet reports malformed input by throwing; here that is just "not a DNS message".
  try {
    return summarize(data, start, end, true);
  } catch {
    return undefined;
  }
}

/** parseDnsMessage with every message decoded by the library: the reference the common-shape
 *  reader is tested against. */
export function parseDnsMessageWithLibrary(data: Uint8Array, start: number, end: number): DnsSummary | undefined {
  try {
    return summarize(data, start, end, false);
  } catch {
    return undefined;
  }
}

/** DNS over TCP: the first length-prefixed message of data[start..end), when it is all there. */
export function parseDnsTcpMessage(data: Uint8Array, start: number, end: number): DnsSummary | undefined {
  if (!(start >= 0 && end <= data.length && end - start >= TCP_LENGTH_PREFIX)) return undefined;
  const messageEnd = start + TCP_LENGTH_PREFIX + ((data[start]! << 8) | data[start + 1]!);
  if (messageEnd > end) return undefined;
  return parseDnsMessage(data, start + TCP_LENGTH_PREFIX, messageEnd);
}

/** An address a DNS answer gave its client, with the name the client asked for. */
export interface DnsNaming {
  address: string;
  /** The question's name, as asked. */
  name: string;
  /** The question's name, then each CNAME target in turn, up to the name the address record
   *  belongs to (one entry when no CNAME was involved). */
  chain: string[];
  /** Seconds: the smallest TTL along the chain, the address record's included. */
  ttl: number;
}

/** Every A/AAAA answer reachable from a question through CNAMEs, named by the question
 *  (www.x.com CNAME y.cdn.net A 1.2.3.4 gives 1.2.3.4 named www.x.com, chain [www.x.com,
 *  y.cdn.net]). Answers no question leads to name nothing: they are not what the client asked
 *  about. Names compare case-insensitively (RFC 4343). */
export function dnsNamings(summary: DnsSummary): DnsNaming[] {
  const namings: DnsNaming[] = [];
  const { questions, answers } = summary;
  for (let q = 0; q < questions.length; q++) {
    const question = questions[q]!;
    const asked = question.name.toLowerCase();
    if (askedBefore(questions, q, asked)) continue;
    // Walk the chain one CNAME at a time; a name already on it ends the walk (CNAME loops), and
    // a name with several CNAMEs (not valid DNS) follows the first. Arrays, not Sets: a chain
    // is a name or two, and this runs for every answer seen.
    const chain = [question.name];
    const onChain = [asked];
    let ttl = Infinity;
    let current = asked;
    for (;;) {
      collectAddresses(answers, current, question.name, chain, ttl, namings);
      const cname = cnameOf(answers, current);
      if (cname === undefined) break;
      const target = cname.data!.toLowerCase();
      if (onChain.includes(target)) break;
      onChain.push(target);
      chain.push(cname.data!);
      ttl = Math.min(ttl, cname.ttl);
      current = target;
    }
  }
  return namings;
}

function askedBefore(questions: readonly DnsQuestion[], q: number, asked: string): boolean {
  for (let i = 0; i < q; i++) if (questions[i]!.name.toLowerCase() === asked) return true;
  return false;
}

function cnameOf(answers: readonly DnsAnswer[], owner: string): DnsAnswer | undefined {
  for (const a of answers) if (a.type === 'CNAME' && a.data !== undefined && a.name.toLowerCase() === owner) return a;
  return undefined;
}

function collectAddresses(answers: readonly DnsAnswer[], owner: string, asked: string, chain: string[], chainTtl: number, out: DnsNaming[]): void {
  for (const a of answers) {
    if ((a.type === 'A' || a.type === 'AAAA') && a.data !== undefined && a.name.toLowerCase() === owner) {
      out.push({ address: a.data, name: asked, chain: [...chain], ttl: Math.min(chainTtl, a.ttl) });
    }
  }
}
