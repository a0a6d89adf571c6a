// Every example shodohflo gives for its port attribution DSL, each run through the compiled rules
// and the reference interpreter: the bert/ernie walkthrough (issue #12 and
// agents/PCAP_AGENT_NOTES.md), the pydoc examples in shodohflo/pcap_config.py, and the cases of
// tests/pcap_config.py. shodohflo's "None" results are split here: no rule decided is `null`,
// a drop is a decision with `drop: true`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RoleAction, RoleRulesConfig } from './config-types.js';
import { compileRoleRules, ORIG, RESP } from './compiled-role-rules.js';
import { parseIp } from '../../wire/ip-parse.js';
import { RoleRulesError } from './role-rules-error.js';
import { decideText } from './decide-text.test-support.js';
import { interpretRoleRules, referenceNetworkOf, type Decision, type FlowText } from './reference-interpreter.test-support.js';

const TCP = 6;
const UDP = 17;
const ICMP = 1;

function decide(config: RoleRulesConfig, ourNets: readonly string[], flow: FlowText): Decision | null {
  const compiled = decideText(compileRoleRules(config, ourNets), flow);
  assert.deepEqual(compiled, interpretRoleRules(config, ourNets, flow), `compiled and reference disagree on ${JSON.stringify(flow)}`);
  return compiled;
}

function flow(proto: number, orig: string, origPort: number, resp: string, respPort: number): FlowText {
  return { proto, origAddr: orig, origPort, respAddr: resp, respPort };
}

function decision(clientSide: 0 | 1, servicePortSide: 0 | 1, ruleName: string, drop = false): Decision {
  return { clientSide, servicePortSide, drop, ruleName };
}

function networkOf(config: RoleRulesConfig, ourNets: readonly string[], address: string): string | undefined {
  const parsed = parseIp(address)!;
  const compiled = compileRoleRules(config, ourNets).networkOf(parsed.version, parsed.words);
  assert.equal(compiled, referenceNetworkOf(config, ourNets, address), `network of ${address}`);
  return compiled;
}

// --- The bert/ernie walkthrough -----------------------------------------------------------------

function walkthrough(bert: string, ernie: string): RoleRulesConfig {
  return {
    networks: [
      ['our_nets', 'OUR_4NETS'],
      ['bert', `${bert}/32`],
      ['ernie', `${ernie}/32`],
      ['external', '0.0.0.0/0'],
    ],
    rules: [
      { src: null, dst: 'our_nets', action: { lowerPort: 'src' } },
      { src: 'our_nets', dst: null, action: { lowerPort: 'dst' } },
      { name: 'drop-external-dns', src: 'external', dst: 'bert', action: { assign: { client: 'dst', port: 'src', ports: [53], drop: true } } },
      { name: 'drop-public-web', src: 'external', dst: 'bert', action: { assign: { client: 'src', port: 'dst', ports: [80, 443], drop: true } } },
      { src: null, dst: 'bert', action: { lowerPort: null } },
      { src: null, dst: 'ernie', action: { lowerPort: null } },
    ],
  };
}

const OUR_NETS = ['192.168.1.0/24', '192.168.2.0/24'];
/** The issue uses 10.33.0.x, PCAP_AGENT_NOTES.md 10.0.0.x; the walkthrough is the same. */
const ADDRESS_PLANS = [
  { plan: 'issue #12', bert: '10.33.0.1', ernie: '10.33.0.2' },
  { plan: 'PCAP_AGENT_NOTES.md', bert: '10.0.0.1', ernie: '10.0.0.2' },
];

