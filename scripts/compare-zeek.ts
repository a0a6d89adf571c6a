/**
 * `npm run compare:zeek`: dllt's flow records against two outside oracles on the shared corpus.
 *  1. Zeek: every capture with a Zeek conn.log (or conn_state .out) baseline next to it — per
 *     file, how many of Zeek's flows dllt reproduces with the same conn_state and history.
 *  2. tshark: per TCP conversation (address/port pair), frames and bytes in each direction
 *     summed from `tshark -T fields` (conv,tcp's numbers without its kB rounding).
 * Exit status 1 when overall Zeek agreement is below 98 % or any tshark total differs, so the
 * test suite can run it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeCaptureFile } from '../src/cli/analyze-file.js';
import type { FlowRecord } from '../src/record/records.js';

export const CORPUS = process.env['DLLT_CORPUS_DIR'] ?? join(import.meta.dirname, '../../../shared/corpus');

interface ZeekRow {
  origH: string;
  origP: number;
  respH: string;
  respP: number;
  proto: string;
  connState: string;
  history: string;
}

/** Parses a Zeek TSV log (btest baseline) using its #fields header. */
export function parseZeekLog(text: string): ZeekRow[] {
  let fields: string[] = [];
  const rows: ZeekRow[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#fields')) fields = line.split('\t').slice(1);
    if (line.startsWith('#') || line.trim() === '' || fields.length === 0) continue;
    const cols = line.split('\t');
    const get = (name: string): string => cols[fields.indexOf(name)] ?? '-';
    rows.push({
      origH: get('id.orig_h'),
      origP: Number(get('id.orig_p')),
      respH: get('id.resp_h'),
      respP: Number(get('id.resp_p')),
      proto: get('proto'),
      connState: get('conn_state'),
      history: get('history') === '-' ? '' : get('history'),
    });
  }
  return rows;
}

/** The conn_state-RST-behavior baseline prints `history, conn_state` for four traces; the
 *  MANIFEST says which line belongs to which trace. */
const RST_BEHAVIOR_LINE: Record<string, number> = {
  'zeek-tcp-single-rst.pcap': 0,
  'zeek-tcp-syn-then-rst.pcap': 1,
  'zeek-tcp-syn-then-ack-then-rst.pcap': 2,
  'zeek-tcp-syn-then-stuff-then-rst.pcap': 3,
};

export interface ZeekComparison {
  file: string;
  zeekFlows: number;
  matched: number;
  mismatches: string[];
}

function sameTuple(f: FlowRecord, z: ZeekRow): boolean {
  return f.proto === z.proto && f.srcIP === z.origH && f.srcPort === z.origP && f.dstIP === z.respH && f.dstPort === z.respP;
}

export async function compareWithZeek(): Promise<ZeekComparison[]> {
  const results: ZeekComparison[] = [];
  for (const name of readdirSync(CORPUS).sort()) {
    if (!/\.pcap(ng)?$/.test(name)) continue;
    const connLog = [`${name}.zeek-conn.log`, `${name}.zeek-conn-all.log`].map((n) => join(CORPUS, n)).find(existsSync);
    const rstOut = join(CORPUS, `${name}.zeek-conn_state-RST-behavior.out`);
    if (!connLog && !existsSync(rstOut)) continue;
    const { output } = await analyzeCaptureFile(join(CORPUS, name));
    const ours = output.ended.filter((f) => f.proto === 'tcp' || f.proto === 'udp');
    const result: ZeekComparison = { file: name, zeekFlows: 0, matched: 0, mismatches: [] };
    if (connLog) {
      const zeek = parseZeekLog(readFileSync(connLog, 'utf8'));
      const unused = [...ours];
      for (const z of zeek) {
        result.zeekFlows++;
        const i = unused.findIndex((f) => sameTuple(f, z));
        if (i < 0) {
          result.mismatches.push(`no dllt flow for ${z.proto} ${z.origH}:${z.origP} -> ${z.respH}:${z.respP}`);
          continue;
        }
        const f = unused.splice(i, 1)[0]!;
        if (f.connState === z.connState && (f.history ?? '') === z.history) result.matched++;
        else result.mismatches.push(`${z.origH}:${z.origP}->${z.respH}:${z.respP} zeek ${z.connState} ${z.history} / dllt ${f.connState} ${f.history ?? ''}`);
      }
    } else {
      const line = readFileSync(rstOut, 'utf8').split('\n').filter((l) => /^[\^A-Za-z]*, [A-Z0-9]+$/.test(l))[RST_BEHAVIOR_LINE[name]!]!;
      const [history, connState] = line.split(', ');
      result.zeekFlows = 1;
      const f = ours[0];
      if (ours.length === 1 && f && f.connState === connState && (f.history ?? '') === history) result.matched = 1;
      else result.mismatches.push(`zeek ${connState} ${history} / dllt ${ours.map((o) => `${o.connState} ${o.history ?? ''}`).join('; ')}`);
    }
    results.push(result);
  }
  return results;
}

export interface ConversationTotals {
  aToB: { frames: number; bytes: number };
  bToA: { frames: number; bytes: number };
}

