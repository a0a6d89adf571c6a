/**
 * `npm run compare:events`: dllt's network events on the shared corpus against two outside
 * views (issue 3, acceptance 4), printed as a confusion table per code:
 *  1. tshark's packets: every plaintext TLS alert (`tls.alert_message`), RSTs (`tcp.flags.reset`)
 *     and repeated SYNs, turned into the events they imply by the SPEC 6 rules:
 *     00004 per plaintext alert; 00009 when the responder's RST answers a SYN before any SYN-ACK;
 *     00002 when a RST ends a connection whose three-way handshake completed; 00001 when the
 *     originator sent the same SYN (same ISN) more than once.
 *  2. Zeek's conn.log, where the corpus has one: REJ ↔ 00009, RSTO/RSTR with a completed
 *     handshake ↔ 00002, S0 ↔ 00006 when the capture runs past the half-open timeout.
 * Exit status 1 when any code agrees on less than 95 % of the tshark-derived cases.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeCaptureFile } from '../src/cli/analyze-file.js';
import type { EventRecord, FlowRecord } from '../src/record/records.js';
import { CORPUS, parseZeekLog } from './compare-zeek.js';
import { tlsAlertDescriptionName, tlsAlertLevelName } from '../src/app/tls/tls-names.js';

interface Packet {
  stream: number;
  tsUs: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  flags: number;
  seq: number;
  alerts: string[];
}


function tsharkPackets(file: string): Packet[] {
  const text = execFileSync('tshark', ['-n', '-r', file, '-Y', 'tcp', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=,',
    '-e', 'tcp.stream', '-e', 'frame.time_epoch', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'tcp.srcport', '-e', 'ip.dst', '-e', 'ipv6.dst',
    '-e', 'tcp.dstport', '-e', 'tcp.flags', '-e', 'tcp.seq_raw', '-e', 'tls.alert_message.level', '-e', 'tls.alert_message.desc'],
  { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
  const out: Packet[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const c = line.split('\t');
    const [sec, frac = ''] = c[1]!.split('.');
    const levels = c[10] ? c[10].split(',') : [];
    const descs = c[11] ? c[11].split(',') : [];
    out.push({
      stream: Number(c[0]),
      tsUs: Number(sec) * 1e6 + Number(frac.padEnd(6, '0').slice(0, 6)),
      src: c[2] || c[3]!,
      srcPort: Number(c[4]!.split(',')[0]),
      dst: c[5] || c[6]!,
      dstPort: Number(c[7]!.split(',')[0]),
      flags: Number(c[8]!.split(',')[0]),
      seq: Number(c[9]!.split(',')[0]),
      alerts: descs.map((d, i) => `${tlsAlertLevelName(Number(levels[i]))} ${tlsAlertDescriptionName(Number(d))}`),
    });
  }
  return out;
}

/** tshark keeps one stream per address/port pair; as Zeek does, a SYN from the client after a
 *  RST or after FINs from both sides starts a new connection (clients retry with the same port). */
function splitConnections(pkts: Packet[]): Packet[][] {
  const out: Packet[][] = [];
  let current: Packet[] = [];
  let over = false;
  let finA = false;
  let finB = false;
  const a = `${pkts[0]!.src}:${pkts[0]!.srcPort}`;
  for (const p of pkts) {
    const fromA = `${p.src}:${p.srcPort}` === a;
    if (over && (p.flags & 0x16) === 0x02) {
      out.push(current);
      current = [];
      over = false;
      finA = finB = false;
    }
    current.push(p);
    if (p.flags & 0x04) over = true;
    if (p.flags & 0x01) {
      if (fromA) finA = true;
      else finB = true;
      if (finA && finB) over = true;
    }
  }
  out.push(current);
  return out;
}

/** The events SPEC 6 implies for one TCP connection, as `code|client:port>server:port|detail` keys. */
function expectedFromPackets(pkts: Packet[]): string[] {
  const first = pkts[0]!;
  const synFirst = (first.flags & 0x12) === 0x02;
  const client = synFirst ? `${first.src}:${first.srcPort}` : undefined;
  if (client === undefined) {
    // Picked up mid-stream: only alerts can be judged.
    return pkts.flatMap((p) => p.alerts.map(() => ''));
  }
  const server = `${first.dst}:${first.dstPort}`;
  const tuple = `${client}>${server}`;
  const out: string[] = [];
  const isn = first.seq;
  let syns = 0;
  let synAck = false;
  let handshake = false;
  let clientFin = false;
  let serverFin = false;
  let reset = false;
  for (const p of pkts) {
    const fromClient = `${p.src}:${p.srcPort}` === client;
    if (fromClient && (p.flags & 0x16) === 0x02 && p.seq === isn && !synAck) syns++;
    if (!fromClient && (p.flags & 0x12) === 0x12) synAck = true;
    if (fromClient && synAck && (p.flags & 0x16) === 0x10) handshake = true;
    for (const a of p.alerts) out.push(`00004|${tuple}|${fromClient ? 'src' : 'dst'} ${a}`);
    if (p.flags & 0x01) {
      if (fromClient) clientFin = true;
      else serverFin = true;
    }
    if (p.flags & 0x04 && !reset) {
      reset = true;
      if (!fromClient && !synAck) out.push(`00009|${tuple}|`);
      else if (handshake && !(clientFin && serverFin)) out.push(`00002|${tuple}|${fromClient ? 'src' : 'dst'}`);
    }
  }
  if (syns >= 2) out.push(`00001|${tuple}|${syns}`);
  return out;
}

