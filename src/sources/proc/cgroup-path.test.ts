import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCgroupFile, parseCgroupPath } from './cgroup-path.js';

// Real /proc/<pid>/cgroup lines and cgroup directories, quoted from public bug reports (the URL
// is beside each); expected values are read off the quoted text by hand.

test('systemd driver, CRI-O, burstable, cgroup v1 (opencontainers/runc#4620)', () => {
  const text = [
    '13:freezer:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda5c1f8d5_1919_434d_add7_4afaafdaef89.slice/crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c.scope',
    '12:cpuset:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda5c1f8d5_1919_434d_add7_4afaafdaef89.slice/crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c.scope',
    '11:files:/',
    '',
  ].join('\n');
  assert.deepEqual(parseCgroupFile(text), {
    podUid: 'a5c1f8d5-1919-434d-add7-4afaafdaef89',
    containerId: '5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c',
    containerRuntime: 'cri-o',
  });
});

test('systemd driver, containerd, nested under kind\'s kubelet.slice (containerd/nri#227)', () => {
  const dir =
    '/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod1e597579_417e_482f_bf65_5fe170c3aebd.slice/cri-containerd-a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e.scope';
  assert.deepEqual(parseCgroupFile(`0::${dir}\n`), {
    podUid: '1e597579-417e-482f-bf65-5fe170c3aebd',
    containerId: 'a09bc17f5aa29b0dbdec9ede5f46cf1396d2405917ab02e6f1eb1019f388396e',
    containerRuntime: 'containerd',
  });
});

test('containerd\'s literal slice:prefix:id triple on cgroup v1 (open-telemetry/opentelemetry-java#4507, elastic/apm-agent-nodejs#3550)', () => {
  const otel = [
    '11:perf_event:/kubepods-besteffort-pod0125ec2f_b64a_4868_8f5b_94b56cbab864.slice:cri-containerd:ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459',
    '10:blkio:/system.slice/containerd.service/kubepods-besteffort-pod0125ec2f_b64a_4868_8f5b_94b56cbab864.slice:cri-containerd:ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459',
  ].join('\n');
  assert.deepEqual(parseCgroupFile(otel), {
    podUid: '0125ec2f-b64a-4868-8f5b-94b56cbab864',
    containerId: 'ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459',
    containerRuntime: 'containerd',
  });
  const elastic =
    '1:name=systemd:/system.slice/containerd.service/kubepods-burstable-podff49d0be_16b7_4a49_bb9e_8ec1f1f4e27f.slice:cri-containerd:0f99ad5f45163ed14ab8eaf92ed34bb4a631d007f8755a7d79be614bcb0df0ef';
  assert.deepEqual(parseCgroupFile(elastic), {
    podUid: 'ff49d0be-16b7-4a49-bb9e-8ec1f1f4e27f',
    containerId: '0f99ad5f45163ed14ab8eaf92ed34bb4a631d007f8755a7d79be614bcb0df0ef',
    containerRuntime: 'containerd',
  });
});

test('systemd driver, Docker, burstable (lxc/lxc#3890)', () => {
  const line =
    '11:freezer:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7d4424e6_bb13_42f4_a47a_45a4828bf54d.slice/docker-d0b3604b67ac7930dd34ba3a796627e3e4717d12309e90a4afe3f38b6816ac98.scope';
  assert.deepEqual(parseCgroupFile(`12:rdma:/\n${line}\n`), {
    podUid: '7d4424e6-bb13-42f4-a47a-45a4828bf54d',
    containerId: 'd0b3604b67ac7930dd34ba3a796627e3e4717d12309e90a4afe3f38b6816ac98',
    containerRuntime: 'docker',
  });
});

test('cgroupfs driver: bare id (containers/crun#729), crio- prefix (nestybox/sysbox#618)', () => {
  assert.deepEqual(
    parseCgroupFile('1:name=systemd:/kubepods/besteffort/pod85401dd3-38cd-47b6-a90a-e16c0e1c06e6/dbc9f149296cec5d12b78385eb5b2c0cfe20b476f117c15c76d981cff44053c1\n'),
    { podUid: '85401dd3-38cd-47b6-a90a-e16c0e1c06e6', containerId: 'dbc9f149296cec5d12b78385eb5b2c0cfe20b476f117c15c76d981cff44053c1' },
  );
  assert.deepEqual(
    parseCgroupFile('3:cpuset:/kubepods/besteffort/pod1d572999-c9f3-45bd-b378-9df614214da6/crio-87554950a53dd2ed856512d201cec166fa6c5dbab20186489d6a0e8c13c20586\n'),
    {
      podUid: '1d572999-c9f3-45bd-b378-9df614214da6',
      containerId: '87554950a53dd2ed856512d201cec166fa6c5dbab20186489d6a0e8c13c20586',
      containerRuntime: 'cri-o',
    },
  );
});

