/**
 * shodohflo's NetworkEnumeration compiled to masks: an address is in the first entry, in file
 * order, with a CIDR holding it, and entries sharing a name are one network. Lookup is a linear
 * scan over a version's CIDRs, which for the tens of networks (up to ~100) a site enumerates is
 * a few dozen integer compares and beats a trie's pointer chasing; IPv4 and IPv6 CIDRs sit in
 * separate tables because an address never matches the other version's CIDRs anyway.
 */
import type { NetworkEntry, OurNetsSymbol } from './config-types.js';
import { parseCidr, type ParsedCidr } from './ip-words.js';
import { prefixMaskWord } from '../../wire/ip-parse.js';

/** Network ids count from 1 in order of first appearance; 0 is "not enumerated". */
export const NO_NETWORK = 0;

export class NetworkTable {
  private readonly ids = new Map<string, number>();
  /** Indexed by id, so index 0 (NO_NETWORK) is a placeholder. */
  private readonly names: string[] = [''];
  private readonly v4: CidrList;
  private readonly v6: CidrList;

  /** `networks` must be valid (validate.ts); `ourNets` is what the OUR_NETS symbols stand for. */
  constructor(networks: readonly NetworkEntry[], ourNets: readonly ParsedCidr[]) {
    const v4: Array<[id: number, cidr: ParsedCidr]> = [];
    const v6: Array<[id: number, cidr: ParsedCidr]> = [];
    for (const [name, specs] of networks) {
      const id = this.idFor(name);
      for (const spec of typeof specs === 'string' ? [specs] : specs) {
        for (const cidr of resolveSpec(spec, ourNets)) (cidr.version === 4 ? v4 : v6).push([id, cidr]);
      }
    }
    this.v4 = compileCidrs(v4, 1);
    this.v6 = compileCidrs(v6, 4);
  }

  get size(): number {
    return this.names.length - 1;
  }

  idOf(name: string): number {
    return this.ids.get(name) ?? NO_NETWORK;
  }

  nameOf(id: number): string | undefined {
    return id === NO_NETWORK ? undefined : this.names[id];
  }

  lookup(version: 4 | 6, address: Int32Array): number {
    if (version === 4) {
      const { ids, nets, masks } = this.v4;
      const a = address[0]!;
      for (let i = 0; i < ids.length; i++) if ((a & masks[i]!) === nets[i]) return ids[i]!;
      return NO_NETWORK;
    }
    const { ids, nets, masks } = this.v6;
    const a0 = address[0]!;
    const a1 = address[1]!;
    const a2 = address[2]!;
    const a3 = address[3]!;
    for (let i = 0, w = 0; i < ids.length; i++, w += 4) {
      if (
        (a0 & masks[w]!) === nets[w] &&
        (a1 & masks[w + 1]!) === nets[w + 1] &&
        (a2 & masks[w + 2]!) === nets[w + 2] &&
        (a3 & masks[w + 3]!) === nets[w + 3]
      ) {
        return ids[i]!;
      }
    }
    return NO_NETWORK;
  }

  private idFor(name: string): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.names.length;
      this.ids.set(name, id);
      this.names.push(name);
    }
    return id;
  }
}

interface CidrList {
  ids: Int32Array;
  /** `words` per CIDR, network bits only. */
  nets: Int32Array;
  masks: Int32Array;
}

function resolveSpec(spec: string, ourNets: readonly ParsedCidr[]): readonly ParsedCidr[] {
  switch (spec as OurNetsSymbol) {
    case 'OUR_NETS':
      return ourNets;
    case 'OUR_4NETS':
      return ourNets.filter((net) => net.version === 4);
    case 'OUR_6NETS':
      return ourNets.filter((net) => net.version === 6);
  }
  return [parseCidr(spec, 'reject').cidr!];
}

function compileCidrs(cidrs: ReadonlyArray<readonly [number, ParsedCidr]>, words: 1 | 4): CidrList {
  const list: CidrList = {
    ids: new Int32Array(cidrs.length),
    nets: new Int32Array(cidrs.length * words),
    masks: new Int32Array(cidrs.length * words),
  };
  cidrs.forEach(([id, cidr], i) => {
    list.ids[i] = id;
    for (let w = 0; w < words; w++) {
      list.masks[i * words + w] = prefixMaskWord(cidr.prefix, w);
      list.nets[i * words + w] = cidr.words[w]!;
    }
  });
  return list;
}
