/**
 * Writes a pcap FILE of random-source TCP SYNs to one destination in 10.77.0.0/16: the memory
 * test of SPEC 4 ("a SYN flood with random sources"). Nothing is sent on any network; the file
 * is the whole product.
 *
 *   node dist/bench/syn-flood.js OUT.pcap [--count 2000000] [--pps 1000000] [--dst 10.77.1.1] [--dport 80]
 *
 * Every packet is a distinct flow: the source address is a bijection of the packet number
 * (multiplication by an odd constant modulo 2^32), so no two packets share a 5-tuple however
 * many are written. The source port is pseudo-random but deterministic (fixed seed), so the
 * file is byte-identical from run to run and results can be compared across runs.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const ETH_LEN = 14;
const IP_LEN = 20;
const TCP_LEN = 20;
const PKT_LEN = ETH_LEN + IP_LEN + TCP_LEN;
const REC_LEN = 16 + PKT_LEN;
/** Packets per write: 64 k records is ~4.5 MB, few syscalls and a bounded buffer. */
const BATCH = 65536;
/** 2026-01-01T00:00:00Z: a fixed start keeps the file reproducible. */
const START_US = 1767225600_000000;

interface Args {
  out: string;
  count: number;
  pps: number;
  dst: number;
  dport: number;
}

function usage(msg: string): never {
  process.stderr.write(`syn-flood: ${msg}\nusage: syn-flood OUT.pcap [--count N] [--pps N] [--dst 10.77.X.Y] [--dport N]\n`);
  process.exit(2);
}

function parseIpv4(s: string): number {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (!m) usage(`bad IPv4 address ${s}`);
  const o = m.slice(1).map(Number);
  if (o.some((x) => x > 255)) usage(`bad IPv4 address ${s}`);
  // The brief keeps even file-only traffic aimed at our own test range.
  if (o[0] !== 10 || o[1] !== 77) usage(`destination must be in 10.77.0.0/16, got ${s}`);
  return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { out: '', count: 2_000_000, pps: 1_000_000, dst: parseIpv4('10.77.1.1'), dport: 80 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = argv[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (v === undefined || !Number.isInteger(n) || n <= 0) usage(`${k} needs a positive integer`);
      i++;
      return n;
    };
    if (k === '--count') a.count = num();
    else if (k === '--pps') a.pps = num();
    else if (k === '--dport') {
      a.dport = num();
      if (a.dport > 65535) usage('--dport must be 1..65535');
    } else if (k === '--dst') {
      if (v === undefined) usage('--dst needs an address');
      a.dst = parseIpv4(v);
      i++;
    } else if (k.startsWith('-')) usage(`unknown option ${k}`);
    else if (a.out === '') a.out = k;
    else usage(`unexpected argument ${k}`);
  }
  if (a.out === '') usage('missing OUT.pcap');
  return a;
}

/** One's-complement sum of big-endian 16-bit words of buf[off, off+len). */
function sum16(buf: Uint8Array, off: number, len: number, acc: number): number {
  for (let i = 0; i < len; i += 2) acc += (buf[off + i]! << 8) | buf[off + i + 1]!;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return ~acc & 0xffff;
}

function main(): void {
  const a = parseArgs(process.argv.slice(2));
  const fd = openSync(a.out, 'w');
  try {
    const hdr = new DataView(new ArrayBuffer(24));
    hdr.setUint32(0, 0xa1b2c3d4, true);
    hdr.setUint16(4, 2, true);
    hdr.setUint16(6, 4, true);
    hdr.setUint32(16, 65535, true);
    hdr.setUint32(20, 1, true); // LINKTYPE_ETHERNET
    writeSync(fd, new Uint8Array(hdr.buffer));

    const buf = new Uint8Array(BATCH * REC_LEN);
    const dv = new DataView(buf.buffer);
    // xorshift32 with a fixed seed: deterministic ports, sequence numbers and IP ids.
    let rnd = 0x9e3779b9 | 0;
    const next = (): number => {
      rnd ^= rnd << 13;
      rnd ^= rnd >>> 17;
      rnd ^= rnd << 5;
      return rnd >>> 0;
    };
    const gapUs = 1_000_000 / a.pps;
    let written = 0;
    while (written < a.count) {
      const n = Math.min(BATCH, a.count - written);
      for (let k = 0; k < n; k++) {
        const i = written + k;
        const r = k * REC_LEN;
        const tsUs = START_US + Math.floor(i * gapUs);
        dv.setUint32(r, Math.floor(tsUs / 1e6), true);
        dv.setUint32(r + 4, tsUs % 1e6, true);
        dv.setUint32(r + 8, PKT_LEN, true);
        dv.setUint32(r + 12, PKT_LEN, true);
        const p = r + 16;
        // Ethernet: locally administered MACs, IPv4.
        buf.set([0x02, 0x77, 0, 0, 0, 2, 0x02, 0x77, 0, 0, 0, 1, 0x08, 0x00], p);
        const ip = p + ETH_LEN;
        const src = Math.imul(i + 1, 0x9e3779b1) >>> 0;
        buf[ip] = 0x45;
        buf[ip + 1] = 0;
        dv.setUint16(ip + 2, IP_LEN + TCP_LEN);
        dv.setUint16(ip + 4, next() & 0xffff);
        dv.setUint16(ip + 6, 0x4000);
        buf[ip + 8] = 64;
        buf[ip + 9] = 6;
        dv.setUint16(ip + 10, 0);
        dv.setUint32(ip + 12, src);
        dv.setUint32(ip + 16, a.dst);
        dv.setUint16(ip + 10, fold(sum16(buf, ip, IP_LEN, 0)));
        const tcp = ip + IP_LEN;
        dv.setUint16(tcp, 1024 + (next() % 64512));
        dv.setUint16(tcp + 2, a.dport);
        dv.setUint32(tcp + 4, next());
        dv.setUint32(tcp + 8, 0);
        buf[tcp + 12] = 0x50;
        buf[tcp + 13] = 0x02; // SYN
        dv.setUint16(tcp + 14, 64240);
        dv.setUint16(tcp + 16, 0);
        dv.setUint16(tcp + 18, 0);
        // Pseudo-header: addresses, protocol, TCP length.
        const pseudo = sum16(buf, ip + 12, 8, 6 + TCP_LEN);
        dv.setUint16(tcp + 16, fold(sum16(buf, tcp, TCP_LEN, pseudo)));
      }
      writeSync(fd, buf, 0, n * REC_LEN);
      written += n;
    }
    process.stdout.write(`syn-flood: wrote ${written} SYNs (${written} distinct flows) to ${a.out}\n`);
  } finally {
    closeSync(fd);
  }
}

main();