test('plain Docker: /docker/<id> on cgroup v1 (moby/moby#33352), /system.slice/docker-<id>.scope', () => {
  const moby = [
    '10:perf_event:/docker/5dace3de0735f73d2b5048f12d41a71741a02e49668de921fdae62f7e65dc498',
    '9:net_cls:/',
    '1:name=systemd:/',
  ].join('\n');
  assert.deepEqual(parseCgroupFile(moby), {
    containerId: '5dace3de0735f73d2b5048f12d41a71741a02e49668de921fdae62f7e65dc498',
    containerRuntime: 'docker',
  });
  assert.deepEqual(parseCgroupFile('0::/system.slice/docker-03c2dd57ba123879abab6f7b6da5192a127840534990c515be325450b7193c11.scope\n'), {
    containerId: '03c2dd57ba123879abab6f7b6da5192a127840534990c515be325450b7193c11',
    containerRuntime: 'docker',
  });
});

// The shapes below are built from the real ids above placed in the other layouts kubelet uses.
const UID_US = 'a5c1f8d5_1919_434d_add7_4afaafdaef89';
const UID = 'a5c1f8d5-1919-434d-add7-4afaafdaef89';
const ID = '5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c';

test('Guaranteed pods sit right under kubepods (both drivers); besteffort like burstable', () => {
  assert.deepEqual(parseCgroupPath(`/kubepods.slice/kubepods-pod${UID_US}.slice/cri-containerd-${ID}.scope`), {
    podUid: UID, containerId: ID, containerRuntime: 'containerd',
  });
  assert.deepEqual(parseCgroupPath(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_US}.slice/crio-${ID}.scope`), {
    podUid: UID, containerId: ID, containerRuntime: 'cri-o',
  });
  assert.deepEqual(parseCgroupPath(`/kubepods/pod${UID}/${ID}`), { podUid: UID, containerId: ID });
  assert.deepEqual(parseCgroupPath(`/kubepods/burstable/pod${UID}/${ID}`), { podUid: UID, containerId: ID });
});

test('CRI-O conmon is the monitor, not the container: pod uid only', () => {
  const conmon = `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_US}.slice/crio-conmon-${ID}.scope\n`;
  assert.deepEqual(parseCgroupFile(conmon), { podUid: UID });
  assert.deepEqual(parseCgroupFile(`0::/system.slice/crio-conmon-${ID}.scope\n`), {});
});

test('crun puts the process one level below the container scope', () => {
  assert.deepEqual(parseCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_US}.slice/crio-${ID}.scope/container`), {
    podUid: UID, containerId: ID, containerRuntime: 'cri-o',
  });
});

test('static pods have a 32-hex uid', () => {
  const uid = '6e5a5bba55e3a7c9b2c1c13ff8f10b5c';
  assert.deepEqual(parseCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid}.slice/cri-containerd-${ID}.scope`), {
    podUid: uid, containerId: ID, containerRuntime: 'containerd',
  });
});

test('hybrid: the v2 line wins over v1 lines; v1 is used when v2 says nothing', () => {
  const other = 'dbc9f149296cec5d12b78385eb5b2c0cfe20b476f117c15c76d981cff44053c1';
  const hybrid = `4:memory:/docker/${other}\n0::/kubepods.slice/kubepods-pod${UID_US}.slice/cri-containerd-${ID}.scope\n`;
  assert.deepEqual(parseCgroupFile(hybrid), { podUid: UID, containerId: ID, containerRuntime: 'containerd' });
  assert.deepEqual(parseCgroupFile(`4:memory:/docker/${other}\n0::/\n`), { containerId: other, containerRuntime: 'docker' });
});

test('host processes and malformed text give nothing, and never throw', () => {
  for (const text of [
    '',
    '0::/\n',
    '0::/user.slice/user-0.slice/session-3.scope\n',
    '0::/system.slice/containerd.service\n',
    '0::/init.scope\n',
    '4:memory:/process_api/a09df1443f48cff200b752a4e9e976b9\n',
    'garbage',
    '::::::',
    `0::/system.slice/docker-${ID.slice(1)}.scope\n`,
    `0::/system.slice/docker-${ID.toUpperCase()}.scope\n`,
    `0::/lxc/${ID}\n`,
    `0::/pod${UID}/${ID}\n`,
    '\0\0\0',
  ]) {
    assert.deepEqual(parseCgroupFile(text), {}, JSON.stringify(text));
  }
});
