/**
 * hostVethOf against namespaces and veths this test builds: the expected host interface is the
 * one the test created, its index read from /sys/class/net and the pod end's from `ip -n`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostVethOf } from './host-veth.js';
import { NetnsLab, labUnavailableReason } from '../../test/e2e/netns.js';

const unavailable = labUnavailableReason(['nsenter']);
if (unavailable) console.log(`# host-veth: namespace tests skipped: ${unavailable}`);

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function sysIfindex(ifname: string): number {
  return Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
}

/** The index of `ifname` inside `ns`, as iproute2 reports it. */
function nsIfindex(ns: string, ifname: string): number {
  const links = JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show', 'dev', ifname])) as { ifindex: number }[];
  return links[0]!.ifindex;
}

/** A `sleep` inside `ns`, resolved once `ip netns exec` has entered the namespace and exec'd it. */
async function sleeperIn(lab: NetnsLab, ns: string): Promise<ChildProcess & { pid: number }> {
  const child = lab.spawnIn(ns, 'sleep', ['30']);
  for (let i = 0; i < 200; i++) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim();
    } catch {
      // not started yet
    }
    if (comm === 'sleep') return child as ChildProcess & { pid: number };
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`sleep did not start in ${ns}`);
}

test('a pod-like namespace with eth0 and a second veth: the host end of eth0, checked against /sys and ip', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  const hostEth0 = `${lab.prefix}${lab.tag}e`;
  const hostNet1 = `${lab.prefix}${lab.tag}n`;
  try {
    const ns = lab.addNamespace('p');
    // net1 first, so it has the lower index: eth0 must still be the one chosen (Multus-style pods).
    sh('ip', ['link', 'add', hostNet1, 'type', 'veth', 'peer', 'name', 'net1', 'netns', ns]);
    sh('ip', ['link', 'add', hostEth0, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    assert.ok(nsIfindex(ns, 'net1') < nsIfindex(ns, 'eth0'));
    const sleeper = await sleeperIn(lab, ns);
    assert.deepEqual(hostVethOf(sleeper.pid), {
      hostIfindex: sysIfindex(hostEth0),
      hostIfname: hostEth0,
      podIfname: 'eth0',
      podIfindex: nsIfindex(ns, 'eth0'),
    });
  } finally {
    lab.cleanup();
    lab.deleteHostLink(hostEth0);
    lab.deleteHostLink(hostNet1);
  }
});

test('both ends of the veth carry the same ifindex: still found', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  const hostIf = `${lab.prefix}${lab.tag}s`;
  const index = 40_000 + Math.floor(Math.random() * 20_000);
  try {
    const ns = lab.addNamespace('q');
    sh('ip', ['link', 'add', hostIf, 'index', String(index), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns, 'index', String(index)]);
    const sleeper = await sleeperIn(lab, ns);
    assert.equal(sysIfindex(hostIf), index);
    assert.equal(nsIfindex(ns, 'eth0'), index);
    assert.deepEqual(hostVethOf(sleeper.pid), { hostIfindex: index, hostIfname: hostIf, podIfname: 'eth0', podIfindex: index });
  } finally {
    lab.cleanup();
    lab.deleteHostLink(hostIf);
  }
});

test('a process of the host namespace has no pod veth', () => {
  const r = hostVethOf(process.pid);
  assert.ok('error' in r);
  const ns = sh('readlink', [`/proc/${process.pid}/ns/net`]).trim();
  assert.equal(r.error, `process ${process.pid} shares this host's network namespace (${ns}): it has no pod veth (host process or hostNetwork pod)`);
});

test('a vanished process and nonsense pids are reasons, not exceptions', async () => {
  const child = spawn('true');
  const pid = child.pid!;
  await new Promise((r) => child.on('close', r));
  assert.deepEqual(hostVethOf(pid), { error: `process ${pid} is gone (no /proc/${pid}/ns/net; if it runs on this node, the agent needs hostPID)` });
  assert.deepEqual(hostVethOf(0), { error: 'not a process id: 0' });
  assert.deepEqual(hostVethOf(-5), { error: 'not a process id: -5' });
  assert.deepEqual(hostVethOf(1.5), { error: 'not a process id: 1.5' });
  assert.deepEqual(hostVethOf(Number.NaN), { error: 'not a process id: NaN' });
});

test('a namespace with only loopback: no veth', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  try {
    const ns = lab.addNamespace('l');
    const sleeper = await sleeperIn(lab, ns);
    assert.deepEqual(hostVethOf(sleeper.pid), { error: `no veth in the network namespace of process ${sleeper.pid} (interfaces: lo)` });
  } finally {
    lab.cleanup();
  }
});

test('a veth pair wholly inside the namespace: its peer is not outside', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  try {
    const ns = lab.addNamespace('i');
    sh('ip', ['-n', ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
    const sleeper = await sleeperIn(lab, ns);
    const listed = (JSON.parse(sh('ip', ['-n', ns, '-j', 'link', 'show'])) as { ifname: string }[])
      .map((l) => (l.ifname === 'lo' ? 'lo' : `${l.ifname} (veth)`))
      .join(', ');
    assert.match(listed, /^lo, eth[01] \(veth\), eth[01] \(veth\)$/);
    assert.deepEqual(hostVethOf(sleeper.pid), {
      error: `the veths of process ${sleeper.pid}'s network namespace have their peer inside that same namespace (interfaces: ${listed})`,
    });
  } finally {
    lab.cleanup();
  }
});

test('a veth whose peer is in another namespace, not the host: refused whatever index 2 is here', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  try {
    const { sender, receiver } = lab.directPair();
    const sleeper = await sleeperIn(lab, sender.name);
    const podIndex = nsIfindex(sender.name, 'eth0');
    const peerIndex = nsIfindex(receiver.name, 'eth0');
    const r = hostVethOf(sleeper.pid);
    assert.ok('error' in r, JSON.stringify(r));
    assert.ok(
      r.error.startsWith(`the peer of eth0 (ifindex ${podIndex} in process ${sleeper.pid}'s namespace) is not in the host network namespace: `),
      r.error,
    );
    assert.ok(r.error.includes(`ifindex ${peerIndex}`), r.error);
  } finally {
    lab.cleanup();
  }
});
