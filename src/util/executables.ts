/**
 * Finding the programs dllt runs (tcpdump, bpftrace, nsenter, ip): in PATH, then in the usual
 * system directories, which a non-login PATH (a service, `ip netns exec`) may leave out.
 */
import { accessSync, constants as fsConstants } from 'node:fs';

const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin', '/usr/local/sbin', '/usr/local/bin'];

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `explicit` when given (and executable), else the first `name` in PATH or the system directories. */
export function findExecutable(name: string, explicit?: string): string | undefined {
  if (explicit !== undefined) return isExecutable(explicit) ? explicit : undefined;
  const dirs = [...(process.env['PATH'] ?? '').split(':').filter((d) => d.startsWith('/')), ...SYSTEM_DIRS];
  return dirs.map((d) => `${d}/${name}`).find(isExecutable);
}
