/**
 * The shape of a role rules file: shodohflo's port attribution DSL (NetworkEnumeration plus
 * FlowMapping, from its pcap agent) written as data, so operators can override dllt's
 * client/server heuristics per pair of networks. Exported so a `.ts` config can be checked with
 * `satisfies RoleRulesConfig` before it is compiled to the `.mjs` dllt loads.
 */

/** A flow's side as a rule sees it: `src` is the originator, `dst` the responder. */
export type Side = 'src' | 'dst';

/**
 * Stands for the local networks dllt is given (`compileRoleRules`'s `ourNets`), like shodohflo's
 * OUR_4NETS/OUR_6NETS stand for the pcap agent's our-nets argument. OUR_NETS is all of them;
 * OUR_4NETS and OUR_6NETS only those of one IP version.
 */
export type OurNetsSymbol = 'OUR_NETS' | 'OUR_4NETS' | 'OUR_6NETS';

export const OUR_NETS_SYMBOLS: readonly OurNetsSymbol[] = ['OUR_NETS', 'OUR_4NETS', 'OUR_6NETS'];

/** A CIDR such as `10.0.0.0/8` or `2001:db8::/32` (a bare address is a /32 or /128), or a symbol. */
export type NetworkSpec = string;

/**
 * `[name, cidrs]`. An address belongs to the first entry, in file order, with a CIDR that holds
 * it. A name may appear in several entries; they are then one network.
 */
export type NetworkEntry = readonly [name: string, cidrs: NetworkSpec | readonly NetworkSpec[]];

/** The lower port is the service port and its side the server; on equal ports the given side
 *  is the server. `null` is shodohflo's default, `src`. */
export interface LowerPortAction {
  lowerPort: Side | null;
}

/** Explicit roles: `client` is the client's side (the server is the other), `port` the side whose
 *  port is the service port and is matched against `ports` (absent: any port). */
export interface AssignAction {
  assign: {
    client: Side;
    port: Side;
    ports?: readonly number[];
    drop?: boolean;
  };
}

/** The side whose port is in `ports` is the server; when both are, the `precedence` side (default
 *  `src`) wins. */
export interface PortMatchAction {
  portMatch: {
    ports: readonly number[];
    precedence?: Side;
    drop?: boolean;
  };
}

export type RoleAction = LowerPortAction | AssignAction | PortMatchAction;

export interface RoleRule {
  /** Reported with each decision; defaults to `rule<N>`, N counting rules from 1. */
  name?: string;
  /** Network of the flow's originator; `null` matches any enumerated network. */
  src: string | null;
  /** Network of the flow's responder; `null` matches any enumerated network. */
  dst: string | null;
  action: RoleAction;
}

export interface RoleRulesConfig {
  networks: readonly NetworkEntry[];
  rules: readonly RoleRule[];
}
