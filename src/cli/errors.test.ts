import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DlltError, ERROR_CATALOG, isDlltError, renderErrorsMarkdown } from './errors.js';

// Compiled to dist/src/cli/, so the repository root is three levels up.
const errorsDocPath = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));

test('codes are unique, prefixed and documented', () => {
  const codes = ERROR_CATALOG.map((e) => e.code);
  assert.equal(new Set(codes).size, codes.length);
  for (const e of ERROR_CATALOG) {
    assert.match(e.code, /^DLLT_ERR_[A-Z_]+$/);
    assert.ok(e.meaning.length > 20, `${e.code} needs a meaning`);
    assert.ok(e.whatToDo.length > 10, `${e.code} needs advice`);
  }
});

test('DlltError takes exit code and hint from the catalog unless overridden', () => {
  const usage = new DlltError('DLLT_ERR_USAGE', 'unknown flag --frobnicate');
  assert.equal(usage.exitCode, 2);
  assert.equal(usage.code, 'DLLT_ERR_USAGE');
  assert.match(usage.hint, /--help/);
  assert.ok(isDlltError(usage));
  assert.ok(usage instanceof Error);
  assert.equal(usage.toOneLine(), `dllt: DLLT_ERR_USAGE: unknown flag --frobnicate (${usage.hint})`);

  const disk = new DlltError('DLLT_ERR_OUTPUT_UNWRITABLE', '/x: EACCES', { hint: 'use --out' });
  assert.equal(disk.exitCode, 1);
  assert.equal(disk.hint, 'use --out');
});

test('docs/errors.md is generated from the catalog', () => {
  const expected = renderErrorsMarkdown();
  if (process.env['DLLT_UPDATE_DOCS'] === '1') writeFileSync(errorsDocPath, expected);
  const actual = readFileSync(errorsDocPath, 'utf8');
  assert.equal(actual, expected, 'docs/errors.md is stale: run `DLLT_UPDATE_DOCS=1 node --test dist/src/cli/errors.test.js`');
  const documented = [...actual.matchAll(/^\| `(DLLT_ERR_[A-Z_]+)`/gm)].map((m) => m[1]);
  assert.deepEqual(documented, ERROR_CATALOG.map((e) => e.code));
});
