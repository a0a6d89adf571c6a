/**
 * InterfaceWatch on veths this test creates and deletes: a pod's namespace deleted (and the trap
 * of a process still inside), a host veth of the same name recreated, a replacement between two
 * ticks, and stop(). Times are measured from the moment the test's own delete command returned.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { InterfaceWatch } from './interface-watch.js';
import { NetnsLab, labUnavailableReason } from '../../test/e2e/netns.js';

const unavailable = labUnavailableReason();
if (unavailable) console.log(`# interface-watch: namespace tests skipped: ${unavailable}`);

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function sysIfindex(ifname: string): number {
  return Number(readFileSync(`/sys/class/net/${ifname}/ifindex`, 'utf8').trim());
}

/** What the watch reported, in order, with the time since the test's reference point. */
class Recorder {
  readonly seen: string[] = [];
  private start = performance.now();
  goneAfterMs: number | undefined;
  backAfterMs: number | undefined;

  mark(): void {
    this.start = performance.now();
  }

  readonly handlers = {
    onGone: (): void => {
      this.seen.push('gone');
      this.goneAfterMs = performance.now() - this.start;
    },
    onBack: (ifindex: number): void => {
      this.seen.push(`back ${ifindex}`);
      this.backAfterMs = performance.now() - this.start;
    },
  };

  until(count: number, limitMs: number): Promise<void> {
    return untilTrue(() => this.seen.length >= count, limitMs);
  }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function untilTrue(cond: () => boolean, limitMs: number): Promise<void> {
  const end = performance.now() + limitMs;
  while (!cond() && performance.now() < end) await pause(10);
}

/** `ip netns exec` has entered the namespace once it has exec'd its command. */
function commOf(pid: number | undefined): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

test('namespace deleted with a process inside: nothing until that process exits, then gone within 1 s; a new veth of that name: back', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  const hostIf = `${lab.prefix}${lab.tag}w`;
  let watch: InterfaceWatch | undefined;
  try {
    const pod = lab.addNamespace('p');
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod]);
    const sleeper = lab.spawnIn(pod, 'sleep', ['30']);
    await untilTrue(() => commOf(sleeper.pid) === 'sleep', 2000);
    const rec = new Recorder();
    watch = new InterfaceWatch(hostIf, sysIfindex(hostIf), rec.handlers);

    // The trap: deleting the namespace while a process runs inside leaves the veth alive.
    sh('ip', ['netns', 'del', pod]);
    await pause(600);
    assert.deepEqual(rec.seen, []);
    assert.equal(sysIfindex(hostIf) > 0, true);

    const exited = new Promise((r) => sleeper.on('close', r));
    sleeper.kill('SIGKILL');
    await exited;
    rec.mark();
    await rec.until(1, 2000);
    console.log(`interface-watch: onGone ${rec.goneAfterMs?.toFixed(1)} ms after the deleted namespace's last process exited`);
    assert.deepEqual(rec.seen, ['gone']);
    assert.ok(rec.goneAfterMs! < 1000, `${rec.goneAfterMs} ms`);
    assert.equal(watch.ifindex, undefined);

    const pod2 = lab.addNamespace('r');
    rec.mark();
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod2]);
    const newIndex = sysIfindex(hostIf);
    await rec.until(2, 2000);
    console.log(`interface-watch: onBack ${rec.backAfterMs?.toFixed(1)} ms after the veth was recreated`);
    assert.deepEqual(rec.seen, ['gone', `back ${newIndex}`]);
    assert.ok(rec.backAfterMs! < 1000, `${rec.backAfterMs} ms`);
    assert.equal(watch.ifindex, newIndex);
  } finally {
    watch?.stop();
    lab.cleanup();
    lab.deleteHostLink(hostIf);
  }
});

test('pod processes killed, then its namespace deleted: gone within 1 s of the delete', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  const hostIf = `${lab.prefix}${lab.tag}k`;
  let watch: InterfaceWatch | undefined;
  try {
    const pod = lab.addNamespace('k');
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod]);
    const sleeper = lab.spawnIn(pod, 'sleep', ['30']);
    await untilTrue(() => commOf(sleeper.pid) === 'sleep', 2000);
    const rec = new Recorder();
    watch = new InterfaceWatch(hostIf, sysIfindex(hostIf), rec.handlers);
    const exited = new Promise((r) => sleeper.on('close', r));
    sleeper.kill('SIGKILL');
    await exited;
    await pause(300);
    assert.deepEqual(rec.seen, [], 'the namespace still holds the veth');
    sh('ip', ['netns', 'del', pod]);
    rec.mark();
    await rec.until(1, 2000);
    console.log(`interface-watch: onGone ${rec.goneAfterMs?.toFixed(1)} ms after ip netns del returned`);
    assert.deepEqual(rec.seen, ['gone']);
    assert.ok(rec.goneAfterMs! < 1000, `${rec.goneAfterMs} ms`);
  } finally {
    watch?.stop();
    lab.cleanup();
    lab.deleteHostLink(hostIf);
  }
});

test('deleted and recreated between two ticks: gone, then back with the new index', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  const hostIf = `${lab.prefix}${lab.tag}x`;
  const peer = `${lab.prefix}${lab.tag}y`;
  let watch: InterfaceWatch | undefined;
  try {
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peer]);
    const oldIndex = sysIfindex(hostIf);
    const rec = new Recorder();
    watch = new InterfaceWatch(hostIf, oldIndex, rec.handlers, { intervalMs: 500 });
    await pause(100);
    sh('ip', ['link', 'del', hostIf]);
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peer]);
    const newIndex = sysIfindex(hostIf);
    assert.notEqual(newIndex, oldIndex);
    await rec.until(2, 2000);
    assert.deepEqual(rec.seen, ['gone', `back ${newIndex}`]);
  } finally {
    watch?.stop();
    lab.cleanup();
    lab.deleteHostLink(hostIf);
  }
});

test('stop(): nothing more is reported; a name that never existed is gone at the first tick', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  const hostIf = `${lab.prefix}${lab.tag}z`;
  const peer = `${lab.prefix}${lab.tag}v`;
  const stopped = new Recorder();
  const missing = new Recorder();
  const watches: InterfaceWatch[] = [];
  try {
    sh('ip', ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', peer]);
    watches.push(new InterfaceWatch(hostIf, sysIfindex(hostIf), stopped.handlers));
    watches.push(new InterfaceWatch(`${lab.prefix}${lab.tag}none`, 12345, missing.handlers));
    watches.push(new InterfaceWatch('../../etc', 1, missing.handlers));
    watches[0]!.stop();
    sh('ip', ['link', 'del', hostIf]);
    await pause(500);
    assert.deepEqual(stopped.seen, []);
    assert.deepEqual(missing.seen, ['gone', 'gone']);
  } finally {
    for (const w of watches) w.stop();
    lab.cleanup();
    lab.deleteHostLink(hostIf);
  }
});
