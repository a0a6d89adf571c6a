/**
 * The configuration catalog and loader (SPEC 2). One catalog describes every key — type,
 * default with unit, range, description — and is the single source for validation, the start
 * banner (describeConfig) and the README table (renderConfigTableMarkdown, kept identical by a
 * test). Precedence, strongest first: flags > environment > config file > defaults.
 */

import { accessSync, constants as fsConstants, existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { DlltError } from './errors.js';
import { parseEventCode } from '../analyze/events/catalog.js';
import { parseHeaderText, type HeaderSpec } from '../app/http1/request-head.js';
import { parseIp, prefixMaskWord } from '../wire/ip-parse.js';

export type ConfigSource = 'flag' | 'env' | 'file' | 'default';

/** `Name` or `Name: value` as written (parseHeaderText); the name compares case-insensitively,
 *  the value is a substring. */
export type HeaderMatch = HeaderSpec;

/** A network: `words` holds the address masked to `prefix` (1 word for IPv4, 4 for IPv6). */
export interface Cidr {
  version: 4 | 6;
  words: Int32Array;
  prefix: number;
}

export interface Config {
  searchHttpHeader?: HeaderMatch;
  followPorts: number[];
  interfaceIndex?: number;
  avoidLivenessProbe?: HeaderMatch;
  useEbpf: boolean;
  attribution: boolean;
  mejorEquipo?: string;
  author?: string;
  maxFlows: number;
  tcpIdleS: number;
  tcpClosingS: number;
  partialTimeoutS: number;
  udpIdleS: number;
  icmpIdleS: number;
  activeTimeoutS: number;
  statsIntervalS: number;
  flushIntervalMs: number;
  rotateMb: number;
  maxDiskMb: number;
  followDelayS: number;
  dnsNameMinS: number;
  roleRulesPath?: string;
  followMax: number;
  followMaxFileMb: number;
  avoidKubeProbes: boolean;
  localNets: Cidr[];
  snaplen: number;
  promisc: boolean;
  format: 'json' | 'text';
  outRoot: string;
  events: boolean;
  appParsing: boolean;
  tlsEvents: boolean;
  tlsPorts: number[];
  eventsOff: number[];
  eventsPerFlow: number;
  eventsPerSecond: number;
  staleMinS: number;
  staleGapFactor: number;
  staleMinDataPkts: number;
  staleStrongS: number;
  resetStormCount: number;
  resetStormWindowS: number;
  zeroWindowStallS: number;
  retransRatePct: number;
  retransMinPkts: number;
  onVifGone: 'wait' | 'exit';
  kubeletPodsDir: string;
  packetlessPollMs: number;
  /** BPF filter from `--filter` (flag only: a filter belongs to one invocation). */
  filter?: string;
  quiet: boolean;
  verbose: boolean;
  /** The config file that was read, if any. */
  configFilePath?: string;
  /** Where each catalog key's value came from, by key name. */
  sources: Record<string, ConfigOrigin>;
}

export interface ConfigOrigin {
  source: ConfigSource;
  /** `--flag`, the file path and line, or nothing for env/default. */
  detail?: string;
}

type KeyField = Exclude<keyof Config, 'filter' | 'quiet' | 'verbose' | 'configFilePath' | 'sources'>;

export type ConfigValueType =
  | 'string'
  | 'int'
  | 'seconds'
  | 'bool-YN'
  | 'port-list'
  | 'cidr-list'
  | 'code-list'
  | 'header-match'
  | 'enum'
  | 'path';

export interface ConfigKeySpec {
  key: string;
  field: KeyField;
  type: ConfigValueType;
  /** As an operator would write it; absent = unset. */
  default?: string;
  /** Shown instead of `default` in docs when the default depends on the host. */
  defaultText?: string;
  unit?: string;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** Commander's attribute name and the command-line spelling of the flag that sets this key. */
  flag?: { attr: string; spelling: string };
  description: string;
}

const DAY_S = 86_400;
const HOUR_S = 3_600;

export const CONFIG_CATALOG = [
  {
    key: 'SEARCH_HTTP_HEADER', field: 'searchHttpHeader', type: 'header-match',
    description: 'Follow every TCP connection whose client→server HTTP request carries this header (`Name`, or `Name: value` where the header value must contain `value`; the name is case-insensitive) and write its pcap.',
  },
  {
    key: 'FOLLOW_PORT', field: 'followPorts', type: 'port-list',
    description: 'Follow every connection with one of these source or destination ports (comma list) and write its pcap.',
  },
  {
    key: 'INTERFACE_INDEX_SNIF', field: 'interfaceIndex', type: 'int', min: 1, max: 2_147_483_647,
    flag: { attr: 'ifindex', spelling: '--ifindex' },
    description: 'Index of the interface to capture on. Unset: `-i NAME`, else the first non-loopback interface that is up.',
  },
  {
    key: 'AVOID_LIVENESS_PROBE', field: 'avoidLivenessProbe', type: 'header-match',
    description: 'A header (same syntax as `SEARCH_HTTP_HEADER`) marking connections to ignore entirely: no follow, no pcap, no events (e.g. `User-Agent: kube-probe`).',
  },
  {
    key: 'USE_EBPF', field: 'useEbpf', type: 'bool-YN', default: 'N',
    description: 'Identify processes with eBPF (bpftrace); `N` reads /proc.',
  },
  {
    key: 'DLLT_ATTRIBUTION', field: 'attribution', type: 'bool-YN', default: 'Y',
    description: 'Live capture: join each local end of each TCP/UDP flow with its process, container and pod (`process_flows_`), through /proc or eBPF (`USE_EBPF`). `N`: no attribution at all, no process_flows or processEBPF file (the baseline of the attribution bench).',
  },
  {
    key: 'MEJOR_EQUIPO', field: 'mejorEquipo', type: 'string',
    description: 'Accepted for compatibility with the seed agent; shown in the start banner, otherwise inert.',
  },
  {
    key: 'AUTHOR', field: 'author', type: 'string',
    description: 'Accepted for compatibility with the seed agent; shown in the start banner, otherwise inert.',
  },
  {
    key: 'DLLT_MAX_FLOWS', field: 'maxFlows', type: 'int', default: '1000000', unit: 'flows', min: 1000, max: 50_000_000,
    description: 'Capacity of the flow table; when full, embryonic and one-packet flows are evicted first, then the longest idle.',
  },
  {
    key: 'DLLT_TCP_IDLE_S', field: 'tcpIdleS', type: 'seconds', default: '300', unit: 's', max: DAY_S,
    description: 'An established TCP flow with no packet for this long ends with reason `idle`.',
  },
  {
    key: 'DLLT_TCP_CLOSING_S', field: 'tcpClosingS', type: 'seconds', default: '5', unit: 's', max: HOUR_S,
    description: 'How long a TCP flow is kept after FIN in both directions or RST, to catch the last packets.',
  },
  {
    key: 'DLLT_PARTIAL_TIMEOUT_S', field: 'partialTimeoutS', type: 'seconds', default: '30', unit: 's', max: HOUR_S,
    description: 'A TCP handshake not completed after this long is half-open (event 00006).',
  },
  {
    key: 'DLLT_UDP_IDLE_S', field: 'udpIdleS', type: 'seconds', default: '60', unit: 's', max: DAY_S,
    description: 'Idle timeout of UDP flows.',
  },
  {
    key: 'DLLT_ICMP_IDLE_S', field: 'icmpIdleS', type: 'seconds', default: '30', unit: 's', max: DAY_S,
    description: 'Idle timeout of ICMP flows.',
  },
  {
    key: 'DLLT_ACTIVE_TIMEOUT_S', field: 'activeTimeoutS', type: 'seconds', default: '60', unit: 's', max: DAY_S,
    description: 'A long-lived flow gets an interim `flow_update` record this often.',
  },
  {
    key: 'DLLT_STATS_INTERVAL_S', field: 'statsIntervalS', type: 'seconds', default: '10', unit: 's', max: DAY_S,
    description: 'Period of the kernel capture counters (received, dropped) written to log_notif.',
  },
  {
    key: 'DLLT_FLUSH_INTERVAL_MS', field: 'flushIntervalMs', type: 'int', default: '1000', unit: 'ms', min: 10, max: 1000,
    description: 'Output files are flushed at least this often (at most 1000: SPEC promises every second).',
  },
  {
    key: 'DLLT_ROTATE_MB', field: 'rotateMb', type: 'int', default: '100', unit: 'MiB', min: 1, max: 1_048_576,
    description: 'An output file reaching this size is closed and writing continues in the next part (`<name>.part000001.log`).',
  },
  {
    key: 'DLLT_MAX_DISK_MB', field: 'maxDiskMb', type: 'int', default: '1024', unit: 'MiB', min: 1, max: 16_777_216,
    description: 'Cap on the total size of dllt files in the output directory; the oldest closed files are deleted first, each deletion noted in log_notif. Must be at least `DLLT_ROTATE_MB`.',
  },
  {
    key: 'DLLT_FOLLOW_DELAY_S', field: 'followDelayS', type: 'seconds', default: '30', unit: 's', max: DAY_S,
    description: 'A followed connection\'s pcap is written this long after the match, or at the connection\'s end if sooner.',
  },
  {
    key: 'DLLT_ROLE_RULES', field: 'roleRulesPath', type: 'path',
    description: 'A role rules file (JSON, or an ES module with a default export): shodohflo-style networks and FlowMapping rules that decide client, server and service port before the built-in heuristics (docs/roles.md).',
  },
  {
    key: 'DLLT_DNS_NAME_MIN_S', field: 'dnsNameMinS', type: 'int', default: '60', unit: 's', min: 0, max: DAY_S,
    description: 'A server name learned from a DNS answer names the client\'s flows to that address that start within the answer\'s TTL, but at least this long (resolvers answer local names with TTL 0; clients keep answers longer than their TTL).',
  },
  {
    key: 'DLLT_FOLLOW_MAX', field: 'followMax', type: 'int', default: '100', unit: 'follows', min: 1, max: 10_000,
    description: 'At most this many connections followed at once; more matches are logged (`follow_cap`) and not followed.',
  },
  {
    key: 'DLLT_FOLLOW_MAX_FILE_MB', field: 'followMaxFileMb', type: 'int', default: '100', unit: 'MiB', min: 1, max: 1_048_576,
    description: 'A follow pcap stops growing at this size; it is still written, and log_notif says it was truncated.',
  },
  {
    key: 'DLLT_AVOID_KUBE_PROBES', field: 'avoidKubeProbes', type: 'bool-YN', default: 'Y',
    description: 'Treat Kubernetes probe requests (`User-Agent: kube-probe/...`) like `AVOID_LIVENESS_PROBE`: no follow, no events. The start banner says when it is on.',
  },
  {
    key: 'DLLT_LOCAL_NETS', field: 'localNets', type: 'cidr-list',
    description: 'Comma list of CIDRs (IPv4 or IPv6) of the monitored side, for capture files; live capture reads the interface\'s addresses.',
  },
  {
    key: 'DLLT_SNAPLEN', field: 'snaplen', type: 'int', default: '262144', unit: 'bytes', min: 64, max: 262_144,
    flag: { attr: 'snaplen', spelling: '--snaplen' },
    description: 'Bytes captured per packet in live capture.',
  },
  {
    key: 'DLLT_PROMISC', field: 'promisc', type: 'bool-YN', default: 'Y',
    flag: { attr: 'promisc', spelling: '--no-promisc' },
    description: 'Put the capture interface in promiscuous mode.',
  },
  {
    key: 'DLLT_FORMAT', field: 'format', type: 'enum', default: 'json', values: ['json', 'text'],
    flag: { attr: 'format', spelling: '--format' },
    description: 'Record format of the .log files: JSON Lines, or an aligned grep-friendly text rendering of the same fields.',
  },
  {
    key: 'DLLT_OUT', field: 'outRoot', type: 'path', defaultText: '`/dllt` when writable or creatable, else `./dllt`',
    flag: { attr: 'out', spelling: '--out' },
    description: 'Output root; files go to `<root>/logs/dllt<ifindex>/` (live), `<root>/logs/<file>/` (read) or `<root>/logs/packetless/` (`capture --packetless`).',
  },
  {
    key: 'DLLT_EVENTS', field: 'events', type: 'bool-YN', default: 'Y',
    description: 'Network event detection (the netwevents file). `N`: no events; the flow records are unchanged (their TLS, HTTP and DNS fields come from DLLT_APP_PARSING).',
  },
  {
    key: 'DLLT_APP_PARSING', field: 'appParsing', type: 'bool-YN', default: 'Y',
    description: 'Application parsing: TLS, HTTP/1 request heads and DNS, for the flow records\' `tls`, `http` and `serverName` and for events 00003, 00004, 00005 and 00103. `N`: bare flows, the fastest read; those fields and events are never written (and AVOID_LIVENESS_PROBE, which needs the HTTP parser, is refused).',
  },
  {
    key: 'DLLT_TLS_EVENTS', field: 'tlsEvents', type: 'bool-YN', default: 'Y',
    description: 'Raise event 00003 (CODE_TCP_IS_TLS_STR) for each TLS handshake.',
  },
  {
    key: 'DLLT_TLS_PORTS', field: 'tlsPorts', type: 'port-list', default: '443,465,636,853,989,990,992,993,994,995,5061,6443,8443,9443,10250',
    description: 'Server ports where clients must speak TLS from the first byte: anything else there is event 00005 `not_tls`.',
  },
  {
    key: 'DLLT_EVENTS_OFF', field: 'eventsOff', type: 'code-list',
    description: 'Event codes not to raise (comma list, e.g. `00003,00101`).',
  },
  {
    key: 'DLLT_EVENTS_PER_FLOW', field: 'eventsPerFlow', type: 'int', default: '20', unit: 'events', min: 1, max: 255,
    description: 'At most this many events per flow (00010 aside); the rest are counted as suppressed in log_notif.',
  },
  {
    key: 'DLLT_EVENTS_PER_S', field: 'eventsPerSecond', type: 'int', default: '100', unit: 'events/s', min: 1, max: 1_000_000,
    description: 'At most this many events of one code per second of packet time, so a storm cannot flood netwevents; the rest are counted as suppressed in log_notif.',
  },
  {
    key: 'DLLT_STALE_MIN_S', field: 'staleMinS', type: 'seconds', default: '5', unit: 's', max: DAY_S,
    description: 'Event 00007: the least silence that makes a data-carrying connection stale; also how long a direction must have carried data to count.',
  },
  {
    key: 'DLLT_STALE_GAP_FACTOR', field: 'staleGapFactor', type: 'int', default: '10', unit: '×', min: 1, max: 1000,
    description: 'Event 00007: a silence longer than this many times the direction\'s usual gap between data segments (if more than `DLLT_STALE_MIN_S`).',
  },
  {
    key: 'DLLT_STALE_MIN_DATA_PKTS', field: 'staleMinDataPkts', type: 'int', default: '10', unit: 'segments', min: 1, max: 1_000_000,
    description: 'Events 00007/00008: a direction carries data once it has sent this many new-data segments over at least `DLLT_STALE_MIN_S`.',
  },
  {
    key: 'DLLT_STALE_STRONG_S', field: 'staleStrongS', type: 'seconds', default: '30', unit: 's', max: DAY_S,
    description: 'Event 00008: silence past this (or 3× the 00007 threshold if longer), or a retransmission during the silence.',
  },
  {
    key: 'DLLT_RESET_STORM_COUNT', field: 'resetStormCount', type: 'int', default: '20', unit: 'resets', min: 1, max: 100_000,
    description: 'Event 00010: more than this many reset connections for one server IP:port within the window.',
  },
  {
    key: 'DLLT_RESET_STORM_WINDOW_S', field: 'resetStormWindowS', type: 'seconds', default: '60', unit: 's', max: DAY_S,
    description: 'Event 00010: the sliding window; raised once per window.',
  },
  {
    key: 'DLLT_ZERO_WINDOW_STALL_S', field: 'zeroWindowStallS', type: 'seconds', default: '5', unit: 's', max: DAY_S,
    description: 'Event 00100: a side advertising a zero receive window for this long.',
  },
  {
    key: 'DLLT_RETRANS_RATE_PCT', field: 'retransRatePct', type: 'int', default: '10', unit: '%', min: 1, max: 100,
    description: 'Event 00101: a side whose retransmitted share of data segments reaches this.',
  },
  {
    key: 'DLLT_RETRANS_MIN_PKTS', field: 'retransMinPkts', type: 'int', default: '20', unit: 'segments', min: 1, max: 1_000_000,
    description: 'Event 00101: only once the side has sent this many data segments.',
  },
  {
    key: 'DLLT_ON_VIF_GONE', field: 'onVifGone', type: 'enum', default: 'wait', values: ['wait', 'exit'],
    description: 'When the monitored interface disappears (event 00011), its open flows end (`interface_gone`); then `wait`: capture again when an interface of the same name comes back, writing on into the same directory; `exit`: exit with code 3.',
  },
  {
    key: 'DLLT_KUBELET_PODS_DIR', field: 'kubeletPodsDir', type: 'path', default: '/var/log/pods',
    description: 'The kubelet\'s pod log directory, used to name the pod behind a process.',
  },
  {
    key: 'DLLT_PACKETLESS_POLL_MS', field: 'packetlessPollMs', type: 'int', default: '1000', unit: 'ms', min: 100, max: 60_000,
    description: '`dllt capture --packetless`: how often the TCP sockets of every watched network namespace are read (`ss`). Connections that open and close between two reads are still reported, from the kernel\'s socket-destroy events.',
  },
] as const satisfies readonly ConfigKeySpec[];

/** Compile-time check that every Config field backed by a key has a catalog entry. */
type AssertNever<T extends never> = T;
export type ConfigCatalogIsComplete = AssertNever<Exclude<KeyField, (typeof CONFIG_CATALOG)[number]['field']>>;

const SPEC_BY_KEY: ReadonlyMap<string, ConfigKeySpec> = new Map(CONFIG_CATALOG.map((s) => [s.key, s]));

export const DEFAULT_CONFIG_FILE = './dlltagent_searchpod';

/**
 * The config file's text for loadConfig: the `--config` path (which must exist), else
 * `./dlltagent_searchpod` when present, else nothing.
 */
export function readConfigFile(flagPath: string | undefined, cwd: string = process.cwd()): { text: string; path: string } | undefined {
  const path = resolvePath(cwd, flagPath ?? DEFAULT_CONFIG_FILE);
  if (flagPath === undefined && !existsSync(path)) return undefined;
  try {
    return { text: readFileSync(path, 'utf8'), path };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new DlltError('DLLT_ERR_FILE_NOT_FOUND', `cannot read config file ${path}: ${code}`, {
      hint: 'check the --config path and its permissions',
      cause: err,
    });
  }
}

export interface LoadConfigInput {
  /** Commander's parsed options. Pass only what the user typed: a flag present here wins. */
  flags: Record<string, string | boolean | undefined>;
  env: NodeJS.ProcessEnv | Record<string, string | undefined>;
  configFileText?: string;
  configFilePath?: string;
  /** For the `DLLT_OUT` default and relative paths; defaults to the process's. */
  cwd?: string;
  /** Whether `/dllt` can be used; injectable so tests do not depend on the host. */
  isWritableDir?: (dir: string) => boolean;
}

interface RawValue {
  text: string;
  origin: ConfigOrigin;
}

export function loadConfig(input: LoadConfigInput): Config {
  const cwd = input.cwd ?? process.cwd();
  const fileValues = input.configFileText === undefined
    ? new Map<string, RawValue>()
    : parseConfigFile(input.configFileText, input.configFilePath ?? 'config file');
  const envValues = collectEnv(input.env);
  const flagValues = collectFlags(input.flags);

  const values: Record<string, unknown> = {};
  const sources: Record<string, ConfigOrigin> = {};
  for (const spec of CONFIG_CATALOG as readonly ConfigKeySpec[]) {
    const raw = flagValues.get(spec.key) ?? envValues.get(spec.key) ?? fileValues.get(spec.key);
    if (raw !== undefined) {
      values[spec.field] = parseValue(spec, raw);
      sources[spec.key] = raw.origin;
    } else {
      values[spec.field] = defaultValue(spec, cwd, input.isWritableDir ?? isWritableDir);
      sources[spec.key] = { source: 'default' };
    }
  }
  if (typeof values['outRoot'] === 'string') values['outRoot'] = resolvePath(cwd, values['outRoot']);

  const quiet = input.flags['quiet'] === true;
  const verbose = input.flags['verbose'] === true;
  if (quiet && verbose) {
    throw new DlltError('DLLT_ERR_USAGE', '-q/--quiet and -v/--verbose cannot be combined', { hint: 'choose one of them' });
  }
  const filter = input.flags['filter'];
  if (filter !== undefined && typeof filter !== 'string') {
    throw new DlltError('DLLT_ERR_USAGE', '--filter needs a BPF expression', { hint: "e.g. --filter 'tcp port 443'" });
  }

  const cfg = {
    ...values,
    quiet,
    verbose,
    sources,
    ...(filter !== undefined && filter !== '' ? { filter } : {}),
    ...(input.configFileText !== undefined && input.configFilePath !== undefined ? { configFilePath: input.configFilePath } : {}),
  } as unknown as Config;
  checkCrossKey(cfg);
  return cfg;
}

function checkCrossKey(cfg: Config): void {
  if (cfg.searchHttpHeader !== undefined && !cfg.appParsing) {
    throw new DlltError(
      'DLLT_ERR_CONFIG_INVALID',
      'SEARCH_HTTP_HEADER is set but DLLT_APP_PARSING=N turns off the HTTP parser it needs',
      { hint: 'set DLLT_APP_PARSING=Y (or unset it), or follow by port with FOLLOW_PORT' },
    );
  }
  if (cfg.avoidLivenessProbe !== undefined && !cfg.appParsing) {
    throw new DlltError(
      'DLLT_ERR_CONFIG_INVALID',
      'AVOID_LIVENESS_PROBE is set but DLLT_APP_PARSING=N turns off the HTTP parser that finds the header',
      { hint: 'set DLLT_APP_PARSING=Y (or unset it), or unset AVOID_LIVENESS_PROBE' },
    );
  }
  if (cfg.maxDiskMb < cfg.rotateMb) {
    throw new DlltError(
      'DLLT_ERR_CONFIG_INVALID',
      `DLLT_MAX_DISK_MB=${cfg.maxDiskMb} is smaller than DLLT_ROTATE_MB=${cfg.rotateMb}`,
      { hint: 'DLLT_MAX_DISK_MB must be at least DLLT_ROTATE_MB: one file part has to fit under the disk cap' },
    );
  }
}

function collectEnv(env: LoadConfigInput['env']): Map<string, RawValue> {
  const out = new Map<string, RawValue>();
  for (const [key, text] of Object.entries(env)) {
    if (text === undefined) continue;
    checkKnownKey(key, 'environment');
    if (SPEC_BY_KEY.has(key) && text !== '') out.set(key, { text, origin: { source: 'env' } });
  }
  return out;
}

function collectFlags(flags: LoadConfigInput['flags']): Map<string, RawValue> {
  const out = new Map<string, RawValue>();
  for (const spec of CONFIG_CATALOG as readonly ConfigKeySpec[]) {
    if (spec.flag === undefined) continue;
    const given = flags[spec.flag.attr];
    if (given === undefined) continue;
    let text: string;
    if (typeof given === 'boolean') {
      if (spec.type !== 'bool-YN') {
        throw new DlltError('DLLT_ERR_USAGE', `${spec.flag.spelling} needs a value`, { hint: `allowed: ${allowedText(spec)}` });
      }
      // Commander reports `--no-x` flags as true when absent; only `false` was typed by the user.
      if (given && spec.default === 'Y') continue;
      text = given ? 'Y' : 'N';
    } else {
      text = given;
    }
    out.set(spec.key, { text, origin: { source: 'flag', detail: spec.flag.spelling } });
  }
  return out;
}

function checkKnownKey(key: string, where: string): void {
  if (!key.startsWith('DLLT_') || SPEC_BY_KEY.has(key)) return;
  const suggestion = closestKey(key);
  throw new DlltError(
    'DLLT_ERR_CONFIG_UNKNOWN_KEY',
    `unknown key ${key} in the ${where}` + (suggestion === undefined ? '' : `; did you mean ${suggestion}?`),
    { hint: 'see the README configuration table for the known keys; keys without the DLLT_ prefix are ignored' },
  );
}

/** The known key at the smallest edit distance, if it is close enough to be a typo. */
export function closestKey(key: string): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const spec of CONFIG_CATALOG) {
    const d = editDistance(key, spec.key);
    if (d < bestDistance) {
      bestDistance = d;
      best = spec.key;
    }
  }
  return bestDistance <= Math.max(3, Math.floor(key.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// Config file: `KEY=VALUE` lines as a shell would source them.

/**
 * Parses the env-file format: `#` comments (whole line, or after whitespace in an unquoted
 * value), blank lines, an optional `export ` prefix, optional matching quotes, CRLF endings.
 * An empty value means "not set here". Later lines win, as in a shell.
 */
export function parseConfigFile(text: string, path: string): Map<string, RawValue> {
  const out = new Map<string, RawValue>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(line);
    if (m === null) {
      throw new DlltError('DLLT_ERR_CONFIG_INVALID', `${path}:${lineNo}: expected KEY=VALUE, got ${JSON.stringify(line)}`, {
        hint: 'config file lines are KEY=VALUE, # comments or blank',
      });
    }
    const key = m[1]!;
    checkKnownKey(key, `config file ${path}:${lineNo}`);
    const value = unquote(m[2]!.trim(), path, lineNo);
    if (SPEC_BY_KEY.has(key)) {
      if (value === '') out.delete(key);
      else out.set(key, { text: value, origin: { source: 'file', detail: `${path}:${lineNo}` } });
    }
  }
  return out;
}

function unquote(value: string, path: string, lineNo: number): string {
  const quote = value[0];
  if (quote === '"' || quote === "'") {
    const close = value.indexOf(quote, 1);
    if (close < 0) {
      throw new DlltError('DLLT_ERR_CONFIG_INVALID', `${path}:${lineNo}: unterminated ${quote} quote`, {
        hint: 'close the quote or remove it',
      });
    }
    const rest = value.slice(close + 1).trim();
    if (rest !== '' && !rest.startsWith('#')) {
      throw new DlltError('DLLT_ERR_CONFIG_INVALID', `${path}:${lineNo}: unexpected text after the closing quote: ${JSON.stringify(rest)}`, {
        hint: 'quote the whole value',
      });
    }
    return value.slice(1, close);
  }
  const comment = /\s#/.exec(value);
  return comment === null ? value : value.slice(0, comment.index).trimEnd();
}

// ---------------------------------------------------------------------------------------------
// Values.

function invalid(spec: ConfigKeySpec, raw: RawValue, why?: string): DlltError {
  const where = raw.origin.detail === undefined ? raw.origin.source : `${raw.origin.source} ${raw.origin.detail}`;
  const named = spec.flag !== undefined && raw.origin.source === 'flag' ? `${spec.flag.spelling} (${spec.key})` : spec.key;
  return new DlltError(
    'DLLT_ERR_CONFIG_INVALID',
    `${named}=${JSON.stringify(raw.text)} from ${where} is invalid${why === undefined ? '' : `: ${why}`}; allowed: ${allowedText(spec)}`,
    { hint: `fix ${spec.key}; the README configuration table lists every key` },
  );
}

function parseValue(spec: ConfigKeySpec, raw: RawValue): unknown {
  const text = raw.text.trim();
  switch (spec.type) {
    case 'string':
    case 'path':
      return raw.text;
    case 'int': {
      if (!/^\d+$/.test(text)) throw invalid(spec, raw, 'not a whole number');
      const n = Number(text);
      if (n < (spec.min ?? 0) || n > (spec.max ?? Number.MAX_SAFE_INTEGER)) throw invalid(spec, raw, 'out of range');
      return n;
    }
    case 'seconds': {
      if (!/^\d+(\.\d+)?$/.test(text)) throw invalid(spec, raw, 'not a number of seconds');
      const n = Number(text);
      if (!(n > 0) || n > (spec.max ?? Infinity)) throw invalid(spec, raw, 'out of range');
      return n;
    }
    case 'bool-YN': {
      const upper = text.toUpperCase();
      if (upper !== 'Y' && upper !== 'N') throw invalid(spec, raw);
      return upper === 'Y';
    }
    case 'enum': {
      if (!spec.values!.includes(text)) throw invalid(spec, raw);
      return text;
    }
    case 'port-list':
      return text.split(',').map((item) => {
        const port = item.trim();
        if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
          throw invalid(spec, raw, `${JSON.stringify(port)} is not a port`);
        }
        return Number(port);
      }).filter((p, i, all) => all.indexOf(p) === i);
    case 'cidr-list':
      return text.split(',').map((item) => {
        const cidr = parseCidr(item.trim());
        if (cidr === undefined) throw invalid(spec, raw, `${JSON.stringify(item.trim())} is not a CIDR`);
        return cidr;
      });
    case 'code-list':
      return text.split(',').map((item) => {
        const code = parseEventCode(item.trim());
        if (code === undefined) throw invalid(spec, raw, `${JSON.stringify(item.trim())} is not an event code`);
        return code;
      });
    case 'header-match': {
      const header = parseHeaderText(text);
      if (header === undefined) throw invalid(spec, raw, 'the header name must be an HTTP token');
      return header;
    }
  }
}

