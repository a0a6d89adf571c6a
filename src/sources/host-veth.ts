/**
 * The host side of a pod's veth (SPEC 1 `dllt pod`, the seed's monitorPod.sh): given a process
 * inside the pod, the interface in this (the node's) network namespace whose other end is the
 * pod's eth0. Capturing there sees all of the pod's traffic.
 *
 * How: the pod's links are listed from inside its network namespace with `nsenter --net ip -j -d
 * link show`, i.e. over netlink, which answers for the namespace the caller is in. Reading
 * /proc/<pid>/root/sys/class/net would avoid the child process but shows whatever sysfs the
 * container happened to mount (the host's, if it never remounted /sys), and /proc/<pid>/net has
 * no peer indexes. Node cannot setns() or speak netlink itself, hence the two helper programs.
 * The namespace file is opened once and handed to nsenter as fd 3, so the namespace checked here
 * is the one listed even if the pid exits and is reused meanwhile.
 *
 * Ifindexes are per namespace, so the match is checked from both ends: the pod's veth names its
 * peer's index; the interface with that index here (found through /sys/class/net, one small read
 * per interface, rather than a netlink dump of a node's hundreds of veths) must itself be a veth
 * into another namespace whose peer index is the pod's veth. Both conditions matter: index 2
 * exists in most namespaces, and a veth's two ends can carry the same index. What netlink cannot
 * show without naming namespaces is *which* namespace a peer lives in, so a pod whose veth led
 * into a third namespace could still match a host veth of another pod with the same pair of
 * indexes; CNI plugins put the peer on the node, where the check is exact.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { findExecutable } from '../util/executables.js';
import { SYS_CLASS_NET } from './interfaces.js';

export interface HostVeth {
  /** The host-side interface: what `dllt capture` opens. */
  hostIfindex: number;
  hostIfname: string;
  /** The pod's end, as the pod sees it (ifindex in the pod's namespace). */
  podIfname: string;
  podIfindex: number;
}

export type HostVethResult = HostVeth | { error: string };

/** One link of `ip -j -d link show`, with only the fields used here. */
interface Link {
  ifindex: number;
  ifname: string;
  kind: string | undefined;
  /** The peer's ifindex (in the peer's namespace); absent when not linked. */
  peerIndex: number | undefined;
  /** Present when the peer lives in another namespace. */
  peerNetnsId: number | undefined;
}

const TOOL_TIMEOUT_MS = 5_000;

function errnoOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** The pod's network namespace, opened; a reason instead when it is our own. */
function openPodNetns(pid: number): { fd: number } | { error: string } {
  const path = `/proc/${pid}/ns/net`;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = errnoOf(err);
    if (code === 'ENOENT' || code === 'ESRCH') {
      return { error: `process ${pid} is gone (no ${path}; if it runs on this node, the agent needs hostPID)` };
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return { error: `cannot open ${path}: permission denied (needs CAP_SYS_PTRACE)` };
    }
    return { error: `cannot open ${path}: ${code ?? String(err)}` };
  }
  try {
    const podNs = fstatSync(fd).ino;
    const ownNs = statSync('/proc/self/ns/net').ino;
    if (podNs === ownNs) {
      closeSync(fd);
      return { error: `process ${pid} shares this host's network namespace (net:[${podNs}]): it has no pod veth (host process or hostNetwork pod)` };
    }
  } catch (err) {
    closeSync(fd);
    return { error: `cannot compare network namespaces of process ${pid}: ${errnoOf(err) ?? String(err)}` };
  }
  return { fd };
}

/**
 * `ip -j -d link show ...`, run by nsenter inside the namespace open as `netnsFd`, or directly in
 * ours when it is undefined. `where` names the namespace in error messages.
 */
