/**
 * cgroup v2 ids against the kernel's own: a cgroup this test makes, with this process moved
 * into it, read back through bpftrace's `cgroup` builtin where bpftrace runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { cgroup2MountOf, cgroup2PathOf, cgroupV2IdOf } from './cgroup-v2-id.js';
import { checkEbpf } from '../ebpf/ebpf-availability.js';

test('the cgroup2 mount of a hybrid host and of a pure v2 host; none on a v1-only host', () => {
  const hybrid = [
    '25 30 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755',
    '26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate',
    '27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd',
  ].join('\n');
  assert.equal(cgroup2MountOf(hybrid), '/sys/fs/cgroup/unified');
  assert.equal(cgroup2MountOf('30 1 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw'), '/sys/fs/cgroup');
  assert.equal(cgroup2MountOf('30 1 0:26 / /mnt/cg\\040two rw - cgroup2 cgroup2 rw'), '/mnt/cg two');
  assert.equal(cgroup2MountOf('30 1 0:26 /kubepods.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw'), undefined, 'a namespaced view');
  assert.equal(cgroup2MountOf(hybrid.split('\n').filter((l) => !l.includes('cgroup2')).join('\n')), undefined);
});

test('the v2 path is the 0:: line, whatever v1 lines come first', () => {
  assert.equal(cgroup2PathOf('12:pids:/user.slice\n1:name=systemd:/user.slice/x.scope\n0::/user.slice/x.scope\n'), '/user.slice/x.scope');
  assert.equal(cgroup2PathOf('0::/\n'), '/');
  assert.equal(cgroup2PathOf('12:pids:/user.slice\n'), undefined);
});

const mount = cgroup2MountOf(readFileSync('/proc/self/mountinfo', 'utf8'));
const skip = process.getuid?.() !== 0 ? 'needs root to make a cgroup' : mount === undefined ? 'no cgroup2 mount here' : undefined;
if (skip) console.log(`# cgroup-v2-id: skipped: ${skip}`);

test('a process moved into a new cgroup has that directory\'s inode as its id; the kernel agrees', { skip }, async () => {
  const dir = `${mount}/dllt-cgid-${process.pid}`;
  mkdirSync(dir);
  const child = spawn('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && echo moved && exec sleep 30`], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    assert.equal(cgroupV2IdOf(child.pid!), statSync(dir).ino);
    assert.equal(cgroupV2IdOf(999_999_999), undefined, 'no such process');
    // Under `ip netns exec` /sys has no cgroup mount: the id is found through an ancestor's view.
    const inNetns = spawnSync('unshare', ['--mount', 'sh', '-c', `mount -t tmpfs none /sys/fs/cgroup && ! test -e ${mount}/cgroup.procs && node --input-type=module -e "import('${new URL('./cgroup-v2-id.js', import.meta.url).href}').then((m) => console.log(m.cgroupV2IdOf(${child.pid})))"`], { encoding: 'utf8' });
    assert.equal(inNetns.stdout.trim(), String(statSync(dir).ino), inNetns.stderr);
    const ebpf = checkEbpf();
    if (!ebpf.ok) {
      console.log(`# cgroup-v2-id: kernel check skipped: ${ebpf.reason}`);
      return;
    }
    // bpftrace in the new cgroup prints the kernel's cgroup id of itself.
    const bt = spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec bpftrace -e 'BEGIN { printf("cgroup %llu\\n", cgroup); exit(); }'`], { encoding: 'utf8', timeout: 60_000 });
    assert.match(bt.stdout, new RegExp(`^cgroup ${statSync(dir).ino}$`, 'm'), bt.stderr);
  } finally {
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('close', resolve));
    rmdirSync(dir);
  }
});
