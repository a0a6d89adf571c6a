/**
 * The load and the tally of the attribution bench (bench/attribution.sh, issue 5 acceptance 4):
 * how much CPU process attribution adds to `dllt capture` at a steady rate of new connections,
 * and whether it keeps up. Three roles, each run by the bench inside one of its namespaces:
 *
 *   node dist/bench/attribution-load.js server IP PORT
 *   node dist/bench/attribution-load.js client IP PORT RATE SECONDS HOLD_MS PORTS_FILE [FIRST_LOCAL_PORT]
 *   node dist/bench/attribution-load.js tally LOG_DIR CLIENT_IP SERVER_IP PORT CLIENT_PID SERVER_PID PORTS_FILE
 *
 * The server answers three bytes and closes. The client opens RATE new TCP connections per
 * second for SECONDS, paced on a 10 ms tick against the clock (a late tick catches up, it never
 * runs ahead), keeps each one open HOLD_MS after the server's close so /proc can see its socket
 * (shorter sockets are the /proc method's known blind spot, docs/records.md), and writes the
 * local port of every connection made. The tally counts, among those connections, the flows
 * dllt ended and the flows whose two ends process_flows names with the right pids.
 */
import { createServer, connect, type Socket } from 'node:net';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TICK_MS = 10;
const ANSWER = 'ok\n';
/** The client binds each connection to the next port from here (or from FIRST_LOCAL_PORT): the
 *  kernel's choice reuses ports within seconds at this rate (the server side holds TIME_WAIT, not
 *  the client), and a reused port would be one flow key for two connections. A warm-up client
 *  takes ports the measured one does not. */
const FIRST_LOCAL_PORT = 10_000;
const LAST_LOCAL_PORT = 65_535;
/** How long the client waits for its last connections after the hold, before it reports. */
const GRACE_MS = 10_000;

function usage(msg: string): never {
  process.stderr.write(`attribution-load: ${msg}\n` +
    'usage: attribution-load server IP PORT\n' +
    '       attribution-load client IP PORT RATE SECONDS HOLD_MS PORTS_FILE [FIRST_LOCAL_PORT]\n' +
    '       attribution-load tally LOG_DIR CLIENT_IP SERVER_IP PORT CLIENT_PID SERVER_PID PORTS_FILE\n');
  process.exit(2);
}

function whole(text: string | undefined, what: string, min = 0): number {
  const n = Number(text);
  if (text === undefined || !Number.isInteger(n) || n < min) usage(`${what} must be a whole number >= ${min}, got ${text}`);
  return n;
}

function serve(ip: string, port: number): void {
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(ANSWER);
  });
  server.on('error', (err) => {
    process.stderr.write(`attribution-load server: ${err.message}\n`);
    process.exit(1);
  });
  server.listen({ host: ip, port, backlog: 4096 });
}

interface ClientReport {
  pid: number;
  made: number;
  failed: number;
  /** Connections still open when the client gave up waiting for them. */
  unfinished: number;
  seconds: number;
  rate: number;
}

function runClient(ip: string, port: number, rate: number, seconds: number, holdMs: number, portsFile: string, firstLocalPort: number): void {
  const total = rate * seconds;
  const ports: number[] = [];
  let issued = 0;
  let settled = 0;
  let failed = 0;
  let lastConnectAt = 0;
  const start = performance.now();

  let reported = false;
  const finish = (): void => {
    if (reported) return;
    reported = true;
    const elapsed = (lastConnectAt - start) / 1000;
    writeFileSync(portsFile, ports.join('\n') + '\n');
    const report: ClientReport = { pid: process.pid, made: ports.length, failed, unfinished: total - settled, seconds: elapsed, rate: ports.length / Math.max(elapsed, 1e-3) };
    process.stdout.write(JSON.stringify(report) + '\n');
    process.exit(0);
  };
  const settle = (): void => {
    if (++settled === total) finish();
  };
  const open = (localPort: number): void => {
    const socket: Socket = connect({ host: ip, port, localPort, allowHalfOpen: true });
    let done = false;
    const close = (ok: boolean): void => {
      if (done) return;
      done = true;
      if (!ok) failed++;
      settle();
    };
    socket.on('connect', () => {
      lastConnectAt = performance.now();
      ports.push(socket.localPort!);
    });
    socket.on('data', () => {});
    socket.on('end', () => setTimeout(() => socket.end(() => close(true)), holdMs));
    socket.on('error', () => {
      socket.destroy();
      close(false);
    });
  };

  const tick = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
    while (issued < due) open(firstLocalPort + issued++);
    if (issued < total) return;
    clearInterval(tick);
    setTimeout(finish, holdMs + GRACE_MS);
  }, TICK_MS);
}

interface FlowLine {
  proto: string;
  srcIP: string;
  srcPort: number;
  dstIP: string;
  dstPort: number;
}

interface EndedFlowLine extends FlowLine {
  tsUs: number;
  durationUs: number;
}

interface EndLine extends FlowLine {
  side: string;
  pid: number;
  foundBy: string;
}

function jsonLines<T>(dir: string, prefix: string): T[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith(prefix))
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as T));
}

/** Prints `KEY=VALUE` lines for the bench script: how many of the client's connections end_flows
 *  has, and how many have both ends attributed to the right processes. */
