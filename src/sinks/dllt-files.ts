/**
 * The run's output files (SPEC 3): log_notif, flows, end_flows, netwevents and outputfile.txt
 * in one directory, with size-based rotation and a cap on the directory's dllt files.
 *
 * Durability trade-off (pino's, written down): lines are buffered per file and written with
 * synchronous appends when a buffer passes 64 KiB, on a timer (DLLT_FLUSH_INTERVAL_MS) and at
 * close. A crash loses at most one flush interval; synchronous writes keep every line whole
 * and in order without a second thread. A failing disk never throws into the pipeline: lines
 * wait in a bounded backlog, the oldest are dropped and counted beyond it, and the operator
 * hears about it once per episode, then again when writing works again.
 *
 * Rotation naming: the first part keeps the seed's name (`flows_<ts>.log`); later parts are
 * `flows_<ts>.part000001.log`, `.part000002.log`... so `ls` sorts them in writing order
 * ('.l' < '.p') and globs like `flows_*.log` still match. outputfile.txt, shared by runs,
 * continues in `outputfile_<ts>.part000001.txt`.
 */

import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { DlltError } from '../cli/errors.js';
import type { EventRecord, FlowRecord, InterfaceEventRecord, NotifLevel, NotifRecord, ProcessFlowRecord } from '../record/records.js';
import { fileTimestamp, toJsonLine, toTextLine } from '../record/serialize.js';
import type { LineBytes } from '../record/line-bytes.js';
import type { FlowFile } from '../record/record-stage.js';

export type NoticeFn = (level: NotifLevel, kind: string, message: string, extra?: Record<string, unknown>) => void;

export interface DlltFileSinkOptions {
  dir: string;
  startTime: Date;
  format: 'json' | 'text';
  /** A file part reaching this size is closed and writing continues in the next part. */
  rotateBytes: number;
  /** Cap on the total size of dllt files in `dir`. */
  maxDiskBytes: number;
  flushIntervalMs: number;
  /** Operational notices (rotation, deletions, write failures) for the caller to log. */
  onNotice: NoticeFn;
  /** Memory kept for lines that could not be written yet; default 64 MiB. */
  backlogBytes?: number;
  /** Live capture: a process_flows file too (SPEC 9). */
  processFlows?: boolean;
  /** USE_EBPF=Y: a processEBPF file of raw socket events too (SPEC 3). */
  socketEvents?: boolean;
}

const FLUSH_THRESHOLD_BYTES = 64 * 1024;
const MAX_WRITE_BYTES = 1024 * 1024;
const DEFAULT_BACKLOG_BYTES = 64 * 1024 * 1024;
const PART_DIGITS = 6;

/** Files this sink (or another dllt sink) makes, the only ones the disk cap may delete. */
const DLLT_FILE =
  /^(?:(?:log_notif|flows|end_flows|netwevents|process_flows|processEBPF)_\d{4}(?:_\d\d){5}(?:\.part\d+)?\.log|outputfile(?:_\d{4}(?:_\d\d){5}\.part\d+)?\.txt|follow_.+\.pcap)$/;

/** Room for the lines of a 64 KiB flush and then some; a failing disk's backlog grows it. */
const INITIAL_QUEUE_BYTES = 256 * 1024;
const INITIAL_QUEUE_LINES = 1024;
/** Sizes a drained queue keeps: a batch of flow lines (up to ~1 MiB, 1,024 lines) passes the
 *  initial ones every time, and allocating a buffer per batch made the worker's GC run several
 *  times as often (new buffers count as external memory). Beyond these, only a failing disk's
 *  backlog grows a queue. */
const KEPT_QUEUE_BYTES = 4 * 1024 * 1024;
const KEPT_QUEUE_LINES = 16 * 1024;

/**
 * A FIFO of whole lines as UTF-8 bytes in one buffer, with each line's length. A flush writes
 * the buffer's range as it is: no per-line strings kept, joined or encoded at write time
 * (at 250 k flow lines per second that garbage cost more than making the lines).
 */
class LineQueue {
  private buf = Buffer.allocUnsafe(INITIAL_QUEUE_BYTES);
  /** Queued bytes are buf[start, end). */
  private start = 0;
  private end = 0;
  /** Queued line lengths are sizes[head, tail). */
  private sizes = new Int32Array(INITIAL_QUEUE_LINES);
  private head = 0;
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  get bytes(): number {
    return this.end - this.start;
  }

  /** The first queued byte is buffer[offset]. */
  get buffer(): Buffer {
    return this.buf;
  }

  get offset(): number {
    return this.start;
  }

