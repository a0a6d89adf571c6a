import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeInterfaces, firstUpInterface, interfaceAddresses, listInterfaces, readInterface, resolveInterface } from './interfaces.js';
import { NetnsLab, labUnavailableReason } from '../../test/e2e/netns.js';

/** A fake /sys/class/net: the parsing is tested without depending on the machine. */
function fakeSys(ifaces: Record<string, { ifindex: number; flags: string; operstate?: string; address?: string; mtu?: number }>): string {
  const dir = mkdtempSync(join(tmpdir(), 'dllt-sysnet-'));
  for (const [name, f] of Object.entries(ifaces)) {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'ifindex'), `${f.ifindex}\n`);
    writeFileSync(join(dir, name, 'flags'), `${f.flags}\n`);
    if (f.operstate) writeFileSync(join(dir, name, 'operstate'), `${f.operstate}\n`);
    if (f.address) writeFileSync(join(dir, name, 'address'), `${f.address}\n`);
    if (f.mtu) writeFileSync(join(dir, name, 'mtu'), `${f.mtu}\n`);
  }
  return dir;
}

const sys = fakeSys({
  lo: { ifindex: 1, flags: '0x9', operstate: 'unknown', address: '00:00:00:00:00:00', mtu: 65536 },
  eth1: { ifindex: 3, flags: '0x1002', operstate: 'down', address: '02:00:00:00:00:03', mtu: 1500 },
  eth0: { ifindex: 2, flags: '0x1003', operstate: 'up', address: '02:00:00:00:00:02', mtu: 1500 },
  '42': { ifindex: 7, flags: '0x1003', operstate: 'up' },
});
after(() => rmSync(sys, { recursive: true, force: true }));

test('lists interfaces by index with flags, operstate, MAC and MTU', () => {
  const list = listInterfaces(sys);
  assert.deepEqual(list.map((i) => i.name), ['lo', 'eth0', 'eth1', '42']);
  assert.deepEqual(list[0], { name: 'lo', index: 1, up: true, operState: 'unknown', loopback: true, mac: '00:00:00:00:00:00', mtu: 65536 });
  assert.deepEqual(list[2], { name: 'eth1', index: 3, up: false, operState: 'down', loopback: false, mac: '02:00:00:00:00:03', mtu: 1500 });
  assert.equal(describeInterfaces(sys), '1 lo (up), 2 eth0 (up), 3 eth1 (down), 7 42 (up)');
});

test('resolves by name or index; a digit string that names an interface is a name', () => {
  assert.equal(resolveInterface('eth0', sys)?.index, 2);
  assert.equal(resolveInterface(3, sys)?.name, 'eth1');
  assert.equal(resolveInterface('3', sys)?.name, 'eth1');
  assert.equal(resolveInterface('42', sys)?.index, 7);
  assert.equal(resolveInterface('nosuch', sys), undefined);
  assert.equal(resolveInterface(99, sys), undefined);
  assert.equal(resolveInterface(0, sys), undefined);
  assert.equal(readInterface('../etc', sys), undefined);
});

test('default interface: first non-loopback that is up', () => {
  assert.equal(firstUpInterface(sys)?.name, 'eth0');
  const none = fakeSys({ lo: { ifindex: 1, flags: '0x9' } });
  try {
    assert.equal(firstUpInterface(none), undefined);
  } finally {
    rmSync(none, { recursive: true, force: true });
  }
});

test('the real machine: loopback is found and carries 127.0.0.1', () => {
  const lo = resolveInterface('lo');
  assert.ok(lo);
  assert.equal(lo.loopback, true);
  assert.equal(resolveInterface(lo.index)?.name, 'lo');
  assert.ok(interfaceAddresses('lo').some((a) => a.address === '127.0.0.1' && a.family === 'IPv4' && a.prefixLen === 8));
  assert.deepEqual(interfaceAddresses('dlltnosuch0'), []);
});

const unavailable = labUnavailableReason();
if (unavailable) console.log(`# interfaces: namespace tests skipped: ${unavailable}`);

test('a veth of our own: resolved by name and index, up/down followed, gone after deletion', { skip: unavailable }, () => {
  const lab = new NetnsLab();
  try {
    const pair = lab.bridgedPair();
    const byName = resolveInterface(pair.hostIf);
    assert.ok(byName);
    assert.equal(byName.index, pair.hostIndex);
    assert.equal(byName.up, true);
    assert.equal(byName.loopback, false);
    assert.equal(resolveInterface(pair.hostIndex)?.name, pair.hostIf);
    assert.ok(listInterfaces().some((i) => i.name === pair.bridge));
    // Host-side veths carry no address: the lab keeps them unroutable.
    assert.deepEqual(interfaceAddresses(pair.hostIf), []);
    lab.deleteHostLink(pair.hostIf);
    assert.equal(resolveInterface(pair.hostIf), undefined);
    assert.equal(resolveInterface(pair.hostIndex), undefined);
  } finally {
    lab.cleanup();
  }
});
