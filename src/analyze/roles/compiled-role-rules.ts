/**
 * Role rules compiled once at load into integer tables, so deciding a flow's client and service
 * port costs a few array reads and allocates nothing. The rules are shodohflo's FlowMapping:
 * tried in order, the first whose networks match and whose action applies decides; an action
 * that does not apply (a port set missed) passes the flow on to the next rule.
 *
 * shodohflo evaluates each packet once, with the packet's source as `src`; it never retries a
 * rule with the ends swapped. dllt evaluates each flow once with the originator as `src` and the
 * responder as `dst`, so a rule written for one direction does not match the other.
 */
import type { RoleAction, RoleRulesConfig, Side } from './config-types.js';
import { parseCidr, type ParsedCidr } from './ip-words.js';
import { NetworkTable, NO_NETWORK } from './network-table.js';
import { RoleRulesError } from './role-rules-error.js';
import { defaultRuleName, roleRulesProblems } from './validate.js';

/** Sides as decisions report them: the flow record's orig and resp. */
export const ORIG = 0;
export const RESP = 1;

const LOWER_PORT = 0;
const ASSIGN = 1;
const PORT_MATCH = 2;

const SRC_NET = 0;
const DST_NET = 1;
const KIND = 2;
/** LOWER_PORT, PORT_MATCH: the server's side on a tie. ASSIGN: the client's side. */
const SIDE_A = 3;
/** ASSIGN: the side whose port is the service port. */
const SIDE_B = 4;
/** Offset of the rule's port bitmap in `portSets`, or -1 for any port. */
const PORT_SET = 5;
const DROP = 6;
const STRIDE = 7;

const NO_PORT_SET = -1;
/** One bit per port 0..65535. */
const PORT_SET_WORDS = 2048;

/** shodohflo maps TCP and UDP only; SCTP is added because dllt's own role heuristics cover it. */
function hasPorts(proto: number): boolean {
  return proto === 6 || proto === 17 || proto === 132;
}

export class CompiledRoleRules {
  /** Valid after `decide` returned true; ORIG or RESP. */
  clientSide: 0 | 1 = ORIG;
  /** Valid after `decide` returned true: the side whose port is the service port. Usually the
   *  server's, but Assign may name the client's port, and shodohflo allows that. */
  servicePortSide: 0 | 1 = RESP;
  /** Valid after `decide` returned true: the flow is kept out of keyed outputs. */
  drop = false;
  /** The deciding rule's index (from 0), or -1 when the last `decide` returned false. */
  ruleIndex = -1;

  /** @internal built by compileRoleRules */
  constructor(
    private readonly networks: NetworkTable,
    private readonly rules: Int32Array,
    private readonly portSets: Int32Array,
    private readonly names: readonly string[],
  ) {}

  get ruleCount(): number {
    return this.names.length;
  }

  ruleName(index: number): string {
    return this.names[index]!;
  }

  /** The enumerated network holding an address, as rules see it; undefined when none does. */
  networkOf(version: 4 | 6, address: Int32Array): string | undefined {
    return this.networks.nameOf(this.networks.lookup(version, address));
  }

