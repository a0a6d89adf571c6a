/**
 * Issue 3, acceptance 4: dllt's events on the shared corpus against tshark's packets (TLS
 * alerts, RSTs, repeated SYNs, judged by the SPEC 6 rules) and Zeek's conn_state. The same
 * comparison `npm run compare:events` prints as a confusion table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { compareEvents } from '../scripts/compare-events.js';

test('events agree with tshark on >= 95 % of the cases per code, and with Zeek REJ/S0 states', async (t) => {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
  } catch {
    t.skip('tshark is not installed (apt-get install tshark): cannot compare');
    return;
  }
  const { tshark, zeek, files } = await compareEvents();
  for (const [code, x] of [...tshark].sort()) t.diagnostic(`tshark ${code}: both ${x.both}, tshark only ${x.tsharkOnly}, dllt only ${x.dlltOnly}; ${x.examples.join('; ')}`);
  for (const [code, x] of [...zeek].sort()) t.diagnostic(`zeek ${code}: both ${x.both}, zeek only ${x.tsharkOnly}, dllt only ${x.dlltOnly}; ${x.examples.join('; ')}`);
  assert.ok(files >= 40, `corpus captures with TCP: ${files}`);
  for (const code of ['00001', '00002', '00004', '00009']) {
    const x = tshark.get(code);
    assert.ok(x !== undefined && x.both >= 5, `too few ${code} cases in the corpus to judge: ${JSON.stringify(x)}`);
    const agreement = x.both / (x.both + x.tsharkOnly + x.dlltOnly);
    assert.ok(agreement >= 0.95, `${code}: agreement ${(agreement * 100).toFixed(1)} %`);
  }
  const rej = zeek.get('00009');
  assert.ok(rej !== undefined && rej.tsharkOnly === 0 && rej.dlltOnly === 0 && rej.both >= 6, `REJ ↔ 00009: ${JSON.stringify(rej)}`);
});
