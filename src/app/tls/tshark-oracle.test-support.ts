/**
 * Test-only outside oracle: tshark's TLS dissection of a corpus file, reduced per connection to
 * the same TlsObservation our parser's calls are reduced to. Nothing here uses our parser.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { CORPUS_DIR } from '../../../test/support/corpus.js';
import { emptyObservation, type TlsObservation } from './tls-observation.test-support.js';

const TSHARK = process.env['TSHARK'] ?? 'tshark';
/** Unit separator: ALPN names may contain commas, never this. */
const AGGREGATOR = '\u001f';
const HELLO_RETRY_RANDOM = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c';
const FIELDS = [
  'frame.number',
  'ip.src',
  'ipv6.src',
  'tcp.srcport',
  'ip.dst',
  'ipv6.dst',
  'tcp.dstport',
  '_ws.col.Protocol',
  'tls.record.content_type',
  'tls.handshake.type',
  'tls.handshake.version',
  'tls.handshake.random',
  'tls.handshake.extensions_server_name',
  'tls.handshake.extensions.supported_version',
  'tls.handshake.extensions_alpn_str',
  'tls.alert_message.level',
  'tls.alert_message.desc',
  '_ws.expert.message',
] as const;

/** One frame in which tshark completed at least one TLS record (or SSLv2 message). */
export interface TsharkTlsFrame {
  frame: number;
  src: string;
  dst: string;
  protocol: string;
  contentTypes: number[];
  handshakeTypes: number[];
  handshakeVersions: number[];
  randoms: string[];
  serverNames: string[];
  supportedVersions: number[];
  alpn: string[];
  alertLevels: number[];
  alertDescriptions: number[];
  expert: string[];
}

/** Why tshark cannot serve as the oracle here, or undefined when it can. */
export function tsharkMissing(): string | undefined {
  const r = spawnSync(TSHARK, ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined) return `${TSHARK}: ${r.error.message}`;
  if (r.status !== 0) return `${TSHARK} --version exited ${r.status}`;
  return undefined;
}

function endpoint(v4: string, v6: string, port: string): string {
  return `${v4 !== '' ? v4 : v6}:${port}`;
}

/** Frames of `file` carrying TLS, with `tlsPorts` decoded as TLS (tshark only guesses 443 and friends). */
export function tsharkTlsFrames(file: string, tlsPorts: readonly number[]): TsharkTlsFrame[] {
  const args = [
    '-n',
    '-r',
    join(CORPUS_DIR, file),
    '-o',
    'tls.desegment_ssl_records:TRUE',
    '-o',
    'tcp.desegment_tcp_streams:TRUE',
    '-o',
    'tcp.reassemble_out_of_order:TRUE',
    ...tlsPorts.flatMap((p) => ['-d', `tcp.port==${p},tls`]),
    '-Y',
    'tls',
    '-T',
    'fields',
    '-E',
    'separator=/t',
    '-E',
    'occurrence=a',
    '-E',
    `aggregator=${AGGREGATOR}`,
    ...FIELDS.flatMap((f) => ['-e', f]),
  ];
  const r = spawnSync(TSHARK, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error !== undefined || r.status !== 0) throw new Error(`tshark failed on ${file}: ${r.error?.message ?? r.stderr}`);
  const list = (cell: string): string[] => (cell === '' ? [] : cell.split(AGGREGATOR));
  const numbers = (cell: string): number[] => list(cell).map((x) => Number(x));
  return r.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const c = line.split('\t');
      const cell = (name: (typeof FIELDS)[number]): string => c[FIELDS.indexOf(name)] ?? '';
      return {
        frame: Number(cell('frame.number')),
        src: endpoint(cell('ip.src'), cell('ipv6.src'), cell('tcp.srcport')),
        dst: endpoint(cell('ip.dst'), cell('ipv6.dst'), cell('tcp.dstport')),
        protocol: cell('_ws.col.Protocol'),
        contentTypes: numbers(cell('tls.record.content_type')),
        handshakeTypes: numbers(cell('tls.handshake.type')),
        handshakeVersions: numbers(cell('tls.handshake.version')),
        randoms: list(cell('tls.handshake.random')),
        serverNames: list(cell('tls.handshake.extensions_server_name')),
        supportedVersions: numbers(cell('tls.handshake.extensions.supported_version')),
        alpn: list(cell('tls.handshake.extensions_alpn_str')),
        alertLevels: numbers(cell('tls.alert_message.level')),
        alertDescriptions: numbers(cell('tls.alert_message.desc')),
        expert: list(cell('_ws.expert.message')),
      };
    });
}

function isGreaseValue(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

/**
 * What tshark saw on the connection whose client is `client`, from its frames (all of one
 * connection). Hellos carry their extensions in the same frame; a frame with two hellos would
 * make the per-frame fields ambiguous, so it is refused.
 */
export function tsharkObservation(frames: readonly TsharkTlsFrame[], client: string): TlsObservation {
  const o = emptyObservation();
  for (const f of frames) {
    const dir: 0 | 1 = f.src === client ? 0 : 1;
    const hellos = f.handshakeTypes.filter((t) => t === 1 || t === 2);
    if (hellos.length > 1) throw new Error(`frame ${f.frame} holds ${hellos.length} hellos: the oracle cannot pair their fields`);
    if (hellos[0] === 1) {
      o.clientHellos.push({
        legacyVersion: f.handshakeVersions[0]!,
        sni: f.serverNames[0],
        alpn: f.alpn,
        supportedVersions: f.supportedVersions.filter((v) => !isGreaseValue(v)),
      });
    } else if (hellos[0] === 2) {
      const legacyVersion = f.handshakeVersions[0]!;
      o.serverHellos.push({
        legacyVersion,
        selectedVersion: f.supportedVersions[0] ?? legacyVersion,
        alpn: f.alpn[0],
        helloRetryRequest: f.randoms[0] === HELLO_RETRY_RANDOM,
      });
    }
    f.alertLevels.forEach((level, i) => o.alerts.push([dir, level, f.alertDescriptions[i]!]));
    // tshark shows level/description only for alerts it could read; other alert records are encrypted.
    o.encryptedAlerts[dir] += f.contentTypes.filter((t) => t === 21).length - f.alertLevels.length;
  }
  return o;
}
