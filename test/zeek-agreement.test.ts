/**
 * Outside oracles on the shared corpus: Zeek's conn.log (conn_state and history) and tshark's
 * per-conversation frame and byte totals. The same comparison `npm run compare:zeek` prints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { compareWithTshark, compareWithZeek } from '../scripts/compare-zeek.js';

test('dllt agrees with Zeek conn_state and history on >= 98 % of the corpus flows', async (t) => {
  const results = await compareWithZeek();
  const total = results.reduce((n, r) => n + r.zeekFlows, 0);
  const matched = results.reduce((n, r) => n + r.matched, 0);
  for (const r of results) t.diagnostic(`${r.file}: ${r.matched}/${r.zeekFlows} ${r.mismatches.join('; ')}`);
  t.diagnostic(`overall ${matched}/${total}`);
  assert.ok(total >= 27, `expected the corpus's 27 Zeek flows, found ${total}`);
  assert.ok(matched / total >= 0.98, `agreement ${matched}/${total}`);
});

test('per TCP conversation, packets and bytes equal tshark on every corpus file', async (t) => {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
  } catch {
    t.skip('tshark is not installed (apt-get install tshark): cannot compare');
    return;
  }
  const results = await compareWithTshark();
  const differences = results.flatMap((r) => r.differences.map((d) => `${r.file}: ${d}`));
  const convs = results.reduce((n, r) => n + r.conversations, 0);
  t.diagnostic(`${convs - differences.length}/${convs} conversations equal`);
  assert.deepEqual(differences, []);
  assert.ok(convs > 2000);
});
