/**
 * Network events carry the process behind their flow (SPEC 9: "the same fields on netwevents
 * records when known"). An event often comes within milliseconds of its flow's first packet
 * (a refused SYN, a TLS alert), before attribution has answered, so events of a flow still
 * being attributed are held until it settles (at most the attribution deadline, a few seconds),
 * then written with the process of the end that did it when that end is local, else of the
 * other end. Flows' ends are kept, bounded, for events that come later in the flow's life.
 */
import type { ProcessIdentity } from '../analyze/enrich/process-identity.js';
import type { EndSide } from '../analyze/enrich/flow-ends.js';
import type { EventRecord } from './records.js';
import { processFields } from './process-flow-record.js';

/**
 * Ends found, as they cross from the attribution worker: `ends` holds triples of flow serial,
 * side (0 client, 1 server) and pid, `identities` the process of each pid among them.
 */
export interface FoundEnds {
  ends: number[];
  identities: ProcessIdentity[];
}

export const SIDE_CODES: readonly EndSide[] = ['client', 'server'];

/** Flows remembered with their attributed ends; the oldest are forgotten first. */
const MAX_FLOWS = 65_536;

interface FlowProcesses {
  clientIsSrc: boolean;
  settled: boolean;
  ends: Partial<Record<EndSide, ProcessIdentity>>;
  held: EventRecord[];
}

export class EventProcesses {
  private readonly flows = new Map<number, FlowProcesses>();

  constructor(private readonly write: (rec: EventRecord) => void) {}

  /** A flow handed to attribution: its events wait for the answer. */
  flowStarted(serial: number, clientIsSrc: boolean): void {
    this.flows.set(serial, { clientIsSrc, settled: false, ends: {}, held: [] });
    if (this.flows.size > MAX_FLOWS) {
      const [oldest, f] = this.flows.entries().next().value!;
      this.flows.delete(oldest);
      this.release(f);
    }
  }

  found({ ends, identities }: FoundEnds): void {
    const byPid = new Map(identities.map((id) => [id.pid, id]));
    for (let i = 0; i + 2 < ends.length; i += 3) {
      const f = this.flows.get(ends[i]!);
      const identity = byPid.get(ends[i + 2]!);
      if (f !== undefined && identity !== undefined) f.ends[SIDE_CODES[ends[i + 1]!]!] = identity;
    }
  }

  /** Attribution is done with these flows: their held events are written. */
  settled(serials: readonly number[]): void {
    for (const serial of serials) {
      const f = this.flows.get(serial);
      if (f === undefined) continue;
      f.settled = true;
      this.release(f);
      if (f.ends.client === undefined && f.ends.server === undefined) this.flows.delete(serial);
    }
  }

  event(rec: EventRecord, serial: number): void {
    const f = this.flows.get(serial);
    if (f === undefined) this.write(rec);
    else if (!f.settled) f.held.push(rec);
    else this.write(withProcess(rec, f));
  }

  /** Writes everything still held (at shutdown, after attribution's last pass). */
  flush(): void {
    for (const f of this.flows.values()) this.release(f);
    this.flows.clear();
  }

  private release(f: FlowProcesses): void {
    for (const rec of f.held) this.write(withProcess(rec, f));
    f.held = [];
  }
}

function withProcess(rec: EventRecord, f: FlowProcesses): EventRecord {
  const actor: EndSide | undefined = rec.side === undefined ? undefined : (rec.side === 'src') === f.clientIsSrc ? 'client' : 'server';
  const side: EndSide | undefined = actor !== undefined && f.ends[actor] !== undefined ? actor : f.ends.client !== undefined ? 'client' : f.ends.server !== undefined ? 'server' : undefined;
  if (side === undefined) return rec;
  const id = f.ends[side]!;
  return {
    ...rec,
    processSide: side,
    ...processFields(id),
  };
}