  pushString(line: string): void {
    const size = Buffer.byteLength(line);
    this.makeRoom(size);
    this.buf.write(line, this.end, size, 'utf8');
    this.commit(size);
  }

  /** Whole lines made elsewhere as UTF-8: bytes[0, length), line sizes sizes[0, count). */
  pushLines(bytes: Uint8Array, length: number, sizes: Int32Array, count: number): void {
    this.makeRoom(length);
    this.buf.set(bytes.subarray(0, length), this.end);
    this.end += length;
    this.roomForSizes(count);
    this.sizes.set(sizes.subarray(0, count), this.tail);
    this.tail += count;
  }

  sizeAt(i: number): number {
    return this.sizes[this.head + i]!;
  }

  drop(n: number): void {
    for (let i = 0; i < n; i++) this.start += this.sizes[this.head + i]!;
    this.head += n;
    if (this.head < this.tail) return;
    this.head = this.tail = this.start = this.end = 0;
    // A backlog from a failing disk is over: give its memory back.
    if (this.buf.length > KEPT_QUEUE_BYTES) this.buf = Buffer.allocUnsafe(INITIAL_QUEUE_BYTES);
    if (this.sizes.length > KEPT_QUEUE_LINES) this.sizes = new Int32Array(INITIAL_QUEUE_LINES);
  }

  private makeRoom(n: number): void {
    if (this.end + n <= this.buf.length) return;
    const queued = this.end - this.start;
    if (queued + n <= this.buf.length / 2) {
      this.buf.copyWithin(0, this.start, this.end);
    } else {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, queued + n));
      this.buf.copy(grown, 0, this.start, this.end);
      this.buf = grown;
    }
    this.start = 0;
    this.end = queued;
  }

  private commit(size: number): void {
    this.end += size;
    this.roomForSizes(1);
    this.sizes[this.tail++] = size;
  }

  private roomForSizes(n: number): void {
    if (this.tail + n <= this.sizes.length) return;
    const lines = this.tail - this.head;
    if ((lines + n) * 2 <= this.sizes.length) {
      this.sizes.copyWithin(0, this.head, this.tail);
    } else {
      const grown = new Int32Array(Math.max(this.sizes.length * 2, lines + n));
      grown.set(this.sizes.subarray(this.head, this.tail));
      this.sizes = grown;
    }
    this.head = 0;
    this.tail = lines;
  }
}

class OutputFile {
  part = 0;
  fd = -1;
  size = 0;
  readonly queue = new LineQueue();

  constructor(
    private readonly dir: string,
    private readonly firstName: string,
    private readonly partStem: string,
    private readonly ext: string,
  ) {}

  get path(): string {
    return join(this.dir, this.nameOf(this.part));
  }

  nameOf(part: number): string {
    return part === 0 ? this.firstName : `${this.partStem}.part${String(part).padStart(PART_DIGITS, '0')}${this.ext}`;
  }
}

interface DeletableFile {
  path: string;
  size: number;
}

interface FailureEpisode {
  kind: 'disk_full' | 'write_error';
  droppedLines: number;
}

export class DlltFileSink {
  private readonly notif: OutputFile;
  private readonly flows: OutputFile;
  private readonly endFlows: OutputFile;
  private readonly events: OutputFile;
  private readonly summary: OutputFile;
  private readonly processFlows: OutputFile | undefined;
  private readonly socketEvents: OutputFile | undefined;
  private readonly files: OutputFile[];
  private readonly serialize: (rec: object) => string;
  private readonly backlogLimit: number;
  /** Closed dllt files in the directory, oldest first: what the disk cap deletes. */
  private deletable: DeletableFile[] = [];
  private deletableBytes = 0;
  private capExceededNoticed = false;
  private failure: FailureEpisode | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly notices: Array<Parameters<NoticeFn>> = [];
  private emitting = false;
  /** Lines dropped from the backlog over the whole run. */
  droppedLinesTotal = 0;

  constructor(private readonly opts: DlltFileSinkOptions) {
    const ts = fileTimestamp(opts.startTime);
    const logFile = (prefix: string): OutputFile => new OutputFile(opts.dir, `${prefix}_${ts}.log`, `${prefix}_${ts}`, '.log');
    this.notif = logFile('log_notif');
    this.flows = logFile('flows');
    this.endFlows = logFile('end_flows');
    this.events = logFile('netwevents');
    this.summary = new OutputFile(opts.dir, 'outputfile.txt', `outputfile_${ts}`, '.txt');
    this.processFlows = opts.processFlows ? logFile('process_flows') : undefined;
    this.files = [this.notif, this.flows, this.endFlows, this.events, this.summary];
    this.socketEvents = opts.socketEvents ? logFile('processEBPF') : undefined;
    if (this.processFlows) this.files.push(this.processFlows);
    if (this.socketEvents) this.files.push(this.socketEvents);
    this.serialize = opts.format === 'text' ? toTextLine : toJsonLine;
    this.backlogLimit = opts.backlogBytes ?? DEFAULT_BACKLOG_BYTES;
  }

