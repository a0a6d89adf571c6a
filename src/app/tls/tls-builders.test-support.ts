/**
 * Test-only builders for TLS bytes, written from RFC 8446 4.1.2/4.1.3 and 5.1 so unit tests can
 * state exactly which field is wrong. Defaults describe an ordinary, well-formed hello.
 */

export const CCS = 20;
export const ALERT = 21;
export const HANDSHAKE = 22;
export const APPLICATION_DATA = 23;
export const HEARTBEAT = 24;

export const HELLO_RETRY_RANDOM = [
  0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
  0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

export function u16(v: number): number[] {
  return [(v >> 8) & 0xff, v & 0xff];
}

function u24(v: number): number[] {
  return [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
}

function ascii(s: string): number[] {
  return [...s].map((c) => c.charCodeAt(0) & 0xff);
}

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function record(type: number, body: Uint8Array | number[], version = 0x0303): Uint8Array {
  return concat([type, ...u16(version), ...u16(body.length)], body);
}

export function handshakeMessage(type: number, body: Uint8Array | number[]): Uint8Array {
  return concat([type, ...u24(body.length)], body);
}

export function extension(type: number, data: number[]): number[] {
  return [...u16(type), ...u16(data.length), ...data];
}

export function sniExtension(host: string): number[] {
  const name = ascii(host);
  const entry = [0, ...u16(name.length), ...name];
  return extension(0, [...u16(entry.length), ...entry]);
}

export function alpnExtension(names: string[]): number[] {
  const list = names.flatMap((n) => [n.length, ...ascii(n)]);
  return extension(16, [...u16(list.length), ...list]);
}

export function clientVersionsExtension(versions: number[]): number[] {
  return extension(43, [versions.length * 2, ...versions.flatMap(u16)]);
}

export interface ClientHelloSpec {
  legacyVersion?: number;
  sni?: string;
  alpn?: string[];
  versions?: number[];
  /** Extra raw extensions appended after the others. */
  extra?: number[];
  /** Leave the extensions block out entirely (pre-TLS 1.3 style). */
  noExtensions?: boolean;
}

export function clientHelloBody(spec: ClientHelloSpec = {}): number[] {
  const exts: number[] = [];
  if (spec.sni !== undefined) exts.push(...sniExtension(spec.sni));
  if (spec.alpn !== undefined) exts.push(...alpnExtension(spec.alpn));
  if (spec.versions !== undefined) exts.push(...clientVersionsExtension(spec.versions));
  if (spec.extra !== undefined) exts.push(...spec.extra);
  const random = Array.from({ length: 32 }, (_, i) => i);
  const sessionId = Array.from({ length: 32 }, (_, i) => 0x80 + i);
  const suites = [0x13, 0x01, 0xc0, 0x2f];
  return [
    ...u16(spec.legacyVersion ?? 0x0303),
    ...random,
    sessionId.length,
    ...sessionId,
    ...u16(suites.length),
    ...suites,
    1,
    0,
    ...(spec.noExtensions ? [] : [...u16(exts.length), ...exts]),
  ];
}

export interface ServerHelloSpec {
  legacyVersion?: number;
  selected?: number;
  alpn?: string;
  retry?: boolean;
}

export function serverHelloBody(spec: ServerHelloSpec = {}): number[] {
  const exts: number[] = [];
  if (spec.selected !== undefined) exts.push(...extension(43, u16(spec.selected)));
  if (spec.alpn !== undefined) exts.push(...alpnExtension([spec.alpn]));
  const random = spec.retry ? HELLO_RETRY_RANDOM : Array.from({ length: 32 }, (_, i) => 0x40 + i);
  return [...u16(spec.legacyVersion ?? 0x0303), ...random, 0, 0x13, 0x01, 0, ...u16(exts.length), ...exts];
}

export function clientHelloRecord(spec: ClientHelloSpec = {}, recordVersion = 0x0301): Uint8Array {
  return record(HANDSHAKE, handshakeMessage(1, clientHelloBody(spec)), recordVersion);
}

export function serverHelloRecord(spec: ServerHelloSpec = {}): Uint8Array {
  return record(HANDSHAKE, handshakeMessage(2, serverHelloBody(spec)));
}

export function alertRecord(level: number, description: number): Uint8Array {
  return record(ALERT, [level, description]);
}

export const CCS_RECORD = record(CCS, [1]);

/** An opaque record of `length` bytes (encrypted handshake, application data...). */
export function opaqueRecord(type: number, length: number): Uint8Array {
  return record(type, new Uint8Array(length).fill(0xa5));
}

