/**
 * The first HTTP/1.x request head of a TCP connection, parsed incrementally from the
 * client→server byte stream as the caller's reassembly hands it over, one segment at a time.
 *
 * Hand-written rather than a library because it sits on the per-segment hot path: it must take
 * bytes in arbitrary pieces, turn a non-HTTP stream down at the first byte that cannot belong
 * to a request line, and bound memory. Only the first HTTP_HEAD_MAX_BYTES of the stream are
 * ever looked at (SPEC 7), so a parser holds at most that many bytes of one unfinished line
 * plus the strings of the lines already complete, and drops its line buffer as soon as it
 * reaches a final status. Strings are made once per completed line, as latin1 (field bytes are
 * octets, not UTF-8), and short ones are interned (the same Host or User-Agent on every request
 * is one string); a line that arrives whole in one segment is read in place, only lines split
 * across segments are copied.
 *
 * Accepted as servers accept it: bare LF line ends, obsolete line folding (appended to the
 * previous value with one space), and any token as the method (probeHttpRequest is the strict,
 * known-methods check for deciding whether to start a parser at all). Header lines that are
 * not `token: value` are skipped, not fatal: we observe traffic, we do not police it.
 */

import { latin1, Latin1Interner } from '../../wire/latin1-interner.js';

export const enum HttpHeadStatus {
  NEED_MORE = 0,
  DONE = 1,
  NOT_HTTP = 2,
  TOO_LONG = 3,
}

export const HTTP_HEAD_MAX_BYTES = 8192;

/** SEARCH_HTTP_HEADER / AVOID_LIVENESS_PROBE: a lower-case header name and an optional
 *  case-sensitive substring its value must contain. */
export interface HeaderSpec {
  name: string;
  value?: string;
}

const SP = 0x20;
const HTAB = 0x09;
const CR = 0x0d;
const LF = 0x0a;
const COLON = 0x3a;
const DEL = 0x7f;

/** RFC 9110 tchar: the bytes allowed in a method and a field name. */
const TCHAR = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;

/** `HTTP/1.` as bytes; a version digit follows it. */
const VERSION_PREFIX = new Uint8Array([0x48, 0x54, 0x54, 0x50, 0x2f, 0x31, 0x2e]);
const VERSION_LEN = VERSION_PREFIX.length + 1;

const NO_BYTES = new Uint8Array(0);

/** Where the parser is inside the request line; HEADERS once the line is complete. */
const enum Phase {
  METHOD,
  TARGET,
  VERSION,
  REQUEST_LINE_CR,
  HEADERS,
}

function isOws(b: number): boolean {
  return b === SP || b === HTAB;
}

/** Strings of the request line and header lines: names, and values up to a typical
 *  User-Agent's length, recur from request to request. */
const TEXTS = new Latin1Interner(1024, 64);

/** `HTTP/1.0` ... `HTTP/1.9`, by the version digit the request line was checked to have. */
const VERSION_TEXTS = Array.from({ length: 10 }, (_v, d) => `HTTP/1.${d}`);

const CASE_BIT = 0x20;
const UPPER_A = 0x41;
const UPPER_Z = 0x5a;

/** Whether the ASCII text `name` equals `lower` (lower-case) when A–Z are folded: how header
 *  names (tokens) compare. */
function sameName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= UPPER_A && c <= UPPER_Z) c |= CASE_BIT;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/** `Host`, in any case, at bytes[from..to). */
function isHostName(bytes: Uint8Array, from: number, to: number): boolean {
  return to - from === 4 && (bytes[from]! | CASE_BIT) === 0x68 && (bytes[from + 1]! | CASE_BIT) === 0x6f &&
    (bytes[from + 2]! | CASE_BIT) === 0x73 && (bytes[from + 3]! | CASE_BIT) === 0x74;
}

export class HttpRequestHead {
  method: string | undefined = undefined;
  /** The request-target as sent (origin form, absolute form, authority form for CONNECT, or *). */
  path: string | undefined = undefined;
  /** 'HTTP/1.1' */
  version: string | undefined = undefined;
  /** The first Host header's value, trimmed. */
  host: string | undefined = undefined;
  /** In order, names as sent, values without surrounding whitespace; complete lines only. */
  readonly headers: [name: string, value: string][] = [];

