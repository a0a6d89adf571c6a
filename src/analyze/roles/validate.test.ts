// Each kind of problem a role rules config can have, checked for a message that says where
// (the network entry or the rule, by number and name) and what; and that all problems of a
// config are reported together.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RoleRulesConfig } from './config-types.js';
import { compileRoleRules } from './compiled-role-rules.js';
import { RoleRulesError } from './role-rules-error.js';
import { validateRoleRules } from './validate.js';

const NETWORKS = [
  ['lab', '10.1.0.0/16'],
  ['external', ['0.0.0.0/0', '::/0']],
];

function problemsOf(config: unknown, ourNets: readonly string[] = []): readonly string[] {
  try {
    compileRoleRules(config as RoleRulesConfig, ourNets);
  } catch (err) {
    assert.ok(err instanceof RoleRulesError, String(err));
    return err.problems;
  }
  assert.fail('expected a RoleRulesError');
}

function withRule(rule: unknown): unknown {
  return { networks: NETWORKS, rules: [{ src: null, dst: null, action: { lowerPort: null } }, rule] };
}

function withNetwork(entry: unknown): unknown {
  return { networks: [...NETWORKS, entry], rules: [] };
}

test('a valid config passes and comes back as it was', () => {
  const config = { networks: NETWORKS, rules: [{ name: 'web', src: 'external', dst: 'lab', action: { portMatch: { ports: [80, 443], precedence: 'dst', drop: false } } }] };
  assert.equal(validateRoleRules(config), config);
});

test('an unknown network name names the rule and lists the networks', () => {
  assert.deepEqual(problemsOf(withRule({ name: 'to-lab', src: 'labb', dst: 'lab', action: { lowerPort: 'src' } })), [
    'rule 2 ("to-lab"): src "labb" is not a network name (they are "lab", "external")',
  ]);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: 'LAB', action: { lowerPort: 'src' } })), [
    'rule 2 ("rule2"): dst "LAB" is not a network name (they are "lab", "external")',
  ]);
});

test('a bad CIDR names the network entry', () => {
  assert.deepEqual(problemsOf(withNetwork(['dmz', '10.2.0/24'])), [
    'network 3 ("dmz"): "10.2.0/24" is not an IPv4 or IPv6 network (such as 10.0.0.0/8 or 2001:db8::/32)',
  ]);
  assert.deepEqual(problemsOf(withNetwork(['dmz', ['10.2.0.0/24', 'fe80::1%eth0/64']])), [
    'network 3 ("dmz"): "fe80::1%eth0/64" has a zone index (%...), which a network cannot have',
  ]);
  assert.deepEqual(problemsOf(withNetwork(['dmz', '10.2.0.1/24'])), [
    'network 3 ("dmz"): "10.2.0.1/24" has host bits set; did you mean "10.2.0.0/24"?',
  ]);
  assert.deepEqual(problemsOf(withNetwork(['dmz', '2001:db8:0:0:1::/32'])), [
    'network 3 ("dmz"): "2001:db8:0:0:1::/32" has host bits set; did you mean "2001:db8::/32"?',
  ]);
  assert.deepEqual(problemsOf(withNetwork(['dmz', null])), [
    'network 3 ("dmz"): a CIDR cannot be null (shodohflo refuses None too); 0.0.0.0/0 and ::/0 cover everything',
  ]);
  assert.deepEqual(problemsOf(withNetwork(['dmz', 'our_nets'])), [
    'network 3 ("dmz"): "our_nets" is not a CIDR; the symbols are written OUR_NETS, OUR_4NETS, OUR_6NETS',
  ]);
});

test('a bad prefix length names the network entry and the allowed range', () => {
  assert.deepEqual(problemsOf(withNetwork(['dmz', '2001:db8::/129'])), [
    'network 3 ("dmz"): "2001:db8::/129" has prefix length 129, but an IPv6 network allows 0..128',
  ]);
  assert.deepEqual(problemsOf(withNetwork(['dmz', '10.0.0.0/200'])), [
    'network 3 ("dmz"): "10.0.0.0/200" has prefix length 200, but an IPv4 network allows 0..32',
  ]);
  assert.deepEqual(problemsOf(withNetwork(['dmz', '10.0.0.0/8a'])), [
    'network 3 ("dmz"): "10.0.0.0/8a" has prefix length "8a", which is not a whole number',
  ]);
});

