import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONFIG_CATALOG,
  closestKey,
  describeConfig,
  formatCidr,
  loadConfig,
  readConfigFile,
  parseCidr,
  renderConfigTableMarkdown,
  type Config,
  type LoadConfigInput,
} from './config.js';
import { DlltError } from './errors.js';

const readmePath = fileURLToPath(new URL('../../../README.md', import.meta.url));
const START = '<!-- config-table:start -->';
const END = '<!-- config-table:end -->';

function load(partial: Partial<LoadConfigInput>): Config {
  return loadConfig({ flags: {}, env: {}, cwd: '/work', isWritableDir: () => false, ...partial });
}

function expectError(code: string, fn: () => unknown, ...mentions: string[]): DlltError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof DlltError, `expected a DlltError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.equal(err.exitCode, 2);
    for (const m of mentions) assert.ok(err.message.includes(m), `${JSON.stringify(err.message)} should mention ${m}`);
    return err;
  }
  assert.fail('expected an error');
}

test('defaults match the catalog', () => {
  const cfg = load({});
  assert.equal(cfg.maxFlows, 1_000_000);
  assert.equal(cfg.tcpIdleS, 300);
  assert.equal(cfg.tcpClosingS, 5);
  assert.equal(cfg.partialTimeoutS, 30);
  assert.equal(cfg.udpIdleS, 60);
  assert.equal(cfg.icmpIdleS, 30);
  assert.equal(cfg.activeTimeoutS, 60);
  assert.equal(cfg.statsIntervalS, 10);
  assert.equal(cfg.flushIntervalMs, 1000);
  assert.equal(cfg.rotateMb, 100);
  assert.equal(cfg.maxDiskMb, 1024);
  assert.equal(cfg.followDelayS, 30);
  assert.equal(cfg.snaplen, 262_144);
  assert.equal(cfg.promisc, true);
  assert.equal(cfg.useEbpf, false);
  assert.equal(cfg.format, 'json');
  assert.equal(cfg.outRoot, '/work/dllt');
  assert.deepEqual(cfg.followPorts, []);
  assert.deepEqual(cfg.localNets, []);
  assert.equal(cfg.searchHttpHeader, undefined);
  assert.equal(cfg.interfaceIndex, undefined);
  assert.equal(cfg.quiet, false);
  assert.equal(cfg.verbose, false);
  assert.equal(cfg.filter, undefined);
  assert.deepEqual(cfg.sources['DLLT_MAX_FLOWS'], { source: 'default' });
});

test('DLLT_OUT defaults to /dllt when it is writable', () => {
  assert.equal(load({ isWritableDir: (d) => d === '/dllt' }).outRoot, '/dllt');
});

test('precedence: flag > env > file > default, for every layer', () => {
  const file = 'DLLT_SNAPLEN=1000\nDLLT_FORMAT=text\nDLLT_TCP_IDLE_S=100\n';
  const env = { DLLT_SNAPLEN: '2000', DLLT_FORMAT: 'json' };
  const cfg = load({ flags: { snaplen: '3000' }, env, configFileText: file, configFilePath: '/etc/dllt.env' });
  assert.equal(cfg.snaplen, 3000);
  assert.deepEqual(cfg.sources['DLLT_SNAPLEN'], { source: 'flag', detail: '--snaplen' });
  assert.equal(cfg.format, 'json');
  assert.deepEqual(cfg.sources['DLLT_FORMAT'], { source: 'env' });
  assert.equal(cfg.tcpIdleS, 100);
  assert.deepEqual(cfg.sources['DLLT_TCP_IDLE_S'], { source: 'file', detail: '/etc/dllt.env:3' });
  assert.equal(cfg.udpIdleS, 60);
  assert.deepEqual(cfg.sources['DLLT_UDP_IDLE_S'], { source: 'default' });
  assert.equal(cfg.configFilePath, '/etc/dllt.env');
});

test('an empty value falls through to the next layer', () => {
  const cfg = load({ env: { FOLLOW_PORT: '' }, configFileText: 'FOLLOW_PORT=8080' });
  assert.deepEqual(cfg.followPorts, [8080]);
  assert.deepEqual(load({ configFileText: 'SEARCH_HTTP_HEADER=\nFOLLOW_PORT=""' }).followPorts, []);
});

test('flags: --out resolves against cwd, --no-promisc, --filter, -q/-v', () => {
  const cfg = load({ flags: { out: 'here', promisc: false, filter: 'tcp port 80', quiet: true } });
  assert.equal(cfg.outRoot, '/work/here');
  assert.equal(cfg.promisc, false);
  assert.equal(cfg.filter, 'tcp port 80');
  assert.equal(cfg.quiet, true);
  // Commander sets promisc=true when --no-promisc is absent: that must not hide the env value.
  assert.equal(load({ flags: { promisc: true }, env: { DLLT_PROMISC: 'N' } }).promisc, false);
  expectError('DLLT_ERR_USAGE', () => load({ flags: { quiet: true, verbose: true } }), '--quiet', '--verbose');
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ flags: { snaplen: '10' } }), '--snaplen', 'DLLT_SNAPLEN', '"10"', 'from 64 to 262144');
});

test('seed keys parse into typed values', () => {
  const cfg = load({
    env: {
      SEARCH_HTTP_HEADER: 'X-Trace-Me: yes please',
      AVOID_LIVENESS_PROBE: 'User-Agent: kube-probe',
      FOLLOW_PORT: '80, 443,80',
      INTERFACE_INDEX_SNIF: '7',
      USE_EBPF: 'y',
      MEJOR_EQUIPO: 'Atlético Nacional',
      AUTHOR: 'someone',
    },
  });
  assert.deepEqual(cfg.searchHttpHeader, { name: 'X-Trace-Me', value: 'yes please' });
  assert.deepEqual(cfg.avoidLivenessProbe, { name: 'User-Agent', value: 'kube-probe' });
  assert.deepEqual(cfg.followPorts, [80, 443]);
  assert.equal(cfg.interfaceIndex, 7);
  assert.equal(cfg.useEbpf, true);
  assert.equal(cfg.mejorEquipo, 'Atlético Nacional');
  assert.equal(cfg.author, 'someone');
  assert.deepEqual(load({ env: { SEARCH_HTTP_HEADER: 'X-Debug' } }).searchHttpHeader, { name: 'X-Debug' });
});

test('fractional seconds are accepted for *_S keys only', () => {
  assert.equal(load({ env: { DLLT_TCP_CLOSING_S: '0.5' } }).tcpClosingS, 0.5);
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ env: { DLLT_TCP_CLOSING_S: '0' } }), 'DLLT_TCP_CLOSING_S', 'more than 0');
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ env: { DLLT_TCP_IDLE_S: '-1' } }), 'DLLT_TCP_IDLE_S');
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ env: { DLLT_TCP_IDLE_S: '1e3' } }), 'DLLT_TCP_IDLE_S');
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ env: { DLLT_FLUSH_INTERVAL_MS: '500.5' } }), 'DLLT_FLUSH_INTERVAL_MS');
});

test('USE_EBPF=maybe and FOLLOW_PORT=70000 are errors naming the key', () => {
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ env: { USE_EBPF: 'maybe' } }), 'USE_EBPF', '"maybe"', 'Y or N');
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ env: { FOLLOW_PORT: '70000' } }), 'FOLLOW_PORT', '70000', '1 to 65535');
});

test('every validation error names its key', () => {
  const bad: Record<string, string> = {
    SEARCH_HTTP_HEADER: 'Bad Header: x',
    FOLLOW_PORT: '80,,443',
    INTERFACE_INDEX_SNIF: '0',
    AVOID_LIVENESS_PROBE: ': nothing',
    USE_EBPF: 'yes',
    DLLT_ATTRIBUTION: 'off',
    DLLT_MAX_FLOWS: '999',
    DLLT_TCP_IDLE_S: 'abc',
    DLLT_TCP_CLOSING_S: '3601',
    DLLT_PARTIAL_TIMEOUT_S: '.5',
    DLLT_UDP_IDLE_S: '',
    DLLT_ICMP_IDLE_S: '1,5',
    DLLT_ACTIVE_TIMEOUT_S: '0.0',
    DLLT_STATS_INTERVAL_S: '86401',
    DLLT_FLUSH_INTERVAL_MS: '1001',
    DLLT_ROTATE_MB: '0',
    DLLT_MAX_DISK_MB: '1.5',
    DLLT_FOLLOW_DELAY_S: 'soon',
    DLLT_DNS_NAME_MIN_S: '-1',
    DLLT_FOLLOW_MAX: '0',
    DLLT_FOLLOW_MAX_FILE_MB: '0.5',
    DLLT_AVOID_KUBE_PROBES: 'no',
    DLLT_LOCAL_NETS: '10.0.0.0/33',
    DLLT_SNAPLEN: '262145',
    DLLT_PROMISC: 'true',
    DLLT_FORMAT: 'xml',
    DLLT_TLS_EVENTS: '1',
    DLLT_TLS_PORTS: '443,https',
    DLLT_EVENTS: 'off',
    DLLT_APP_PARSING: 'no',
    DLLT_EVENTS_OFF: '00099',
    DLLT_EVENTS_PER_FLOW: '256',
    DLLT_EVENTS_PER_S: '0',
    DLLT_STALE_MIN_S: 'five',
    DLLT_STALE_GAP_FACTOR: '2.5',
    DLLT_STALE_MIN_DATA_PKTS: '-3',
    DLLT_STALE_STRONG_S: '0',
    DLLT_RESET_STORM_COUNT: '0',
    DLLT_RESET_STORM_WINDOW_S: 'a minute',
    DLLT_ZERO_WINDOW_STALL_S: '-5',
    DLLT_RETRANS_RATE_PCT: '101',
    DLLT_RETRANS_MIN_PKTS: '0',
    DLLT_ON_VIF_GONE: 'panic',
    DLLT_PACKETLESS_POLL_MS: '99',
  };
  for (const [key, value] of Object.entries(bad)) {
    if (value === '') continue; // empty means unset, covered above
    expectError('DLLT_ERR_CONFIG_INVALID', () => load({ env: { [key]: value } }), key, JSON.stringify(value), 'allowed:');
    expectError('DLLT_ERR_CONFIG_INVALID', () => load({ configFileText: `${key}=${value}`, configFilePath: 'f' }), key, 'file f:1');
  }
  const typed = new Set(CONFIG_CATALOG.filter((s) => s.type !== 'string' && s.type !== 'path').map((s) => s.key));
  for (const key of typed) assert.ok(key in bad, `no invalid-value case for ${key}`);
});

test('cross-key check: the disk cap must hold one file part', () => {
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ env: { DLLT_MAX_DISK_MB: '50' } }), 'DLLT_MAX_DISK_MB', 'DLLT_ROTATE_MB');
  assert.equal(load({ env: { DLLT_MAX_DISK_MB: '50', DLLT_ROTATE_MB: '10' } }).maxDiskMb, 50);
});

test('cross-key check: SEARCH_HTTP_HEADER needs the HTTP parser (DLLT_APP_PARSING=Y), not the events', () => {
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ env: { SEARCH_HTTP_HEADER: 'X-Trace-Id', DLLT_APP_PARSING: 'N' } }), 'SEARCH_HTTP_HEADER', 'DLLT_APP_PARSING=N');
  assert.deepEqual(load({ env: { SEARCH_HTTP_HEADER: 'X-Trace-Id', DLLT_EVENTS: 'N' } }).searchHttpHeader, { name: 'X-Trace-Id' });
  assert.deepEqual(load({ env: { FOLLOW_PORT: '8080', DLLT_APP_PARSING: 'N' } }).followPorts, [8080]);
});

test('cross-key check: AVOID_LIVENESS_PROBE needs the HTTP parser too', () => {
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ env: { AVOID_LIVENESS_PROBE: 'X-Probe', DLLT_APP_PARSING: 'N' } }), 'AVOID_LIVENESS_PROBE', 'DLLT_APP_PARSING=N');
  assert.deepEqual(load({ env: { AVOID_LIVENESS_PROBE: 'X-Probe', DLLT_EVENTS: 'N' } }).avoidLivenessProbe, { name: 'X-Probe' });
  // The kube-probe default does not make bare flows an error.
  assert.equal(load({ env: { DLLT_APP_PARSING: 'N' } }).avoidKubeProbes, true);
});

test('unknown DLLT_ keys are errors with a suggestion; other unknown keys are ignored', () => {
  expectError('DLLT_ERR_CONFIG_UNKNOWN_KEY', () => load({ env: { DLLT_MAX_FLOW: '5000' } }), 'DLLT_MAX_FLOW', 'DLLT_MAX_FLOWS', 'environment');
  expectError(
    'DLLT_ERR_CONFIG_UNKNOWN_KEY',
    () => load({ configFileText: '# x\nDLLT_TCP_IDEL_S=5\n', configFilePath: 'a.env' }),
    'DLLT_TCP_IDEL_S', 'DLLT_TCP_IDLE_S', 'a.env:2',
  );
  const cfg = load({ env: { PATH: '/bin', HOME: '/root', FOLLOW_PORTS: 'x' }, configFileText: 'OTHER_THING=1\n' });
  assert.deepEqual(cfg.followPorts, []);
  assert.equal(closestKey('DLLT_COMPLETELY_DIFFERENT_THING'), undefined);
});

test('config file: comments, export, quotes, CRLF, blank lines, later lines win', () => {
  const text = [
    '# dllt agent settings',
    '',
    '   ',
    'export FOLLOW_PORT=8080',
    'SEARCH_HTTP_HEADER="X-Trace: a # not a comment"',
    "AVOID_LIVENESS_PROBE='User-Agent: kube-probe'   # trailing comment",
    'DLLT_TCP_IDLE_S = 120 # seconds',
    'INTERFACE_INDEX_SNIF=3',
    'INTERFACE_INDEX_SNIF=4',
    '\texport   DLLT_FORMAT=text',
    'MEJOR_EQUIPO=Nacional#1',
    '',
  ].join('\r\n');
  const cfg = load({ configFileText: text, configFilePath: 'dlltagent_searchpod' });
  assert.deepEqual(cfg.followPorts, [8080]);
  assert.deepEqual(cfg.searchHttpHeader, { name: 'X-Trace', value: 'a # not a comment' });
  assert.deepEqual(cfg.avoidLivenessProbe, { name: 'User-Agent', value: 'kube-probe' });
  assert.equal(cfg.tcpIdleS, 120);
  assert.equal(cfg.interfaceIndex, 4);
  assert.deepEqual(cfg.sources['INTERFACE_INDEX_SNIF'], { source: 'file', detail: 'dlltagent_searchpod:9' });
  assert.equal(cfg.format, 'text');
  assert.equal(cfg.mejorEquipo, 'Nacional#1');

  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ configFileText: 'A=1\nnot a line\n', configFilePath: 'p' }), 'p:2', 'KEY=VALUE');
  expectError('DLLT_ERR_CONFIG_INVALID', () => load({ configFileText: 'FOLLOW_PORT="80\n', configFilePath: 'p' }), 'p:1', 'quote');
});

test('CIDR lists: IPv4, IPv6 forms, host bits cleared', () => {
  const cfg = load({ env: { DLLT_LOCAL_NETS: '10.1.2.3/8, 192.168.1.7,fd00:1:2::/48,::ffff:10.0.0.1/128,2001:db8::1.2.3.4/126' } });
  assert.deepEqual(cfg.localNets.map(formatCidr), [
    '10.0.0.0/8',
    '192.168.1.7/32',
    'fd00:1:2::/48',
    '::ffff:a00:1/128',
    '2001:db8::102:304/126',
  ]);
  assert.equal(cfg.localNets[0]!.version, 4);
  assert.equal(cfg.localNets[0]!.words[0], 0x0a000000);
  assert.equal(cfg.localNets[2]!.version, 6);
  assert.deepEqual([...cfg.localNets[2]!.words], [0xfd000001 | 0, 0x00020000, 0, 0]);
  assert.deepEqual([...parseCidr('::/0')!.words], [0, 0, 0, 0]);
  assert.equal(formatCidr(parseCidr('1:0:0:2:0:0:0:3')!), '1:0:0:2::3/128');
  assert.equal(formatCidr(parseCidr('255.255.255.255/1')!), '128.0.0.0/1');
  for (const bad of ['10.0.0.256', 'fe80::1%eth0', '10.0.0.0/', '10.0.0.0/x', '::/129', 'host']) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

test('describeConfig shows every key with value and origin', () => {
  const cfg = load({
    flags: { format: 'text', filter: 'udp' },
    env: { FOLLOW_PORT: '53,853', USE_EBPF: 'Y' },
    configFileText: 'SEARCH_HTTP_HEADER=X-A: b\nDLLT_LOCAL_NETS=10.0.0.0/8',
    configFilePath: 'c.env',
  });
  const d = describeConfig(cfg);
  for (const spec of CONFIG_CATALOG) assert.ok(spec.key in d, spec.key);
  assert.equal(d['DLLT_FORMAT'], 'text (flag --format)');
  assert.equal(d['FOLLOW_PORT'], '53,853 (env)');
  assert.equal(d['USE_EBPF'], 'Y (env)');
  assert.equal(d['SEARCH_HTTP_HEADER'], 'X-A: b (file c.env:1)');
  assert.equal(d['DLLT_LOCAL_NETS'], '10.0.0.0/8 (file c.env:2)');
  assert.equal(d['DLLT_MAX_FLOWS'], '1000000 (default)');
  assert.equal(d['INTERFACE_INDEX_SNIF'], 'unset (default)');
  assert.equal(d['--filter'], 'udp (flag)');
  assert.equal(d['--config'], 'c.env');
});

test('readConfigFile: --config must exist, the default file is optional', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dllt-config-'));
  assert.equal(readConfigFile(undefined, dir), undefined);
  expectReadError(() => readConfigFile('missing.env', dir));
  writeFileSync(join(dir, 'dlltagent_searchpod'), 'FOLLOW_PORT=80\n');
  assert.deepEqual(readConfigFile(undefined, dir), { text: 'FOLLOW_PORT=80\n', path: join(dir, 'dlltagent_searchpod') });
});

function expectReadError(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof DlltError && err.code === 'DLLT_ERR_FILE_NOT_FOUND' && err.message.includes('missing.env'));
}

test('README config table is generated from the catalog', () => {
  const block = `${START}\n${renderConfigTableMarkdown()}${END}`;
  if (process.env['DLLT_UPDATE_DOCS'] === '1') writeReadmeBlock(block);
  const readme = readFileSync(readmePath, 'utf8');
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  assert.ok(start >= 0 && end > start, `README.md needs the ${START} ... ${END} markers`);
  assert.equal(
    readme.slice(start, end + END.length),
    block,
    'README config table is stale: run `DLLT_UPDATE_DOCS=1 node --test dist/src/cli/config.test.js`',
  );
});

/** Replaces only the marked block, so the rest of the README stays the lead's. */
function writeReadmeBlock(block: string): void {
  if (!existsSync(readmePath)) {
    writeFileSync(readmePath, `# dllt\n\n## Configuration\n\n${block}\n`);
    return;
  }
  const readme = readFileSync(readmePath, 'utf8');
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  const next = start >= 0 && end > start
    ? readme.slice(0, start) + block + readme.slice(end + END.length)
    : `${readme.trimEnd()}\n\n## Configuration\n\n${block}\n`;
  writeFileSync(readmePath, next);
}
