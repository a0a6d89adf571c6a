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
import { BoundedMap } from '../util/bounded-map.js';

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
/** Flows waiting for attribution, by serial modulo this: a flow still waiting when 131,072 newer
 *  ones have started (far past the attribution deadline) has its held events written as they are. */
const PENDING_RING = 1 << 17;

interface AttributedFlow {
  clientIsSrc: boolean;
  client?: ProcessIdentity;
  server?: ProcessIdentity;
}

/**
 * Every live flow passes through here (tens of thousands a second on a busy link, most of them
 * with no end on this host), so a waiting flow costs a few typed-array slots rather than an
 * object in a Map; objects exist only for flows with held events or attributed ends.
 */
export class EventProcesses {
  /** Per ring slot: the waiting flow's serial (-1: none waiting there) and its clientIsSrc. */
  private readonly pendingSerial = new Float64Array(PENDING_RING).fill(-1);
  private readonly pendingClientIsSrc = new Uint8Array(PENDING_RING);
  /** Events of waiting flows, by serial. */
  private readonly held = new Map<number, EventRecord[]>();
  private readonly attributed = new BoundedMap<number, AttributedFlow>(MAX_FLOWS);

  constructor(private readonly write: (rec: EventRecord) => void) {}

  /** A flow handed to attribution: its events wait for the answer. */
  flowStarted(serial: number, clientIsSrc: boolean): void {
    const slot = serial % PENDING_RING;
    const older = this.pendingSerial[slot]!;
    if (older >= 0) this.release(older, this.pendingClientIsSrc[slot] === 1);
    this.pendingSerial[slot] = serial;
    this.pendingClientIsSrc[slot] = clientIsSrc ? 1 : 0;
  }

  found({ ends, identities }: FoundEnds): void {
    const byPid = new Map(identities.map((id) => [id.pid, id]));
    for (let i = 0; i + 2 < ends.length; i += 3) {
      const serial = ends[i]!;
      const identity = byPid.get(ends[i + 2]!);
      const slot = serial % PENDING_RING;
      if (identity === undefined || this.pendingSerial[slot] !== serial) continue;
      let f = this.attributed.get(serial);
      if (f === undefined) this.attributed.set(serial, (f = { clientIsSrc: this.pendingClientIsSrc[slot] === 1 }));
      f[SIDE_CODES[ends[i + 1]!]!] = identity;
    }
  }

  /** Attribution is done with these flows: their held events are written. */
  settled(serials: readonly number[]): void {
    for (const serial of serials) {
      const slot = serial % PENDING_RING;
      if (this.pendingSerial[slot] !== serial) continue;
      this.pendingSerial[slot] = -1;
      this.release(serial, this.pendingClientIsSrc[slot] === 1);
    }
  }

  event(rec: EventRecord, serial: number): void {
    if (this.pendingSerial[serial % PENDING_RING] === serial) {
      const held = this.held.get(serial);
      if (held === undefined) this.held.set(serial, [rec]);
      else held.push(rec);
      return;
    }
    const f = this.attributed.get(serial);
    this.write(f === undefined ? rec : withProcess(rec, f));
  }

  /** Writes everything still held (at shutdown, after attribution's last pass). */
  flush(): void {
    // Events are held only for flows still waiting, so each one's ring slot is its own.
    for (const serial of this.held.keys()) this.release(serial, this.pendingClientIsSrc[serial % PENDING_RING] === 1);
    this.pendingSerial.fill(-1);
  }

  private release(serial: number, clientIsSrc: boolean): void {
    const recs = this.held.get(serial);
    if (recs === undefined) return;
    this.held.delete(serial);
    const f = this.attributed.get(serial) ?? { clientIsSrc };
    for (const rec of recs) this.write(withProcess(rec, f));
  }
}

function withProcess(rec: EventRecord, f: AttributedFlow): EventRecord {
  const actor: EndSide | undefined = rec.side === undefined ? undefined : (rec.side === 'src') === f.clientIsSrc ? 'client' : 'server';
  const side: EndSide | undefined = actor !== undefined && f[actor] !== undefined ? actor : f.client !== undefined ? 'client' : f.server !== undefined ? 'server' : undefined;
  if (side === undefined) return rec;
  const id = f[side]!;
  return {
    ...rec,
    processSide: side,
    ...processFields(id),
  };
}
