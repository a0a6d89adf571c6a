/**
 * Operational errors with stable codes (undici/fastify style). Packets never throw: these are
 * for the operator's side of things — config, files, privileges, disks. Every code lives in
 * ERROR_CATALOG with its meaning and the fix, and docs/errors.md is generated from the
 * catalog (a test keeps them identical), so the message an operator sees can be looked up.
 */

export interface ErrorCatalogEntry {
  code: string;
  /** 2: the operator asked for something invalid (usage, config); 1: it failed at run time. */
  exitCode: 1 | 2;
  meaning: string;
  whatToDo: string;
}

export const ERROR_CATALOG = [
  {
    code: 'DLLT_ERR_CONFIG_INVALID',
    exitCode: 2,
    meaning: 'A configuration value (flag, environment variable or config file line) is not allowed, or two values contradict each other. The message names the key, the bad value and what is allowed.',
    whatToDo: 'Fix the named key; the README configuration table lists every key with its type, range and default.',
  },
  {
    code: 'DLLT_ERR_CONFIG_UNKNOWN_KEY',
    exitCode: 2,
    meaning: 'A `DLLT_`-prefixed key in the environment or the config file is not one dllt knows (unknown keys without the prefix are ignored). The message suggests the closest known key.',
    whatToDo: 'Correct the spelling or remove the key; see the README configuration table.',
  },
  {
    code: 'DLLT_ERR_USAGE',
    exitCode: 2,
    meaning: 'The command line is wrong: unknown command or flag, missing argument, or flags that cannot be combined.',
    whatToDo: 'Run `dllt <command> --help` for the accepted flags.',
  },
  {
    code: 'DLLT_ERR_FILE_NOT_FOUND',
    exitCode: 1,
    meaning: 'An input file (capture file or config file named with `--config`) does not exist or cannot be opened for reading.',
    whatToDo: 'Check the path and its permissions.',
  },
  {
    code: 'DLLT_ERR_FILE_FORMAT',
    exitCode: 1,
    meaning: 'An input file is not a capture format dllt reads (pcap, pcapng, optionally gzip-compressed), or is corrupt beyond recovery. Recoverable damage is reported and skipped instead.',
    whatToDo: 'Check the file with `tcpdump -r FILE` or `capinfos FILE`; convert other formats with `editcap -F pcapng`.',
  },
  {
    code: 'DLLT_ERR_CAPTURE_PERMISSION',
    exitCode: 1,
    meaning: 'Live capture needs privileges the process does not have.',
    whatToDo: 'Run as root, or grant the binary `CAP_NET_RAW` and `CAP_NET_ADMIN` (in Kubernetes: the container\'s securityContext capabilities).',
  },
  {
    code: 'DLLT_ERR_CAPTURE_NO_INTERFACE',
    exitCode: 1,
    meaning: 'The interface named with `-i`, `--ifindex` or `INTERFACE_INDEX_SNIF` does not exist or is not up (or no non-loopback interface is up); or the pod (`dllt pod`, `--pod`) or process (`--pid`) to watch is not on this node.',
    whatToDo: 'List interfaces with `ip -o link`; for a pod use `dllt pod NAMESPACE/NAME` to find its host-side interface; check a pod with `kubectl get pod -o wide` (it must run on this node) and a process with `ps -p PID`.',
  },
  {
    code: 'DLLT_ERR_CAPTURE_TOOL_MISSING',
    exitCode: 1,
    meaning: 'A helper program needed for this mode is not installed (for example the capture helper or `bpftrace` for `USE_EBPF=Y`).',
    whatToDo: 'Install the named program (the message says which package), or choose a mode that does not need it (`USE_EBPF=N`).',
  },
  {
    code: 'DLLT_ERR_OUTPUT_UNWRITABLE',
    exitCode: 1,
    meaning: 'The output directory cannot be created or written.',
    whatToDo: 'Choose a writable directory with `--out` or `DLLT_OUT`, or fix the permissions of the named path.',
  },
  {
    code: 'DLLT_ERR_DISK_FULL',
    exitCode: 1,
    meaning: 'The disk holding the output directory is full. While running, dllt keeps records in a bounded memory backlog and retries; this error is raised only when nothing can be written at all.',
    whatToDo: 'Free space on the named filesystem or lower `DLLT_MAX_DISK_MB` below the space available.',
  },
  {
    code: 'DLLT_ERR_INTERNAL',
    exitCode: 1,
    meaning: 'A bug in dllt: something that should not happen did.',
    whatToDo: 'Report it with the message, the command line and, if possible, the capture that triggered it.',
  },
] as const satisfies readonly ErrorCatalogEntry[];

export type DlltErrorCode = (typeof ERROR_CATALOG)[number]['code'];

const BY_CODE: ReadonlyMap<string, ErrorCatalogEntry> = new Map(ERROR_CATALOG.map((e) => [e.code, e]));

export function errorCatalogEntry(code: DlltErrorCode): ErrorCatalogEntry {
  return BY_CODE.get(code)!;
}

export class DlltError extends Error {
  readonly code: DlltErrorCode;
  readonly exitCode: 1 | 2;
  /** What the operator should do; the catalog's advice unless the thrower knows better. */
  readonly hint: string;

  constructor(code: DlltErrorCode, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DlltError';
    const entry = errorCatalogEntry(code);
    this.code = code;
    this.exitCode = entry.exitCode;
    this.hint = options?.hint ?? entry.whatToDo;
  }

  /** The one line printed to stderr before exiting. */
  toOneLine(): string {
    return `dllt: ${this.code}: ${this.message} (${this.hint})`;
  }
}

export function isDlltError(err: unknown): err is DlltError {
  return err instanceof DlltError;
}

/** docs/errors.md, generated so the catalog and the docs cannot drift apart. */
export function renderErrorsMarkdown(): string {
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from ERROR_CATALOG in src/cli/errors.ts; regenerate with',
    '     `DLLT_UPDATE_DOCS=1 node --test dist/src/cli/errors.test.js`. -->',
    '',
    'Every operational error dllt reports carries one of these stable codes, a one-line',
    'message naming what and where, and a hint. Exit code 2 means bad usage or configuration;',
    'exit code 1 a failure at run time. Malformed packets and damaged parts of capture files',
    'are never errors: they are counted and reported in `log_notif`. Exit code 3 is no error',
    'either: `dllt capture` with `DLLT_ON_VIF_GONE=exit` stops with it when the monitored',
    'interface disappeared (event 00011, a pod deleted), after writing every record.',
    '',
    '| code | exit | meaning | what to do |',
    '| --- | --- | --- | --- |',
  ];
  for (const e of ERROR_CATALOG) {
    lines.push(`| \`${e.code}\` | ${e.exitCode} | ${escapeCell(e.meaning)} | ${escapeCell(e.whatToDo)} |`);
  }
  return lines.join('\n') + '\n';
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|');
}
