/**
 * Which end of a flow is the monitored side (SPEC 6, `nodeIP`): addresses inside the local
 * networks (the monitored interface's addresses when live, `DLLT_LOCAL_NETS` for files). When
 * neither or both ends are local, the SYN receiver (the responder) is taken as the monitored
 * side, as SPEC 6 says for files.
 */

export interface LocalNet {
  version: 4 | 6;
  /** The network address, IPv4 in word 0 (as PacketView and the flow key store addresses). */
  words: Int32Array;
  prefix: number;
}

export class LocalSide {
  constructor(private readonly nets: readonly LocalNet[]) {}

  isLocal(version: number, words: Int32Array, offset: number): boolean {
    for (const net of this.nets) {
      if (net.version !== version) continue;
      if (matches(net, words, offset)) return true;
    }
    return false;
  }

  /** SPEC's nodeIP: 0 when the originator (the record's src) is the monitored side, 1 when the
   *  responder (dst) is. */
  nodeIp(version: number, words: Int32Array, origOffset: number, respOffset: number): 0 | 1 {
    if (this.isLocal(version, words, respOffset)) return 1;
    return this.isLocal(version, words, origOffset) ? 0 : 1;
  }
}

function matches(net: LocalNet, words: Int32Array, offset: number): boolean {
  let bits = net.prefix;
  for (let i = 0; bits > 0; i++) {
    const mask = bits >= 32 ? -1 : ~((1 << (32 - bits)) - 1);
    if (((words[offset + i]! ^ net.words[i]!) & mask) !== 0) return false;
    bits -= 32;
  }
  return true;
}
