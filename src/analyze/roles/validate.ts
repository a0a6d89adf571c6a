/**
 * Checks a role rules config (parsed JSON or a module's default export, so of unknown shape)
 * against what shodohflo's DSL accepts, plus the mistakes data makes easy: unknown keys,
 * misspelt network names, IPv4/IPv6 mixups. Every problem is collected and names the network
 * entry or rule (counted from 1, like the default rule names) it was found in.
 */
import { OUR_NETS_SYMBOLS, type RoleRulesConfig } from './config-types.js';
import { isIpv4MappedNetwork, parseCidr } from './ip-words.js';
import { RoleRulesError } from './role-rules-error.js';

const TOP_KEYS = ['networks', 'rules'];
const RULE_KEYS = ['name', 'src', 'dst', 'action'];
const ACTION_KINDS = ['lowerPort', 'assign', 'portMatch'];
const ASSIGN_KEYS = ['client', 'port', 'ports', 'drop'];
const PORT_MATCH_KEYS = ['ports', 'precedence', 'drop'];

/** Returns `value` typed when it is a valid config; otherwise throws one RoleRulesError. */
export function validateRoleRules(value: unknown, source = 'role rules'): RoleRulesConfig {
  const problems = roleRulesProblems(value);
  if (problems.length > 0) throw new RoleRulesError(source, problems);
  return value as RoleRulesConfig;
}

export function roleRulesProblems(value: unknown): string[] {
  const problems: string[] = [];
  if (!isRecord(value)) {
    return [`the rules must be an object with "networks" and "rules", not ${describe(value)}`];
  }
  problems.push(...unknownKeys(value, TOP_KEYS, 'the top level', 'has "networks" and "rules"'));
  const networkNames = checkNetworks(value['networks'], problems);
  checkRules(value['rules'], networkNames, problems);
  return problems;
}

/** The name a rule's decisions are reported under. */
export function defaultRuleName(index: number): string {
  return `rule${index + 1}`;
}

function checkNetworks(networks: unknown, problems: string[]): Set<string> {
  const names = new Set<string>();
  if (!Array.isArray(networks)) {
    problems.push(`"networks" must be a list of [name, CIDRs] entries, not ${describe(networks)}`);
    return names;
  }
  networks.forEach((entry: unknown, index) => {
    const name = Array.isArray(entry) && typeof entry[0] === 'string' && entry[0] !== '' ? entry[0] : undefined;
    const where = `network ${index + 1}${name === undefined ? '' : ` (${JSON.stringify(name)})`}`;
    if (!Array.isArray(entry) || entry.length !== 2) {
      const several = Array.isArray(entry) && entry.length > 2 ? '; put several CIDRs in one list' : '';
      problems.push(`${where}: must be [name, CIDR or list of CIDRs], not ${describe(entry)}${several}`);
      return;
    }
    if (name === undefined) problems.push(`${where}: the name must be a non-empty string, not ${describe(entry[0])}`);
    else names.add(name);
    const specs: unknown[] = Array.isArray(entry[1]) ? entry[1] : [entry[1]];
    if (specs.length === 0) problems.push(`${where}: the CIDR list is empty, so nothing would ever be in this network`);
    for (const spec of specs) {
      const problem = networkSpecProblem(spec);
      if (problem !== undefined) problems.push(`${where}: ${problem}`);
    }
  });
  return names;
}

function networkSpecProblem(spec: unknown): string | undefined {
  if (spec === null || spec === undefined) {
    return 'a CIDR cannot be null (shodohflo refuses None too); 0.0.0.0/0 and ::/0 cover everything';
  }
  if (typeof spec !== 'string') return `a CIDR must be a string, not ${describe(spec)}`;
  if ((OUR_NETS_SYMBOLS as readonly string[]).includes(spec)) return undefined;
  if (OUR_NETS_SYMBOLS.some((symbol) => symbol.toLowerCase() === spec.toLowerCase())) {
    return `${JSON.stringify(spec)} is not a CIDR; the symbols are written ${OUR_NETS_SYMBOLS.join(', ')}`;
  }
  const parsed = parseCidr(spec, 'reject');
  if (parsed.problem !== undefined) return parsed.problem;
  if (isIpv4MappedNetwork(parsed.cidr)) {
    return `${JSON.stringify(spec)} is an IPv4-mapped IPv6 network, which IPv4 flows never match; write the IPv4 network instead`;
  }
  return undefined;
}

