// Finds compiled test files under dist/ and runs them with node's built-in test runner.
// Node 20's `--test` takes no globs, hence this list. `--unit` leaves out test/e2e (namespaces, root).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const unitOnly = process.argv.includes('--unit');
const files = [];
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path);
    else if (name.endsWith('.test.js')) files.push(path);
  }
}
walk('dist/src');
walk('dist/test');
const selected = files.filter((f) => !(unitOnly && f.includes('/e2e/'))).sort();
if (selected.length === 0) {
  console.error('no test files found under dist/: run `npm run build` first');
  process.exit(1);
}
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...selected], { stdio: 'inherit' });
process.exit(result.status ?? 1);
