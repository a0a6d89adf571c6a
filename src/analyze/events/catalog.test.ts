import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { EVENT_CATALOG, parseEventCode, renderEventTableMarkdown } from './catalog.js';

const readmePath = resolve(import.meta.dirname, '../../../../README.md');
const START = '<!-- events:start -->';
const END = '<!-- events:end -->';

test('codes are unique, five digits, seed names for 00001–00011 and ours from 00100', () => {
  const codes = EVENT_CATALOG.map((e) => e.code);
  assert.equal(new Set(codes).size, codes.length);
  for (const e of EVENT_CATALOG) {
    assert.equal(e.codeText, String(e.code).padStart(5, '0'));
    assert.ok(e.code <= 11 || e.code >= 100, `${e.codeText} is in the reserved gap`);
    assert.ok(e.code <= 11 ? /^CODE_.*(_STR|VIF_DISAPPEARED)$/.test(e.name) : /^CODE_[A-Z0-9_]+$/.test(e.name), e.name);
    assert.equal(parseEventCode(e.codeText), e.code);
  }
  assert.equal(parseEventCode('00012'), undefined);
  assert.equal(parseEventCode('abc'), undefined);
});

test('the seed texts are kept word for word', () => {
  const seed = readFileSync(resolve(import.meta.dirname, '../../../../../shared/seeds/dllt-agent-instructions.txt'), 'utf8');
  for (const e of EVENT_CATALOG.filter((x) => x.code <= 11)) {
    assert.ok(seed.includes(e.cause), `cause of ${e.codeText} differs from the seed`);
    assert.ok(seed.includes(e.name), e.name);
  }
});

test('README event table is generated from the catalog', () => {
  const block = `${START}\n${renderEventTableMarkdown()}${END}`;
  const readme = readFileSync(readmePath, 'utf8');
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  assert.ok(start >= 0 && end > start, 'README lacks the events markers');
  if (process.env['DLLT_UPDATE_DOCS'] === '1') {
    writeFileSync(readmePath, readme.slice(0, start) + block + readme.slice(end + END.length));
    return;
  }
  assert.equal(readme.slice(start, end + END.length), block, 'README event table is stale: run `DLLT_UPDATE_DOCS=1 node --test dist/src/analyze/events/catalog.test.js`');
});
