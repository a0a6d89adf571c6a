/**
 * The kernel's socket tables as /proc/<pid>/net/{tcp,tcp6,udp,udp6} show them for the network
 * namespace of <pid>: which sockets exist (local and remote address and port, state, inode).
 * Hand-written: four fixed-format text tables, parsed on every refresh for every namespace, so
 * they are read with plain string slicing rather than a general parser.
 *
 * Addresses are printed as the kernel's in-memory words in hex, so their byte order is the
 * host's; IPv4-mapped IPv6 addresses (a dual-stack socket's IPv4 peers) are given as IPv4 text,
 * the form flow records use for those peers.
 */
import { endianness } from 'node:os';
import { formatIp } from '../../wire/ip-format.js';

export interface SocketEntry {
  localIp: string;
  localPort: number;
  remoteIp: string;
  remotePort: number;
  /** The kernel's state number (TCP_ESTABLISHED 1 ... TCP_LISTEN 10; UDP sockets show 7 or 1). */
  state: number;
  uid: number;
  /** 0 for sockets no file refers to any more (TIME_WAIT, orphans). */
  inode: number;
}

export const TCP_LISTEN = 10;
const UDP_UNCONNECTED = 7;

const LITTLE_ENDIAN = endianness() === 'LE';
const words = new Int32Array(4);

/** One address word as the kernel printed it, in network order. */
function word(hex: string, start: number): number {
  const w = parseInt(hex.slice(start, start + 8), 16);
  if (!LITTLE_ENDIAN) return w | 0;
  return (((w & 0xff) << 24) | ((w & 0xff00) << 8) | ((w >>> 8) & 0xff00) | (w >>> 24)) | 0;
}

function address(hex: string): string | undefined {
  if (hex.length === 8) {
    words[0] = word(hex, 0);
    return formatIp(4, words);
  }
  if (hex.length !== 32) return undefined;
  for (let i = 0; i < 4; i++) words[i] = word(hex, i * 8);
  // ::ffff:a.b.c.d: a dual-stack socket's IPv4 peer, written as flow records write it.
  if (words[0] === 0 && words[1] === 0 && words[2] === 0xffff) {
    words[0] = words[3]!;
    return formatIp(4, words);
  }
  return formatIp(6, words);
}

/** `ADDR:PORT` in hex → [address text, port]. */
function endpoint(field: string): [string, number] | undefined {
  const colon = field.indexOf(':');
  if (colon < 0) return undefined;
  const ip = address(field.slice(0, colon));
  const port = parseInt(field.slice(colon + 1), 16);
  return ip === undefined || !(port >= 0 && port <= 0xffff) ? undefined : [ip, port];
}

/** Whether a hex address is 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
function loopbackHex(hex: string): boolean {
  if (hex.length === 8) return word(hex, 0) >>> 24 === 127;
  for (let i = 0; i < 4; i++) words[i] = word(hex, i * 8);
  if (words[0] !== 0 || words[1] !== 0) return false;
  return (words[2] === 0 && words[3] === 1) || (words[2] === 0xffff && words[3]! >>> 24 === 127);
}

/**
 * Whether a row is a TIME_WAIT connection outside loopback, judged from the kernel's fixed
 * layout (`sl: LOCAL:PORT REMOTE:PORT ST ...`, addresses 8 or 32 hex digits) before the row is
 * split.
 */
function skippableTimeWait(line: string): boolean {
  const localStart = line.indexOf(':') + 2;
  const addressLength = line.indexOf(':', localStart) - localStart;
  if (addressLength !== 8 && addressLength !== 32) return false;
  const state = localStart + 2 * addressLength + 12;
  return line.charCodeAt(state) === 48 && line.charCodeAt(state + 1) === 54 && !loopbackHex(line.slice(localStart, localStart + addressLength));
}

export interface ParseOptions {
  /**
   * TIME_WAIT rows (held by no process) kept only for loopback addresses, where they say which
   * namespace a connection was in; elsewhere the address says it. A busy server's namespace
   * holds a minute of them (60,000 rows at 1,000 connections/s): most of the parsing work.
   */
  timeWaitOnLoopbackOnly?: boolean;
}

/** Every well-formed row of one table's text (the header and malformed rows are skipped). */
export function parseSocketTable(text: string, opts: ParseOptions = {}): SocketEntry[] {
  const entries: SocketEntry[] = [];
  for (const line of text.split('\n')) {
    if (opts.timeWaitOnLoopbackOnly && skippableTimeWait(line)) continue;
    const f = line.trim().split(/\s+/);
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    if (f.length < 10 || !f[0]!.endsWith(':')) continue;
    const local = endpoint(f[1]!);
    const remote = endpoint(f[2]!);
    const state = parseInt(f[3]!, 16);
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    if (local === undefined || remote === undefined || !Number.isInteger(uid) || !Number.isInteger(inode) || !(state >= 0)) continue;
    entries.push({ localIp: local[0], localPort: local[1], remoteIp: remote[0], remotePort: remote[1], state, uid, inode });
  }
  return entries;
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

/** One namespace's sockets of one protocol, indexed for flow lookups. */
export class SocketIndex {
  private readonly connected = new Map<string, SocketEntry>();
  /** Listening TCP sockets and unconnected UDP ones, by local port. */
  private readonly listening = new Map<number, SocketEntry[]>();

  private inodes: Set<number> | undefined;

  constructor(private readonly entries: readonly SocketEntry[], readonly proto: number) {
    for (const e of entries) {
      const serving = proto === 6 ? e.state === TCP_LISTEN : e.state === UDP_UNCONNECTED && e.remotePort === 0;
      if (serving) {
        const list = this.listening.get(e.localPort);
        if (list === undefined) this.listening.set(e.localPort, [e]);
        else list.push(e);
      } else {
        this.connected.set(connectionKey(e.localIp, e.localPort, e.remoteIp, e.remotePort), e);
      }
    }
  }

  /** Whether a socket of this table has that inode. */
  hasInode(inode: number): boolean {
    this.inodes ??= new Set(this.entries.map((e) => e.inode));
    return this.inodes.has(inode);
  }

  /** Sockets of connections (not listening), with an owner inode. */
  connectedSockets(): IterableIterator<SocketEntry> {
    return this.connected.values();
  }

  /** The socket whose local end is local:localPort and whose peer is remote:remotePort. */
  socket(localIp: string, localPort: number, remoteIp: string, remotePort: number): SocketEntry | undefined {
    return this.connected.get(connectionKey(localIp, localPort, remoteIp, remotePort));
  }

  /** Every listening TCP socket (or unconnected UDP one). */
  *listeners(): IterableIterator<SocketEntry> {
    for (const list of this.listening.values()) yield* list;
  }

  /** The listener that accepts connections to ip:port: bound to that address, else a wildcard
   *  one (an IPv6 wildcard also takes IPv4 unless it is v6-only, which /proc does not show). */
  listener(ip: string, port: number): SocketEntry | undefined {
    const list = this.listening.get(port);
    if (list === undefined) return undefined;
    return list.find((e) => e.localIp === ip) ?? list.find((e) => WILDCARDS.has(e.localIp));
  }
}

export function connectionKey(localIp: string, localPort: number, remoteIp: string, remotePort: number): string {
  return localIp + ' ' + localPort + ' ' + remoteIp + ' ' + remotePort;
}
