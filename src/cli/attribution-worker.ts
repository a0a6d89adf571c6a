/**
 * The attribution worker: finds the processes behind new flows' local ends and identifies them
 * (process, container, pod). /proc reads are synchronous and can take tens of milliseconds on a
 * busy node, so they live on their own thread, never on the packet or record thread.
 *
 * With USE_EBPF=Y, bpftrace's socket events are followed here too: a flow whose ends they
 * explain is answered as soon as it arrives; the rest (UDP, sockets older than bpftrace, lost
 * events, or everything when eBPF cannot run) go through /proc passes as with USE_EBPF=N.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ProcAttributor, type AttributedEnd } from '../sources/proc/proc-attributor.js';
import type { EndFoundBy, EndSide } from '../analyze/enrich/flow-ends.js';
import { ProcessIdentityReader } from '../sources/proc/process-identity-reader.js';
import { identityJson, processFlowRecord, writeProcessFlowJson, type IdentifiedEnd } from '../record/process-flow-record.js';
import { SIDE_CODES } from '../record/event-processes.js';
import type { ProcessIdentity } from '../analyze/enrich/process-identity.js';
import { EbpfAttributor } from '../sources/ebpf/ebpf-attributor.js';
import { KubeApiPods, SERVICE_ACCOUNT_DIR } from '../sources/kube/kube-api-pods.js';
import { EbpfSocketSource } from '../sources/ebpf/ebpf-socket-source.js';
import { cgroupV2IdOf } from '../sources/proc/cgroup-v2-id.js';
import type { DrainedEvent } from '../sources/ebpf/drained-event.js';
import { socketEventRecord, writeSocketEventJson } from '../record/socket-event-record.js';
import { LineBytes, piece, type Piece } from '../record/line-bytes.js';
import { toTextLine } from '../record/serialize.js';
import { BoundedMap } from '../util/bounded-map.js';
import { unpackRequests, type AttributionMessage, type AttributionReply, type AttributionRequest, type AttributionStats, type AttributionWorkerData } from './attribution-client.js';

const init = workerData as AttributionWorkerData;
const port = parentPort!;
const attributor = new ProcAttributor({ procRoot: init.procRoot });
const apiPods = KubeApiPods.fromEnvironment(process.env, SERVICE_ACCOUNT_DIR, {
  onProblem: (message) => reply({ t: 'notice', level: 'warn', kind: 'kube_api', message }),
});
const identities = new ProcessIdentityReader({ procRoot: init.procRoot, podsDir: init.podsDir, ...(apiPods instanceof KubeApiPods ? { apiPods } : {}) });
if (apiPods instanceof KubeApiPods) void apiPods.refresh();
else if (process.env['KUBERNETES_SERVICE_HOST']) reply({ t: 'notice', level: 'warn', kind: 'kube_api', message: `pod lookups through the Kubernetes API are off: ${apiPods.reason}` });

interface Waiting {
  req: AttributionRequest;
  done: Set<EndSide>;
  arrivedAt: number;
}

let waiting: Waiting[] = [];
/**
 * Tables read after this need no re-read (beginPass): just after the newest flow's first packet
 * (wall-clock ms, as live capture stamps packets). Its sockets existed then, so a later read
 * holds them unless they closed, and then the poll's memory has them. Flows reach this worker
 * about a second after their first packet, and the poll reads changed namespaces every 200 ms:
 * most passes read nothing.
 */
let freshAfter = -Infinity;
const FIRST_PACKET_MARGIN_MS = 50;
let timer: NodeJS.Timeout | undefined;
const stats: AttributionStats = { flows: 0, localFlows: 0, attributedFlows: 0, ends: 0 };

/** `transfer`: the buffers of the lines the message carries, moved rather than copied. */
function reply(m: AttributionReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(m, transfer);
}

function schedule(): void {
  timer ??= setTimeout(() => {
    timer = undefined;
    pass(false);
    if (waiting.length > 0) schedule();
  }, init.passMs);
}

/** The process_flows lines of the ends found since the last reply, and the ends themselves (FoundEnds). */
const foundLines = new LineBytes();
let foundEnds: number[] = [];
const foundIdentities = new Map<number, ProcessIdentity>();

