/**
 * One process's facts from /proc/<pid>: stat (ppid, start time, comm), cmdline, exe, status (uid)
 * and the cgroup file's text. Every reader returns undefined instead of throwing: processes vanish
 * between two reads (ENOENT, ESRCH), and exe is unreadable for kernel threads and, without
 * privilege, for other users' processes.
 *
 * StatProbe is the hot path of identity caching: it reads /proc/<pid>/stat into one reused buffer
 * and parses the few fields it needs from the bytes, so a cache check costs open+read+close and no
 * allocation.
 */
import { closeSync, openSync, readFileSync, readSync, readlinkSync } from 'node:fs';
import { CMDLINE_MAX_CHARS } from '../../analyze/enrich/process-identity.js';

/** stat is ~300 bytes; the fields we need end well before this even with a 64-byte kthread name. */
const STAT_READ_BYTES = 1024;
const SPACE = 0x20;
const OPEN_PAREN = 0x28;
const CLOSE_PAREN = 0x29;
/** Fields after the `)` that ends comm, counting `state` as 0 (proc(5) fields 3, 4 and 22). */
const PPID_FIELD = 1;
const STARTTIME_FIELD = 19;

export class StatProbe {
  /** Parent pid from the last successful read. */
  ppid = 0;
  /** Start time in clock ticks after boot: with the pid, it names one process for the life of the machine. */
  startTime = 0;
  private readonly buf = Buffer.allocUnsafe(STAT_READ_BYTES);
  private commStart = 0;
  private commEnd = 0;

  constructor(readonly procRoot = '/proc') {}

  /** Reads /proc/<pid>/stat; false when the process is gone or the line is malformed. ppid,
   *  startTime and comm() describe the last read only when it returned true. */
  read(pid: number): boolean {
    let fd: number;
    try {
      fd = openSync(`${this.procRoot}/${pid}/stat`, 'r');
    } catch {
      return false;
    }
    let len = 0;
    try {
      len = readSync(fd, this.buf, 0, STAT_READ_BYTES, 0);
    } catch {
      // ESRCH: the process exited between open and read.
      len = 0;
    } finally {
      closeSync(fd);
    }
    return this.parse(len);
  }

  /** The comm of the last successful read (at most 15 bytes for user processes). */
  comm(): string {
    return this.buf.toString('utf8', this.commStart, this.commEnd);
  }

  /** A copy of the comm bytes, to compare later reads against without making strings. */
  commBytes(): Buffer {
    return Buffer.from(this.buf.subarray(this.commStart, this.commEnd));
  }

  commEquals(bytes: Buffer): boolean {
    return bytes.length === this.commEnd - this.commStart && this.buf.compare(bytes, 0, bytes.length, this.commStart, this.commEnd) === 0;
  }

  /** comm may hold spaces and parentheses, so it spans from the first `(` to the *last* `)`. */
  private parse(len: number): boolean {
    const open = this.buf.indexOf(OPEN_PAREN);
    let close = len - 1;
    while (close > open && this.buf[close] !== CLOSE_PAREN) close--;
    if (open < 0 || open >= len || close <= open) return false;
    let p = close + 1;
    let ppid = -1;
    let startTime = -1;
    for (let field = 0; field <= STARTTIME_FIELD; field++) {
      if (p >= len || this.buf[p] !== SPACE) return false;
      const start = ++p;
      while (p < len && this.buf[p] !== SPACE && this.buf[p] !== 0x0a) p++;
      if (p === start) return false;
      if (field === PPID_FIELD) ppid = this.digits(start, p);
      else if (field === STARTTIME_FIELD) startTime = this.digits(start, p);
    }
    if (ppid < 0 || startTime < 0) return false;
    this.ppid = ppid;
    this.startTime = startTime;
    this.commStart = open + 1;
    this.commEnd = close;
    return true;
  }

  private digits(start: number, end: number): number {
    let n = 0;
    for (let i = start; i < end; i++) {
      const d = this.buf[i]! - 0x30;
      if (d < 0 || d > 9) return -1;
      n = n * 10 + d;
    }
    return n;
  }
}

/** The exe link's target; undefined for kernel threads, zombies, or without the privilege to see it. */
export function readExe(procRoot: string, pid: number): string | undefined {
  try {
    return readlinkSync(`${procRoot}/${pid}/exe`);
  } catch {
    return undefined;
  }
}

/**
 * Arguments joined by spaces, cut after CMDLINE_MAX_CHARS with a trailing `…`; undefined when empty
 * (kernel threads, zombies). Reads a bounded prefix: a command line can be megabytes long.
 */
export function readCmdline(procRoot: string, pid: number): string | undefined {
  // Four bytes per character at most, plus one character to know that the text is longer.
  const buf = Buffer.allocUnsafe(4 * (CMDLINE_MAX_CHARS + 1));
  let len = 0;
  let fd: number;
  try {
    fd = openSync(`${procRoot}/${pid}/cmdline`, 'r');
  } catch {
    return undefined;
  }
  try {
    for (;;) {
      const n = readSync(fd, buf, len, buf.length - len, null);
      if (n <= 0) break;
      len += n;
      if (len === buf.length) break;
    }
  } catch {
    // The process exited while we read: keep what was read, if anything.
  } finally {
    closeSync(fd);
  }
  return formatCmdline(buf.subarray(0, len));
}

export function formatCmdline(bytes: Buffer): string | undefined {
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  if (end === 0) return undefined;
  const text = bytes.toString('utf8', 0, end).replaceAll('\0', ' ');
  if (text.length <= CMDLINE_MAX_CHARS) return text;
  let cut = CMDLINE_MAX_CHARS;
  // Never split a UTF-16 surrogate pair.
  const last = text.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${text.slice(0, cut)}…`;
}

/** The real uid: the first number of status's `Uid:` line (real, effective, saved, filesystem). */
export function readStatusUid(procRoot: string, pid: number): number | undefined {
  const text = readText(`${procRoot}/${pid}/status`);
  return text === undefined ? undefined : parseStatusUid(text);
}

export function parseStatusUid(status: string): number | undefined {
  const m = /^Uid:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : undefined;
}

export function readCgroupText(procRoot: string, pid: number): string | undefined {
  return readText(`${procRoot}/${pid}/cgroup`);
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