function ourKeys(events: EventRecord[]): string[] {
  const keys: string[] = [];
  for (const e of events) {
    const tuple = `${e.srcIP}:${e.srcPort}>${e.dstIP}:${e.dstPort}`;
    if (e.code === '00004' && e.value !== 'encrypted') keys.push(`00004|${tuple}|${e.side} ${e.value}`);
    else if (e.code === '00009') keys.push(`00009|${tuple}|`);
    else if (e.code === '00002') keys.push(`00002|${tuple}|${e.side}`);
    else if (e.code === '00001') keys.push(`00001|${tuple}|${e.value}`);
  }
  return keys;
}

interface Tally {
  both: number;
  tsharkOnly: number;
  dlltOnly: number;
  examples: string[];
}

function tally(map: Map<string, Tally>, code: string): Tally {
  let t = map.get(code);
  if (t === undefined) {
    t = { both: 0, tsharkOnly: 0, dlltOnly: 0, examples: [] };
    map.set(code, t);
  }
  return t;
}

/** Multiset comparison of expected and observed keys, per code. */
function compare(expected: string[], observed: string[], file: string, into: Map<string, Tally>): void {
  const left = [...observed];
  for (const key of expected) {
    const code = key.slice(0, 5);
    const t = tally(into, code);
    const i = left.indexOf(key);
    if (i >= 0) {
      left.splice(i, 1);
      t.both++;
    } else {
      t.tsharkOnly++;
      if (t.examples.length < 6) t.examples.push(`${file}: missing ${key}`);
    }
  }
  for (const key of left) {
    const t = tally(into, key.slice(0, 5));
    t.dlltOnly++;
    if (t.examples.length < 6) t.examples.push(`${file}: extra ${key}`);
  }
}

function zeekExpectations(flows: FlowRecord[], connLog: string, lastTsUs: number, partialUs: number): { zeek: string[]; ours: (events: EventRecord[]) => string[] } {
  const zeek: string[] = [];
  const judged = new Set<string>();
  for (const z of parseZeekLog(readFileSync(connLog, 'utf8'))) {
    if (z.proto !== 'tcp') continue;
    const tuple = `${z.origH}:${z.origP}>${z.respH}:${z.respP}`;
    const f = flows.find((x) => `${x.srcIP}:${x.srcPort}>${x.dstIP}:${x.dstPort}` === tuple);
    if (z.connState === 'REJ') zeek.push(`00009|${tuple}|`);
    else if ((z.connState === 'RSTO' || z.connState === 'RSTR') && /^S.*h.*A/i.test(z.history) && z.history.startsWith('Sh')) zeek.push(`00002|${tuple}|`);
    else if (z.connState === 'S0' && f && lastTsUs - Date.parse(f.firstTs) * 1000 >= partialUs) zeek.push(`00006|${tuple}|`);
    judged.add(tuple);
  }
  return {
    zeek,
    ours: (events) => events
      .filter((e) => ['00009', '00002', '00006'].includes(e.code) && judged.has(`${e.srcIP}:${e.srcPort}>${e.dstIP}:${e.dstPort}`))
      .map((e) => `${e.code}|${e.srcIP}:${e.srcPort}>${e.dstIP}:${e.dstPort}|`),
  };
}

export async function compareEvents(): Promise<{ tshark: Map<string, Tally>; zeek: Map<string, Tally>; files: number }> {
  const tshark = new Map<string, Tally>();
  const zeek = new Map<string, Tally>();
  let files = 0;
  for (const name of readdirSync(CORPUS).sort()) {
    if (!/\.pcap(ng)?$/.test(name)) continue;
    const path = join(CORPUS, name);
    const pkts = tsharkPackets(path);
    if (pkts.length === 0) continue;
    files++;
    const byStream = new Map<number, Packet[]>();
    for (const p of pkts) {
      let list = byStream.get(p.stream);
      if (list === undefined) byStream.set(p.stream, (list = []));
      list.push(p);
    }
    const expected = [...byStream.values()].flatMap(splitConnections).flatMap(expectedFromPackets).filter((k) => k !== '');
    const { output } = await analyzeCaptureFile(path);
    compare(expected, ourKeys(output.events), name, tshark);
    const connLog = [`${name}.zeek-conn.log`, `${name}.zeek-conn-all.log`].map((n) => join(CORPUS, n)).find(existsSync);
    if (connLog) {
      const lastTs = Math.max(...pkts.map((p) => p.tsUs));
      const z = zeekExpectations(output.ended, connLog, lastTs, 30_000_000);
      compare(z.zeek, z.ours(output.events), name, zeek);
    }
  }
  return { tshark, zeek, files };
}

function printTable(title: string, map: Map<string, Tally>): number {
  console.log(`\n${title}`);
  console.log('| code | both | oracle only | dllt only | agreement |');
  console.log('| --- | --- | --- | --- | --- |');
  let worst = 1;
  for (const [code, t] of [...map].sort()) {
    const total = t.both + t.tsharkOnly + t.dlltOnly;
    const agreement = total === 0 ? 1 : t.both / total;
    worst = Math.min(worst, agreement);
    console.log(`| ${code} | ${t.both} | ${t.tsharkOnly} | ${t.dlltOnly} | ${(agreement * 100).toFixed(1)} % |`);
  }
  for (const t of map.values()) for (const ex of t.examples) console.log(`  ${ex}`);
  return worst;
}

async function main(): Promise<void> {
  const { tshark, zeek, files } = await compareEvents();
  console.log(`${files} corpus captures with TCP`);
  const worst = printTable('dllt events vs tshark packets (SPEC 6 rules)', tshark);
  printTable('dllt events vs Zeek conn_state (REJ↔00009, RSTO/RSTR after a handshake↔00002, S0↔00006)', zeek);
  if (worst < 0.95) {
    console.error(`agreement with tshark below 95 % for some code (${(worst * 100).toFixed(1)} %)`);
    process.exit(1);
  }
}

if (process.argv[1]?.endsWith('compare-events.js')) await main();