function checkRules(rules: unknown, networkNames: ReadonlySet<string>, problems: string[]): void {
  if (!Array.isArray(rules)) {
    problems.push(`"rules" must be a list of rules, not ${describe(rules)}`);
    return;
  }
  const firstUse = new Map<string, number>();
  rules.forEach((rule: unknown, index) => {
    const explicitName = isRecord(rule) ? rule['name'] : undefined;
    const name = typeof explicitName === 'string' && explicitName !== '' ? explicitName : defaultRuleName(index);
    const where = `rule ${index + 1} (${JSON.stringify(name)})`;
    if (!isRecord(rule)) {
      problems.push(`${where}: must be an object with src, dst and action, not ${describe(rule)}`);
      return;
    }
    if (explicitName !== undefined && (typeof explicitName !== 'string' || explicitName === '')) {
      problems.push(`${where}: the name must be a non-empty string, not ${describe(explicitName)}`);
    }
    const earlier = firstUse.get(name);
    if (earlier !== undefined) {
      problems.push(`${where}: the name ${JSON.stringify(name)} is already rule ${earlier + 1}'s; names must be unique to tell decisions apart`);
    } else {
      firstUse.set(name, index);
    }
    problems.push(...unknownKeys(rule, RULE_KEYS, where, 'has name, src, dst and action'));
    for (const end of ['src', 'dst'] as const) {
      const problem = networkReferenceProblem(rule, end, networkNames);
      if (problem !== undefined) problems.push(`${where}: ${problem}`);
    }
    for (const problem of actionProblems(rule['action'])) problems.push(`${where}: ${problem}`);
  });
}

function networkReferenceProblem(rule: Record<string, unknown>, end: 'src' | 'dst', networkNames: ReadonlySet<string>): string | undefined {
  if (!(end in rule)) return `"${end}" is missing; use null to match any network`;
  const reference = rule[end];
  if (reference === null) return undefined;
  if (typeof reference !== 'string') return `"${end}" must be a network name or null, not ${describe(reference)}`;
  if (networkNames.has(reference)) return undefined;
  const known = networkNames.size === 0 ? 'none are defined' : `they are ${[...networkNames].map((n) => JSON.stringify(n)).join(', ')}`;
  return `${end} ${JSON.stringify(reference)} is not a network name (${known})`;
}

function actionProblems(action: unknown): string[] {
  if (action === undefined) return ['"action" is missing'];
  const kinds = isRecord(action) ? Object.keys(action) : [];
  if (!isRecord(action) || kinds.length !== 1 || !ACTION_KINDS.includes(kinds[0]!)) {
    const found = isRecord(action) ? `found ${kinds.length === 0 ? 'no key' : kinds.map((k) => JSON.stringify(k)).join(', ')}` : `found ${describe(action)}`;
    return [`the action must be an object with exactly one of "lowerPort", "assign", "portMatch" (${found})`];
  }
  const kind = kinds[0]!;
  const body = action[kind];
  if (kind === 'lowerPort') {
    return body === null ? [] : sideProblems(body, 'lowerPort', 'null (shodohflo\'s default, src)');
  }
  if (!isRecord(body)) return [`${kind} must be an object, not ${describe(body)}`];
  const problems: string[] = [];
  if (kind === 'assign') {
    problems.push(...unknownKeys(body, ASSIGN_KEYS, 'assign', 'has client, port, ports and drop'));
    problems.push(...sideProblems(body['client'], 'assign.client'));
    problems.push(...sideProblems(body['port'], 'assign.port'));
    if (body['ports'] !== undefined) problems.push(...portListProblems(body['ports'], 'assign.ports'));
  } else {
    problems.push(...unknownKeys(body, PORT_MATCH_KEYS, 'portMatch', 'has ports, precedence and drop'));
    if (body['ports'] === undefined) problems.push('portMatch.ports is missing; it is the list of service ports to look for');
    else problems.push(...portListProblems(body['ports'], 'portMatch.ports'));
    if (body['precedence'] !== undefined) problems.push(...sideProblems(body['precedence'], 'portMatch.precedence'));
  }
  if (body['drop'] !== undefined && typeof body['drop'] !== 'boolean') {
    problems.push(`${kind}.drop must be true or false, not ${describe(body['drop'])}`);
  }
  return problems;
}

function sideProblems(value: unknown, field: string, alternative?: string): string[] {
  if (value === 'src' || value === 'dst') return [];
  if (value === undefined) return [`${field} is missing; it must be "src" or "dst"`];
  const or = alternative === undefined ? '' : ` or ${alternative}`;
  return [`${field} must be "src" or "dst"${or}, not ${describe(value)}`];
}

function portListProblems(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) return [`${field} must be a list of ports, not ${describe(value)}`];
  return value
    .filter((port) => !(Number.isInteger(port) && port >= 1 && port <= 65535))
    .map((port) => `${field} contains ${describe(port)}, which is not a port (whole numbers 1..65535)`);
}

function unknownKeys(record: Record<string, unknown>, allowed: readonly string[], where: string, expected: string): string[] {
  return Object.keys(record)
    .filter((key) => !allowed.includes(key))
    .map((key) => `${where}: unknown key ${JSON.stringify(key)}; it ${expected}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value instanceof Set) return 'a Set (use a list)';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}