function identified(w: Waiting, end: AttributedEnd, foundBy: EndFoundBy): void {
  w.done.add(end.side);
  const identity = identities.identify(end.pid) ?? seenIdentities.get(end.pid) ?? { pid: end.pid };
  const found: IdentifiedEnd = { flow: w.req, side: end.side, netns: end.netns, via: end.via, foundBy, identity };
  writeProcessFlowLine(found);
  foundEnds.push(w.req.serial, SIDE_CODES.indexOf(end.side), end.pid);
  foundIdentities.set(end.pid, identity);
}

/** identityJson of each identity object (the reader hands out the same object while it is valid). */
const identityMembers = new WeakMap<ProcessIdentity, Piece>();
const ifJson = JSON.stringify(init.lines.ifName);
const ifPiece = piece(ifJson);

function writeProcessFlowLine(end: IdentifiedEnd): void {
  if (init.lines.format === 'text') {
    foundLines.text(toTextLine(processFlowRecord(init.lines.ifName, end)));
    foundLines.endLine();
    return;
  }
  let members = identityMembers.get(end.identity);
  if (members === undefined) identityMembers.set(end.identity, (members = identityJson(end.identity)));
  writeProcessFlowJson(foundLines, ifPiece, end, members);
}

/** Flows settled since the last reply: the record worker then writes their held events. */
let settled: number[] = [];

function countFlow(w: Waiting, local: number): void {
  settled.push(w.req.serial);
  if (local > 0 || w.done.size > 0) stats.localFlows++;
  if (w.done.size > 0 && w.done.size >= local) stats.attributedFlows++;
  stats.ends += w.done.size;
}

/** Flows whose two ends eBPF already explains need no /proc pass. Without eBPF, flows with no
 *  end on this host (foreign traffic on a node's NIC, a replay) are settled at once when the
 *  namespaces' addresses were read after their first packet: a namespace that had either address
 *  then was listed. */
function arrive(nums: Float64Array, texts: readonly string[]): void {
  const now = Date.now();
  const addressesReadAt = attributor.sockets.processesReadAt;
  let count = 0;
  unpackRequests(nums, texts, (req) => {
    count++;
    freshAfter = Math.max(freshAfter, Math.min(now, req.firstTsUs / 1000 + FIRST_PACKET_MARGIN_MS));
    if (ebpf === undefined && addressesReadAt >= req.firstTsUs / 1000 && !attributor.mightBeLocal(req.srcIP) && !attributor.mightBeLocal(req.dstIP)) {
      settled.push(req.serial);
      return;
    }
    const w: Waiting = { req, done: new Set(), arrivedAt: now };
    if (ebpf !== undefined) for (const end of ebpf.ends(req, w.done)) identified(w, end, 'ebpf');
    if (w.done.size === 2) countFlow(w, 2);
    else waiting.push(w);
  });
  stats.flows += count;
  answer();
  if (waiting.length > 0) schedule();
}

function answer(): void {
  if (foundEnds.length === 0 && settled.length === 0) return;
  const [bytes, sizes] = takeLines(foundLines);
  reply({ t: 'found', bytes, sizes, ends: foundEnds, identities: [...foundIdentities.values()], settled }, [bytes.buffer, sizes.buffer]);
  foundEnds = [];
  foundIdentities.clear();
  settled = [];
}

/** The lines written to `lines` so far, copied out to transfer, and `lines` emptied. */
function takeLines(lines: LineBytes) {
  const bytes = lines.bytes.slice(0, lines.length);
  const sizes = lines.lineSizes.slice(0, lines.lines);
  lines.clear();
  return [bytes, sizes] as const;
}

