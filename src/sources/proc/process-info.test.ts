import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CMDLINE_MAX_CHARS } from '../../analyze/enrich/process-identity.js';
import { StatProbe, formatCmdline, parseStatusUid, readCmdline, readExe, readStatusUid } from './process-info.js';

const root = mkdtempSync(join(tmpdir(), 'dllt-procinfo-'));
after(() => rmSync(root, { recursive: true, force: true }));

function writeFile(pid: number, name: string, content: string | Buffer): void {
  mkdirSync(join(root, String(pid)), { recursive: true });
  writeFileSync(join(root, String(pid), name), content);
}

/** A stat line as proc(5) lays it out, with a negative nice to be skipped over. */
function statLine(pid: number, comm: string, ppid: number, startTime: number): string {
  return `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 1034 0 0 0 3 1 0 0 25 -5 1 0 ${startTime} 9060352 896 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n`;
}

test('stat: comm with spaces and parentheses is read up to the last `)`', () => {
  const probe = new StatProbe(root);
  for (const [pid, comm] of [[11, 'a) b (c'], [12, ') ) )'], [13, 'x'], [14, ''], [15, '((((']] as const) {
    writeFile(pid, 'stat', statLine(pid, comm, 7, 123456789 + pid));
    assert.equal(probe.read(pid), true, comm);
    assert.equal(probe.comm(), comm);
    assert.equal(probe.ppid, 7);
    assert.equal(probe.startTime, 123456789 + pid);
    assert.equal(probe.commEquals(Buffer.from(comm)), true);
    assert.equal(probe.commEquals(Buffer.from(`${comm}!`)), false);
  }
});

test('stat: malformed or missing → false', () => {
  const probe = new StatProbe(root);
  const full = statLine(21, 'x', 1, 99);
  const bad = [
    '',
    'no parens at all 1 2 3',
    full.slice(0, full.indexOf(' 99 ')), // cut before the start time
    statLine(21, 'x', 1, 99).replace(' 99 ', ' 9z9 '),
    statLine(21, 'x', 1, 99).replace('S 1 ', 'S -1 '),
    '21 (x)',
    '21 (x',
  ];
  for (const text of bad) {
    writeFile(21, 'stat', text);
    assert.equal(probe.read(21), false, JSON.stringify(text));
  }
  assert.equal(probe.read(999_999), false);
});

test('stat of this process agrees with Node and with the shell\'s own parse of the line', () => {
  const probe = new StatProbe();
  assert.equal(probe.read(process.pid), true);
  assert.equal(probe.ppid, process.ppid);
  const fromShell = execFileSync('sh', ['-c', `sed 's/.*) //' /proc/${process.pid}/stat | cut -d' ' -f20`], { encoding: 'utf8' }).trim();
  assert.equal(probe.startTime, Number(fromShell));
  assert.equal(probe.comm(), execFileSync('ps', ['-o', 'comm=', '-p', String(process.pid)], { encoding: 'utf8' }).trim());
});

test('cmdline: NULs become spaces; long lines are cut at CMDLINE_MAX_CHARS with …', () => {
  writeFile(30, 'cmdline', 'nginx\0-g\0daemon off;\0');
  assert.equal(readCmdline(root, 30), 'nginx -g daemon off;');
  const args = ['java', '-cp', 'x'.repeat(3000), 'Main'];
  writeFile(31, 'cmdline', `${args.join('\0')}\0`);
  const cut = readCmdline(root, 31)!;
  assert.equal(cut, `${args.join(' ').slice(0, CMDLINE_MAX_CHARS)}…`);
  assert.equal(cut.length, CMDLINE_MAX_CHARS + 1);
  // Exactly the maximum is not cut.
  writeFile(32, 'cmdline', `${'y'.repeat(CMDLINE_MAX_CHARS)}\0`);
  assert.equal(readCmdline(root, 32), 'y'.repeat(CMDLINE_MAX_CHARS));
  // Two-byte characters: the bounded read still yields whole characters.
  writeFile(33, 'cmdline', `${'é'.repeat(3000)}\0`);
  assert.equal(readCmdline(root, 33), `${'é'.repeat(CMDLINE_MAX_CHARS)}…`);
  // A surrogate pair straddling the cut is dropped whole.
  const emoji = `a${'😀'.repeat(400)}`;
  assert.equal(formatCmdline(Buffer.from(emoji)), `${emoji.slice(0, CMDLINE_MAX_CHARS - 1)}…`);
  // Kernel threads and zombies: empty.
  writeFile(34, 'cmdline', '');
  assert.equal(readCmdline(root, 34), undefined);
  assert.equal(readCmdline(root, 999_999), undefined);
});

test('status: the real uid is the first of the four', () => {
  assert.equal(parseStatusUid('Name:\tx\nUmask:\t0022\nState:\tS\nUid:\t1000\t0\t0\t0\nGid:\t5\t5\t5\t5\n'), 1000);
  assert.equal(parseStatusUid('Name:\tx\n'), undefined);
  assert.equal(parseStatusUid('Name:\tUid: 7\n'), undefined);
  assert.equal(readStatusUid(root, 999_999), undefined);
  assert.equal(readStatusUid('/proc', process.pid), process.getuid!());
});

test('exe: the link target; absent for a kernel thread and for a missing process', () => {
  assert.equal(readExe('/proc', process.pid), execFileSync('readlink', [`/proc/${process.pid}/exe`], { encoding: 'utf8' }).trim());
  let kthreadd = '';
  try {
    kthreadd = readFileSync('/proc/2/comm', 'utf8').trim();
  } catch {
    // no pid 2 in this pid namespace
  }
  if (kthreadd === 'kthreadd') assert.equal(readExe('/proc', 2), undefined);
  else console.log('# kernel-thread exe check skipped: pid 2 is not kthreadd here');
  assert.equal(readExe(root, 999_999), undefined);
});