for (const { plan, bert, ernie } of ADDRESS_PLANS) {
  const config = walkthrough(bert, ernie);
  const check = (f: FlowText, expected: Decision | null, why: string): void => assert.deepEqual(decide(config, OUR_NETS, f), expected, why);

  test(`walkthrough (${plan}): DNS answers from external servers to bert are dropped`, () => {
    check(flow(UDP, '198.51.100.53', 53, bert, 40123), decision(RESP, ORIG, 'drop-external-dns', true), 'client bert, port 53 from the source');
    check(flow(TCP, '198.51.100.53', 53, bert, 443), decision(RESP, ORIG, 'drop-external-dns', true), 'the DNS rule comes first even for port 443');
  });

  test(`walkthrough (${plan}): external clients of bert's web service are dropped`, () => {
    check(flow(TCP, '203.0.113.9', 51000, bert, 443), decision(ORIG, RESP, 'drop-public-web', true), 'port 443 on bert');
    check(flow(TCP, '203.0.113.9', 51000, bert, 80), decision(ORIG, RESP, 'drop-public-web', true), 'port 80 on bert');
  });

  test(`walkthrough (${plan}): other traffic to bert or ernie falls to LowerPort`, () => {
    check(flow(TCP, '203.0.113.9', 51000, bert, 22), decision(ORIG, RESP, 'rule5'), 'ssh to bert: the Assign port sets miss, LowerPort decides');
    check(flow(UDP, '203.0.113.9', 123, bert, 40000), decision(RESP, ORIG, 'rule5'), 'the lower port is the source side');
    check(flow(TCP, ernie, 40000, bert, 40000), decision(RESP, ORIG, 'rule5'), 'LowerPort() on equal ports: the source is the server');
    check(flow(TCP, '203.0.113.9', 51000, ernie, 8080), decision(ORIG, RESP, 'rule6'), 'to ernie');
  });

  test(`walkthrough (${plan}): anything to our_nets is LowerPort(SRC), our_nets to anything LowerPort(DST)`, () => {
    check(flow(TCP, '203.0.113.9', 443, '192.168.1.10', 51000), decision(RESP, ORIG, 'rule1'), 'the external web server answers our host');
    check(flow(UDP, '203.0.113.9', 5000, '192.168.2.10', 5000), decision(RESP, ORIG, 'rule1'), 'equal ports: the source is the server');
    check(flow(TCP, '192.168.1.10', 51000, '203.0.113.9', 443), decision(ORIG, RESP, 'rule2'), 'our host asks an external server');
    check(flow(UDP, '192.168.1.10', 5000, '203.0.113.9', 5000), decision(ORIG, RESP, 'rule2'), 'equal ports: the destination is the server');
    check(flow(TCP, '192.168.1.10', 51000, '192.168.2.20', 22), decision(ORIG, RESP, 'rule1'), 'our_nets to our_nets: the first rule wins');
    check(flow(TCP, bert, 51000, '192.168.1.10', 22), decision(ORIG, RESP, 'rule1'), 'bert to our_nets');
  });

  test(`walkthrough (${plan}): rules match one direction only, as shodohflo applies them per packet`, () => {
    // bert's own DNS query: orig is bert, so (external, bert) does not match and no rule covers
    // bert as the source; dllt's heuristics decide this flow.
    check(flow(UDP, bert, 40123, '198.51.100.53', 53), null, 'bert to external');
    check(flow(TCP, bert, 443, ernie, 51000), decision(RESP, ORIG, 'rule6'), 'bert to ernie is ernie\'s rule: bert serves 443');
  });

  test(`walkthrough (${plan}): flows outside the enumeration or without ports are not decided`, () => {
    check(flow(TCP, '2001:db8::1', 51000, '2001:db8::2', 443), null, 'IPv6: only IPv4 networks are enumerated');
    check(flow(ICMP, '203.0.113.9', 0, bert, 0), null, 'ICMP has no ports; shodohflo maps TCP and UDP only');
  });
}

test('walkthrough: an address is in the first network holding it, so our_nets can shadow bert', () => {
  const config = walkthrough('10.33.0.1', '10.33.0.2');
  const ourNets = ['10.33.0.0/16'];
  assert.equal(networkOf(config, ourNets, '10.33.0.1'), 'our_nets');
  assert.deepEqual(
    decide(config, ourNets, flow(UDP, '198.51.100.53', 53, '10.33.0.1', 40123)),
    decision(RESP, ORIG, 'rule1'),
    'bert is our_nets now, so its DNS answers are no longer dropped',
  );
});

// --- pcap_config.py pydoc: NetworkEnumeration and FlowMapping examples -------------------------

