/**
 * A deliberately plain reading of shodohflo's port attribution (pcap_config.py), for tests to
 * check the compiled rules against: it works on address text, re-parses every CIDR on every
 * call with BigInt arithmetic, and walks the config as written. Nothing here is shared with the
 * compiled path, so agreement between the two means something.
 */
import type { NetworkSpec, RoleAction, RoleRulesConfig } from './config-types.js';

export interface FlowText {
  proto: number;
  origAddr: string;
  origPort: number;
  respAddr: string;
  respPort: number;
}

export interface Decision {
  /** 0: the originator, 1: the responder. */
  clientSide: 0 | 1;
  servicePortSide: 0 | 1;
  drop: boolean;
  ruleName: string;
}

interface BigAddress {
  version: 4 | 6;
  value: bigint;
}

export function interpretRoleRules(config: RoleRulesConfig, ourNets: readonly string[], flow: FlowText): Decision | null {
  if (flow.proto !== 6 && flow.proto !== 17 && flow.proto !== 132) return null;
  const srcNetwork = referenceNetworkOf(config, ourNets, flow.origAddr);
  const dstNetwork = referenceNetworkOf(config, ourNets, flow.respAddr);
  if (srcNetwork === undefined || dstNetwork === undefined) return null;
  const ports: [number, number] = [flow.origPort, flow.respPort];
  for (let index = 0; index < config.rules.length; index++) {
    const rule = config.rules[index]!;
    if (rule.src !== null && rule.src !== srcNetwork) continue;
    if (rule.dst !== null && rule.dst !== dstNetwork) continue;
    const outcome = applyAction(rule.action, ports);
    if (outcome === null) continue;
    return { ...outcome, ruleName: rule.name ?? `rule${index + 1}` };
  }
  return null;
}

/** shodohflo's NetworkEnumeration.network(): the first entry with a CIDR holding the address. */
export function referenceNetworkOf(config: RoleRulesConfig, ourNets: readonly string[], addressText: string): string | undefined {
  const address = parseBigAddress(addressText);
  for (const [name, specs] of config.networks) {
    const list: readonly NetworkSpec[] = typeof specs === 'string' ? [specs] : specs;
    for (const spec of list) {
      for (const cidr of expandSpec(spec, ourNets)) {
        if (cidrHolds(cidr, address)) return name;
      }
    }
  }
  return undefined;
}

function applyAction(action: RoleAction, ports: [number, number]): Omit<Decision, 'ruleName'> | null {
  if ('lowerPort' in action) {
    const tieServer = action.lowerPort === 'dst' ? 1 : 0;
    const server = ports[0] < ports[1] ? 0 : ports[1] < ports[0] ? 1 : tieServer;
    return { clientSide: other(server), servicePortSide: server, drop: false };
  }
  if ('assign' in action) {
    const portSide = action.assign.port === 'src' ? 0 : 1;
    if (action.assign.ports !== undefined && !action.assign.ports.includes(ports[portSide])) return null;
    return { clientSide: action.assign.client === 'src' ? 0 : 1, servicePortSide: portSide, drop: action.assign.drop === true };
  }
  const order: Array<0 | 1> = action.portMatch.precedence === 'dst' ? [1, 0] : [0, 1];
  for (const side of order) {
    if (action.portMatch.ports.includes(ports[side])) {
      return { clientSide: other(side), servicePortSide: side, drop: action.portMatch.drop === true };
    }
  }
  return null;
}

function other(side: 0 | 1): 0 | 1 {
  return side === 0 ? 1 : 0;
}

function expandSpec(spec: NetworkSpec, ourNets: readonly string[]): string[] {
  if (spec === 'OUR_NETS') return [...ourNets];
  if (spec === 'OUR_4NETS') return ourNets.filter((net) => !net.includes(':'));
  if (spec === 'OUR_6NETS') return ourNets.filter((net) => net.includes(':'));
  return [spec];
}

function cidrHolds(cidr: string, address: BigAddress): boolean {
  const [networkText, prefixText] = cidr.split('/') as [string, string | undefined];
  const network = parseBigAddress(networkText);
  if (network.version !== address.version) return false;
  const bits = network.version === 4 ? 32n : 128n;
  const hostBits = bits - (prefixText === undefined ? bits : BigInt(prefixText));
  return network.value >> hostBits === address.value >> hostBits;
}

function parseBigAddress(text: string): BigAddress {
  if (!text.includes(':')) return { version: 4, value: dottedValue(text) };
  let rest = text;
  let embedded: string[] = [];
  if (rest.includes('.')) {
    const dotted = rest.slice(rest.lastIndexOf(':') + 1);
    const value = dottedValue(dotted);
    embedded = [(value >> 16n).toString(16), (value & 0xffffn).toString(16)];
    rest = rest.slice(0, rest.length - dotted.length);
    if (rest.endsWith(':') && !rest.endsWith('::')) rest = rest.slice(0, -1);
  }
  const halves = rest.split('::');
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const tail = halves.length === 1 || halves[1] === '' ? [] : halves[1]!.split(':');
  const groups = halves.length === 1 ? [...head, ...embedded] : [...head, ...Array<string>(8 - head.length - tail.length - embedded.length).fill('0'), ...tail, ...embedded];
  return { version: 6, value: groups.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n) };
}

function dottedValue(text: string): bigint {
  return text.split('.').reduce((value, octet) => (value << 8n) | BigInt(octet), 0n);
}