  private hostIndex = -1;
  private state: HttpHeadStatus = HttpHeadStatus.NEED_MORE;
  private phase: Phase = Phase.METHOD;
  /** Stream bytes consumed so far, never more than HTTP_HEAD_MAX_BYTES. */
  private consumed = 0;
  /** The current unfinished line, only when one spans segments. Grown on demand, released at
   *  a final status. */
  private line: Uint8Array = NO_BYTES;
  private lineLen = 0;
  /** Bytes of the request line so far (its CR aside), and the offsets in it of its two spaces. */
  private requestLineLen = 0;
  private methodEnd = 0;
  private targetEnd = 0;
  /** While feed() reads the request line: the segment, where the line's bytes in it start, and
   *  how many of the line's bytes earlier segments left in `line`. */
  private segment: Uint8Array = NO_BYTES;
  private segmentLineStart = 0;
  private heldBefore = 0;

  get status(): HttpHeadStatus {
    return this.state;
  }

  /** Feeds data[start..end) and returns the status after it. Once the status is final (DONE,
   *  NOT_HTTP, TOO_LONG) further feeds are ignored. The bytes are copied, never retained. */
  feed(data: Uint8Array, start: number, end: number): HttpHeadStatus {
    if (this.state !== HttpHeadStatus.NEED_MORE) return this.state;
    let i = Math.max(0, Math.trunc(start) || 0);
    const stop = Math.min(data.length, Math.trunc(end) || 0, i + HTTP_HEAD_MAX_BYTES - this.consumed);
    if (i >= stop) return this.state;
    const first = i;

    if (this.phase !== Phase.HEADERS) i = this.requestLine(data, i, stop);
    while (i < stop && this.state === HttpHeadStatus.NEED_MORE) {
      let lf = i;
      while (lf < stop && data[lf] !== LF) lf++;
      if (lf === stop) {
        this.append(data, i, stop);
        i = stop;
        break;
      }
      if (this.lineLen === 0) {
        this.headerLine(data, i, lf);
      } else {
        this.append(data, i, lf);
        this.headerLine(this.line, 0, this.lineLen);
        this.lineLen = 0;
      }
      i = lf + 1;
    }

    this.consumed += i - first;
    if (this.state === HttpHeadStatus.NEED_MORE && this.consumed >= HTTP_HEAD_MAX_BYTES) {
      this.finish(HttpHeadStatus.TOO_LONG);
    }
    return this.state;
  }

  /** The first header of that name, case-insensitively. */
  header(name: string): string | undefined {
    const lower = name.toLowerCase();
    for (const [headerName, value] of this.headers) if (sameName(headerName, lower)) return value;
    return undefined;
  }

  /** SPEC 2's header match, on the headers complete so far (so it works on a partial head). */
  matches(spec: HeaderSpec): boolean {
    const headers = this.headers;
    for (let i = 0; i < headers.length; i++) {
      const [name, value] = headers[i]!;
      if (!sameName(name, spec.name)) continue;
      if (spec.value === undefined || value.includes(spec.value)) return true;
    }
    return false;
  }

  /** The request line's bytes in data[i..stop); returns where they end. The bytes stay where
   *  they are unless the line goes on in the next segment. */
  private requestLine(data: Uint8Array, i: number, stop: number): number {
    this.segment = data;
    this.segmentLineStart = i;
    this.heldBefore = this.lineLen;
    while (i < stop && this.phase !== Phase.HEADERS && this.state === HttpHeadStatus.NEED_MORE) {
      this.requestLineByte(data[i]!);
      i++;
    }
    if (this.phase !== Phase.HEADERS && this.state === HttpHeadStatus.NEED_MORE) {
      this.append(data, this.segmentLineStart, this.segmentLineStart + this.requestLineLen - this.heldBefore);
    }
    this.segment = NO_BYTES;
    return i;
  }