const SITE: RoleRulesConfig = {
  networks: [
    ['remote_site', ['10.222.0.0/16', '10.223.221.0/24']],
    ['hangar_42', '10.0.33.0/24'],
    ['site_net', '10.0.0.0/16'],
    ['external', '0.0.0.0/0'],
  ],
  rules: [
    { src: 'remote_site', dst: 'site_net', action: { assign: { client: 'src', port: 'dst' } } },
    { src: 'site_net', dst: 'remote_site', action: { assign: { client: 'dst', port: 'src' } } },
    { src: 'remote_site', dst: 'hangar_42', action: { lowerPort: null } },
    { src: 'hangar_42', dst: 'remote_site', action: { lowerPort: null } },
    { src: 'external', dst: null, action: { portMatch: { ports: [25, 53, 80, 443] } } },
    { src: 'external', dst: null, action: { assign: { client: 'dst', port: 'src' } } },
    { src: null, dst: null, action: { lowerPort: null } },
  ],
};

test('pydoc NetworkEnumeration example: first match wins', () => {
  assert.equal(networkOf(SITE, [], '10.222.9.9'), 'remote_site');
  assert.equal(networkOf(SITE, [], '10.223.221.9'), 'remote_site');
  assert.equal(networkOf(SITE, [], '10.0.33.9'), 'hangar_42');
  assert.equal(networkOf(SITE, [], '10.0.34.9'), 'site_net', 'site_net is 10.0.0.0/16 except hangar_42');
  assert.equal(networkOf(SITE, [], '10.223.222.9'), 'external');
});

test('pydoc FlowMapping example: remote_site and site_net', () => {
  assert.deepEqual(decide(SITE, [], flow(TCP, '10.222.1.1', 50000, '10.0.1.1', 22)), decision(ORIG, RESP, 'rule1'), 'the service is in site_net');
  assert.deepEqual(decide(SITE, [], flow(TCP, '10.0.1.1', 22, '10.223.221.5', 50000)), decision(RESP, ORIG, 'rule2'), 'still in site_net, going the other way');
});

test('pydoc FlowMapping example: remote_site and hangar_42 by lower port', () => {
  assert.deepEqual(decide(SITE, [], flow(TCP, '10.222.1.1', 40000, '10.0.33.7', 8080)), decision(ORIG, RESP, 'rule3'));
  assert.deepEqual(decide(SITE, [], flow(TCP, '10.0.33.7', 8080, '10.222.1.1', 40000)), decision(RESP, ORIG, 'rule4'));
});

test('pydoc FlowMapping example: external, by well-known port, else the external side serves', () => {
  assert.deepEqual(decide(SITE, [], flow(UDP, '1.1.1.1', 53, '10.0.1.1', 33333)), decision(RESP, ORIG, 'rule5'), 'PortMatch on the source port');
  assert.deepEqual(decide(SITE, [], flow(TCP, '198.51.100.7', 40000, '10.0.1.1', 25)), decision(ORIG, RESP, 'rule5'), 'PortMatch on the destination port');
  assert.deepEqual(decide(SITE, [], flow(TCP, '198.51.100.7', 40000, '10.0.1.1', 8443)), decision(RESP, ORIG, 'rule6'), 'PortMatch misses, Assign(DST, SRC)');
});

test('pydoc FlowMapping example: the catch-all', () => {
  assert.deepEqual(decide(SITE, [], flow(TCP, '10.0.1.1', 5000, '10.0.2.2', 6000)), decision(RESP, ORIG, 'rule7'));
  assert.deepEqual(decide(SITE, [], flow(UDP, '10.222.0.1', 50000, '8.8.8.8', 53)), decision(ORIG, RESP, 'rule7'));
});

// --- tests/pcap_config.py ------------------------------------------------------------------------

const REMOTE_V4: RoleRulesConfig['networks'] = [
  ['remote_site', ['10.222.0.0/16', '10.223.221.0/24']],
  ['hangar_42', '10.0.33.0/24'],
];
const REMOTE_V6: RoleRulesConfig['networks'] = [
  ['remote_site', ['2001:db8:13:1::/64', '2001:db8:13:3::/64']],
  ['hangar_42', '2001:db8:12:a000::/64'],
];

function enumeration(networks: RoleRulesConfig['networks']): RoleRulesConfig {
  return { networks, rules: [] };
}

test('tests/pcap_config.py: a CIDR of None is disallowed', () => {
  const config = { networks: [...REMOTE_V4, ['site_net', '10.0.0.0/16'], ['external', null]], rules: [] };
  assert.throws(
    () => compileRoleRules(config as unknown as RoleRulesConfig, []),
    (err: unknown) => err instanceof RoleRulesError && /^network 4 \("external"\): a CIDR cannot be null/.test(err.problems[0]!),
  );
});

