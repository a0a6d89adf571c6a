import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CMDLINE_MAX_CHARS } from '../../analyze/enrich/process-identity.js';
import { ProcessIdentityReader } from './process-identity-reader.js';

const tmpRoots: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tmpRoots.push(dir);
  return dir;
}
after(() => {
  for (const dir of tmpRoots) rmSync(dir, { recursive: true, force: true });
});

interface FakeProcess {
  comm: string;
  ppid: number;
  startTime: number;
  cmdline?: string[];
  uid?: number;
  cgroup?: string;
  exe?: string;
}

/** A /proc laid out as proc(5) describes it, for the cases a live machine cannot stage on demand. */
class FakeProc {
  readonly root = tempDir('dllt-fakeproc-');

  add(pid: number, p: FakeProcess): void {
    const dir = join(this.root, String(pid));
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    this.setStat(pid, p.comm, p.ppid, p.startTime);
    writeFileSync(join(dir, 'cmdline'), p.cmdline === undefined ? '' : `${p.cmdline.join('\0')}\0`);
    const uid = p.uid ?? 0;
    writeFileSync(join(dir, 'status'), `Name:\t${p.comm}\nUmask:\t0022\nState:\tS (sleeping)\nPid:\t${pid}\nPPid:\t${p.ppid}\nUid:\t${uid}\t${uid}\t${uid}\t${uid}\n`);
    writeFileSync(join(dir, 'cgroup'), p.cgroup ?? '0::/user.slice/user-0.slice/session-1.scope\n');
    if (p.exe !== undefined) symlinkSync(p.exe, join(dir, 'exe'));
  }

  setStat(pid: number, comm: string, ppid: number, startTime: number): void {
    writeFileSync(
      join(this.root, String(pid), 'stat'),
      `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 1034 0 0 0 3 1 0 0 20 0 1 0 ${startTime} 9060352 896 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`,
    );
  }

  write(pid: number, file: string, content: string): void {
    writeFileSync(join(this.root, String(pid), file), content);
  }
}

function fakePasswd(): string {
  const path = join(tempDir('dllt-passwd-'), 'passwd');
  writeFileSync(path, 'root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/sh\n');
  return path;
}

/** kubelet's pods dir and the log symlink dir beside it, for one pod. */
function fakeKubelet(namespace: string, name: string, uid: string, containers: Record<string, string | undefined>): string {
  const root = tempDir('dllt-kubelet-');
  const podDir = join(root, 'pods', `${namespace}_${name}_${uid}`);
  mkdirSync(join(root, 'containers'), { recursive: true });
  for (const [container, id] of Object.entries(containers)) {
    mkdirSync(join(podDir, container), { recursive: true });
    writeFileSync(join(podDir, container, '0.log'), '');
    if (id !== undefined) symlinkSync(join(podDir, container, '0.log'), join(root, 'containers', `${name}_${namespace}_${container}-${id}.log`));
  }
  mkdirSync(join(root, 'pods'), { recursive: true });
  return join(root, 'pods');
}