function tally(dir: string, clientIp: string, serverIp: string, port: number, clientPid: number, serverPid: number, portsFile: string): void {
  if (!existsSync(dir)) usage(`no dllt log directory ${dir}: did dllt capture start?`);
  const made = new Set(readFileSync(portsFile, 'utf8').split('\n').filter((l) => l !== '').map(Number));
  const ours = (f: FlowLine): boolean => f.proto === 'tcp' && f.srcIP === clientIp && f.dstIP === serverIp && f.dstPort === port && made.has(f.srcPort);
  const endedFlows = jsonLines<EndedFlowLine>(dir, 'end_flows_').filter(ours);
  const ended = new Set(endedFlows.map((f) => f.srcPort));
  const clientEnds = new Set<number>();
  const serverEnds = new Set<number>();
  let wrongPid = 0;
  let byEbpf = 0;
  for (const e of jsonLines<EndLine>(dir, 'process_flows_').filter(ours)) {
    const right = e.side === 'client' ? e.pid === clientPid : e.side === 'server' && e.pid === serverPid;
    if (!right) wrongPid++;
    else (e.side === 'client' ? clientEnds : serverEnds).add(e.srcPort);
    if (right && e.foundBy === 'ebpf') byEbpf++;
  }
  const processFlowsFile = readdirSync(dir).some((f) => f.startsWith('process_flows_'));
  let both = 0;
  for (const p of ended) if (clientEnds.has(p) && serverEnds.has(p)) both++;
  process.stdout.write([
    `MISSED=${JSON.stringify(missedBySecond(endedFlows, clientEnds, serverEnds))}`,
    `ENDED=${ended.size}`,
    `CLIENT_ENDS=${clientEnds.size}`,
    `SERVER_ENDS=${serverEnds.size}`,
    `ATTRIBUTED=${both}`,
    `WRONG_PID=${wrongPid}`,
    `EBPF_ENDS=${byEbpf}`,
    `PROCESS_FLOWS_FILE=${processFlowsFile ? 1 : 0}`,
  ].join('\n') + '\n');
}

/**
 * Where in the load the flows with an end not attributed lie: "second of the load:client
 * ends,server ends missed" for each second with any, counted from the first measured flow's
 * start, and how long those flows lasted (a socket /proc cannot see is a short one).
 */
function missedBySecond(flows: readonly EndedFlowLine[], clientEnds: ReadonlySet<number>, serverEnds: ReadonlySet<number>): string {
  if (flows.length === 0) return '';
  const startUs = (f: EndedFlowLine): number => f.tsUs - f.durationUs;
  const first = Math.min(...flows.map(startUs));
  const bySecond = new Map<number, [number, number]>();
  const durationsMs: number[] = [];
  const startsMs: number[] = [];
  for (const f of flows) {
    const client = !clientEnds.has(f.srcPort);
    const server = !serverEnds.has(f.srcPort);
    if (!client && !server) continue;
    const second = Math.floor((startUs(f) - first) / 1e6);
    const counts = bySecond.get(second) ?? [0, 0];
    if (client) counts[0]++;
    if (server) counts[1]++;
    bySecond.set(second, counts);
    durationsMs.push(f.durationUs / 1000);
    startsMs.push((startUs(f) - first) / 1000);
  }
  if (durationsMs.length === 0) return '';
  durationsMs.sort((a, b) => a - b);
  const seconds = [...bySecond].sort((a, b) => a[0] - b[0]).map(([s, [c, v]]) => `${s}:${c},${v}`).join(' ');
  const [from, to] = [Math.min(...startsMs), Math.max(...startsMs)];
  return `${seconds}; their flows started ${from.toFixed(0)}-${to.toFixed(0)} ms into the load and lasted ${durationsMs[0]!.toFixed(0)}-${durationsMs[durationsMs.length - 1]!.toFixed(0)} ms (median ${durationsMs[durationsMs.length >> 1]!.toFixed(0)})`;
}

const [role, ...args] = process.argv.slice(2);
if (role === 'server') {
  if (args.length !== 2) usage('server needs IP PORT');
  serve(args[0]!, whole(args[1], 'PORT', 1));
} else if (role === 'client') {
  if (args.length !== 6 && args.length !== 7) usage('client needs IP PORT RATE SECONDS HOLD_MS PORTS_FILE [FIRST_LOCAL_PORT]');
  const [rate, seconds] = [whole(args[2], 'RATE', 1), whole(args[3], 'SECONDS', 1)];
  const firstLocalPort = args[6] === undefined ? FIRST_LOCAL_PORT : whole(args[6], 'FIRST_LOCAL_PORT', 1024);
  if (firstLocalPort + rate * seconds - 1 > LAST_LOCAL_PORT) usage(`RATE x SECONDS must be at most ${LAST_LOCAL_PORT - firstLocalPort + 1} from port ${firstLocalPort} (one local port per connection)`);
  runClient(args[0]!, whole(args[1], 'PORT', 1), rate, seconds, whole(args[4], 'HOLD_MS'), args[5]!, firstLocalPort);
} else if (role === 'tally') {
  if (args.length !== 7) usage('tally needs LOG_DIR CLIENT_IP SERVER_IP PORT CLIENT_PID SERVER_PID PORTS_FILE');
  tally(args[0]!, args[1]!, args[2]!, whole(args[3], 'PORT', 1), whole(args[4], 'CLIENT_PID', 1), whole(args[5], 'SERVER_PID', 1), args[6]!);
} else {
  usage(`unknown role ${role ?? '(none)'}`);
}