function conversationKey(ipA: string, portA: number, ipB: string, portB: number): { key: string; forward: boolean } {
  const a = `${ipA}|${portA}`;
  const b = `${ipB}|${portB}`;
  return a <= b ? { key: `${a}<->${b}`, forward: true } : { key: `${b}<->${a}`, forward: false };
}

/** tshark's frames and bytes per TCP address/port pair, per direction. */
export function tsharkTcpConversations(file: string): Map<string, ConversationTotals> {
  const out = execFileSync('tshark', ['-n', '-r', file, '-Y', 'tcp', '-T', 'fields', '-E', 'separator=,', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'ipv6.dst', '-e', 'tcp.dstport', '-e', 'frame.len'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 1 << 30,
  });
  const convs = new Map<string, ConversationTotals>();
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const [ip4s, ip6s, sp, ip4d, ip6d, dp, len] = line.split(',');
    // Tunnelled packets list outer and inner addresses; the innermost (last) is the flow's.
    const src = (ip6s || ip4s || '').split(';').pop()!;
    const dst = (ip6d || ip4d || '').split(';').pop()!;
    const srcPort = Number((sp ?? '').split(';').pop());
    const dstPort = Number((dp ?? '').split(';').pop());
    if (!src || !dst || Number.isNaN(srcPort)) continue;
    const { key, forward } = conversationKey(src, srcPort, dst, dstPort);
    let c = convs.get(key);
    if (!c) {
      c = { aToB: { frames: 0, bytes: 0 }, bToA: { frames: 0, bytes: 0 } };
      convs.set(key, c);
    }
    const dir = forward ? c.aToB : c.bToA;
    dir.frames++;
    dir.bytes += Number(len);
  }
  return convs;
}

/** dllt's flow_end records summed the same way (flows of one tuple reused are one conversation). */
export function dlltTcpConversations(flows: FlowRecord[]): Map<string, ConversationTotals> {
  const convs = new Map<string, ConversationTotals>();
  for (const f of flows) {
    if (f.type !== 'flow_end' || f.proto !== 'tcp') continue;
    const { key, forward } = conversationKey(f.srcIP, f.srcPort!, f.dstIP, f.dstPort!);
    let c = convs.get(key);
    if (!c) {
      c = { aToB: { frames: 0, bytes: 0 }, bToA: { frames: 0, bytes: 0 } };
      convs.set(key, c);
    }
    const out = forward ? c.aToB : c.bToA;
    const back = forward ? c.bToA : c.aToB;
    out.frames += f.srcPkts;
    // Packet flows (these come from `dllt read`) always carry wire bytes; only packetless ones lack them.
    out.bytes += f.srcBytes!;
    back.frames += f.dstPkts;
    back.bytes += f.dstBytes!;
  }
  return convs;
}

export interface TsharkComparison {
  file: string;
  conversations: number;
  equal: number;
  differences: string[];
}

export async function compareWithTshark(): Promise<TsharkComparison[]> {
  const results: TsharkComparison[] = [];
  for (const name of readdirSync(CORPUS).sort()) {
    if (!/\.pcap(ng)?$/.test(name)) continue;
    const path = join(CORPUS, name);
    const theirs = tsharkTcpConversations(path);
    if (theirs.size === 0) continue;
    const { output } = await analyzeCaptureFile(path);
    const ours = dlltTcpConversations(output.flows);
    const r: TsharkComparison = { file: name, conversations: theirs.size, equal: 0, differences: [] };
    for (const [key, t] of theirs) {
      const o = ours.get(key);
      const same = o && o.aToB.frames === t.aToB.frames && o.aToB.bytes === t.aToB.bytes && o.bToA.frames === t.bToA.frames && o.bToA.bytes === t.bToA.bytes;
      if (same) r.equal++;
      else r.differences.push(`${key}: tshark ${JSON.stringify(t)} dllt ${JSON.stringify(o ?? null)}`);
    }
    results.push(r);
  }
  return results;
}

async function main(): Promise<void> {
  const zeek = await compareWithZeek();
  let total = 0;
  let matched = 0;
  console.log('Zeek conn.log agreement (conn_state and history, exact):');
  for (const r of zeek) {
    total += r.zeekFlows;
    matched += r.matched;
    console.log(`  ${r.file.padEnd(48)} ${String(r.matched).padStart(3)}/${r.zeekFlows}`);
    for (const m of r.mismatches) console.log(`      ${m}`);
  }
  const pct = total === 0 ? 0 : (100 * matched) / total;
  console.log(`  overall: ${matched}/${total} flows = ${pct.toFixed(1)} %`);

  const tshark = await compareWithTshark();
  let convs = 0;
  let equal = 0;
  console.log('\ntshark TCP conversations (frames and bytes per direction, exact):');
  for (const r of tshark) {
    convs += r.conversations;
    equal += r.equal;
    console.log(`  ${r.file.padEnd(48)} ${String(r.equal).padStart(4)}/${r.conversations}`);
    for (const d of r.differences.slice(0, 5)) console.log(`      ${d}`);
  }
  console.log(`  overall: ${equal}/${convs} conversations equal`);
  process.exitCode = pct >= 98 && equal === convs ? 0 : 1;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) await main();
