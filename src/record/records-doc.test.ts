import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { documentedFieldNames } from './fields.js';

const recordsDoc = readFileSync(fileURLToPath(new URL('../../../docs/records.md', import.meta.url)), 'utf8');

test('docs/records.md documents every field in fields.ts', () => {
  const missing = documentedFieldNames().filter((name) => !recordsDoc.includes(`| \`${name}\` |`));
  assert.deepEqual(missing, [], 'add a table row for each to docs/records.md');
});
