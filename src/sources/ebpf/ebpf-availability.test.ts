/**
 * The eBPF preflight: capability arithmetic, then the real thing — as root here, as an
 * unprivileged child (setpriv drops the uid and every capability; the kernel's own CapEff line
 * says so), and in a private mount namespace without tracefs, where the check mounts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { capabilityProblem, checkEbpf, effectiveCapabilities, DEBUGFS_TRACEFS_DIR, TRACEFS_DIR } from './ebpf-availability.js';
import { collect } from '../../../test/e2e/netns.js';

const bit = (n: number): bigint => 1n << BigInt(n);

test('capabilities: CAP_SYS_ADMIN (21) alone, or CAP_BPF (39) with CAP_PERFMON (38)', () => {
  assert.equal(capabilityProblem(bit(21)), undefined);
  assert.equal(capabilityProblem(bit(39) | bit(38)), undefined);
  assert.match(capabilityProblem(0n)!, /^missing capability CAP_SYS_ADMIN \(or CAP_BPF with CAP_PERFMON\)/);
  assert.match(capabilityProblem(bit(39))!, /^missing capability CAP_PERFMON/);
  assert.match(capabilityProblem(bit(38))!, /^missing capability CAP_BPF/);
  assert.match(capabilityProblem(bit(12) | bit(13))!, /CAP_SYS_ADMIN/, 'CAP_NET_ADMIN/NET_RAW are no substitute');
});

test('CapEff is read from the status text; unreadable text gives undefined', () => {
  assert.equal(effectiveCapabilities('Name:\tx\nCapPrm:\t0\nCapEff:\t000001fffeffffff\nCapBnd:\t0\n'), 0x1fffeffffffn);
  assert.equal(effectiveCapabilities('CapEff:\tzz\n'), undefined);
  assert.equal(effectiveCapabilities(''), undefined);
});

test('a bpftrace that is not there is named, with the fallback', () => {
  assert.deepEqual(checkEbpf({ bpftracePath: '/nonexistent/bpftrace' }), {
    ok: false,
    reason: 'USE_EBPF=Y: bpftrace not found at /nonexistent/bpftrace; using /proc',
  });
});

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasTool = (t: string): boolean => spawnSync('sh', ['-c', `command -v ${t}`]).status === 0;
const rootSkip = !isRoot ? 'needs root' : !hasTool('bpftrace') ? 'bpftrace is not installed' : undefined;
if (rootSkip) console.log(`# ebpf-availability: privileged checks skipped: ${rootSkip}`);

test('as root with bpftrace installed, eBPF is available here', { skip: rootSkip }, () => {
  assert.deepEqual(checkEbpf(), { ok: true });
});

const here = (file: string): string => fileURLToPath(new URL(file, import.meta.url));

/** Runs an ES module snippet in a child node; its last stdout line is JSON. */
async function nodeChild(prefix: string[], script: string): Promise<Record<string, unknown>> {
  const [cmd, ...args] = [...prefix, process.execPath, '--input-type=module', '-e', script];
  const r = await collect(spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] }), 60_000);
  assert.equal(r.code, 0, `child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

const noPrivSkip = rootSkip ?? (hasTool('setpriv') ? undefined : 'setpriv (util-linux) is not installed');

test('without privilege: CapEff is 0, and the check and a start both name the missing capability', { skip: noPrivSkip }, async () => {
  const script = `
    import { readFileSync } from 'node:fs';
    const { checkEbpf } = await import(${JSON.stringify(here('./ebpf-availability.js'))});
    const { EbpfSocketSource } = await import(${JSON.stringify(here('./ebpf-socket-source.js'))});
    const capEff = /^CapEff:\\s*(\\w+)/m.exec(readFileSync('/proc/self/status', 'utf8'))[1];
    const problems = [];
    const start = await new EbpfSocketSource().start(() => {}, (p) => problems.push(p));
    console.log(JSON.stringify({ uid: process.getuid(), capEff, check: checkEbpf(), start, problems }));
  `;
  const out = await nodeChild(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'], script);
  assert.equal(out['uid'], 65534);
  assert.equal(out['capEff'], '0000000000000000');
  const expected = {
    ok: false,
    reason:
      'USE_EBPF=Y: missing capability CAP_SYS_ADMIN (or CAP_BPF with CAP_PERFMON): run as root or grant it ' +
      '(Kubernetes: securityContext.capabilities.add); using /proc',
  };
  assert.deepEqual(out['check'], expected);
  assert.deepEqual(out['start'], expected);
  assert.deepEqual(out['problems'], []);
});

const mountSkip =
  rootSkip ??
  (!hasTool('unshare') ? 'unshare (util-linux) is not installed' : existsSync(DEBUGFS_TRACEFS_DIR) ? `${DEBUGFS_TRACEFS_DIR} exists (bpftrace would read that one)` : undefined);

test('tracefs missing (private mount namespace): named when mounting is off, mounted by the check otherwise', { skip: mountSkip }, async () => {
  const script = `
    import { readFileSync } from 'node:fs';
    const { checkEbpf } = await import(${JSON.stringify(here('./ebpf-availability.js'))});
    const tracefsMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\\n')
      .filter((l) => l.split(' - ')[1]?.startsWith('tracefs ')).map((l) => l.split(' ')[4]);
    const before = tracefsMounts();
    const withoutMount = checkEbpf({ mountTracefs: false });
    const withMount = checkEbpf();
    console.log(JSON.stringify({ before, withoutMount, withMount, after: tracefsMounts() }));
  `;
  // The unmount happens only inside the new mount namespace (private propagation): the host keeps its tracefs.
  const unmountAll = `while umount ${TRACEFS_DIR} 2>/dev/null; do :; done; exec "$@"`;
  const out = await nodeChild(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', unmountAll, 'sh'], script);
  assert.deepEqual(out['before'], []);
  assert.deepEqual(out['withoutMount'], {
    ok: false,
    reason: `USE_EBPF=Y: tracefs is not mounted (mount -t tracefs nodev ${TRACEFS_DIR}; in Kubernetes mount the host's ${TRACEFS_DIR}); using /proc`,
  });
  assert.deepEqual(out['withMount'], { ok: true });
  assert.deepEqual(out['after'], [TRACEFS_DIR]);
});
