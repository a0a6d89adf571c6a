/**
 * The attribution worker: finds the processes behind new flows' local ends in /proc, in passes
 * (socket tables read once per pass for all waiting flows), and identifies them (process,
 * container, pod). /proc reads are synchronous and can take tens of milliseconds on a busy
 * node, so they live on their own thread, never on the packet or record thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ProcAttributor } from '../sources/proc/proc-attributor.js';
import type { EndSide } from '../analyze/enrich/flow-ends.js';
import { ProcessIdentityReader } from '../sources/proc/process-identity-reader.js';
import type { IdentifiedEnd } from '../record/process-flow-record.js';
import type { ProcessIdentity } from '../analyze/enrich/process-identity.js';
import type { AttributionInit, AttributionMessage, AttributionReply, AttributionRequest, AttributionStats } from './attribution-client.js';

const init = workerData as AttributionInit;
const port = parentPort!;
const attributor = new ProcAttributor({ procRoot: init.procRoot });
const identities = new ProcessIdentityReader({ procRoot: init.procRoot, podsDir: init.podsDir });

interface Waiting {
  req: AttributionRequest;
  done: Set<EndSide>;
  arrivedAt: number;
}

let waiting: Waiting[] = [];
/** When the newest flow arrived: tables read since need no re-read for retries (beginPass). */
let newestArrival = -Infinity;
let timer: NodeJS.Timeout | undefined;
const stats: AttributionStats = { flows: 0, localFlows: 0, attributedFlows: 0, ends: 0 };

function reply(m: AttributionReply): void {
  port.postMessage(m);
}

function schedule(): void {
  timer ??= setTimeout(() => {
    timer = undefined;
    pass(false);
    if (waiting.length > 0) schedule();
  }, init.passMs);
}

/** One lookup pass over the waiting flows; `last` gives up on everything still unfound. */
function pass(last: boolean): void {
  attributor.beginPass(newestArrival);
  const now = Date.now();
  const found: IdentifiedEnd[] = [];
  const still: Waiting[] = [];
  const sockets = attributor.sockets;
  for (const w of waiting) {
    const { req, done } = w;
    for (const end of attributor.ends(req, done)) {
      done.add(end.side);
      found.push({ flow: req, side: end.side, netns: end.netns, via: end.via, identity: identities.identify(end.pid) ?? seenIdentities.get(end.pid) ?? { pid: end.pid } });
    }
    // The ends that can be here: those whose address belongs to a namespace of this host. Until
    // the namespaces were re-read after the flow came, a new pod's address may be missing.
    const local = Number(sockets.isLocal(req.srcIP)) + Number(sockets.isLocal(req.dstIP));
    const settled = done.size >= local && sockets.processesReadAt >= w.arrivedAt;
    if (!last && !settled && now - w.arrivedAt < init.deadlineMs) {
      still.push(w);
      continue;
    }
    if (local > 0 || done.size > 0) stats.localFlows++;
    if (done.size > 0 && done.size >= local) stats.attributedFlows++;
    stats.ends += done.size;
  }
  waiting = still;
  if (found.length > 0) reply({ t: 'found', ends: found });
}

/** Identities read when a poll first saw a process's socket: short-lived clients (curl) have
 *  often exited by the time their flow arrives. Bounded; the oldest go first. */
const seenIdentities = new Map<number, ProcessIdentity>();
const SEEN_MAX = 8192;

function rememberIdentity(pid: number): void {
  const identity = identities.identify(pid);
  if (identity === undefined) return;
  seenIdentities.delete(pid);
  seenIdentities.set(pid, identity);
  if (seenIdentities.size > SEEN_MAX) seenIdentities.delete(seenIdentities.keys().next().value!);
}

// Sockets are remembered between flows' arrivals (see ProcAttributor.poll).
const poller = setInterval(() => attributor.poll(rememberIdentity), init.pollMs);

port.on('message', (m: AttributionMessage) => {
  if (m.t === 'flows') {
    const now = Date.now();
    newestArrival = now;
    for (const req of m.flows) waiting.push({ req, done: new Set(), arrivedAt: now });
    stats.flows += m.flows.length;
    schedule();
  } else {
    if (timer !== undefined) clearTimeout(timer);
    clearInterval(poller);
    pass(true);
    reply({ t: 'closed', stats });
  }
});