test('IPv4 and IPv6 mixups are explained', () => {
  assert.deepEqual(problemsOf(withNetwork(['dmz', '10.0.0.0/64'])), [
    'network 3 ("dmz"): "10.0.0.0/64" has prefix length 64, but an IPv4 network allows 0..32; is this an IPv6 prefix length on an IPv4 address?',
  ]);
  assert.deepEqual(problemsOf(withNetwork(['dmz', '::ffff:10.0.0.0/104'])), [
    'network 3 ("dmz"): "::ffff:10.0.0.0/104" is an IPv4-mapped IPv6 network, which IPv4 flows never match; write the IPv4 network instead',
  ]);
});

test('network entries must be [name, CIDRs]', () => {
  assert.deepEqual(problemsOf(withNetwork(['dmz', '10.2.0.0/24', '10.3.0.0/24'])), [
    'network 3 ("dmz"): must be [name, CIDR or list of CIDRs], not a list of 3; put several CIDRs in one list',
  ]);
  assert.deepEqual(problemsOf(withNetwork(['', '10.2.0.0/24'])), ['network 3: the name must be a non-empty string, not ""']);
  assert.deepEqual(problemsOf(withNetwork(['dmz', []])), ['network 3 ("dmz"): the CIDR list is empty, so nothing would ever be in this network']);
  assert.deepEqual(problemsOf({ networks: { lab: '10.0.0.0/8' }, rules: [] }), ['"networks" must be a list of [name, CIDRs] entries, not an object']);
});

test('an unknown action names the rule and the kinds there are', () => {
  assert.deepEqual(problemsOf(withRule({ name: 'x', src: null, dst: null, action: { lowPort: 'src' } })), [
    'rule 2 ("x"): the action must be an object with exactly one of "lowerPort", "assign", "portMatch" (found "lowPort")',
  ]);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: null, action: { lowerPort: null, assign: { client: 'src', port: 'dst' } } })), [
    'rule 2 ("rule2"): the action must be an object with exactly one of "lowerPort", "assign", "portMatch" (found "lowerPort", "assign")',
  ]);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: null, action: 'LowerPort' })), [
    'rule 2 ("rule2"): the action must be an object with exactly one of "lowerPort", "assign", "portMatch" (found "LowerPort")',
  ]);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: null })), ['rule 2 ("rule2"): "action" is missing']);
});

test('ports out of range name the rule, the field and the port', () => {
  assert.deepEqual(problemsOf(withRule({ name: 'dns', src: null, dst: null, action: { assign: { client: 'dst', port: 'src', ports: [53, 0, 65536] } } })), [
    'rule 2 ("dns"): assign.ports contains 0, which is not a port (whole numbers 1..65535)',
    'rule 2 ("dns"): assign.ports contains 65536, which is not a port (whole numbers 1..65535)',
  ]);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: null, action: { portMatch: { ports: [80.5, '443'] } } })), [
    'rule 2 ("rule2"): portMatch.ports contains 80.5, which is not a port (whole numbers 1..65535)',
    'rule 2 ("rule2"): portMatch.ports contains "443", which is not a port (whole numbers 1..65535)',
  ]);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: null, action: { portMatch: { ports: 53 } } })), [
    'rule 2 ("rule2"): portMatch.ports must be a list of ports, not 53',
  ]);
});