/** One lookup pass over the waiting flows; `last` gives up on everything still unfound. */
function pass(last: boolean): void {
  attributor.beginPass(freshAfter);
  const now = Date.now();
  const still: Waiting[] = [];
  const sockets = attributor.sockets;
  // While the kernel loses no events, eBPF names every TCP socket made since it attached, only
  // late when bpftrace waits for a CPU: /proc (a table read per namespace) is for the flow's
  // last pass, when it may be a connection older than bpftrace.
  const ebpfTellsTcp = pollProtocols() === UDP_ONLY;
  for (const w of waiting) {
    const { req, done } = w;
    if (ebpf !== undefined) for (const end of ebpf.ends(req, done)) identified(w, end, 'ebpf');
    const lastPass = last || now - w.arrivedAt + init.passMs >= init.deadlineMs;
    if (!ebpfTellsTcp || req.proto !== 6 || lastPass) for (const end of attributor.ends(req, done)) identified(w, end, 'proc');
    // The ends that can be here: those whose address belongs to a namespace of this host. Until
    // the namespaces were re-read after the flow came, a new pod's address may be missing.
    const local = Number(sockets.isLocal(req.srcIP)) + Number(sockets.isLocal(req.dstIP));
    const settled = done.size >= local && sockets.processesReadAt >= w.arrivedAt;
    if (!last && !settled && now - w.arrivedAt < init.deadlineMs) {
      still.push(w);
      continue;
    }
    countFlow(w, local);
  }
  waiting = still;
  answer();
}

/** Identities read when a process was first seen using a socket: short-lived clients (curl)
 *  have often exited by the time their flow arrives. Bounded; the oldest go first. */
const seenIdentities = new BoundedMap<number, ProcessIdentity>(8192);

/** What the processes of a cgroup (a container) share, by cgroup v2 id, learned from those read
 *  in time: a process that exited before /proc was read (a refused connect lasts a millisecond)
 *  keeps its container and pod through the cgroup its socket events name. */
type ContainerFields = Pick<ProcessIdentity, 'containerId' | 'containerRuntime' | 'podUid' | 'podName' | 'podNamespace' | 'containerName'>;
const containersByCgroup = new BoundedMap<number, ContainerFields>(4096);

/** `seen`: the eBPF event that showed the process, for its comm and cgroup when /proc is too late. */
function rememberIdentity(pid: number, seen?: DrainedEvent): void {
  let identity = identities.identify(pid);
  if (identity !== undefined && seen !== undefined && identity.containerId !== undefined) {
    const { containerId, containerRuntime, podUid, podName, podNamespace, containerName } = identity;
    if (seen.cgroupId !== 0) containersByCgroup.set(seen.cgroupId, { containerId, containerRuntime, podUid, podName, podNamespace, containerName });
  }
  if (identity === undefined && seen !== undefined) identity = { pid, comm: seen.comm(), ...(seen.cgroupId === 0 ? {} : containersByCgroup.get(seen.cgroupId)) };
  if (identity !== undefined) seenIdentities.set(pid, identity);
}

// Sockets are remembered between flows' arrivals (see ProcAttributor.poll).
// With eBPF attached, connect() events name TCP clients however short they live: only UDP
// sockets still need catching by a poll, unless the kernel has been dropping events lately.
const UDP_ONLY = [17] as const;
const LOST_EVENTS_POLL_MS = 10_000;
let lostEvents = 0;
let lostEventsAt = -Infinity;
function pollProtocols(): readonly number[] | undefined {
  if (ebpf === undefined || ebpfSource === undefined) return undefined;
  const lost = ebpfSource.stats().fullMaps;
  if (lost !== lostEvents) [lostEvents, lostEventsAt] = [lost, Date.now()];
  return Date.now() - lostEventsAt < LOST_EVENTS_POLL_MS ? undefined : UDP_ONLY;
}
const poller = setInterval(() => {
  attributor.poll((pid) => rememberIdentity(pid), pollProtocols());
  reportSockDiagProblem();
}, init.pollMs);

/** TCP tables are read through the dllt-sockdiag helper (sock-diag-helper.ts); when it cannot
 *  run, /proc still answers, at a higher cost the operator should hear about once. */
let sockDiagProblem: string | undefined;
function reportSockDiagProblem(): void {
  const problem = attributor.sockets.sockDiagProblem;
  if (problem === undefined || problem === sockDiagProblem) return;
  sockDiagProblem = problem;
  const hint = problem.endsWith('Operation not permitted') ? ': entering another network namespace needs CAP_SYS_ADMIN' : '';
  reply({ t: 'notice', level: 'warn', kind: 'attribution_problem', message: `reading TCP socket tables from /proc instead of sock_diag (several times the CPU): ${problem}${hint}` });
}

