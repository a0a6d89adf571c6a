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

/** Every well-formed row of one table's text (the header and malformed rows are skipped). */
export function parseSocketTable(text: string): SocketEntry[] {
  const entries: SocketEntry[] = [];
  for (const line of text.split('\n')) {
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

  constructor(entries: readonly SocketEntry[], readonly proto: number) {
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

  /** Sockets of connections (not listening), with an owner inode. */
  connectedSockets(): IterableIterator<SocketEntry> {
    return this.connected.values();
  }

  /** The socket whose local end is local:localPort and whose peer is remote:remotePort. */
  socket(localIp: string, localPort: number, remoteIp: string, remotePort: number): SocketEntry | undefined {
    return this.connected.get(connectionKey(localIp, localPort, remoteIp, remotePort));
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
