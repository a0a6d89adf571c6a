// Bundles the compiled CLI (dist/src) into dist/app/: main.js, its two worker entry points and
// the chunks they share, with the npm dependencies inside. `dllt` runs from here. Node's ES module
// loader resolves, reads and links each of ~130 files one by one: 60 ms before the first packet
// on the main thread, and the same again in the record worker, which the first batch waits for.
// One bundle per thread starts in a third of that (docs/design/0006-bundle.md).
//
// The C helpers are found next to the module that runs them (new URL('./dllt-capture',
// import.meta.url)); in the bundle that is dist/app/, so scripts/build-native.sh puts a copy
// there too.
//
// esbuild turns every top-level const into var (evanw/esbuild#623, no option to keep it). V8
// folds a module's const bindings into optimized code but must load and check a var on every
// use, and the hot paths read module constants (SHA-1's block, digit tables, scratch arrays): the
// record worker ran 6–8 % slower bundled (2 M-flow SYN flood 7.8 → 8.5 s). So each top-level
// var that the bundle never assigns again is made const again, found with TypeScript's parser.
import { build } from 'esbuild';
import ts from 'typescript';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const outdir = join(root, 'dist/app');
mkdirSync(outdir, { recursive: true });
const bundleFiles = () => readdirSync(outdir).filter((name) => name.endsWith('.js')).map((name) => join(outdir, name));
for (const file of bundleFiles()) rmSync(file);
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

/** Names the code assigns to anywhere (any scope: a shadowing local only keeps a var a var). A
 *  write to a property or element (`BLOCK[i] = b`, `f.b = b`) changes the object, not the binding. */
function assignedNames(source) {
  const names = new Set();
  const addTargets = (node) => {
    if (ts.isIdentifier(node)) names.add(node.text);
    else if (ts.isShorthandPropertyAssignment(node)) names.add(node.name.text);
    else if (ts.isPropertyAssignment(node)) addTargets(node.initializer);
    else if (!ts.isPropertyAccessExpression(node) && !ts.isElementAccessExpression(node)) node.forEachChild(addTargets);
  };
  const visit = (node) => {
    if (ts.isBinaryExpression(node) && node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment && node.operatorToken.kind <= ts.SyntaxKind.LastAssignment) {
      addTargets(node.left);
    } else if ((ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) && (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken)) {
      addTargets(node.operand);
    } else if ((ts.isForInStatement(node) || ts.isForOfStatement(node)) && !ts.isVariableDeclarationList(node.initializer)) {
      addTargets(node.initializer);
    }
    node.forEachChild(visit);
  };
  visit(source);
  return names;
}

let restored = 0;
for (const file of bundleFiles()) {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const assigned = assignedNames(source);
  const starts = [];
  for (const statement of source.statements) {
    if (!ts.isVariableStatement(statement) || statement.declarationList.flags & ts.NodeFlags.BlockScoped) continue;
    const constant = statement.declarationList.declarations.every((d) => d.initializer !== undefined && ts.isIdentifier(d.name) && !assigned.has(d.name.text));
    if (constant) starts.push(statement.declarationList.getStart(source));
  }
  let out = text;
  for (const at of starts.reverse()) out = out.slice(0, at) + 'const' + out.slice(at + 'var'.length);
  restored += starts.length;
  writeFileSync(file, out);
}
if (restored === 0) throw new Error('bundle: no top-level var made const again: has esbuild\'s output changed?');
