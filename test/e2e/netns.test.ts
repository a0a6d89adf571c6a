/** The namespace lab itself: addresses, reachability, isolation from the host, and cleanup. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { NetnsLab, labUnavailableReason } from './netns.js';

const unavailable = labUnavailableReason(['python3']);
if (unavailable) console.log(`# netns lab tests skipped: ${unavailable}`);

function namespaces(): string[] {
  return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!);
}

const UDP_ROUNDTRIP = (ip: string, port: number): string =>
  `import socket\nfam=socket.AF_INET6 if ":" in "${ip}" else socket.AF_INET\n` +
  `s=socket.socket(fam,socket.SOCK_DGRAM); s.settimeout(3)\n` +
  `r=socket.socket(fam,socket.SOCK_DGRAM); r.bind(("${ip}",${port}))\n` +
  `s.sendto(b"ping",("${ip}",${port})); print(r.recv(10).decode())\n`;

test('bridged pair: v4 and v6 reachable between namespaces, host side unaddressed, all gone after cleanup', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  let names: string[] = [];
  try {
    const pair = lab.bridgedPair({ ipv6: true });
    names = [pair.client.name, pair.server.name];
    assert.match(pair.client.ipv4, /^10\.77\.\d+\.1$/);
    assert.equal(pair.server.ipv6, 'fd77::2');
    // A server in one namespace, a client in the other, through the host bridge.
    const server = lab.spawnIn(pair.server.name, 'python3', ['-c',
      `import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM)\ns.bind(("::",7))\nwhile True:\n  d,a=s.recvfrom(100); s.sendto(d,a)\n`]);
    await new Promise((r) => setTimeout(r, 300));
    for (const ip of [pair.server.ipv4, pair.server.ipv6!]) {
      const dst = ip.includes(':') ? ip : `::ffff:${ip}`;
      const r = await lab.runIn(pair.client.name, 'python3', ['-c',
        `import socket\ns=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); s.settimeout(3)\ns.sendto(b"echo",("${dst}",7)); print(s.recv(10).decode())\n`]);
      assert.equal(r.stdout.trim(), 'echo', `${ip}: ${r.stderr}`);
    }
    server.kill();
    // Only our own routes inside: no default route out of the lab.
    const routes = await lab.runIn(pair.client.name, 'ip', ['route']);
    assert.doesNotMatch(routes.stdout, /default/);
    assert.equal(spawnSync('ip', ['-o', 'addr', 'show', 'dev', pair.hostIf], { encoding: 'utf8' }).stdout.trim(), '');
  } finally {
    lab.cleanup();
  }
  for (const n of names) assert.ok(!namespaces().includes(n), `${n} left behind`);
  assert.ok(!existsSync(`/sys/class/net/${lab.prefix}${lab.tag}b`), 'bridge left behind');
});

test('direct pair: two namespaces on one veth, nothing on the host', { skip: unavailable }, async () => {
  const lab = new NetnsLab();
  try {
    const { sender, receiver } = lab.directPair();
    const r = await lab.runIn(sender.name, 'python3', ['-c', UDP_ROUNDTRIP(sender.ipv4, 9999)]);
    assert.equal(r.stdout.trim(), 'ping', r.stderr);
    const other = await lab.runIn(sender.name, 'python3', ['-c',
      `import socket\ns=socket.create_connection(("${receiver.ipv4}",1),3)\n`]);
    // Refused (RST from the receiver) proves the veth carries traffic between the two.
    assert.match(other.stderr, /ConnectionRefused/);
    assert.ok(!spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout.includes(`${lab.prefix}${lab.tag}`));
  } finally {
    lab.cleanup();
  }
});
