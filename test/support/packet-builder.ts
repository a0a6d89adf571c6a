/** Assembles real header bytes for packets the corpus lacks (overlays) and writes pcap files. */

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function u16(v: number): number[] {
  return [(v >>> 8) & 0xff, v & 0xff];
}
function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}

export function ipv4Bytes(text: string): number[] {
  return text.split('.').map(Number);
}

export function ipv6Bytes(text: string): number[] {
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const left = groups(head);
  const right = groups(tail);
  const all = tail === undefined ? left : [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  return all.flatMap(u16);
}

export function ethernet(etherType: number, payload: Uint8Array): Uint8Array {
  return concat(new Uint8Array([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, ...u16(etherType)]), payload);
}

function checksum(bytes: number[]): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function ipv4(src: string, dst: string, proto: number, payload: Uint8Array): Uint8Array {
  const header = [0x45, 0, ...u16(20 + payload.length), 0, 1, 0x40, 0, 64, proto, 0, 0, ...ipv4Bytes(src), ...ipv4Bytes(dst)];
  const sum = checksum(header);
  header[10] = sum >>> 8;
  header[11] = sum & 0xff;
  return concat(new Uint8Array(header), payload);
}

export function ipv6(src: string, dst: string, nextHeader: number, payload: Uint8Array): Uint8Array {
  return concat(
    new Uint8Array([0x60, 0, 0, 0, ...u16(payload.length), nextHeader, 64, ...ipv6Bytes(src), ...ipv6Bytes(dst)]),
    payload,
  );
}

export function udp(srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  return concat(new Uint8Array([...u16(srcPort), ...u16(dstPort), ...u16(8 + payload.length), 0, 0]), payload);
}

export function tcp(srcPort: number, dstPort: number, flags: number, seq: number, payload: Uint8Array, ack = 0): Uint8Array {
  return concat(
    new Uint8Array([...u16(srcPort), ...u16(dstPort), ...u32(seq), ...u32(ack), 0x50, flags, ...u16(65535), 0, 0, 0, 0]),
    payload,
  );
}

export function vxlan(vni: number, frame: Uint8Array): Uint8Array {
  return concat(new Uint8Array([0x08, 0, 0, 0, ...u32(vni << 8)]), frame);
}

/** Geneve with `optionWords` 4-byte words of (opaque) options. */
export function geneve(vni: number, protocol: number, optionWords: number, payload: Uint8Array): Uint8Array {
  return concat(
    new Uint8Array([optionWords & 0x3f, 0, ...u16(protocol), ...u32(vni << 8)]),
    new Uint8Array(optionWords * 4).fill(0xaa),
    payload,
  );
}

/** GRE version 0 with a checksum word, an optional key and a sequence number. */
export function gre(protocol: number, key: number | null, payload: Uint8Array): Uint8Array {
  const flags = 0x8000 | 0x1000 | (key === null ? 0 : 0x2000);
  const words = [...u16(flags), ...u16(protocol), 0, 0, 0, 0, ...(key === null ? [] : u32(key)), ...u32(7)];
  return concat(new Uint8Array(words), payload);
}

/** A little-endian microsecond pcap file. */
export function pcapFile(linkType: number, packets: Uint8Array[], firstTsSec = 1700000000): Uint8Array {
  const header = new Uint8Array(24);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, 0xa1b2c3d4, true);
  hv.setUint16(4, 2, true);
  hv.setUint16(6, 4, true);
  hv.setUint32(16, 262144, true);
  hv.setUint32(20, linkType, true);
  const records = packets.map((p, i) => {
    const rec = new Uint8Array(16 + p.length);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, firstTsSec + i, true);
    rv.setUint32(4, 1000 * i, true);
    rv.setUint32(8, p.length, true);
    rv.setUint32(12, p.length, true);
    rec.set(p, 16);
    return rec;
  });
  return concat(header, ...records);
}