test('tests/pcap_config.py: IPv4 enumeration ending with 0.0.0.0/0', () => {
  const config = enumeration([...REMOTE_V4, ['site_net', '10.0.0.0/16'], ['external', '0.0.0.0/0']]);
  const expected: Array<[string, string]> = [
    ['1.1.1.1', 'external'],
    ['10.0.0.42', 'site_net'],
    ['10.0.31.42', 'site_net'],
    ['10.0.33.42', 'hangar_42'],
    ['10.0.34.42', 'site_net'],
    ['10.221.33.55', 'external'],
    ['10.222.33.55', 'remote_site'],
    ['10.223.33.55', 'external'],
    ['10.223.221.55', 'remote_site'],
    ['10.223.222.55', 'external'],
    ['222.223.33.55', 'external'],
  ];
  for (const [address, network] of expected) assert.equal(networkOf(config, [], address), network, address);
});

test('tests/pcap_config.py: IPv4 enumeration without a catch-all leaves addresses unmatched', () => {
  const config: RoleRulesConfig = {
    networks: [...REMOTE_V4, ['site_net', '10.0.0.0/16']],
    rules: [{ src: null, dst: null, action: { lowerPort: null } }],
  };
  for (const address of ['1.1.1.1', '10.221.33.55', '222.223.33.55']) {
    assert.equal(networkOf(config, [], address), undefined, address);
    assert.equal(decide(config, [], flow(TCP, address, 50000, '10.0.0.1', 80)), null, `no rule is tried for ${address}, even (None, None)`);
  }
});

test('tests/pcap_config.py: IPv6 enumeration ending with ::/0', () => {
  const config = enumeration([...REMOTE_V6, ['site_net', '2001:db8:12::/48'], ['external', '::/0']]);
  const expected: Array<[string, string]> = [
    ['2001:db8:1::22:f3d1', 'external'],
    ['2001:db8:12::3:12', 'site_net'],
    ['2001:db8:12:9fff::fe33:3555', 'site_net'],
    ['2001:db8:12:a000::fe33:3555', 'hangar_42'],
    ['2001:db8:12:a001::fe33:3555', 'site_net'],
    ['2001:db8:13::fe33:3555', 'external'],
    ['2001:db8:13:1::fe33:3555', 'remote_site'],
    ['2001:db8:13:2::fe33:3555', 'external'],
    ['2001:db8:13:3::fe33:3555', 'remote_site'],
    ['2001:db8:14:4::fe33:3555', 'external'],
    ['2001:db8:ffff:1::fe33:3555', 'external'],
  ];
  for (const [address, network] of expected) assert.equal(networkOf(config, [], address), network, address);
});

test('tests/pcap_config.py: OUR_4NETS stands for our networks', () => {
  const config = enumeration([...REMOTE_V4, ['site_net', 'OUR_4NETS']]);
  assert.equal(networkOf(config, [], '10.0.31.42'), undefined, 'before our-nets is known');
  assert.equal(networkOf(config, ['10.0.0.0/16'], '10.0.31.42'), 'site_net');
  assert.equal(networkOf(config, ['2001:db8:12::/48', '10.0.0.0/16'], '10.0.31.42'), 'site_net', 'IPv6 our-nets are skipped');
});

test('tests/pcap_config.py: OUR_6NETS stands for our networks', () => {
  const config = enumeration([...REMOTE_V6, ['site_net', 'OUR_6NETS']]);
  assert.equal(networkOf(config, [], '2001:db8:12:a001::fe33:3555'), undefined, 'before our-nets is known');
  assert.equal(networkOf(config, ['2001:db8:12::/48'], '2001:db8:12:a001::fe33:3555'), 'site_net');
  assert.equal(networkOf(config, ['10.0.0.0/8'], '2001:db8:12:a001::fe33:3555'), undefined, 'IPv4 our-nets are skipped');
});

