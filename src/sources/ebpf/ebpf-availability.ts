/**
 * Whether USE_EBPF=Y can work here, checked before bpftrace is started, so the operator reads
 * one sentence naming what is missing and what to do (SPEC 9, 13) instead of bpftrace's own
 * messages, and dllt falls back to /proc.
 *
 * What bpftrace needs for our program: its binary; CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON
 * (load programs, attach tracepoints, read kernel memory); tracefs, where bpftrace reads each
 * tracepoint's format; kernel BTF, for the `struct sock` casts; a kernel lockdown below
 * `confidentiality`, which forbids reading kernel memory. A missing tracefs is mounted here when
 * we may (it is a kernel view, mounting it changes nothing else): containers often start without.
 */
import { existsSync, readFileSync } from 'node:fs';
import { findExecutable } from '../../util/executables.js';
import { spawnSync } from 'node:child_process';

export type EbpfCheck = { ok: true } | { ok: false; reason: string };

/** Capability numbers from <linux/capability.h>. */
const CAP_SYS_ADMIN = 21;
const CAP_PERFMON = 38;
const CAP_BPF = 39;

export const TRACEFS_DIR = '/sys/kernel/tracing';
/** Where debugfs exposes tracefs; bpftrace prefers it whenever it exists. */
export const DEBUGFS_TRACEFS_DIR = '/sys/kernel/debug/tracing';
export const KERNEL_BTF = '/sys/kernel/btf/vmlinux';
const LOCKDOWN_FILE = '/sys/kernel/security/lockdown';

const FALLBACK = '; using /proc';

export interface EbpfCheckOptions {
  /** bpftrace to use instead of the first in PATH and the usual directories. */
  bpftracePath?: string;
  /** Mount tracefs when it is missing (default true). */
  mountTracefs?: boolean;
}

/** bpftrace's executable, or undefined when it is not installed. */
export function findBpftrace(explicit?: string): string | undefined {
  return findExecutable('bpftrace', explicit);
}

/** This process's effective capabilities (CapEff in /proc/self/status), or undefined if unreadable. */
export function effectiveCapabilities(statusText?: string): bigint | undefined {
  let text = statusText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^CapEff:\s*([0-9a-fA-F]{1,16})\s*$/m.exec(text);
  return m ? BigInt(`0x${m[1]}`) : undefined;
}

/** What is missing from `caps` (as CapEff), or undefined when they are enough. */
export function capabilityProblem(caps: bigint): string | undefined {
  const has = (n: number): boolean => (caps & (1n << BigInt(n))) !== 0n;
  if (has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON))) return undefined;
  const missing = has(CAP_BPF) ? 'CAP_PERFMON (CAP_BPF needs it too), or CAP_SYS_ADMIN' : has(CAP_PERFMON) ? 'CAP_BPF (CAP_PERFMON needs it too), or CAP_SYS_ADMIN' : 'CAP_SYS_ADMIN (or CAP_BPF with CAP_PERFMON)';
  return `missing capability ${missing}: run as root or grant it (Kubernetes: securityContext.capabilities.add)`;
}

/** The tracefs directory bpftrace will read (its own rule: debugfs's when that exists). */
export function tracefsDir(): string {
  return existsSync(DEBUGFS_TRACEFS_DIR) ? DEBUGFS_TRACEFS_DIR : TRACEFS_DIR;
}

const hasEvents = (dir: string): boolean => existsSync(`${dir}/events/sock`) || existsSync(`${dir}/events/tcp`);

function checkTracefs(mount: boolean): string | undefined {
  const dir = tracefsDir();
  if (hasEvents(dir)) return undefined;
  if (dir === DEBUGFS_TRACEFS_DIR) {
    return `${dir} has no tracepoint events (is tracefs hidden there by a container mount? mount the host's /sys/kernel/debug or unmount it)`;
  }
  if (!existsSync(TRACEFS_DIR)) return `this kernel has no ${TRACEFS_DIR} (built without tracing support)`;
  const how = `mount -t tracefs nodev ${TRACEFS_DIR}`;
  if (!mount) return `tracefs is not mounted (${how}; in Kubernetes mount the host's ${TRACEFS_DIR})`;
  const r = spawnSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS_DIR], { encoding: 'utf8', timeout: 10_000 });
  if (r.status === 0 && hasEvents(TRACEFS_DIR)) return undefined;
  const why = (r.stderr ?? '').trim() || (r.error ? r.error.message : `mount exited with ${r.status ?? r.signal}`);
  return `tracefs is not mounted and mounting it failed: ${why} (run ${how} on the host; in Kubernetes mount the host's ${TRACEFS_DIR})`;
}

function lockdownMode(): string | undefined {
  try {
    return /\[(\w+)\]/.exec(readFileSync(LOCKDOWN_FILE, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Whether eBPF can be used; the reason names what is missing, what to do, and the fallback. */
export function checkEbpf(opts: EbpfCheckOptions = {}): EbpfCheck {
  const fail = (what: string): EbpfCheck => ({ ok: false, reason: `USE_EBPF=Y: ${what}${FALLBACK}` });
  if (findBpftrace(opts.bpftracePath) === undefined) {
    return fail(opts.bpftracePath !== undefined ? `bpftrace not found at ${opts.bpftracePath}` : 'bpftrace not found (apt-get install bpftrace)');
  }
  const caps = effectiveCapabilities();
  if (caps === undefined) return fail('cannot read CapEff from /proc/self/status to check privileges');
  const capsProblem = capabilityProblem(caps);
  if (capsProblem !== undefined) return fail(capsProblem);
  const tracefsProblem = checkTracefs(opts.mountTracefs ?? true);
  if (tracefsProblem !== undefined) return fail(tracefsProblem);
  if (!existsSync(KERNEL_BTF)) return fail(`kernel BTF (${KERNEL_BTF}) is missing: the kernel was built without CONFIG_DEBUG_INFO_BTF`);
  if (lockdownMode() === 'confidentiality') return fail('kernel lockdown is in confidentiality mode, which forbids eBPF reading kernel memory');
  return { ok: true };
}