test('unknown keys name where they are and what belongs there', () => {
  assert.deepEqual(problemsOf({ networks: NETWORKS, rules: [], rule: [] }), ['the top level: unknown key "rule"; it has "networks" and "rules"']);
  assert.deepEqual(problemsOf(withRule({ name: 'r', src: null, dest: 'lab', dst: 'lab', action: { lowerPort: 'dst' } })), [
    'rule 2 ("r"): unknown key "dest"; it has name, src, dst and action',
  ]);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: null, action: { assign: { client: 'src', port: 'dst', dorp: true } } })), [
    'rule 2 ("rule2"): assign: unknown key "dorp"; it has client, port, ports and drop',
  ]);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: null, action: { portMatch: { ports: [25], precedance: 'dst' } } })), [
    'rule 2 ("rule2"): portMatch: unknown key "precedance"; it has ports, precedence and drop',
  ]);
});

test('missing and mistyped fields name the rule', () => {
  assert.deepEqual(problemsOf(withRule({ dst: 'lab', action: { lowerPort: 'src' } })), ['rule 2 ("rule2"): "src" is missing; use null to match any network']);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: 7, action: { lowerPort: 'source' } })), [
    'rule 2 ("rule2"): "dst" must be a network name or null, not 7',
    'rule 2 ("rule2"): lowerPort must be "src" or "dst" or null (shodohflo\'s default, src), not "source"',
  ]);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: null, action: { assign: { port: 'SRC', drop: 'yes' } } })), [
    'rule 2 ("rule2"): assign.client is missing; it must be "src" or "dst"',
    'rule 2 ("rule2"): assign.port must be "src" or "dst", not "SRC"',
    'rule 2 ("rule2"): assign.drop must be true or false, not "yes"',
  ]);
  assert.deepEqual(problemsOf(withRule({ src: null, dst: null, action: { portMatch: { precedence: 'both' } } })), [
    'rule 2 ("rule2"): portMatch.ports is missing; it is the list of service ports to look for',
    'rule 2 ("rule2"): portMatch.precedence must be "src" or "dst", not "both"',
  ]);
  assert.deepEqual(problemsOf(withRule({ name: '', src: null, dst: null, action: { lowerPort: null } })), [
    'rule 2 ("rule2"): the name must be a non-empty string, not ""',
  ]);
  assert.deepEqual(problemsOf(withRule('LowerPort()')), ['rule 2 ("rule2"): must be an object with src, dst and action, not "LowerPort()"']);
});

test('rule names must be unique, default names included', () => {
  assert.deepEqual(problemsOf(withRule({ name: 'rule1', src: null, dst: null, action: { lowerPort: null } })), [
    'rule 2 ("rule1"): the name "rule1" is already rule 1\'s; names must be unique to tell decisions apart',
  ]);
});

test('a bad local network is reported as such', () => {
  assert.deepEqual(problemsOf({ networks: [['ours', 'OUR_NETS']], rules: [] }, ['10.0.0.0/8', 'eth0']), [
    'our network 2: "eth0" is not an IPv4 or IPv6 network (such as 10.0.0.0/8 or 2001:db8::/32)',
  ]);
});

test('every problem is collected into one error that lists them', () => {
  const config = {
    networks: [['lab', '10.1.0.1/16'], ['dmz', '10.0.0.0/33']],
    rules: [
      { src: 'lab', dst: 'nowhere', action: { lowerPort: null } },
      { name: 'dns', src: null, dst: null, action: { assign: { client: 'dst', port: 'src', ports: [99999] } } },
    ],
  };
  assert.throws(
    () => validateRoleRules(config, 'rules.json'),
    (err: unknown) => {
      assert.ok(err instanceof RoleRulesError);
      assert.equal(err.problems.length, 4);
      assert.equal(err.source, 'rules.json');
      assert.match(err.message, /^rules\.json has 4 problems:\n {2}- network 1 \("lab"\): /);
      assert.match(err.message, /\n {2}- rule 1 \("rule1"\): dst "nowhere" is not a network name/);
      assert.match(err.message, /\n {2}- rule 2 \("dns"\): assign\.ports contains 99999/);
      return true;
    },
  );
  assert.throws(() => validateRoleRules([], 'rules.json'), {
    name: 'RoleRulesError',
    message: 'rules.json: the rules must be an object with "networks" and "rules", not a list of 0',
  });
});