function allowedText(spec: ConfigKeySpec): string {
  switch (spec.type) {
    case 'string':
    case 'path':
      return 'any text';
    case 'int':
      return `a whole number from ${spec.min ?? 0} to ${spec.max ?? Number.MAX_SAFE_INTEGER}${spec.unit === undefined ? '' : ` (${spec.unit})`}`;
    case 'seconds':
      return `seconds, more than 0 and at most ${spec.max}, decimals allowed (e.g. 0.5)`;
    case 'bool-YN':
      return 'Y or N (either case)';
    case 'enum':
      return spec.values!.join(' or ');
    case 'port-list':
      return 'a comma list of ports from 1 to 65535';
    case 'cidr-list':
      return 'a comma list of IPv4/IPv6 networks such as 10.0.0.0/8,fd00::/8';
    case 'code-list':
      return 'a comma list of event codes from the event table, e.g. 00003,00101';
    case 'header-match':
      return '`Name` or `Name: value`';
  }
}

function defaultValue(spec: ConfigKeySpec, cwd: string, writable: (dir: string) => boolean): unknown {
  if (spec.field === 'outRoot') return writable('/dllt') ? '/dllt' : resolvePath(cwd, 'dllt');
  if (spec.default === undefined) return spec.type === 'port-list' || spec.type === 'cidr-list' || spec.type === 'code-list' ? [] : undefined;
  return parseValue(spec, { text: spec.default, origin: { source: 'default' } });
}