const POD_UID = 'ff49d0be-16b7-4a49-bb9e-8ec1f1f4e27f';
const CONTAINER_ID = '0f99ad5f45163ed14ab8eaf92ed34bb4a631d007f8755a7d79be614bcb0df0ef';
const POD_CGROUP = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_UID.replaceAll('-', '_')}.slice/cri-containerd-${CONTAINER_ID}.scope\n`;

test('a fake /proc: every field, from what the test wrote', () => {
  const proc = new FakeProc();
  const longArg = 'z'.repeat(2 * CMDLINE_MAX_CHARS);
  proc.add(4242, { comm: 'a) b (c', ppid: 17, startTime: 8_000_001, cmdline: ['/srv/app', '--token', longArg], uid: 33, cgroup: POD_CGROUP, exe: '/srv/app' });
  const reader = new ProcessIdentityReader({
    procRoot: proc.root,
    passwdPath: fakePasswd(),
    podsDir: fakeKubelet('shop', 'checkout-5d8f', POD_UID, { app: CONTAINER_ID, sidecar: 'e'.repeat(64) }),
  });
  assert.deepEqual(reader.identify(4242), {
    pid: 4242,
    ppid: 17,
    comm: 'a) b (c',
    exe: '/srv/app',
    cmdline: `${`/srv/app --token ${longArg}`.slice(0, CMDLINE_MAX_CHARS)}…`,
    uid: 33,
    user: 'www-data',
    containerId: CONTAINER_ID,
    containerRuntime: 'containerd',
    podUid: POD_UID,
    podName: 'checkout-5d8f',
    podNamespace: 'shop',
    containerName: 'app',
  });
});

test('absent, not empty: no exe link, kernel-thread-like empty cmdline, unknown uid, host cgroup', () => {
  const proc = new FakeProc();
  proc.add(2, { comm: 'kthreadd', ppid: 0, startTime: 3, uid: 4321 });
  const reader = new ProcessIdentityReader({ procRoot: proc.root, passwdPath: fakePasswd(), podsDir: '/nonexistent/pods' });
  assert.deepEqual(reader.identify(2), { pid: 2, ppid: 0, comm: 'kthreadd', uid: 4321 });
});

test('a process that vanished between reads, a missing pid and nonsense pids give undefined', () => {
  const proc = new FakeProc();
  // What /proc/<pid> looks like when stat was read and the process was gone before status was.
  mkdirSync(join(proc.root, '77'));
  proc.setStat(77, 'gone', 1, 5);
  const reader = new ProcessIdentityReader({ procRoot: proc.root, passwdPath: fakePasswd() });
  assert.equal(reader.identify(77), undefined);
  assert.equal(reader.identify(78), undefined);
  for (const pid of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) assert.equal(reader.identify(pid), undefined, String(pid));
  assert.equal(reader.cachedCount, 0);
});

test('a cache hit reads only stat: files changed behind an unchanged stat are not seen', () => {
  const proc = new FakeProc();
  proc.add(100, { comm: 'curl', ppid: 1, startTime: 500, cmdline: ['curl', 'http://a'], uid: 1000 });
  const reader = new ProcessIdentityReader({ procRoot: proc.root, passwdPath: fakePasswd() });
  const first = reader.identify(100);
  assert.equal(first?.cmdline, 'curl http://a');
  proc.write(100, 'cmdline', 'changed\0');
  proc.write(100, 'status', 'Uid:\t0\t0\t0\t0\n');
  assert.equal(reader.identify(100), first);
});

test('a reused pid (new start time) or an exec (new comm) is read again', () => {
  const proc = new FakeProc();
  proc.add(100, { comm: 'bash', ppid: 1, startTime: 500, cmdline: ['bash'], uid: 1000 });
  let now = 0;
  const reader = new ProcessIdentityReader({ procRoot: proc.root, passwdPath: fakePasswd(), clock: () => now, trustMs: 100 });
  assert.equal(reader.identify(100)?.user, 'alice');
  // execve: same pid and start time, new program.
  proc.write(100, 'cmdline', 'curl\0http://b\0');
  proc.setStat(100, 'curl', 1, 500);
  now = 99;
  assert.equal(reader.identify(100)?.cmdline, 'bash', 'within trustMs of the last check, the cached identity without a read');
  now = 100;
  assert.equal(reader.identify(100)?.cmdline, 'curl http://b');
  // The pid is reused by a process of another user.
  proc.add(100, { comm: 'curl', ppid: 9, startTime: 900, cmdline: ['curl', 'http://c'], uid: 0 });
  now = 200;
  const reused = reader.identify(100);
  assert.equal(reused?.ppid, 9);
  assert.equal(reused?.user, 'root');
  assert.equal(reused?.cmdline, 'curl http://c');
});

test('the cache is an LRU bounded by maxEntries', () => {
  const proc = new FakeProc();
  for (const pid of [1, 2, 3]) proc.add(pid, { comm: `p${pid}`, ppid: 0, startTime: pid, cmdline: [`v1-${pid}`] });
  const reader = new ProcessIdentityReader({ procRoot: proc.root, passwdPath: fakePasswd(), maxEntries: 2, trustMs: 0 });
  reader.identify(1);
  reader.identify(2);
  reader.identify(1); // 2 is now the least recently used
  reader.identify(3); // evicts 2
  assert.equal(reader.cachedCount, 2);
  for (const pid of [1, 2, 3]) proc.write(pid, 'cmdline', `v2-${pid}\0`);
  assert.equal(reader.identify(1)?.cmdline, 'v1-1', 'still cached');
  assert.equal(reader.identify(2)?.cmdline, 'v2-2', 'evicted, read again');
});

test('pod names that appear after the process was first seen are filled in on a later hit', () => {
  const proc = new FakeProc();
  proc.add(300, { comm: 'app', ppid: 1, startTime: 10, cmdline: ['app'], cgroup: POD_CGROUP });
  const kubeletRoot = tempDir('dllt-kubelet-');
  const podsDir = join(kubeletRoot, 'pods');
  let now = 0;
  const reader = new ProcessIdentityReader({ procRoot: proc.root, passwdPath: fakePasswd(), podsDir, clock: () => now });
  const early = reader.identify(300);
  assert.equal(early?.podUid, POD_UID);
  assert.equal(early?.podName, undefined);
  mkdirSync(join(podsDir, `web_front_${POD_UID}`, 'nginx'), { recursive: true });
  now += 1000;
  const late = reader.identify(300);
  assert.equal(late?.podName, 'front');
  assert.equal(late?.podNamespace, 'web');
  assert.equal(late?.containerName, 'nginx');
  assert.equal(early?.podName, undefined, 'the object handed out earlier is not changed');
  assert.equal(reader.identify(300), late, 'complete now: the same object on every hit');
});

test('podProcesses lists the pids whose cgroup names the pod', () => {
  const proc = new FakeProc();
  proc.add(12, { comm: 'b', ppid: 1, startTime: 1, cgroup: POD_CGROUP });
  proc.add(5, { comm: 'a', ppid: 1, startTime: 1, cgroup: POD_CGROUP.replace(`cri-containerd-${CONTAINER_ID}`, `crio-conmon-${CONTAINER_ID}`) });
  proc.add(7, { comm: 'host', ppid: 1, startTime: 1 });
  mkdirSync(join(proc.root, 'self'));
  const reader = new ProcessIdentityReader({ procRoot: proc.root });
  assert.deepEqual(reader.podProcesses(POD_UID), [5, 12]);
  assert.deepEqual(reader.podProcesses('00000000-0000-0000-0000-000000000000'), []);
  assert.deepEqual(new ProcessIdentityReader({ procRoot: '/nonexistent/proc' }).podProcesses(POD_UID), []);
});

test('this process, read from the real /proc', () => {
  const reader = new ProcessIdentityReader();
  const me = reader.identify(process.pid)!;
  assert.equal(me.pid, process.pid);
  assert.equal(me.comm, 'node');
  assert.equal(me.ppid, process.ppid);
  assert.equal(me.uid, process.getuid!());
  assert.equal(me.user, execFileSync('id', ['-nu'], { encoding: 'utf8' }).trim());
  assert.equal(me.exe, realpathSync(process.execPath));
  const args = execFileSync('ps', ['-ww', '-o', 'args=', '-p', String(process.pid)], { encoding: 'utf8' }).trim();
  assert.equal(me.cmdline, args.length > CMDLINE_MAX_CHARS ? `${args.slice(0, CMDLINE_MAX_CHARS)}…` : args);
});

test('a real process that has exited gives undefined', async () => {
  const child = spawn('true', [], { stdio: 'ignore' });
  const pid = child.pid!;
  await once(child, 'exit');
  assert.equal(new ProcessIdentityReader().identify(pid), undefined);
});

/** The cgroup2 mount point (/sys/fs/cgroup/unified on this hybrid machine), from the mount table. */
function cgroup2Mount(): string | undefined {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mountPoint, type] = line.split(' ');
    if (type === 'cgroup2') return mountPoint;
  }
  return undefined;
}

const cgroupRoot = cgroup2Mount();
const cgroupSkip =
  process.getuid?.() !== 0
    ? 'needs root to create cgroups'
    : cgroupRoot === undefined || !existsSync(join(cgroupRoot, 'cgroup.procs'))
      ? 'no cgroup v2 hierarchy mounted'
      : undefined;
if (cgroupSkip) console.log(`# real kubepods cgroup test skipped: ${cgroupSkip}`);