/** eBPF socket events go to the processEBPF file in batches, like flows to the record worker. */
const SOCKET_EVENT_BATCH_MS = 100;
let ebpf: EbpfAttributor | undefined;
let ebpfSource: EbpfSocketSource | undefined;
/** This batch's processEBPF lines, serialized here and posted as bytes (AttributionLines). */
const socketEventLines = new LineBytes();
const serialize =
  init.lines.format === 'text'
    ? (e: DrainedEvent): void => {
        socketEventLines.text(toTextLine(socketEventRecord(init.lines.ifName, e.toSocketEvent())));
        socketEventLines.endLine();
      }
    : (e: DrainedEvent): void => writeSocketEventJson(socketEventLines, ifPiece, e);
let ebpfTimer: NodeJS.Timeout | undefined;

function sendSocketEvents(): void {
  ebpf?.sweep();
  if (socketEventLines.lines === 0) return;
  const [bytes, sizes] = takeLines(socketEventLines);
  reply({ t: 'socketEvents', bytes, sizes }, [bytes.buffer, sizes.buffer]);
}

async function startEbpf(): Promise<void> {
  const source = new EbpfSocketSource();
  ebpfSource = source;
  const attributorOfEvents = new EbpfAttributor();
  const started = await source.start(
    (e) => {
      attributorOfEvents.observe(e, rememberIdentity);
      serialize(e);
    },
    (problem) => reply({ t: 'notice', level: 'warn', kind: 'ebpf_problem', message: problem }),
  );
  if (!started.ok) {
    ebpfSource = undefined;
    if (!closing) reply({ t: 'notice', level: 'warn', kind: 'ebpf_unavailable', message: started.reason });
    return;
  }
  if (closing) return;
  learnListeners(attributorOfEvents, source);
  ebpf = attributorOfEvents;
  ebpfTimer = setInterval(sendSocketEvents, SOCKET_EVENT_BATCH_MS);
  const omitted = started.omitted.length > 0 ? `; this kernel lacks ${started.omitted.join(', ')}` : '';
  reply({ t: 'notice', level: 'info', kind: 'ebpf_started', message: `USE_EBPF=Y: eBPF socket events attached in ${started.startupMs} ms${omitted}`, extra: { startupMs: started.startupMs } });
}

/** The TCP listeners of every namespace, as /proc shows them once eBPF is attached: for the
 *  attributor, and for the kernel through `source`, which then credits their connections itself. */
function learnListeners(to: EbpfAttributor, source: EbpfSocketSource): void {
  const sockets = attributor.sockets;
  attributor.beginPass();
  for (const netns of sockets.allNamespaces()) {
    const index = sockets.index(netns, 6);
    if (index === undefined) continue;
    sockets.rescanOwners(netns);
    for (const l of index.listeners()) {
      const pid = sockets.ownerOf(netns, l.inode);
      if (pid === undefined) continue;
      to.learnListener(netns, l.localIp, l.localPort, pid);
      rememberIdentity(pid);
      const comm = seenIdentities.get(pid)?.comm;
      if (comm !== undefined) source.seedListener({ netns, port: l.localPort, pid, cgroupId: cgroupV2IdOf(pid, init.procRoot), comm });
    }
  }
}

let closing = false;
const ebpfStarted = init.useEbpf ? startEbpf() : Promise.resolve();

port.on('message', (m: AttributionMessage) => {
  if (m.t === 'flows') {
    arrive(m.nums, m.texts);
    return;
  }
  closing = true;
  if (timer !== undefined) clearTimeout(timer);
  clearInterval(poller);
  void (async () => {
    await ebpfSource?.stop();
    await ebpfStarted;
    if (ebpfTimer !== undefined) clearInterval(ebpfTimer);
    sendSocketEvents();
    pass(true);
    attributor.sockets.close();
    reply({ t: 'closed', stats });
  })();
});