/** A writable directory, or one that can be created (its parent is a writable directory): as
 *  root on a node, `/dllt` need not exist before the first run, as with the seed agent. */
function isWritableDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    accessSync(dir, fsConstants.W_OK);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return false;
    try {
      accessSync(dirname(dir), fsConstants.W_OK);
      return statSync(dirname(dir)).isDirectory();
    } catch {
      return false;
    }
  }
}

/** `addr` or `addr/prefix`; host bits are cleared so `10.1.2.3/8` means 10.0.0.0/8. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (address === undefined) return undefined;
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  const maxPrefix = address.version === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
  if (prefix > maxPrefix) return undefined;
  const words = address.version === 4 ? Int32Array.of(address.words[0]!) : address.words;
  for (let w = 0; w < words.length; w++) words[w] = words[w]! & prefixMaskWord(prefix, w);
  return { version: address.version, words, prefix };
}

export function formatCidr(cidr: Cidr): string {
  if (cidr.version === 4) {
    const w = cidr.words[0]! >>> 0;
    return `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}/${cidr.prefix}`;
  }
  const groups: number[] = [];
  for (const word of cidr.words) groups.push((word >>> 16) & 0xffff, word & 0xffff);
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  const text = bestStart < 0
    ? hex.join(':')
    : `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
  return `${text}/${cidr.prefix}`;
}

// ---------------------------------------------------------------------------------------------
// Banner and docs.

/** Each key's value as an operator would write it, with its origin: `80,443 (env)`. */
export function describeConfig(cfg: Config): Record<string, string> {
  const out: Record<string, string> = {};
  for (const spec of CONFIG_CATALOG as readonly ConfigKeySpec[]) {
    const origin = cfg.sources[spec.key] ?? { source: 'default' };
    const where = origin.detail === undefined ? origin.source : `${origin.source} ${origin.detail}`;
    out[spec.key] = `${formatValue(spec, cfg[spec.field])} (${where})`;
  }
  if (cfg.filter !== undefined) out['--filter'] = `${cfg.filter} (flag)`;
  if (cfg.configFilePath !== undefined) out['--config'] = cfg.configFilePath;
  return out;
}