test('a real process in a kubepods-shaped cgroup v2 with kubelet directories', { skip: cgroupSkip ?? false }, async () => {
  const tag = randomBytes(4).toString('hex');
  const podUid = randomUUID();
  const containerId = randomBytes(32).toString('hex');
  // Under a top-level directory of our own, so tests running in parallel never share (or delete)
  // a kubepods.slice; the parser finds the pod anywhere in the path, as on kind nodes.
  const chain = [
    `dllt-test-${tag}`,
    'kubepods.slice',
    'kubepods-besteffort.slice',
    `kubepods-besteffort-pod${podUid.replaceAll('-', '_')}.slice`,
    `cri-containerd-${containerId}.scope`,
  ];
  const dirs = chain.map((_, i) => join(cgroupRoot!, ...chain.slice(0, i + 1)));
  const podsDir = fakeKubelet('payments', 'ledger-0', podUid, { ledger: containerId });
  let child: ChildProcess | undefined;
  try {
    mkdirSync(dirs.at(-1)!, { recursive: true });
    child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid!;
    writeFileSync(join(dirs.at(-1)!, 'cgroup.procs'), String(pid));
    // The kernel's own view first: the unified line (`0::`) shows the path we made.
    const v2Line = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => l.startsWith('0::'));
    assert.ok(v2Line?.endsWith(`/${chain.join('/')}`), v2Line);

    const reader = new ProcessIdentityReader({ podsDir });
    assert.deepEqual(reader.identify(pid), {
      pid,
      ppid: process.pid,
      comm: 'sleep',
      exe: realpathSync(execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim()),
      cmdline: 'sleep 30',
      uid: 0,
      user: execFileSync('id', ['-nu', '0'], { encoding: 'utf8' }).trim(),
      containerId,
      containerRuntime: 'containerd',
      podUid,
      podName: 'ledger-0',
      podNamespace: 'payments',
      containerName: 'ledger',
    });
    assert.deepEqual(reader.podProcesses(podUid), [pid]);
    assert.deepEqual(reader.pods.findPod('payments', 'ledger-0'), { uid: podUid });
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
    await removeCgroups(dirs);
  }
});

/** rmdir deepest first; a cgroup whose last process just exited can stay busy for a moment. */
async function removeCgroups(dirs: string[]): Promise<void> {
  for (const dir of [...dirs].reverse()) {
    for (let attempt = 0; existsSync(dir); attempt++) {
      try {
        rmdirSync(dir);
      } catch (err) {
        if (attempt >= 50) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }
}