  /** One byte of `METHOD SP target SP HTTP/1.d (CR) LF`, rejecting at the first byte that
   *  cannot belong to a request line so binary streams cost one byte each. */
  private requestLineByte(b: number): void {
    switch (this.phase) {
      case Phase.METHOD:
        if (TCHAR[b] === 1) return this.take();
        if (b === SP && this.requestLineLen > 0) {
          this.methodEnd = this.requestLineLen;
          this.phase = Phase.TARGET;
          return this.take();
        }
        return this.finish(HttpHeadStatus.NOT_HTTP);
      case Phase.TARGET:
        if (b === SP && this.requestLineLen > this.methodEnd + 1) {
          this.targetEnd = this.requestLineLen;
          this.phase = Phase.VERSION;
          return this.take();
        }
        if (b > SP && b !== DEL) return this.take();
        return this.finish(HttpHeadStatus.NOT_HTTP);
      case Phase.VERSION: {
        const at = this.requestLineLen - this.targetEnd - 1;
        if (at < VERSION_PREFIX.length) {
          if (b === VERSION_PREFIX[at]) return this.take();
        } else if (at === VERSION_PREFIX.length) {
          if (b >= 0x30 && b <= 0x39) return this.take();
        } else if (b === CR) {
          this.phase = Phase.REQUEST_LINE_CR;
          return;
        } else if (b === LF) {
          return this.endRequestLine();
        }
        return this.finish(HttpHeadStatus.NOT_HTTP);
      }
      case Phase.REQUEST_LINE_CR:
        if (b === LF) return this.endRequestLine();
        return this.finish(HttpHeadStatus.NOT_HTTP);
    }
  }

  private take(): void {
    this.requestLineLen++;
  }

  /** The LF of the request line: its bytes are in place in the segment, or (when it spans
   *  segments) the earlier ones are in `line` and this segment's are added to them. */
  private endRequestLine(): void {
    let bytes = this.segment;
    let at = this.segmentLineStart;
    if (this.heldBefore > 0) {
      this.append(bytes, at, at + this.requestLineLen - this.heldBefore);
      bytes = this.line;
      at = 0;
    }
    this.method = TEXTS.text(bytes, at, at + this.methodEnd);
    this.path = TEXTS.text(bytes, at + this.methodEnd + 1, at + this.targetEnd);
    this.version = VERSION_TEXTS[bytes[at + this.targetEnd + VERSION_LEN]! - 0x30]!;
    this.lineLen = 0;
    this.phase = Phase.HEADERS;
  }

  /** A complete header line bytes[from..to), LF excluded. */
  private headerLine(bytes: Uint8Array, from: number, to: number): void {
    if (to > from && bytes[to - 1] === CR) to--;
    if (to === from) return this.finish(HttpHeadStatus.DONE);
    if (isOws(bytes[from]!)) return this.foldLine(bytes, from, to);

    let colon = from;
    while (colon < to && bytes[colon] !== COLON) {
      if (TCHAR[bytes[colon]!] !== 1) return;
      colon++;
    }
    if (colon === from || colon === to) return;
    let valueStart = colon + 1;
    let valueEnd = to;
    while (valueStart < valueEnd && isOws(bytes[valueStart]!)) valueStart++;
    while (valueEnd > valueStart && isOws(bytes[valueEnd - 1]!)) valueEnd--;

    const name = TEXTS.text(bytes, from, colon);
    const value = TEXTS.text(bytes, valueStart, valueEnd);
    this.headers.push([name, value]);
    if (this.hostIndex < 0 && isHostName(bytes, from, colon)) {
      this.hostIndex = this.headers.length - 1;
      this.host = value;
    }
  }

  /** obs-fold (RFC 9112 5.2): the line continues the previous header's value. Folding before
   *  any header has nothing to continue and is dropped, as the RFC allows. */
  private foldLine(bytes: Uint8Array, from: number, to: number): void {
    const last = this.headers.length - 1;
    if (last < 0) return;
    while (from < to && isOws(bytes[from]!)) from++;
    while (to > from && isOws(bytes[to - 1]!)) to--;
    if (from === to) return;
    const entry = this.headers[last]!;
    const more = latin1(bytes, from, to);
    entry[1] = entry[1] === '' ? more : `${entry[1]} ${more}`;
    if (last === this.hostIndex) this.host = entry[1];
  }

  private finish(status: HttpHeadStatus): void {
    this.state = status;
    this.line = NO_BYTES;
    this.lineLen = 0;
  }

  private append(data: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    this.reserve(this.lineLen + (to - from));
    this.line.set(data.subarray(from, to), this.lineLen);
    this.lineLen += to - from;
  }