test('OUR_NETS holds both versions, and interface addresses with host bits count as their networks', () => {
  const config = enumeration([['ours', 'OUR_NETS'], ['rest', ['0.0.0.0/0', '::/0']]]);
  const ourNets = ['192.168.7.20/24', 'fd00:7::20/64'];
  assert.equal(networkOf(config, ourNets, '192.168.7.99'), 'ours');
  assert.equal(networkOf(config, ourNets, 'fd00:7::99'), 'ours');
  assert.equal(networkOf(config, ourNets, '192.168.8.1'), 'rest');
});

/** One rule for everything, as tests/pcap_config.py calls an action's match() directly. */
function actionOnly(action: RoleAction, f: FlowText): Decision | null {
  return decide({ networks: [['all', '0.0.0.0/0']], rules: [{ src: null, dst: null, action }] }, [], f);
}

const A = '10.0.0.1';
const B = '10.0.0.2';

test('tests/pcap_config.py: PortMatch', () => {
  const web = [80, 443];
  assert.equal(actionOnly({ portMatch: { ports: [] } }, flow(TCP, A, 1, B, 2)), null, 'an empty set is a no-op');
  assert.equal(actionOnly({ portMatch: { ports: web } }, flow(TCP, A, 1, B, 2)), null, 'no match');
  assert.deepEqual(actionOnly({ portMatch: { ports: web } }, flow(TCP, A, 80, B, 2)), decision(RESP, ORIG, 'rule1'), 'source port match');
  assert.deepEqual(actionOnly({ portMatch: { ports: web } }, flow(TCP, A, 1, B, 443)), decision(ORIG, RESP, 'rule1'), 'destination port match');
  assert.deepEqual(actionOnly({ portMatch: { ports: web } }, flow(TCP, A, 80, B, 443)), decision(RESP, ORIG, 'rule1'), 'source has precedence');
  assert.deepEqual(
    actionOnly({ portMatch: { ports: web, precedence: 'dst' } }, flow(TCP, A, 80, B, 443)),
    decision(ORIG, RESP, 'rule1'),
    'destination has precedence',
  );
  assert.deepEqual(actionOnly({ portMatch: { ports: web, drop: true } }, flow(TCP, A, 80, B, 2)), decision(RESP, ORIG, 'rule1', true), 'drop');
});

test('tests/pcap_config.py: Assign', () => {
  assert.deepEqual(actionOnly({ assign: { client: 'src', port: 'dst' } }, flow(TCP, A, 1, B, 2)), decision(ORIG, RESP, 'rule1'), 'no ports: any');
  assert.deepEqual(actionOnly({ assign: { client: 'src', port: 'dst', drop: true } }, flow(TCP, A, 1, B, 2)), decision(ORIG, RESP, 'rule1', true), 'drop');
  assert.deepEqual(actionOnly({ assign: { client: 'dst', port: 'dst' } }, flow(TCP, A, 1, B, 2)), decision(RESP, RESP, 'rule1'), 'client_from DST');
  const toDst = { assign: { client: 'src', port: 'dst', ports: [80, 443] } } as const;
  assert.equal(actionOnly(toDst, flow(TCP, A, 443, B, 2)), null, 'port_from DST ignores the source port');
  assert.deepEqual(actionOnly(toDst, flow(TCP, A, 1, B, 443)), decision(ORIG, RESP, 'rule1'), 'port_from DST');
  const fromSrc = { assign: { client: 'src', port: 'src', ports: [80, 443] } } as const;
  assert.equal(actionOnly(fromSrc, flow(TCP, A, 1, B, 80)), null, 'port_from SRC ignores the destination port');
  assert.deepEqual(actionOnly(fromSrc, flow(TCP, A, 80, B, 2)), decision(ORIG, ORIG, 'rule1'), 'the service port may be the client\'s');
  assert.equal(actionOnly({ assign: { client: 'src', port: 'dst', ports: [] } }, flow(TCP, A, 1, B, 2)), null, 'an empty set matches nothing');
});

