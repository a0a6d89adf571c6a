/**
 * ClientHello and ServerHello bodies (RFC 8446 4.1.2/4.1.3, RFC 5246 7.4.1), parsed once the
 * whole message has been collected. Hellos are one or two per connection, so these may build
 * strings and arrays; what they must not do is trust any length. Every vector length is
 * checked against what encloses it, and a mismatch comes back as a string saying which one.
 */

export interface TlsClientHelloInfo {
  legacyVersion: number;
  supportedVersions: number[];
  sni?: string;
  alpn: string[];
}

export interface TlsServerHelloInfo {
  legacyVersion: number;
  /** From the supported_versions extension when present, else legacyVersion. */
  selectedVersion: number;
  alpn?: string;
  helloRetryRequest: boolean;
}

const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;
const SNI_HOST_NAME = 0;
const RANDOM_LEN = 32;
const MAX_SESSION_ID_LEN = 32;
/** legacy_version + random + session_id length byte. */
const HELLO_FIXED_PREFIX = 2 + RANDOM_LEN + 1;

/** A HelloRetryRequest is a ServerHello whose random is SHA-256("HelloRetryRequest") (RFC 8446 4.1.3). */
const HELLO_RETRY_RANDOM = new Uint8Array([
  0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
  0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
]);

/** GREASE (RFC 8701) versions are 0x?a?a with equal bytes; they only test peers' tolerance. */
export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function latin1(b: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/**
 * Walks an extensions block that must fill b[from, b.length) exactly, calling onExtension for
 * each one with its data range. Returns an error text, or undefined when the lengths add up.
 */
function walkExtensions(
  b: Uint8Array,
  from: number,
  what: string,
  onExtension: (type: number, start: number, end: number) => string | undefined,
): string | undefined {
  const end = b.length;
  // Extensions are optional before TLS 1.3: the message may simply stop after compression.
  if (from === end) return undefined;
  if (from + 2 > end) return `${what}: extensions length cut short`;
  const blockLen = u16(b, from);
  if (from + 2 + blockLen !== end) {
    return `${what}: extensions length ${blockLen} does not match the ${end - from - 2} bytes left`;
  }
  let p = from + 2;
  while (p < end) {
    if (p + 4 > end) return `${what}: extension header cut short`;
    const type = u16(b, p);
    const len = u16(b, p + 2);
    p += 4;
    if (p + len > end) return `${what}: extension ${type} length ${len} runs past the block`;
    const problem = onExtension(type, p, p + len);
    if (problem !== undefined) return `${what}: ${problem}`;
    p += len;
  }
  return undefined;
}

function parseServerNameList(b: Uint8Array, start: number, end: number, info: TlsClientHelloInfo): string | undefined {
  // An empty server_name extension is what servers echo; tolerate it from clients too.
  if (start === end) return undefined;
  if (start + 2 > end || u16(b, start) !== end - start - 2) return 'server_name list length does not match the extension';
  let p = start + 2;
  while (p < end) {
    if (p + 3 > end) return 'server_name entry cut short';
    const nameType = b[p]!;
    const nameLen = u16(b, p + 1);
    p += 3;
    if (p + nameLen > end) return `server_name entry length ${nameLen} runs past the list`;
    if (nameType === SNI_HOST_NAME && info.sni === undefined) info.sni = latin1(b, p, p + nameLen);
    p += nameLen;
  }
  return undefined;
}

function parseAlpnList(b: Uint8Array, start: number, end: number, into: string[]): string | undefined {
  if (start + 2 > end || u16(b, start) !== end - start - 2) return 'ALPN list length does not match the extension';
  let p = start + 2;
  while (p < end) {
    const nameLen = b[p]!;
    p += 1;
    if (p + nameLen > end) return `ALPN protocol name length ${nameLen} runs past the list`;
    if (nameLen > 0) into.push(latin1(b, p, p + nameLen));
    p += nameLen;
  }
  return undefined;
}

/** Skips session id, cipher suites and compression methods; returns where extensions start or an error. */
function skipClientHelloFixedPart(b: Uint8Array): number | string {
  const n = b.length;
  if (n < HELLO_FIXED_PREFIX) return `client_hello: ${n} bytes, shorter than version + random`;
  const sessionIdLen = b[HELLO_FIXED_PREFIX - 1]!;
  if (sessionIdLen > MAX_SESSION_ID_LEN) return `client_hello: session_id length ${sessionIdLen} > 32`;
  let p = HELLO_FIXED_PREFIX + sessionIdLen;
  if (p + 2 > n) return 'client_hello: cipher_suites length cut short';
  const suitesLen = u16(b, p);
  if (suitesLen === 0 || (suitesLen & 1) !== 0) return `client_hello: cipher_suites length ${suitesLen} is not a positive even number`;
  p += 2 + suitesLen;
  if (p + 1 > n) return `client_hello: cipher_suites length ${suitesLen} runs past the message`;
  const compressionLen = b[p]!;
  if (compressionLen === 0) return 'client_hello: no compression methods';
  p += 1 + compressionLen;
  if (p > n) return `client_hello: compression_methods length ${compressionLen} runs past the message`;
  return p;
}

export function parseClientHello(b: Uint8Array): TlsClientHelloInfo | string {
  const extensionsAt = skipClientHelloFixedPart(b);
  if (typeof extensionsAt === 'string') return extensionsAt;
  const info: TlsClientHelloInfo = { legacyVersion: u16(b, 0), supportedVersions: [], alpn: [] };
  const problem = walkExtensions(b, extensionsAt, 'client_hello', (type, start, end) => {
    if (type === EXT_SERVER_NAME) return parseServerNameList(b, start, end, info);
    if (type === EXT_ALPN) return parseAlpnList(b, start, end, info.alpn);
    if (type === EXT_SUPPORTED_VERSIONS) {
      const listLen = start < end ? b[start]! : -1;
      if (listLen !== end - start - 1 || (listLen & 1) !== 0) return 'supported_versions list length does not match the extension';
      for (let p = start + 1; p < end; p += 2) {
        const v = u16(b, p);
        if (!isGrease(v)) info.supportedVersions.push(v);
      }
    }
    return undefined;
  });
  return problem ?? info;
}

export function parseServerHello(b: Uint8Array): TlsServerHelloInfo | string {
  const n = b.length;
  if (n < HELLO_FIXED_PREFIX) return `server_hello: ${n} bytes, shorter than version + random`;
  const sessionIdLen = b[HELLO_FIXED_PREFIX - 1]!;
  if (sessionIdLen > MAX_SESSION_ID_LEN) return `server_hello: session_id length ${sessionIdLen} > 32`;
  // cipher_suite (2) + compression_method (1) follow the session id.
  const extensionsAt = HELLO_FIXED_PREFIX + sessionIdLen + 3;
  if (extensionsAt > n) return 'server_hello: cut short before cipher_suite and compression_method';
  let helloRetryRequest = true;
  for (let i = 0; i < RANDOM_LEN; i++) {
    if (b[2 + i] !== HELLO_RETRY_RANDOM[i]) {
      helloRetryRequest = false;
      break;
    }
  }
  const legacyVersion = u16(b, 0);
  const info: TlsServerHelloInfo = { legacyVersion, selectedVersion: legacyVersion, helloRetryRequest };
  const problem = walkExtensions(b, extensionsAt, 'server_hello', (type, start, end) => {
    if (type === EXT_SUPPORTED_VERSIONS) {
      if (end - start !== 2) return `supported_versions length ${end - start}, a ServerHello selects exactly one version`;
      info.selectedVersion = u16(b, start);
    } else if (type === EXT_ALPN) {
      const names: string[] = [];
      const alpnProblem = parseAlpnList(b, start, end, names);
      if (alpnProblem !== undefined) return alpnProblem;
      if (names.length !== 1) return `ALPN in server_hello names ${names.length} protocols, not one`;
      info.alpn = names[0]!;
    }
    return undefined;
  });
  return problem ?? info;
}
