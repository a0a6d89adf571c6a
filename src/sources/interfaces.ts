/**
 * Network interfaces of the namespace this process runs in, read from /sys/class/net (the
 * kernel's own view: index, flags, MAC, MTU) rather than parsed from `ip` output, so no helper
 * program is needed and names and indexes always agree with what the capture opens.
 *
 * Addresses come from `os.networkInterfaces()`: it asks the kernel (getifaddrs) for the same
 * namespace, and /sys has no address files. It lists only interfaces that have an address, so an
 * interface without one (a pod's host-side veth, typically) simply has none here.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/** IFF_UP and IFF_LOOPBACK from <linux/if.h>: /sys/class/net/IF/flags is their hex bitmask. */
const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;

export const SYS_CLASS_NET = '/sys/class/net';

export interface NetInterface {
  name: string;
  index: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Carrier state from operstate: `up`, `down`, `unknown` (loopback, tun), `lowerlayerdown`... */
  operState: string;
  loopback: boolean;
  mac?: string;
  mtu?: number;
}

export interface InterfaceAddress {
  address: string;
  family: 'IPv4' | 'IPv6';
  /** Prefix length (from the CIDR notation Node gives). */
  prefixLen: number;
}

function readSys(name: string, file: string, sysDir: string): string | undefined {
  try {
    return readFileSync(`${sysDir}/${name}/${file}`, 'utf8').trim();
  } catch {
    // The interface vanished between listing and reading, or the file does not exist for it.
    return undefined;
  }
}

/** Reads one interface; undefined when it does not exist (or vanished while being read). */
export function readInterface(name: string, sysDir = SYS_CLASS_NET): NetInterface | undefined {
  if (name === '' || name.includes('/') || name === '.' || name === '..') return undefined;
  const index = Number(readSys(name, 'ifindex', sysDir));
  if (!Number.isInteger(index) || index <= 0) return undefined;
  const flags = parseInt(readSys(name, 'flags', sysDir) ?? '0', 16) || 0;
  const iface: NetInterface = {
    name,
    index,
    up: (flags & IFF_UP) !== 0,
    operState: readSys(name, 'operstate', sysDir) ?? 'unknown',
    loopback: (flags & IFF_LOOPBACK) !== 0,
  };
  const mac = readSys(name, 'address', sysDir);
  if (mac !== undefined && mac !== '') iface.mac = mac;
  const mtu = Number(readSys(name, 'mtu', sysDir));
  if (Number.isInteger(mtu) && mtu > 0) iface.mtu = mtu;
  return iface;
}

/** Every interface, ordered by index. */
export function listInterfaces(sysDir = SYS_CLASS_NET): NetInterface[] {
  let names: string[];
  try {
    names = readdirSync(sysDir);
  } catch {
    return [];
  }
  const out: NetInterface[] = [];
  for (const name of names) {
    const iface = readInterface(name, sysDir);
    if (iface) out.push(iface);
  }
  return out.sort((a, b) => a.index - b.index);
}

/**
 * Resolves `-i NAME` or `--ifindex N` / INTERFACE_INDEX_SNIF. A number, or a string of digits
 * that is not itself an interface name, is taken as an index.
 */
export function resolveInterface(nameOrIndex: string | number, sysDir = SYS_CLASS_NET): NetInterface | undefined {
  if (typeof nameOrIndex === 'string') {
    const byName = readInterface(nameOrIndex, sysDir);
    if (byName || !/^\d+$/.test(nameOrIndex)) return byName;
  }
  const index = Number(nameOrIndex);
  if (!Number.isInteger(index) || index <= 0) return undefined;
  return listInterfaces(sysDir).find((i) => i.index === index);
}

/** The default capture interface (SPEC 2): the first non-loopback interface that is up. */
export function firstUpInterface(sysDir = SYS_CLASS_NET): NetInterface | undefined {
  return listInterfaces(sysDir).find((i) => i.up && !i.loopback);
}

/** One line per interface for error messages: `2 eth0 (up)`. */
export function describeInterfaces(sysDir = SYS_CLASS_NET): string {
  return listInterfaces(sysDir)
    .map((i) => `${i.index} ${i.name} (${i.up ? 'up' : 'down'})`)
    .join(', ');
}

/** The interface's IPv4/IPv6 addresses in this process's network namespace (empty if none). */
export function interfaceAddresses(name: string): InterfaceAddress[] {
  const list = networkInterfaces()[name] ?? [];
  return list.map((a) => ({
    address: a.address,
    family: a.family,
    prefixLen: Number(a.cidr?.split('/')[1] ?? (a.family === 'IPv4' ? 32 : 128)),
  }));
}