/** A header setting as the operator wrote it: `Name` or `Name: value`. */
export function formatHeaderMatch(h: HeaderMatch): string {
  return h.value === undefined ? h.name : `${h.name}: ${h.value}`;
}

function formatValue(spec: ConfigKeySpec, value: unknown): string {
  if (value === undefined) return 'unset';
  switch (spec.type) {
    case 'bool-YN':
      return value ? 'Y' : 'N';
    case 'port-list':
      return (value as number[]).length === 0 ? 'unset' : (value as number[]).join(',');
    case 'cidr-list':
      return (value as Cidr[]).length === 0 ? 'unset' : (value as Cidr[]).map(formatCidr).join(',');
    case 'code-list':
      return (value as number[]).length === 0 ? 'unset' : (value as number[]).map((c) => String(c).padStart(5, '0')).join(',');
    case 'header-match':
      return formatHeaderMatch(value as HeaderMatch);
    default:
      return String(value);
  }
}

/** The README's configuration table (between the config-table markers). */
export function renderConfigTableMarkdown(): string {
  const rows = [
    '| key | type | default | allowed | flag | description |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const spec of CONFIG_CATALOG as readonly ConfigKeySpec[]) {
    const def = spec.defaultText ?? (spec.default === undefined ? 'unset' : `\`${spec.default}\`${spec.unit === undefined ? '' : ` ${spec.unit}`}`);
    const flag = spec.flag === undefined ? '' : `\`${spec.flag.spelling}\``;
    const cells = [`\`${spec.key}\``, spec.type, def, allowedText(spec), flag, spec.description];
    rows.push(`| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  }
  return [
    'Precedence, strongest first: command-line flags, environment, config file (`--config FILE`,',
    `default \`${DEFAULT_CONFIG_FILE}\` when present), defaults. An empty value means unset. An unknown`,
    '`DLLT_` key or an invalid value stops dllt with exit code 2 and a message naming the key;',
    'other unknown keys are ignored.',
    '',
    ...rows,
  ].join('\n') + '\n';
}