function listLinks(ipArgs: string[], netnsFd: number | undefined, where: string): Link[] | { error: string } {
  const ip = findExecutable('ip');
  if (ip === undefined) return { error: 'ip is not installed (Debian package iproute2)' };
  let cmd = ip;
  let args = ['-j', '-d', 'link', 'show', ...ipArgs];
  if (netnsFd !== undefined) {
    const nsenter = findExecutable('nsenter');
    if (nsenter === undefined) return { error: 'nsenter is not installed (Debian package util-linux)' };
    cmd = nsenter;
    args = ['--net=/proc/self/fd/3', ip, ...args];
  }
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    stdio: netnsFd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe', netnsFd],
    timeout: TOOL_TIMEOUT_MS,
  });
  if (r.error !== undefined) return { error: `${cmd} failed to run: ${errnoOf(r.error) ?? r.error.message}` };
  if (r.status !== 0) {
    const why = (r.stderr ?? '').trim().split('\n')[0] ?? '';
    if (netnsFd !== undefined && /Operation not permitted/i.test(why)) {
      return { error: `cannot enter ${where}: ${why} (needs CAP_SYS_ADMIN)` };
    }
    return { error: `listing the links of ${where} failed (${r.signal ?? `exit ${r.status}`}): ${why}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    return { error: `ip -j link show printed no JSON for ${where}` };
  }
  if (!Array.isArray(parsed)) return { error: `ip -j link show printed no list for ${where}` };
  const links: Link[] = [];
  for (const entry of parsed as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as Record<string, unknown>;
    if (typeof e['ifindex'] !== 'number' || typeof e['ifname'] !== 'string') continue;
    const info = e['linkinfo'];
    const kind = typeof info === 'object' && info !== null ? (info as Record<string, unknown>)['info_kind'] : undefined;
    links.push({
      ifindex: e['ifindex'],
      ifname: e['ifname'],
      kind: typeof kind === 'string' ? kind : undefined,
      peerIndex: typeof e['link_index'] === 'number' ? e['link_index'] : undefined,
      peerNetnsId: typeof e['link_netnsid'] === 'number' ? e['link_netnsid'] : undefined,
    });
  }
  return links;
}

/** A veth whose peer is in another namespace. */
function leadsOut(l: Link): boolean {
  return l.kind === 'veth' && l.peerNetnsId !== undefined && l.peerIndex !== undefined && l.peerIndex > 0;
}

/** The pod's veth that leads out of its namespace, eth0 first. */
function pickPodVeth(pid: number, links: Link[]): Link | { error: string } {
  const veths = links.filter((l) => l.kind === 'veth');
  const outward = veths.filter(leadsOut);
  const chosen = outward.find((l) => l.ifname === 'eth0') ?? outward.sort((a, b) => a.ifindex - b.ifindex)[0];
  if (chosen !== undefined) return chosen;
  const seen = links.map((l) => (l.kind === undefined ? l.ifname : `${l.ifname} (${l.kind})`)).join(', ');
  if (veths.length > 0) {
    return { error: `the veths of process ${pid}'s network namespace have their peer inside that same namespace (interfaces: ${seen})` };
  }
  return { error: `no veth in the network namespace of process ${pid} (interfaces: ${seen || 'none'})` };
}

function readIfindex(ifname: string): number | undefined {
  try {
    const n = Number(readFileSync(`${SYS_CLASS_NET}/${ifname}/ifindex`, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    // vanished while being read
    return undefined;
  }
}

/** The interface of this namespace with that ifindex (one small read per interface until found). */
function hostInterfaceByIndex(ifindex: number): string | undefined {
  let names: string[];
  try {
    names = readdirSync(SYS_CLASS_NET);
  } catch {
    return undefined;
  }
  return names.find((name) => readIfindex(name) === ifindex);
}

/**
 * The host-side interface of the veth whose other end is in the network namespace of `pid`
 * (a pod's container process). Never throws: every failure is a one-line reason.
 */
export function hostVethOf(pid: number): HostVethResult {
  if (!Number.isInteger(pid) || pid <= 0) return { error: `not a process id: ${String(pid)}` };
  const ns = openPodNetns(pid);
  if ('error' in ns) return ns;
  let links: Link[] | { error: string };
  try {
    links = listLinks([], ns.fd, `the network namespace of process ${pid}`);
  } finally {
    closeSync(ns.fd);
  }
  if ('error' in links) return links;
  const pod = pickPodVeth(pid, links);
  if ('error' in pod) return pod;
  const peerIndex = pod.peerIndex!;
  const notHere = `the peer of ${pod.ifname} (ifindex ${pod.ifindex} in process ${pid}'s namespace) is not in the host network namespace`;
  const hostIfname = hostInterfaceByIndex(peerIndex);
  if (hostIfname === undefined) return { error: `${notHere}: no interface with ifindex ${peerIndex} here` };
  const hostLinks = listLinks(['dev', hostIfname], undefined, `${hostIfname} in the host network namespace`);
  if ('error' in hostLinks) return hostLinks;
  const host = hostLinks.find((l) => l.ifindex === peerIndex);
  if (host === undefined || !leadsOut(host)) {
    return { error: `${notHere}: ifindex ${peerIndex} here is ${hostIfname}, which is not a veth leading to another namespace` };
  }
  if (host.peerIndex !== pod.ifindex) {
    return { error: `${notHere}: ifindex ${peerIndex} here is ${hostIfname}, whose peer is ifindex ${host.peerIndex}` };
  }
  return { hostIfindex: peerIndex, hostIfname, podIfname: pod.ifname, podIfindex: pod.ifindex };
}