test('tests/pcap_config.py: LowerPort', () => {
  assert.deepEqual(actionOnly({ lowerPort: null }, flow(TCP, A, 13786, B, 2)), decision(ORIG, RESP, 'rule1'), 'dst is the lower port');
  assert.deepEqual(actionOnly({ lowerPort: null }, flow(TCP, A, 1, B, 44685)), decision(RESP, ORIG, 'rule1'), 'src is the lower port');
  assert.deepEqual(actionOnly({ lowerPort: null }, flow(TCP, A, 2, B, 2)), decision(RESP, ORIG, 'rule1'), 'equal ports: SRC by default');
  assert.deepEqual(actionOnly({ lowerPort: 'src' }, flow(TCP, A, 2, B, 2)), decision(RESP, ORIG, 'rule1'), 'equal ports: SRC');
  assert.deepEqual(actionOnly({ lowerPort: 'dst' }, flow(TCP, A, 2, B, 2)), decision(ORIG, RESP, 'rule1'), 'equal ports: DST');
  assert.deepEqual(actionOnly({ lowerPort: 'dst' }, flow(TCP, A, 1, B, 2)), decision(RESP, ORIG, 'rule1'), 'precedence only breaks ties');
});

const FLOW_MAPPING: RoleRulesConfig = {
  networks: [
    ['net_1', '10.0.1.0/24'],
    ['net_2', '10.0.2.0/24'],
    ['any', '0.0.0.0/0'],
  ],
  rules: [
    { src: 'net_1', dst: 'net_2', action: { assign: { client: 'src', port: 'dst', ports: [1] } } },
    { src: 'net_2', dst: 'net_1', action: { assign: { client: 'src', port: 'dst' } } },
    { src: 'net_2', dst: null, action: { assign: { client: 'src', port: 'dst', ports: [2] } } },
    { src: null, dst: 'net_1', action: { assign: { client: 'src', port: 'dst', ports: [3] } } },
    { src: null, dst: null, action: { assign: { client: 'src', port: 'dst', ports: [53], drop: true } } },
    { src: null, dst: null, action: { assign: { client: 'src', port: 'dst', ports: [80] } } },
  ],
};

test('tests/pcap_config.py: FlowMapping network to network', () => {
  assert.equal(decide(FLOW_MAPPING, [], flow(TCP, '10.0.1.1', 3047, '10.0.2.1', 3047)), null);
  assert.equal(decide(FLOW_MAPPING, [], flow(TCP, '10.0.1.1', 1, '10.0.2.1', 3047)), null);
  assert.deepEqual(decide(FLOW_MAPPING, [], flow(TCP, '10.0.1.1', 3047, '10.0.2.1', 1)), decision(ORIG, RESP, 'rule1'));
  assert.equal(decide(FLOW_MAPPING, [], flow(TCP, '10.0.3.3', 3047, '10.0.3.3', 3047)), null);
  assert.deepEqual(decide(FLOW_MAPPING, [], flow(TCP, '10.0.2.3', 3047, '10.0.1.3', 3047)), decision(ORIG, RESP, 'rule2'));
});

test('tests/pcap_config.py: FlowMapping network to any, any to network', () => {
  assert.deepEqual(decide(FLOW_MAPPING, [], flow(TCP, '10.0.2.1', 3047, '10.0.2.1', 2)), decision(ORIG, RESP, 'rule3'));
  assert.deepEqual(decide(FLOW_MAPPING, [], flow(TCP, '10.0.1.1', 3047, '10.0.1.1', 3)), decision(ORIG, RESP, 'rule4'));
});

test('tests/pcap_config.py: FlowMapping any to any, drop and final rule', () => {
  assert.deepEqual(decide(FLOW_MAPPING, [], flow(TCP, '10.0.1.1', 3047, '10.0.1.1', 53)), decision(ORIG, RESP, 'rule5', true));
  assert.deepEqual(decide(FLOW_MAPPING, [], flow(TCP, '10.0.1.1', 3047, '10.0.1.1', 80)), decision(ORIG, RESP, 'rule6'));
});

test('a network named in several entries is one network', () => {
  const config: RoleRulesConfig = {
    networks: [['lab', '10.1.0.0/16'], ['office', '10.0.0.0/8'], ['lab', '172.16.0.0/12']],
    rules: [{ src: 'lab', dst: 'office', action: { lowerPort: null } }],
  };
  assert.deepEqual(decide(config, [], flow(TCP, '172.16.5.5', 40000, '10.2.0.1', 22)), decision(ORIG, RESP, 'rule1'));
  assert.deepEqual(decide(config, [], flow(TCP, '10.1.5.5', 40000, '10.2.0.1', 22)), decision(ORIG, RESP, 'rule1'));
});