  /**
   * Decides one flow. Returns false (no rule decided, so dllt's heuristics apply) for protocols
   * without ports, when either address is in no enumerated network (shodohflo tries no rule
   * then either), or when no rule matches.
   */
  decide(version: 4 | 6, proto: number, origAddr: Int32Array, origPort: number, respAddr: Int32Array, respPort: number): boolean {
    this.ruleIndex = -1;
    if (!hasPorts(proto)) return false;
    const srcNet = this.networks.lookup(version, origAddr);
    if (srcNet === NO_NETWORK) return false;
    const dstNet = this.networks.lookup(version, respAddr);
    if (dstNet === NO_NETWORK) return false;
    const rules = this.rules;
    for (let at = 0; at < rules.length; at += STRIDE) {
      const wantSrc = rules[at + SRC_NET]!;
      if (wantSrc !== NO_NETWORK && wantSrc !== srcNet) continue;
      const wantDst = rules[at + DST_NET]!;
      if (wantDst !== NO_NETWORK && wantDst !== dstNet) continue;
      const portSet = rules[at + PORT_SET]!;
      let clientSide: number;
      let portSide: number;
      switch (rules[at + KIND]) {
        case LOWER_PORT: {
          const serverSide = origPort < respPort ? ORIG : respPort < origPort ? RESP : rules[at + SIDE_A]!;
          clientSide = 1 - serverSide;
          portSide = serverSide;
          break;
        }
        case ASSIGN: {
          portSide = rules[at + SIDE_B]!;
          if (portSet !== NO_PORT_SET && !this.inPortSet(portSet, portSide === ORIG ? origPort : respPort)) continue;
          clientSide = rules[at + SIDE_A]!;
          break;
        }
        default: {
          const first = rules[at + SIDE_A]!;
          if (this.inPortSet(portSet, first === ORIG ? origPort : respPort)) portSide = first;
          else if (this.inPortSet(portSet, first === ORIG ? respPort : origPort)) portSide = 1 - first;
          else continue;
          clientSide = 1 - portSide;
        }
      }
      this.clientSide = clientSide as 0 | 1;
      this.servicePortSide = portSide as 0 | 1;
      this.drop = rules[at + DROP] === 1;
      this.ruleIndex = at / STRIDE;
      return true;
    }
    return false;
  }

  private inPortSet(offset: number, port: number): boolean {
    return ((this.portSets[offset + (port >>> 5)]! >>> (port & 31)) & 1) === 1;
  }
}

/**
 * Validates `config` and compiles it. `ourNets` are dllt's local networks (addresses with host
 * bits allowed, as interfaces report them); the OUR_NETS symbols stand for them. Throws one
 * RoleRulesError listing every problem.
 */
export function compileRoleRules(config: RoleRulesConfig, ourNets: readonly string[], source = 'role rules'): CompiledRoleRules {
  const problems = roleRulesProblems(config);
  const ourCidrs: ParsedCidr[] = [];
  ourNets.forEach((text, index) => {
    const parsed = parseCidr(text, 'clear');
    if (parsed.problem !== undefined) problems.push(`our network ${index + 1}: ${parsed.problem}`);
    else ourCidrs.push(parsed.cidr);
  });
  if (problems.length > 0) throw new RoleRulesError(source, problems);

  const networks = new NetworkTable(config.networks, ourCidrs);
  const rules = new Int32Array(config.rules.length * STRIDE);
  const portLists: Array<readonly number[]> = [];
  const addPortSet = (ports: readonly number[] | undefined): number => {
    if (ports === undefined) return NO_PORT_SET;
    portLists.push(ports);
    return (portLists.length - 1) * PORT_SET_WORDS;
  };
  config.rules.forEach((rule, index) => {
    const at = index * STRIDE;
    rules[at + SRC_NET] = rule.src === null ? NO_NETWORK : networks.idOf(rule.src);
    rules[at + DST_NET] = rule.dst === null ? NO_NETWORK : networks.idOf(rule.dst);
    rules.set(compileAction(rule.action, addPortSet), at + KIND);
  });
  const portSets = new Int32Array(portLists.length * PORT_SET_WORDS);
  portLists.forEach((ports, i) => {
    for (const port of ports) portSets[i * PORT_SET_WORDS + (port >>> 5)]! |= 1 << (port & 31);
  });
  const names = config.rules.map((rule, index) => rule.name ?? defaultRuleName(index));
  return new CompiledRoleRules(networks, rules, portSets, names);
}

/** [KIND, SIDE_A, SIDE_B, PORT_SET, DROP] for one action. */
function compileAction(action: RoleAction, addPortSet: (ports: readonly number[] | undefined) => number): number[] {
  if ('lowerPort' in action) return [LOWER_PORT, sideOf(action.lowerPort ?? 'src'), 0, NO_PORT_SET, 0];
  if ('assign' in action) {
    const { client, port, ports, drop } = action.assign;
    return [ASSIGN, sideOf(client), sideOf(port), addPortSet(ports), drop === true ? 1 : 0];
  }
  const { ports, precedence, drop } = action.portMatch;
  return [PORT_MATCH, sideOf(precedence ?? 'src'), 0, addPortSet(ports), drop === true ? 1 : 0];
}

function sideOf(side: Side): number {
  return side === 'src' ? ORIG : RESP;
}
