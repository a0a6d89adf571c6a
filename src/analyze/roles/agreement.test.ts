// The compiled rules against the reference interpreter on random rule sets and flows: random
// IPv4 and IPv6 networks that nest and overlap, OUR_NETS symbols, repeated network names, every
// action with random options, and flows placed in, at the edges of, and outside the networks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prng } from '../../../test/support/prng.js';
import type { NetworkEntry, RoleAction, RoleRule, RoleRulesConfig, Side } from './config-types.js';
import { compileRoleRules } from './compiled-role-rules.js';
import { parseIp } from '../../wire/ip-parse.js';
import { interpretRoleRules, type Decision, type FlowText } from './reference-interpreter.test-support.js';

const SEED = 0x5e0d0f10;
const RULE_SETS = 250;
const FLOWS_PER_SET = 100;

type Random = () => number;

interface Cidr {
  version: 4 | 6;
  words: Int32Array;
  prefix: number;
}

const NAMES = ['ours', 'lab', 'dmz', 'bert', 'ernie', 'external'];
const PORTS = [1, 22, 25, 53, 80, 123, 443, 1023, 1024, 3047, 8080, 40000, 65535];
const V4_ANCHORS = [0x0a000000, 0x0a210001, 0xc0a80100, 0xac100000, 0x08080808];
const V6_ANCHORS = [
  [0x20010db8, 0, 0, 1],
  [0x20010db8, 0x00120000, 0, 0],
  [0xfd000000, 0, 0, 0x20],
  [0xfe800000, 0, 0x12345678, 0x9abcdef0],
];

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function chance(random: Random, p: number): boolean {
  return random() < p;
}

function randomWord(random: Random): number {
  return (random() * 0x100000000) | 0;
}

function maskWord(prefix: number, word: number): number {
  const bits = Math.min(32, Math.max(0, prefix - word * 32));
  return bits === 0 ? 0 : bits === 32 ? -1 : -1 << (32 - bits);
}

function randomCidr(random: Random, version: 4 | 6, clearHostBits: boolean): Cidr {
  const words = new Int32Array(4);
  if (version === 4) words[0] = chance(random, 0.8) ? pick(random, V4_ANCHORS) : randomWord(random);
  else (chance(random, 0.8) ? pick(random, V6_ANCHORS) : [0, 0, 0, 0].map(() => randomWord(random))).forEach((w, i) => (words[i] = w));
  const bits = version === 4 ? 32 : 128;
  const prefix = chance(random, 0.5) ? pick(random, version === 4 ? [0, 8, 12, 16, 24, 31, 32] : [0, 32, 48, 64, 96, 127, 128]) : Math.floor(random() * (bits + 1));
  if (clearHostBits) for (let w = 0; w < 4; w++) words[w] = words[w]! & maskWord(prefix, w);
  return { version, words, prefix };
}

/** Text in one of the spellings each parser must accept. */
function formatAddress(random: Random, version: 4 | 6, words: Int32Array): string {
  if (version === 4) {
    const v = words[0]! >>> 0;
    return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  }
  const groups: number[] = [];
  for (let w = 0; w < 4; w++) groups.push((words[w]! >>> 16) & 0xffff, words[w]! & 0xffff);
  const style = Math.floor(random() * 3);
  if (style === 0) return groups.map((g) => g.toString(16).padStart(4, '0')).join(':');
  const hex = groups.map((g) => g.toString(16));
  const firstZero = hex.indexOf('0');
  if (style === 1 || firstZero < 0) return hex.join(':').toUpperCase();
  let end = firstZero;
  while (end < 8 && hex[end] === '0') end++;
  return `${hex.slice(0, firstZero).join(':')}::${hex.slice(end).join(':')}`;
}

function formatCidr(random: Random, cidr: Cidr): string {
  return `${formatAddress(random, cidr.version, cidr.words)}/${cidr.prefix}`;
}

function randomSide(random: Random): Side {
  return chance(random, 0.5) ? 'src' : 'dst';
}

function randomPorts(random: Random, allowEmpty: boolean): number[] {
  const count = Math.floor(random() * 4) + (allowEmpty ? 0 : 1);
  return Array.from({ length: count }, () => (chance(random, 0.9) ? pick(random, PORTS) : 1 + Math.floor(random() * 65535)));
}

function randomAction(random: Random): RoleAction {
  const kind = Math.floor(random() * 3);
  if (kind === 0) return { lowerPort: pick(random, ['src', 'dst', null] as const) };
  if (kind === 1) {
    const assign: { client: Side; port: Side; ports?: number[]; drop?: boolean } = { client: randomSide(random), port: randomSide(random) };
    if (chance(random, 0.7)) assign.ports = randomPorts(random, true);
    if (chance(random, 0.5)) assign.drop = chance(random, 0.5);
    return { assign };
  }
  const portMatch: { ports: number[]; precedence?: Side; drop?: boolean } = { ports: randomPorts(random, true) };
  if (chance(random, 0.5)) portMatch.precedence = randomSide(random);
  if (chance(random, 0.5)) portMatch.drop = chance(random, 0.5);
  return { portMatch };
}

interface RuleSet {
  config: RoleRulesConfig;
  ourNets: string[];
  /** Every CIDR the flows should land in or near. */
  cidrs: Cidr[];
}