  private reserve(needed: number): void {
    if (needed <= this.line.length) return;
    const grown = new Uint8Array(Math.min(HTTP_HEAD_MAX_BYTES, Math.max(256, needed, this.line.length * 2)));
    grown.set(this.line.subarray(0, this.lineLen));
    this.line = grown;
  }
}

/** `Name` or `Name: value` as an operator writes it (SEARCH_HTTP_HEADER, AVOID_LIVENESS_PROBE),
 *  name case kept for display; undefined when the name is empty or not a token. An empty value
 *  after the colon means "any value". */
export function parseHeaderText(text: string): HeaderSpec | undefined {
  const colon = text.indexOf(':');
  const name = (colon < 0 ? text : text.slice(0, colon)).trim();
  if (name === '') return undefined;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c > 0xff || TCHAR[c] !== 1) return undefined;
  }
  const value = colon < 0 ? '' : text.slice(colon + 1).trim();
  return value === '' ? { name } : { name, value };
}

/** The spec `matches` takes: the name lower-cased (the header lines' names are compared lower-cased). */
export function headerSpecOf(h: HeaderSpec): HeaderSpec {
  return h.value === undefined ? { name: h.name.toLowerCase() } : { name: h.name.toLowerCase(), value: h.value };
}

/** 'X-Trace' → {name: 'x-trace'}; 'User-Agent: kube-probe' → {name: 'user-agent', value:
 *  'kube-probe'}; undefined when the text is not a header spec (parseHeaderText). */
export function parseHeaderSpec(text: string): HeaderSpec | undefined {
  const h = parseHeaderText(text);
  return h === undefined ? undefined : headerSpecOf(h);
}

/** Methods of the IANA HTTP method registry (RFC 9110, PATCH, WebDAV and its extensions,
 *  CalDAV...), without PRI: that is the HTTP/2 preface, not an HTTP/1 request. */
const KNOWN_METHODS = [
  'ACL', 'BASELINE-CONTROL', 'BIND', 'CHECKIN', 'CHECKOUT', 'CONNECT', 'COPY', 'DELETE', 'GET',
  'HEAD', 'LABEL', 'LINK', 'LOCK', 'MERGE', 'MKACTIVITY', 'MKCALENDAR', 'MKCOL', 'MKREDIRECTREF',
  'MKWORKSPACE', 'MOVE', 'OPTIONS', 'ORDERPATCH', 'PATCH', 'POST', 'PROPFIND', 'PROPPATCH', 'PUT',
  'REBIND', 'REPORT', 'SEARCH', 'TRACE', 'UNBIND', 'UNCHECKOUT', 'UNLINK', 'UNLOCK', 'UPDATE',
  'UPDATEREDIRECTREF', 'VERSION-CONTROL',
];

/** Each method followed by its space, bucketed by first byte so a non-HTTP stream is turned
 *  down after one table lookup. */
const METHODS_BY_FIRST_BYTE: (Uint8Array[] | undefined)[] = new Array<Uint8Array[] | undefined>(256);
for (const method of KNOWN_METHODS) {
  const bytes = new Uint8Array(method.length + 1);
  for (let i = 0; i < method.length; i++) bytes[i] = method.charCodeAt(i);
  bytes[method.length] = SP;
  (METHODS_BY_FIRST_BYTE[bytes[0]!] ??= []).push(bytes);
}

/** Does the stream start like an HTTP/1 request, i.e. a known method and a space? 1 yes, 0 no,
 *  -1 the bytes so far could still be one. Byte compares only. */
export function probeHttpRequest(data: Uint8Array, start: number, end: number): 1 | 0 | -1 {
  const from = Math.max(0, Math.trunc(start) || 0);
  const to = Math.min(data.length, Math.trunc(end) || 0);
  if (from >= to) return -1;
  const candidates = METHODS_BY_FIRST_BYTE[data[from]!];
  if (candidates === undefined) return 0;
  const available = to - from;
  let needMore = false;
  for (const method of candidates) {
    const n = Math.min(method.length, available);
    let i = 1;
    while (i < n && data[from + i] === method[i]) i++;
    if (i < n) continue;
    if (n === method.length) return 1;
    needMore = true;
  }
  return needMore ? -1 : 0;
}
