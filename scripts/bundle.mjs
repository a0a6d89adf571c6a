// Bundles the compiled CLI (dist/src) into dist/app/: main.js, its two worker entry points and
// the chunks they share, with the npm dependencies inside. `dllt` runs from here. Node's ES module
// loader resolves, reads and links each of ~130 files one by one: 60 ms before the first packet
// on the main thread, and the same again in the record worker, which the first batch waits for.
// One bundle per thread starts in a third of that (docs/bench.md, "Start-up").
//
// The C helpers are found next to the module that runs them (new URL('./dllt-capture',
// import.meta.url)); in the bundle that is dist/app/, so scripts/build-native.sh puts a copy
// there too.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const outdir = join(root, 'dist/app');
mkdirSync(outdir, { recursive: true });
for (const name of readdirSync(outdir, { withFileTypes: true }).filter((e) => e.isFile() && e.name.endsWith('.js'))) {
  rmSync(join(outdir, name.name));
}
await build({
  entryPoints: ['main', 'record-worker', 'attribution-worker'].map((name) => join(root, `dist/src/cli/${name}.js`)),
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  // The CommonJS dependencies (commander, cli-progress, dns-packet) call require() for Node's
  // own modules; an ES module has no require until it is made here.
  banner: { js: "import { createRequire as dlltCreateRequire } from 'node:module'; const require = dlltCreateRequire(import.meta.url);" },
});
