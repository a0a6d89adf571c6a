/**
 * What the packetless tests (the source's, and the `dllt capture --packetless` end-to-end test)
 * share: `ss` run by the test itself as the oracle, read with plain regexes (not with ss-parse,
 * which is under test), real loss on a namespace's loopback, and small helpers for the python3
 * programs that make the traffic.
 */
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/** Sets the process name (comm) so the test knows exactly what `ss -p` must report. */
export const SET_COMM = 'import ctypes,sys\nctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)\n';

export interface OracleSocket {
  srttUs: number;
  rttvarUs: number;
  minRttUs: number;
  retransTotal: number;
  /** tcpi_segs_out (0 when ss leaves it out). */
  segsOut: number;
  pid: number;
  comm: string;
}

/** `ss -tinOHeap` in the namespace, now. */
export function oracle(ns: string): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'ss', '-tinOHeap'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** The oracle's line for the socket bound to `local` (`127.0.0.1:P` or `[::1]:P`) talking to `peer`. */
export function oracleSocket(table: string, local: string, peer: string): OracleSocket {
  const line = table.split('\n').find((l) => {
    const f = l.trim().split(/\s+/);
    return f[3] === local && f[4] === peer;
  });
  assert.ok(line, `oracle has no socket ${local} -> ${peer}:\n${table}`);
  const num = (re: RegExp): number => Number(re.exec(line)?.[1] ?? 'NaN');
  const rtt = / rtt:([\d.]+)\/([\d.]+)/.exec(line);
  const user = /users:\(\("([^"]*)",pid=(\d+),/.exec(line);
  return {
    srttUs: Math.round(Number(rtt?.[1]) * 1000),
    rttvarUs: Math.round(Number(rtt?.[2]) * 1000),
    minRttUs: Math.round(num(/ minrtt:([\d.]+)/) * 1000),
    retransTotal: / retrans:/.test(line) ? num(/ retrans:\d+\/(\d+)/) : 0,
    segsOut: / segs_out:/.test(line) ? num(/ segs_out:(\d+)/) : 0,
    pid: Number(user?.[2]),
    comm: user?.[1] ?? '',
  };
}

/**
 * Real loss on the namespace's `lo`: netem (`loss PCT%`, and `delay` when given) when the kernel
 * has it, else netfilter dropping PCT % of the client's data segments in INPUT (after TCP sent
 * them, so TCP sees real loss and retransmits; an OUTPUT drop would look to TCP like a local send
 * failure, re-sent without counting a retransmission). Returns why neither works, or undefined.
 */
export function addLoss(ns: string, clientPort: number, pct: number, delayMs?: number): string | undefined {
  const delay = delayMs === undefined ? [] : ['delay', `${delayMs}ms`];
  const netem = spawnSync('ip', ['netns', 'exec', ns, 'tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'loss', `${pct}%`, ...delay], { encoding: 'utf8' });
  if (netem.status === 0) return undefined;
  const nftRules = `table inet dlltloss {\n chain in {\n  type filter hook input priority 0;\n  tcp sport ${clientPort} tcp flags & (syn|fin|rst) == 0 ip length > 100 numgen random mod 100 < ${pct} drop\n }\n}\n`;
  const nft = spawnSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: nftRules, encoding: 'utf8' });
  if (nft.status === 0) {
    console.log(`# netem unavailable (${netem.stderr.trim() || 'tc failed'}): ${pct} % loss of client data made with nftables in INPUT instead, no added delay`);
    return undefined;
  }
  return `no way to make loss: tc netem said "${netem.stderr.trim()}", nft said "${(nft.stderr ?? String(nft.error)).trim()}"`;
}

export function waitForLine(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms; got: ${out}`)), timeoutMs);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (d: string) => {
      out += d;
      if (out.split('\n').includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

export function exited(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve();
    const timer = setTimeout(() => reject(new Error('program did not exit')), timeoutMs);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export function randomPort(): number {
  return 20000 + (randomBytes(2).readUInt16BE(0) % 20000);
}
