/**
 * Follows from capture files written by other tools (SPEC 7 in `dllt read`): every pcap dllt
 * writes for FOLLOW_PORT must hold exactly the frames tshark finds for that connection in the
 * original file (IPv6 and UDP included), and SEARCH_HTTP_HEADER must pick exactly the
 * connections whose request tshark shows with that header.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CORPUS_DIR } from './support/corpus.js';

const CLI = resolve(import.meta.dirname, '../app/main.js');
const hasTshark = spawnSync('tshark', ['-v']).status === 0;
const skip = hasTshark ? false : 'tshark is not installed (apt-get install tshark)';
if (skip) console.log(`# follow-read tests skipped: ${skip}`);

function readWith(file: string, env: Record<string, string>): string {
  const out = mkdtempSync(join(tmpdir(), 'dllt-follow-'));
  const r = spawnSync(process.execPath, [CLI, 'read', join(CORPUS_DIR, file), '--out', out, '-q'], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return join(out, 'logs', file);
}

function frames(pcap: string, filter: string): string[] {
  const out = execFileSync('tshark', ['-n', '-r', pcap, '-Y', filter, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  return out.split('\n').filter((l) => l !== '');
}

/** follow_<ts>_<proto>_<a>_<aport>_<b>_<bport>.pcap → a tshark filter for that conversation. */
function conversationFilter(name: string): string {
  const m = /^follow_\d{4}(?:_\d\d){5}_(tcp|udp)_(.+)_(\d+)_(.+)_(\d+)(?:_\d+)?\.pcap$/.exec(name);
  assert.ok(m, name);
  const [, proto, a, aport, b, bport] = m;
  const ip = (x: string): string => (x.includes('-') ? x.replaceAll('-', ':') : x);
  const field = ip(a!).includes(':') ? 'ipv6.addr' : 'ip.addr';
  return `${field} == ${ip(a!)} && ${field} == ${ip(b!)} && ${proto}.port == ${aport} && ${proto}.port == ${bport}`;
}

test('FOLLOW_PORT=443 on an IPv6 capture: one pcap per conversation, each equal to tshark\'s view of it', { skip }, () => {
  const file = 'ndpi-http_ipv6.pcap';
  const dir = readWith(file, { FOLLOW_PORT: '443' });
  const pcaps = readdirSync(dir).filter((f) => f.startsWith('follow_')).sort();
  const conversations = execFileSync('tshark', ['-n', '-q', '-r', join(CORPUS_DIR, file), '-z', 'conv,tcp', '-z', 'conv,udp'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    .split('\n')
    .filter((l) => /:443\s/.test(l) && l.includes('<->'));
  assert.equal(pcaps.length, conversations.length, `${pcaps.length} pcaps for ${conversations.length} conversations on port 443`);
  assert.ok(pcaps.some((p) => p.includes('_udp_')) && pcaps.some((p) => p.includes('_tcp_')), 'TCP and UDP (QUIC) conversations');
  for (const name of pcaps) {
    const path = join(dir, name);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(frames(path, 'frame'), frames(join(CORPUS_DIR, file), conversationFilter(name)), name);
  }
});

test('SEARCH_HTTP_HEADER follows exactly the connections whose request carries the header', { skip }, () => {
  const file = 'sv-http-xff-eve-reverse-overwrite.pcap';
  const expected = execFileSync('tshark', ['-n', '-r', join(CORPUS_DIR, file), '-Y', 'http.x_forwarded_for', '-T', 'fields', '-e', 'tcp.srcport'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).split('\n').filter((l) => l !== '');
  assert.ok(expected.length > 0);
  const dir = readWith(file, { SEARCH_HTTP_HEADER: 'x-forwarded-for' });
  const pcaps = readdirSync(dir).filter((f) => f.startsWith('follow_')).sort();
  assert.deepEqual(pcaps.map((p) => /_tcp_[\d.]+_(\d+)_/.exec(p)![1]).sort(), [...new Set(expected)].sort());
  for (const name of pcaps) assert.deepEqual(frames(join(dir, name), 'frame'), frames(join(CORPUS_DIR, file), conversationFilter(name)), name);
  const none = readWith(file, { SEARCH_HTTP_HEADER: 'x-not-there' });
  assert.deepEqual(readdirSync(none).filter((f) => f.startsWith('follow_')), []);
});
