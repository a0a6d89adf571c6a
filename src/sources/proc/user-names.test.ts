import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserNames, parsePasswd } from './user-names.js';

const dir = mkdtempSync(join(tmpdir(), 'dllt-passwd-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('passwd lines: first entry for a uid wins; comments and malformed lines are skipped', () => {
  const names = parsePasswd(
    [
      'root:x:0:0:root:/root:/bin/bash',
      '# comment:x:5:5',
      'toor:x:0:0:second root:/root:/bin/sh',
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
      ':x:7:7::/:/bin/sh',
      'short:x',
      'bad:x:12a:1::/:/bin/sh',
      '',
    ].join('\n'),
  );
  assert.deepEqual([...names], [[0, 'root'], [65534, 'nobody']]);
});

test('the file is re-read when it changes: rewritten in place (same size, new mtime) or replaced', () => {
  const path = join(dir, 'passwd');
  writeFileSync(path, 'alice:x:1000:1000::/home/alice:/bin/sh\n');
  const users = new UserNames(path);
  assert.equal(users.name(1000), 'alice');
  assert.equal(users.name(1001), undefined);

  writeFileSync(path, 'bobby:x:1000:1000::/home/alice:/bin/sh\n');
  utimesSync(path, new Date('2030-01-01T00:00:00Z'), new Date('2030-01-01T00:00:00Z'));
  assert.equal(users.name(1000), 'bobby');

  const next = join(dir, 'passwd.new');
  writeFileSync(next, 'carol:x:1000:1000::/home/carol:/bin/sh\ndave:x:1001:1001::/:/bin/sh\n');
  renameSync(next, path);
  assert.equal(users.name(1000), 'carol');
  assert.equal(users.name(1001), 'dave');

  rmSync(path);
  assert.equal(users.name(1000), undefined);
});

test('this machine: names agree with id(1)', () => {
  const users = new UserNames();
  assert.equal(users.name(0), execFileSync('id', ['-nu', '0'], { encoding: 'utf8' }).trim());
  const uid = process.getuid!();
  assert.equal(users.name(uid), execFileSync('id', ['-nu', String(uid)], { encoding: 'utf8' }).trim());
});
