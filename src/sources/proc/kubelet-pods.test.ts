import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeletPods } from './kubelet-pods.js';

/** A kubelet log tree as a node has it: /var/log/pods/<ns>_<name>_<uid>/<container>/0.log and
 *  /var/log/containers/<name>_<ns>_<container>-<id>.log symlinks into it. */
class FakeKubeletLogs {
  readonly root = mkdtempSync(join(tmpdir(), 'dllt-kubelet-'));
  readonly podsDir = join(this.root, 'pods');
  readonly containersDir = join(this.root, 'containers');

  constructor() {
    mkdirSync(this.podsDir);
    mkdirSync(this.containersDir);
  }

  addPod(namespace: string, name: string, uid: string, containers: Record<string, string | undefined>): string {
    const podDir = join(this.podsDir, `${namespace}_${name}_${uid}`);
    mkdirSync(podDir);
    for (const [container, id] of Object.entries(containers)) {
      mkdirSync(join(podDir, container));
      writeFileSync(join(podDir, container, '0.log'), '');
      if (id !== undefined) symlinkSync(join(podDir, container, '0.log'), join(this.containersDir, `${name}_${namespace}_${container}-${id}.log`));
    }
    return podDir;
  }
}

const hex = (c: string): string => c.repeat(64);
const UID_A = '0125ec2f-b64a-4868-8f5b-94b56cbab864';
const UID_B = 'ff49d0be-16b7-4a49-bb9e-8ec1f1f4e27f';
const UID_C = '1e597579-417e-482f-bf65-5fe170c3aebd';

const trees: FakeKubeletLogs[] = [];
function tree(): FakeKubeletLogs {
  const t = new FakeKubeletLogs();
  trees.push(t);
  return t;
}
after(() => {
  for (const t of trees) rmSync(t.root, { recursive: true, force: true });
});

test('lookup names a pod and lists its containers; containers dir defaults to ../containers', () => {
  const t = tree();
  t.addPod('shop', 'web-7d9f', UID_A, { nginx: hex('a'), 'log-shipper': hex('b') });
  const pods = new KubeletPods(t.podsDir);
  assert.equal(pods.containersDir, t.containersDir);
  assert.deepEqual(pods.lookup(UID_A), { namespace: 'shop', name: 'web-7d9f', containers: ['log-shipper', 'nginx'] });
  assert.equal(pods.lookup(UID_B), undefined);
  assert.deepEqual(pods.findPod('shop', 'web-7d9f'), { uid: UID_A });
  assert.equal(pods.findPod('shop', 'nosuch'), undefined);
});

test('container names: from the log symlink; the only folder when the pod has no symlinks; none for the sandbox', () => {
  const t = tree();
  t.addPod('shop', 'web', UID_A, { nginx: hex('a'), 'log-shipper': hex('b') });
  t.addPod('jobs', 'once', UID_B, { worker: undefined });
  t.addPod('jobs', 'pair', UID_C, { left: undefined, right: undefined });
  const pods = new KubeletPods(t.podsDir, { containersDir: t.containersDir });
  assert.equal(pods.containerName(UID_A, hex('a')), 'nginx');
  assert.equal(pods.containerName(UID_A, hex('b')), 'log-shipper');
  // The pod's pause container has a cgroup of its own but no logs.
  assert.equal(pods.containerName(UID_A, hex('c')), undefined);
  assert.equal(pods.containerName(UID_B, hex('d')), 'worker');
  assert.equal(pods.containerName(UID_C, hex('e')), undefined);
  // A symlink belonging to another pod is not this pod's container.
  assert.equal(pods.containerName(UID_B, hex('a')), undefined);
});

test('a miss re-reads the directories at most once per interval', () => {
  const t = tree();
  let now = 10_000;
  const pods = new KubeletPods(t.podsDir, { clock: () => now });
  assert.equal(pods.lookup(UID_A), undefined);
  t.addPod('shop', 'web', UID_A, { nginx: hex('a') });
  now += 999;
  assert.equal(pods.lookup(UID_A), undefined, 'no re-read within the second');
  assert.equal(pods.findPod('shop', 'web'), undefined);
  now += 1;
  assert.equal(pods.lookup(UID_A)?.name, 'web');
  // A hit does not re-read: a pod deleted since stays known until a miss refreshes.
  rmSync(join(t.podsDir, `shop_web_${UID_A}`), { recursive: true });
  now += 5000;
  assert.equal(pods.lookup(UID_A)?.name, 'web');
  assert.equal(pods.lookup(UID_B), undefined);
  assert.equal(pods.lookup(UID_A), undefined, 'the refresh caused by the miss dropped it');
});

test('bounded: at most maxEntries pods are remembered; malformed names are skipped', () => {
  const t = tree();
  t.addPod('a', 'one', UID_A, { c: undefined });
  t.addPod('a', 'two', UID_B, { c: undefined });
  t.addPod('a', 'three', UID_C, { c: undefined });
  mkdirSync(join(t.podsDir, 'not-a-pod'));
  mkdirSync(join(t.podsDir, 'a_b_c_d'));
  mkdirSync(join(t.podsDir, '_x_'));
  writeFileSync(join(t.podsDir, `a_file_${UID_A}`), '');
  const pods = new KubeletPods(t.podsDir, { maxEntries: 2, clock: () => 0 });
  const known = [UID_A, UID_B, UID_C].filter((uid) => pods.lookup(uid) !== undefined);
  assert.equal(known.length, 2);
  assert.equal(pods.size, 2);

  const all = new KubeletPods(t.podsDir, { clock: () => 0 });
  assert.equal(all.lookup(UID_A)?.name, 'one');
  assert.equal(all.size, 3);
});

test('findPod: a recreated pod (old logs still there) resolves to the newest directory', () => {
  const t = tree();
  const old = t.addPod('db', 'postgres-0', UID_A, { postgres: undefined });
  const current = t.addPod('db', 'postgres-0', UID_B, { postgres: undefined });
  utimesSync(old, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'));
  utimesSync(current, new Date('2026-01-02T00:00:00Z'), new Date('2026-01-02T00:00:00Z'));
  assert.deepEqual(new KubeletPods(t.podsDir).findPod('db', 'postgres-0'), { uid: UID_B });
  utimesSync(old, new Date('2026-01-03T00:00:00Z'), new Date('2026-01-03T00:00:00Z'));
  assert.deepEqual(new KubeletPods(t.podsDir).findPod('db', 'postgres-0'), { uid: UID_A });
});

test('missing or unreadable directories: no pods, no throw', () => {
  const pods = new KubeletPods('/nonexistent/dllt/pods');
  assert.equal(pods.lookup(UID_A), undefined);
  assert.equal(pods.containerName(UID_A, hex('a')), undefined);
  assert.equal(pods.findPod('a', 'b'), undefined);
  const t = tree();
  writeFileSync(join(t.root, 'file'), '');
  assert.equal(new KubeletPods(join(t.root, 'file')).lookup(UID_A), undefined);
});