function randomRuleSet(random: Random): RuleSet {
  const cidrs: Cidr[] = [];
  const ourNets: string[] = [];
  for (let i = Math.floor(random() * 4); i > 0; i--) {
    const cidr = randomCidr(random, chance(random, 0.6) ? 4 : 6, false);
    cidrs.push(cidr);
    ourNets.push(formatCidr(random, cidr));
  }
  const networks: NetworkEntry[] = [];
  for (let i = 1 + Math.floor(random() * 7); i > 0; i--) {
    const specs: string[] = [];
    for (let j = 1 + Math.floor(random() * 3); j > 0; j--) {
      if (chance(random, 0.12)) {
        specs.push(pick(random, ['OUR_NETS', 'OUR_4NETS', 'OUR_6NETS']));
      } else {
        const cidr = randomCidr(random, chance(random, 0.6) ? 4 : 6, true);
        cidrs.push(cidr);
        specs.push(formatCidr(random, cidr));
      }
    }
    networks.push([pick(random, NAMES), specs.length === 1 && chance(random, 0.5) ? specs[0]! : specs]);
  }
  if (chance(random, 0.5)) networks.push(['external', ['0.0.0.0/0', '::/0']]);
  const names = [...new Set(networks.map(([name]) => name))];
  const rules: RoleRule[] = [];
  for (let i = Math.floor(random() * 9); i > 0; i--) {
    const rule: RoleRule = {
      src: chance(random, 0.35) ? null : pick(random, names),
      dst: chance(random, 0.35) ? null : pick(random, names),
      action: randomAction(random),
    };
    if (chance(random, 0.3)) rule.name = `named-${rules.length}`;
    rules.push(rule);
  }
  return { config: { networks, rules }, ourNets, cidrs };
}

/** Inside a CIDR, on its first or last address, just outside it, or anywhere. */
function randomAddress(random: Random, version: 4 | 6, cidrs: readonly Cidr[]): Int32Array {
  const words = new Int32Array(4);
  const near = cidrs.filter((c) => c.version === version);
  const wordCount = version === 4 ? 1 : 4;
  if (near.length === 0 || chance(random, 0.1)) {
    for (let w = 0; w < wordCount; w++) words[w] = randomWord(random);
    return words;
  }
  const cidr = pick(random, near);
  const placement = Math.floor(random() * 4);
  for (let w = 0; w < wordCount; w++) {
    const mask = maskWord(cidr.prefix, w);
    const host = placement === 0 ? randomWord(random) : placement === 1 ? 0 : -1;
    words[w] = (cidr.words[w]! & mask) | (host & ~mask);
  }
  if (placement === 3) stepOutside(words, wordCount, cidr.prefix, random);
  return words;
}

/** Moves a first or last address of a network one address further out. */
function stepOutside(words: Int32Array, wordCount: number, prefix: number, random: Random): void {
  if (chance(random, 0.5)) {
    for (let w = wordCount - 1; w >= 0; w--) {
      words[w] = (words[w]! + 1) | 0;
      if (words[w] !== 0) break;
    }
  } else {
    for (let w = 0; w < wordCount; w++) words[w] = words[w]! & maskWord(prefix, w);
    for (let w = wordCount - 1; w >= 0; w--) {
      const before = words[w]!;
      words[w] = (before - 1) | 0;
      if (before !== 0) break;
    }
  }
}

function randomPort(random: Random): number {
  return chance(random, 0.8) ? pick(random, PORTS) : Math.floor(random() * 65536);
}

test(`compiled rules agree with the reference interpreter on ${RULE_SETS * FLOWS_PER_SET} random flows`, (t) => {
  const random = prng(SEED);
  const seen = { decided: 0, dropped: 0, lowerPort: 0, assign: 0, portMatch: 0, serviceOnClientSide: 0 };
  for (let set = 0; set < RULE_SETS; set++) {
    const { config, ourNets, cidrs } = randomRuleSet(random);
    const compiled = compileRoleRules(config, ourNets);
    for (let i = 0; i < FLOWS_PER_SET; i++) {
      const version: 4 | 6 = chance(random, 0.5) ? 4 : 6;
      const orig = randomAddress(random, version, cidrs);
      const resp = chance(random, 0.05) ? orig : randomAddress(random, version, cidrs);
      const origPort = randomPort(random);
      const respPort = chance(random, 0.15) ? origPort : randomPort(random);
      const proto = pick(random, [6, 6, 6, 17, 17, 17, 132, 1, 58]);
      const flow: FlowText = {
        proto,
        origAddr: formatAddress(random, version, orig),
        origPort,
        respAddr: formatAddress(random, version, resp),
        respPort,
      };
      assert.deepEqual(parseIp(flow.origAddr)?.words, version === 4 ? Int32Array.of(orig[0]!, 0, 0, 0) : orig, flow.origAddr);
      const expected = interpretRoleRules(config, ourNets, flow);
      let actual: Decision | null = null;
      if (compiled.decide(version, proto, orig, origPort, resp, respPort)) {
        actual = {
          clientSide: compiled.clientSide,
          servicePortSide: compiled.servicePortSide,
          drop: compiled.drop,
          ruleName: compiled.ruleName(compiled.ruleIndex),
        };
      }
      assert.deepEqual(actual, expected, `rule set ${set} flow ${i}: ${JSON.stringify({ config, ourNets, flow })}`);
      if (actual !== null) {
        seen.decided++;
        if (actual.drop) seen.dropped++;
        if (actual.clientSide === actual.servicePortSide) seen.serviceOnClientSide++;
        const action = config.rules[compiled.ruleIndex]!.action;
        if ('lowerPort' in action) seen.lowerPort++;
        else if ('assign' in action) seen.assign++;
        else seen.portMatch++;
      }
    }
  }
  // The comparison only means something if the random rules decide a good share of flows, by
  // every kind of action.
  const total = RULE_SETS * FLOWS_PER_SET;
  t.diagnostic(`of ${total} flows: ${JSON.stringify(seen)}`);
  assert.ok(seen.decided > total * 0.2, `only ${seen.decided} of ${total} flows decided`);
  for (const [what, count] of Object.entries(seen)) assert.ok(count > 200, `only ${count} flows for ${what}`);
});
