/**
 * Server names learned from DNS answers, per client: the flow from client C to address X is
 * named N when a DNS answer to C gave X for the name N (through CNAMEs) and the flow started
 * while that answer held. Per client, because two clients asking different names may get the
 * same address (virtual hosting, CDNs), and a name one client learned says nothing about
 * another's flows.
 */
import type { Piece } from './line-bytes.js';
import type { DnsNaming } from '../app/dns/dns-message.js';

/** One DNS response's names, as the record stage receives them. */
export interface DnsAnswerNames {
  /** The client the answer went to (the response's destination address). */
  client: string;
  /** Packet time of the response. */
  tsUs: number;
  namings: DnsNaming[];
}

export interface ServerName {
  name: string;
  /** The question, then each CNAME target (docs/records.md `serverNameChain`). */
  chain: readonly string[];
  /** Seconds, the smallest along the chain, from the latest answer. */
  ttl: number;
  /** Packet time of the first answer of an unbroken run giving this name. */
  sinceUs: number;
  /** The name holds for flows that start up to here. */
  untilUs: number;
  /** Its `,"serverName":...` fragment of JSON flow lines as UTF-8, made when a first flow is
   *  written with it and shared by the flows it names (most flows of a busy client carry one:
   *  copied as bytes, not re-encoded a character at a time). */
  json: Piece | undefined;
}

/** (client, address) pairs remembered; the least recently answered go first beyond this. */
const MAX_PAIRS = 65_536;
const US_PER_S = 1_000_000;

/** A held name with the pair it names, so the bound can find it again. */
interface HeldName extends ServerName {
  readonly client: string;
  readonly address: string;
}

export class ServerNames {
  /** Client, then address: two lookups of strings whose hashes V8 keeps, where one key made of
   *  both was a new string to build, flatten and hash for every flow and every answer. */
  private readonly byClient = new Map<string, Map<string, HeldName>>();
  /** Every held name, least recently answered first. */
  private readonly answered = new Set<HeldName>();
  /** The pair nameOf looked up last and what it found: consecutive flows often share both ends
   *  (a pod calling the same service), and comparing two short strings costs less than hashing
   *  the new strings each flow's record brings for two Map lookups. Cleared when names change. */
  private lastClient = '';
  private lastServer = '';
  private lastHeld: HeldName | undefined;

  /** `minHoldS`: DLLT_DNS_NAME_MIN_S, the shortest time an answer names flows. */
  constructor(private readonly minHoldS: number) {}

  get size(): number {
    return this.answered.size;
  }

  learn(answer: DnsAnswerNames): void {
    this.lastClient = '';
    this.lastHeld = undefined;
    const client = answer.client;
    for (const naming of answer.namings) {
      let byAddress = this.byClient.get(client);
      if (byAddress === undefined) {
        byAddress = new Map();
        this.byClient.set(client, byAddress);
      }
      const address = naming.address;
      const untilUs = answer.tsUs + Math.max(naming.ttl, this.minHoldS) * US_PER_S;
      const held = byAddress.get(address);
      // A client re-resolving the same name before the old answer lapsed keeps one unbroken
      // run, so a long flow named by the first answer is still named when its later records
      // are made after the second.
      const continues = held !== undefined && held.name === naming.name && held.untilUs >= answer.tsUs;
      if (held !== undefined) this.answered.delete(held);
      const name: HeldName = {
        name: naming.name,
        chain: naming.chain,
        ttl: naming.ttl,
        sinceUs: continues ? held.sinceUs : answer.tsUs,
        untilUs: continues ? Math.max(held.untilUs, untilUs) : untilUs,
        json: undefined,
        client,
        address,
      };
      byAddress.set(address, name);
      this.answered.add(name);
      if (this.answered.size > MAX_PAIRS) this.forget(this.answered.values().next().value!);
    }
  }

  /** The name of a flow from `client` to `server` that started at `firstTsUs`, if an answer gave it. */
  nameOf(client: string, server: string, firstTsUs: number): ServerName | undefined {
    if (this.answered.size === 0) return undefined;
    if (client !== this.lastClient || server !== this.lastServer) {
      this.lastClient = client;
      this.lastServer = server;
      this.lastHeld = this.byClient.get(client)?.get(server);
    }
    const held = this.lastHeld;
    return held !== undefined && held.sinceUs <= firstTsUs && firstTsUs <= held.untilUs ? held : undefined;
  }

  private forget(name: HeldName): void {
    this.answered.delete(name);
    const byAddress = this.byClient.get(name.client)!;
    byAddress.delete(name.address);
    if (byAddress.size === 0) this.byClient.delete(name.client);
  }
}