  /** Paths of the files currently written, for banners and tests. */
  get paths(): { notif: string; flows: string; endFlows: string; events: string; summary: string } {
    return {
      notif: this.notif.path,
      flows: this.flows.path,
      endFlows: this.endFlows.path,
      events: this.events.path,
      summary: this.summary.path,
    };
  }

  /** Creates the directory and the run's files; throws DlltError when that is impossible. */
  open(): void {
    try {
      mkdirSync(this.opts.dir, { recursive: true });
      for (const file of this.files) this.openFile(file);
    } catch (err) {
      for (const file of this.files) this.closeFile(file);
      const code = errnoCode(err);
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw new DlltError('DLLT_ERR_DISK_FULL', `cannot create output files in ${this.opts.dir}: ${code}`, { cause: err });
      }
      throw new DlltError('DLLT_ERR_OUTPUT_UNWRITABLE', `cannot create output files in ${this.opts.dir}: ${code ?? String(err)}`, {
        hint: 'choose a writable directory with --out or DLLT_OUT, or fix the permissions of that path',
        cause: err,
      });
    }
    this.rescan();
    this.timer = setInterval(() => this.flush(), this.opts.flushIntervalMs);
    this.timer.unref();
  }

  /** True for the JSON format: the record stage then hands over finished flow lines. */
  get wantsFlowJsonLines(): boolean {
    return this.opts.format === 'json';
  }

  writeFlowJsonLines(file: FlowFile, lines: LineBytes): void {
    if (this.closed) return;
    const target = file === 'end_flows' ? this.endFlows : this.flows;
    target.queue.pushLines(lines.bytes, lines.length, lines.lineSizes, lines.lines);
    this.queued(target);
  }

  writeFlow(rec: FlowRecord): void {
    this.enqueue(rec.type === 'flow_end' ? this.endFlows : this.flows, this.serialize(rec));
  }

  writeNotif(rec: NotifRecord): void {
    this.enqueue(this.notif, this.serialize(rec));
  }

  writeEvent(rec: EventRecord): void {
    this.enqueue(this.events, this.serialize(rec));
  }

  writeInterfaceEvent(rec: InterfaceEventRecord): void {
    this.enqueue(this.events, this.serialize(rec));
  }

  writeProcessFlow(rec: ProcessFlowRecord): void {
    if (this.processFlows) this.enqueue(this.processFlows, this.serialize(rec));
  }

  /** process_flow records already serialized in this sink's format: bytes[0, sum of sizes), one
   *  whole line per size. */
  writeProcessFlowLines(bytes: Uint8Array, sizes: Int32Array): void {
    this.writeLines(this.processFlows, bytes, sizes);
  }

  /** socket_event records, as writeProcessFlowLines. */
  writeSocketEventLines(bytes: Uint8Array, sizes: Int32Array): void {
    this.writeLines(this.socketEvents, bytes, sizes);
  }

  private writeLines(file: OutputFile | undefined, bytes: Uint8Array, sizes: Int32Array): void {
    if (this.closed || file === undefined || sizes.length === 0) return;
    file.queue.pushLines(bytes, bytes.length, sizes, sizes.length);
    this.queued(file);
  }

  /** Human-readable text for outputfile.txt; written as one unit. */
  writeSummary(text: string): void {
    this.enqueue(this.summary, text.endsWith('\n') ? text : text + '\n');
  }

  /**
   * Another sink wrote a file into this directory (a follow pcap): count it toward the disk
   * cap and let the cap delete it, oldest first, like the rotated parts.
   */
  addExternalFile(path: string, bytes: number): void {
    this.deletable.push({ path, size: bytes });
    this.deletableBytes += bytes;
    this.enforceCap();
    this.emitNotices();
  }

  flush(): void {
    if (this.closed) return;
    let allWritten = true;
    for (const file of this.files) if (!this.flushFile(file)) allWritten = false;
    if (allWritten && this.failure !== undefined) {
      const { droppedLines } = this.failure;
      this.failure = undefined;
      this.notice('info', 'write_recovered', `writing to ${this.opts.dir} works again` +
        (droppedLines > 0 ? `; ${droppedLines} lines were dropped while it did not` : '; no line was lost'), { droppedLines });
    }
    this.emitNotices();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer !== undefined) clearInterval(this.timer);
    // Notices raised by a flush (a rotation) come back as log_notif lines: flush those too.
    for (let round = 0; round < 3 && this.queuedLines() > 0 && this.failure === undefined; round++) this.flush();
    if (this.failure !== undefined) this.flush();
    this.closed = true;
    let lost = 0;
    for (const file of this.files) {
      lost += file.queue.length;
      this.closeFile(file);
    }
    if (lost > 0) {
      this.notice('error', this.failure?.kind ?? 'write_error',
        `${lost} lines could not be written to ${this.opts.dir} before exit; free space or fix the directory and rerun`, { droppedLines: lost });
    }
    this.emitNotices();
  }

  // -------------------------------------------------------------------------------------------

  private queuedBytes(): number {
    let n = 0;
    for (const file of this.files) n += file.queue.bytes;
    return n;
  }

  private queuedLines(): number {
    let n = 0;
    for (const file of this.files) n += file.queue.length;
    return n;
  }

  private enqueue(file: OutputFile, line: string): void {
    if (this.closed) return;
    file.queue.pushString(line);
    this.queued(file);
  }

  private queued(file: OutputFile): void {
    this.trimBacklog();
    // While the disk is failing, retry on the timer only: not once per line.
    if (this.failure === undefined && file.queue.bytes >= FLUSH_THRESHOLD_BYTES) this.flushFile(file);
    this.emitNotices();
  }

  private trimBacklog(): void {
    let total = this.queuedBytes();
    if (total <= this.backlogLimit) return;
    if (this.failure === undefined) {
      // Dropping is for a disk that fails, not for one nobody asked yet.
      for (const file of this.files) this.flushFile(file);
      total = this.queuedBytes();
    }
    while (total > this.backlogLimit) {
      let largest = this.files[0]!;
      for (const file of this.files) if (file.queue.bytes > largest.queue.bytes) largest = file;
      total -= largest.queue.sizeAt(0);
      largest.queue.drop(1);
      this.droppedLinesTotal++;
      if (this.failure !== undefined) this.failure.droppedLines++;
    }
  }

  /** Writes the file's queued lines; false when something failed (lines stay queued). */
  private flushFile(file: OutputFile): boolean {
    const queue = file.queue;
    if (queue.length === 0) return true;
    if (file.fd < 0 && !this.tryOpen(file)) return false;
    while (queue.length > 0) {
      if (file.size > 0 && file.size + queue.sizeAt(0) > this.opts.rotateBytes && !this.rotate(file)) return false;
      // Fill the part up to rotateBytes; a line longer than that goes alone into a fresh part.
      let n = 0;
      let bytes = 0;
      while (n < queue.length && (n === 0 || (file.size + bytes + queue.sizeAt(n) <= this.opts.rotateBytes && bytes + queue.sizeAt(n) <= MAX_WRITE_BYTES))) {
        bytes += queue.sizeAt(n);
        n++;
      }
      let written = 0;
      try {
        while (written < bytes) written += writeSync(file.fd, queue.buffer, queue.offset + written, bytes - written);
      } catch (err) {
        this.keepWholeLines(file, n, written);
        this.writeFailed(file, err);
        return false;
      }
      queue.drop(n);
      file.size += bytes;
    }
    this.enforceCap();
    return true;
  }

  /** After a failed write: count the lines that made it whole, cut off a partial one. */
  private keepWholeLines(file: OutputFile, attempted: number, written: number): void {
    let n = 0;
    let whole = 0;
    while (n < attempted && whole + file.queue.sizeAt(n) <= written) whole += file.queue.sizeAt(n++);
    if (whole < written) {
      try {
        ftruncateSync(file.fd, file.size + whole);
      } catch {
        // The descriptor is unusable; reopening on the next flush starts from the real size.
        this.closeFile(file);
      }
    }
    file.queue.drop(n);
    file.size += whole;
  }

  private writeFailed(file: OutputFile, err: unknown): void {
    if (this.failure !== undefined) return;
    const code = errnoCode(err) ?? String(err);
    const kind = code === 'ENOSPC' || code === 'EDQUOT' ? 'disk_full' : 'write_error';
    this.failure = { kind, droppedLines: 0 };
    const advice = kind === 'disk_full'
      ? `free space on that filesystem or lower DLLT_MAX_DISK_MB`
      : `check the directory's permissions and the disk`;
    this.notice('error', kind,
      `cannot write ${file.path}: ${code}; ${advice}. Records are kept in memory (up to ${Math.round(this.backlogLimit / 1048576)} MiB, ` +
      `oldest dropped beyond) and retried every ${this.opts.flushIntervalMs} ms`,
      { path: file.path, errorCode: code });
  }

  private tryOpen(file: OutputFile): boolean {
    try {
      try {
        this.openFile(file);
      } catch (err) {
        // Someone removed the directory under us: recreate it rather than lose the run.
        if (errnoCode(err) !== 'ENOENT') throw err;
        mkdirSync(this.opts.dir, { recursive: true });
        this.openFile(file);
      }
      return true;
    } catch (err) {
      this.writeFailed(file, err);
      return false;
    }
  }

  private openFile(file: OutputFile): void {
    file.fd = openSync(file.path, 'a', 0o644);
    file.size = fstatSync(file.fd).size;
  }

  private closeFile(file: OutputFile): void {
    if (file.fd < 0) return;
    try {
      closeSync(file.fd);
    } catch {
      // Nothing useful to do: the lines it held were written or are still queued.
    }
    file.fd = -1;
  }

  private rotate(file: OutputFile): boolean {
    const previous = file.path;
    const previousSize = file.size;
    this.closeFile(file);
    file.part++;
    if (!this.tryOpen(file)) {
      // Stay on the old part's number so the next attempt opens the same new name.
      file.part--;
      file.size = previousSize;
      return false;
    }
    this.notice('info', 'rotation', `${previous} reached ${previousSize} bytes; continuing in ${file.path}`, {
      path: previous,
      nextPath: file.path,
      bytes: previousSize,
    });
    this.rescan();
    return true;
  }

  /**
   * Re-reads which closed dllt files the directory holds, oldest first. Done at open and at
   * each rotation (rare), so files written by other sinks or earlier runs are counted without
   * a directory scan per write.
   */
  private rescan(): void {
    const current = new Set(this.files.map((f) => f.path));
    const found: Array<DeletableFile & { mtimeMs: number }> = [];
    let names: string[];
    try {
      names = readdirSync(this.opts.dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!DLLT_FILE.test(name)) continue;
      const path = join(this.opts.dir, name);
      if (current.has(path)) continue;
      try {
        const st = statSync(path);
        if (st.isFile()) found.push({ path, size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // Deleted meanwhile: nothing to count.
      }
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    this.deletable = found.map(({ path, size }) => ({ path, size }));
    this.deletableBytes = found.reduce((sum, f) => sum + f.size, 0);
    this.enforceCap();
  }

  private totalBytes(): number {
    let total = this.deletableBytes;
    for (const file of this.files) total += file.size;
    return total;
  }

  private enforceCap(): void {
    let total = this.totalBytes();
    if (total <= this.opts.maxDiskBytes) {
      this.capExceededNoticed = false;
      return;
    }
    while (total > this.opts.maxDiskBytes && this.deletable.length > 0) {
      const victim = this.deletable.shift()!;
      this.deletableBytes -= victim.size;
      total -= victim.size;
      try {
        unlinkSync(victim.path);
        this.notice('warn', 'disk_cap', `deleted ${victim.path} (${victim.size} bytes) to keep ${this.opts.dir} under ${this.opts.maxDiskBytes} bytes (DLLT_MAX_DISK_MB)`, {
          path: victim.path,
          bytes: victim.size,
        });
      } catch (err) {
        if (errnoCode(err) !== 'ENOENT') {
          this.notice('warn', 'disk_cap', `cannot delete ${victim.path}: ${errnoCode(err) ?? String(err)}; it still counts on disk`, {
            path: victim.path,
            errorCode: errnoCode(err),
          });
        }
      }
    }
    if (total > this.opts.maxDiskBytes && !this.capExceededNoticed) {
      this.capExceededNoticed = true;
      this.notice('warn', 'disk_cap', `the files being written in ${this.opts.dir} alone exceed ${this.opts.maxDiskBytes} bytes (DLLT_MAX_DISK_MB); ` +
        'lower DLLT_ROTATE_MB or raise DLLT_MAX_DISK_MB', { bytes: total });
    }
  }

  private notice(...args: Parameters<NoticeFn>): void {
    this.notices.push(args);
  }

  /**
   * Notices are delivered after the sink's state is consistent, because the caller usually
   * writes them straight back into log_notif through this sink.
   */
  private emitNotices(): void {
    if (this.emitting) return;
    this.emitting = true;
    try {
      for (let next = this.notices.shift(); next !== undefined; next = this.notices.shift()) this.opts.onNotice(...next);
    } finally {
      this.emitting = false;
    }
  }
}

function errnoCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string'
    ? (err as { code: string }).code
    : undefined;
}
