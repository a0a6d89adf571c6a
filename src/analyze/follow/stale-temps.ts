/**
 * A follow is written to `.<name>.<pid>.<n>.tmp` and renamed when committed; a dllt that was
 * killed (SIGKILL, OOM, power loss) leaves its temp files behind, invisible to `ls` and outside
 * the disk cap's count. The next run in the same directory deletes those of processes that no
 * longer exist; a live dllt's (another run on the same interface) are left alone.
 */
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

const FOLLOW_TEMP = /^\.follow_.+\.(\d+)\.\d+\.tmp$/;

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Deletes dead runs' follow temp files in `dir`; returns their names and total size. */
export function removeStaleFollowTemps(dir: string): { names: string[]; bytes: number } {
  const removed = { names: [] as string[], bytes: 0 };
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of entries) {
    const pid = Number(FOLLOW_TEMP.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || processExists(pid)) continue;
    const path = join(dir, name);
    try {
      const { size } = statSync(path);
      unlinkSync(path);
      removed.names.push(name);
      removed.bytes += size;
    } catch {
      // Gone meanwhile, or not ours to delete: nothing to clean.
    }
  }
  return removed;
}
