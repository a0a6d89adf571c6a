/**
 * The sock_diag helper's failure paths (the happy path is checked against /proc in
 * netns-sockets.test.ts): an answer that never comes, a helper that dies, and answers' parsing.
 * A helper that fails must leave the attribution worker reading /proc, never hanging it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { parseAnswer, SockDiagHelper } from './sock-diag-helper.js';
import { NetnsSockets } from './netns-sockets.js';

const answer = (text: string): ReturnType<typeof parseAnswer> => parseAnswer(text, text.lastIndexOf('\n', text.length - 2) + 1);

test('answers: one socket per row, IPv4 and IPv6; malformed rows skipped; a reason line is the answer', () => {
  assert.deepEqual(answer('10 0 1079 0.0.0.0 2024 0.0.0.0 0\n1 1000 55 fd77::1 443 fd77::2 51000\nbad row\n.\n'), [
    { state: 10, uid: 0, inode: 1079, localIp: '0.0.0.0', localPort: 2024, remoteIp: '0.0.0.0', remotePort: 0 },
    { state: 1, uid: 1000, inode: 55, localIp: 'fd77::1', localPort: 443, remoteIp: 'fd77::2', remotePort: 51000 },
  ]);
  assert.deepEqual(answer('.\n'), []);
  assert.equal(answer('1 0 5 10.77.1.1 1 10.77.1.2 2\n!sock_diag in /proc/1/ns/net: Permission denied\n'), 'sock_diag in /proc/1/ns/net: Permission denied');
});

test('a helper that never answers is given up after its deadline; one that died is reported, not waited for', () => {
  // cat echoes the request: never a last line of "." or "!".
  const silent = SockDiagHelper.start('/bin/cat');
  assert.ok(typeof silent !== 'string');
  const t0 = Date.now();
  assert.equal(silent.readTcp('/proc/self/ns/net'), 'dllt-sockdiag gave no answer in 2000 ms');
  assert.ok(Date.now() - t0 < 3000);
  silent.close();

  const helper = SockDiagHelper.start();
  assert.ok(typeof helper !== 'string', `${String(helper)}: run npm run build with gcc installed`);
  assert.ok(Array.isArray(helper.readTcp('/proc/self/ns/net')));
  const pids = spawnSync('pgrep', ['-P', String(process.pid), '-x', 'dllt-sockdiag'], { encoding: 'utf8' }).stdout.trim().split('\n').filter((l) => l !== '');
  assert.equal(pids.length, 1);
  process.kill(Number(pids[0]), 'SIGKILL');
  const deadline = Date.now() + 5000;
  while (spawnSync('kill', ['-0', pids[0]!]).status === 0 && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  assert.match(String(helper.readTcp('/proc/self/ns/net')), /^dllt-sockdiag (is gone \(EPIPE\)|exited)/);
  helper.close();
});

test('NetnsSockets reads /proc when the helper fails, and says why once', () => {
  const own = Number(/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/net'))![1]);
  const sockets = new NetnsSockets({ sockDiagHelper: '/bin/cat' });
  sockets.beginPass();
  assert.ok(sockets.index(own, 6) !== undefined);
  assert.equal(sockets.tcpSource(), 'proc');
  assert.equal(sockets.sockDiagProblem, 'dllt-sockdiag gave no answer in 2000 ms');
  sockets.close();
});
