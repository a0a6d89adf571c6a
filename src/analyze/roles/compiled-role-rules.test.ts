// The compiled object's own contract: reusable result fields, rule names, and what it leaves to
// dllt's heuristics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RoleRulesConfig } from './config-types.js';
import { compileRoleRules, ORIG, RESP } from './compiled-role-rules.js';
import { parseIp } from '../../wire/ip-parse.js';

const CONFIG: RoleRulesConfig = {
  networks: [['ours', 'OUR_NETS'], ['external', ['0.0.0.0/0', '::/0']]],
  rules: [
    { name: 'ours-serve-ssh', src: 'external', dst: 'ours', action: { portMatch: { ports: [22] } } },
    { src: null, dst: null, action: { lowerPort: null } },
  ],
};

const OURS = parseIp('192.168.1.5')!.words;
const OTHER = parseIp('198.51.100.1')!.words;

test('names default to rule<N> and the result fields are reused between calls', () => {
  const rules = compileRoleRules(CONFIG, ['192.168.1.0/24']);
  assert.equal(rules.ruleCount, 2);
  assert.deepEqual([rules.ruleName(0), rules.ruleName(1)], ['ours-serve-ssh', 'rule2']);

  assert.equal(rules.decide(4, 6, OTHER, 40000, OURS, 22), true);
  assert.deepEqual([rules.clientSide, rules.servicePortSide, rules.drop, rules.ruleIndex], [ORIG, RESP, false, 0]);
  assert.equal(rules.decide(4, 17, OURS, 53, OTHER, 40000), true);
  assert.deepEqual([rules.clientSide, rules.servicePortSide, rules.drop, rules.ruleIndex], [RESP, ORIG, false, 1]);
});

test('undecided flows leave ruleIndex at -1', () => {
  const rules = compileRoleRules({ networks: [['ours', 'OUR_NETS']], rules: [{ src: null, dst: null, action: { lowerPort: null } }] }, ['192.168.1.0/24']);
  assert.equal(rules.decide(4, 6, OURS, 40000, OURS, 22), true);
  assert.equal(rules.decide(4, 6, OTHER, 40000, OURS, 22), false, 'the originator is in no network');
  assert.equal(rules.ruleIndex, -1);
  assert.equal(rules.decide(4, 1, OURS, 0, OURS, 0), false, 'ICMP');
  assert.equal(rules.ruleIndex, -1);
});

test('SCTP is decided like TCP and UDP, as dllt\'s heuristics treat it', () => {
  const rules = compileRoleRules(CONFIG, []);
  assert.equal(rules.decide(4, 132, OURS, 3868, OTHER, 40000), true);
  assert.equal(rules.servicePortSide, ORIG);
});

test('networkOf reports the network rules see', () => {
  const rules = compileRoleRules(CONFIG, ['192.168.1.0/24', 'fd00::/8']);
  assert.equal(rules.networkOf(4, OURS), 'ours');
  assert.equal(rules.networkOf(6, parseIp('fd00::1')!.words), 'ours');
  assert.equal(rules.networkOf(6, parseIp('2001:db8::1')!.words), 'external');
});
