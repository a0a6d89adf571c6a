/**
 * tshark as the outside oracle for per-flow counts: `-z conv,tcp` / `-z conv,udp` tables
 * parsed, plus exact IP-length sums from `-T fields` (the conv table prints large byte counts
 * rounded, "60 kB"). Both frame bytes (what the conv table counts) and IP bytes are summed.
 */
import { execFileSync } from 'node:child_process';

export interface ConvRow {
  /** Endpoint A (left column) and B, as tshark prints them. */
  aIP: string;
  aPort: number;
  bIP: string;
  bPort: number;
  /** Frames B→A ("<-") and A→B ("->"). */
  framesBtoA: number;
  framesAtoB: number;
  /** Frame bytes per direction when tshark printed them exactly ("123 bytes"), else undefined. */
  bytesBtoA?: number;
  bytesAtoB?: number;
}

function tshark(args: string[]): string {
  return execFileSync('tshark', ['-n', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 * 1024 * 1024 });
}

function splitEndpoint(s: string): [string, number] {
  const i = s.lastIndexOf(':');
  return [s.slice(0, i), Number(s.slice(i + 1))];
}

function exactBytes(n: string, unit: string): number | undefined {
  return unit === 'bytes' ? Number(n.replace(/,/g, '')) : undefined;
}

/** Parses `tshark -q -z conv,PROTO` output (tshark 4.x layout). */
export function parseConvTable(text: string): ConvRow[] {
  const rows: ConvRow[] = [];
  const re = /^(\S+)\s+<->\s+(\S+)\s+(\d+)\s+([\d,]+)\s+(\S+)\s+(\d+)\s+([\d,]+)\s+(\S+)\s+\d+\s+[\d,]+\s+\S+\s+[\d.]+\s+[\d.]+\s*$/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const [aIP, aPort] = splitEndpoint(m[1]!);
    const [bIP, bPort] = splitEndpoint(m[2]!);
    const row: ConvRow = { aIP, aPort, bIP, bPort, framesBtoA: Number(m[3]), framesAtoB: Number(m[6]) };
    const bBA = exactBytes(m[4]!, m[5]!);
    const bAB = exactBytes(m[7]!, m[8]!);
    if (bBA !== undefined) row.bytesBtoA = bBA;
    if (bAB !== undefined) row.bytesAtoB = bAB;
    rows.push(row);
  }
  return rows;
}

export function convTable(pcap: string, proto: 'tcp' | 'udp'): ConvRow[] {
  return parseConvTable(tshark(['-r', pcap, '-q', '-z', `conv,${proto}`]));
}

export interface DirectionTotals {
  pkts: number;
  frameBytes: number;
  ipBytes: number;
}

/** Per-direction packet count, frame-length and IP-length sums, keyed `srcIP:srcPort>dstIP:dstPort`. */
export function directionTotals(pcap: string, proto: 'tcp' | 'udp'): Map<string, DirectionTotals> {
  const out = new Map<string, DirectionTotals>();
  const text = tshark(['-r', pcap, '-Y', proto, '-T', 'fields', '-e', 'ip.src', '-e', `${proto}.srcport`, '-e', 'ip.dst', '-e', `${proto}.dstport`, '-e', 'ip.len', '-e', 'frame.len']);
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length < 6 || f[0] === '') continue;
    // ICMP errors quoting a datagram match the UDP filter too; their fields list two values.
    if (f[4]!.includes(',') || f[0]!.includes(',')) continue;
    const key = `${f[0]}:${f[1]}>${f[2]}:${f[3]}`;
    const t = out.get(key) ?? { pkts: 0, frameBytes: 0, ipBytes: 0 };
    t.pkts++;
    t.ipBytes += Number(f[4]);
    t.frameBytes += Number(f[5]);
    out.set(key, t);
  }
  return out;
}
