/**
 * Following connections into pcap files (SPEC 7, the seed's SEARCH_HTTP_HEADER / FOLLOW_PORT).
 *
 * A flow on a FOLLOW_PORT is followed from its first packet. With SEARCH_HTTP_HEADER, every new
 * TCP flow keeps its first packets in a small bounded buffer until the application layer has
 * read the client's request head (or knows there is none): a match writes the buffer and follows
 * on, anything else drops it. AVOID_LIVENESS_PROBE (and kube-probe requests) cancel a follow
 * and delete its temp file. A follow's pcap is committed `delay` after the match (packet time)
 * or at the flow's end, whichever comes first; a run's end ends every flow, so a follow running
 * at SIGTERM or end of file is written too.
 *
 * The buffers copy packets (one small object each), which is why they exist only when a header
 * search is configured and only for a flow's first packets.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FlowEngine } from '../../flow/flow-engine.js';
import type { HeaderSpec, HttpRequestHead } from '../../app/http1/request-head.js';
import { formatIp } from '../../wire/ip-format.js';
import { fileTimestamp } from '../../record/serialize.js';
import { PcapFileWriter } from '../../sinks/pcap-file-writer.js';
import { removeStaleFollowTemps } from './stale-temps.js';
import type { NotifLevel } from '../../record/records.js';

const PROTO_TCP = 6;
const MIB = 1024 * 1024;
/** Per flow, before the header decision: the handshake, an 8 KiB request head in MSS-sized or
 *  tiny segments, and the peer's ACKs fit; loopback's 64 KiB segments fit in the bytes. */
export const FOLLOW_BUFFER_PACKETS = 32;
export const FOLLOW_BUFFER_BYTES = 256 * 1024;
/** All pre-match buffers together; flows beyond it are not buffered (counted and reported). */
export const FOLLOW_BUFFER_TOTAL_BYTES = 64 * MIB;
/** A cap that keeps refusing follows is reported at most this often (packet time). */
const CAP_REPORT_INTERVAL_US = 60_000_000;

export interface FollowOptions {
  /** Where the pcaps go (the run's log directory). */
  dir: string;
  searchHeader?: HeaderSpec | undefined;
  followPorts: readonly number[];
  delayUs: number;
  maxConcurrent: number;
  maxFileBytes: number;
  /** The run's pcaps together (DLLT_MAX_DISK_MB). */
  maxTotalBytes: number;
}

export type FollowNotify = (level: NotifLevel, kind: string, message: string, extra?: Record<string, unknown>) => void;

const enum Phase {
  BUFFERING,
  FOLLOWING,
}

interface HeldPacket {
  bytes: Buffer;
  wireLen: number;
  tsUs: number;
}

interface Follow {
  serial: number;
  phase: Phase;
  held: HeldPacket[];
  heldBytes: number;
  /** Packet time the follow was matched at; -1 while buffering. */
  matchUs: number;
  deadlineUs: number;
  linkType: number;
  trigger: string;
  writer: PcapFileWriter | undefined;
  name: string;
  /** Packets of another link type than the file's (a pcapng with mixed interfaces). */
  otherLink: number;
}

export class Follower {
  private readonly follows = new Map<number, Follow>();
  private readonly port = new Uint8Array(65536);
  private readonly hasPorts: boolean;
  private following = 0;
  private heldTotal = 0;
  private writtenTotal = 0;
  private nextDeadlineUs = Infinity;
  private refusedConcurrent = 0;
  private refusedBuffer = 0;
  private lastCapReportUs = -Infinity;
  private tempSerial = 0;
  private readonly usedNames = new Set<string>();

  constructor(
    private readonly engine: FlowEngine,
    private readonly opts: FollowOptions,
    private readonly notify: FollowNotify,
  ) {
    for (const p of opts.followPorts) this.port[p] = 1;
    this.hasPorts = opts.followPorts.length > 0;
    // The record worker creates the run's directory too, but a file is read while it starts.
    // If this fails, so does the worker, which says why (DLLT_ERR_OUTPUT_UNWRITABLE).
    try {
      mkdirSync(opts.dir, { recursive: true });
    } catch {
      return;
    }
    const stale = removeStaleFollowTemps(opts.dir);
    if (stale.names.length > 0) {
      notify('info', 'follow_stale_removed', `removed ${stale.names.length} unfinished follow pcap(s) (${stale.bytes} bytes) left in ${opts.dir} by a dllt that did not exit cleanly`, { bytes: stale.bytes });
    }
  }

  /** After the engine (and the application layer) handled the packet `data[start..+capLen)`. */
  onPacket(data: Uint8Array, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number, srcPort: number, dstPort: number, ipProto: number): void {
    if (tsUs >= this.nextDeadlineUs) this.expire(tsUs);
    const e = this.engine;
    const id = e.lastFlow;
    if (id < 0) return;
    let f = this.follows.get(id);
    if (e.lastFlowIsNew) {
      if (f !== undefined) this.drop(id, f);
      f = this.startFlow(id, srcPort, dstPort, ipProto, linkType, tsUs);
    }
    if (f === undefined || f.serial !== e.state.serial[id]) return;
    if (f.phase === Phase.FOLLOWING) {
      this.write(id, f, data, start, capLen, wireLen, tsUs, linkType);
      return;
    }
    if (f.held.length >= FOLLOW_BUFFER_PACKETS || f.heldBytes + capLen > FOLLOW_BUFFER_BYTES) {
      // The request head did not come within the buffer: nothing before it could be kept.
      this.drop(id, f);
      return;
    }
    const bytes = Buffer.from(data.subarray(start, start + capLen));
    f.held.push({ bytes, wireLen, tsUs });
    f.heldBytes += capLen;
    this.heldTotal += capLen;
  }

  /** The application layer read the client's request head of flow `id` (undefined: the flow
   *  has none, e.g. TLS or a binary protocol). */
  httpHead(id: number, head: HttpRequestHead | undefined): void {
    const f = this.follows.get(id);
    if (f === undefined || f.phase !== Phase.BUFFERING || f.serial !== this.engine.state.serial[id]) return;
    const search = this.opts.searchHeader;
    if (head === undefined || search === undefined || !head.matches(search)) {
      this.drop(id, f);
      return;
    }
    this.begin(id, f, `SEARCH_HTTP_HEADER ${search.name}${search.value === undefined ? '' : `: ${search.value}`}`);
  }

  /** AVOID_LIVENESS_PROBE matched flow `id`: no pcap for it. */
  ignore(id: number): void {
    const f = this.follows.get(id);
    if (f === undefined || f.serial !== this.engine.state.serial[id]) return;
    if (f.phase === Phase.FOLLOWING) {
      this.notify('info', 'follow_cancelled', `not following ${this.describe(id)}: its request matches AVOID_LIVENESS_PROBE`, { trigger: f.trigger });
    }
    this.drop(id, f);
  }

  /** The engine is ending flow `id` for `reason` (an endReason name): its follow is complete. */
  flowEnding(id: number, reason: string): void {
    const f = this.follows.get(id);
    if (f === undefined) return;
    if (f.phase === Phase.FOLLOWING && f.serial === this.engine.state.serial[id]) this.commit(id, f, `flow ended: ${reason}`);
    else this.drop(id, f);
  }

  /** Live mode, quiet interface: deadlines still pass. */
  onClock(nowUs: number): void {
    if (nowUs >= this.nextDeadlineUs) this.expire(nowUs);
  }

  private startFlow(id: number, srcPort: number, dstPort: number, ipProto: number, linkType: number, tsUs: number): Follow | undefined {
    const byPort = this.hasPorts && (ipProto === PROTO_TCP || ipProto === 17 || ipProto === 132) && (this.port[srcPort] === 1 || this.port[dstPort] === 1);
    const bySearch = this.opts.searchHeader !== undefined && ipProto === PROTO_TCP;
    if (!byPort && !bySearch) return undefined;
    if (!byPort && this.heldTotal >= FOLLOW_BUFFER_TOTAL_BYTES) {
      this.refusedBuffer++;
      this.reportCaps(tsUs);
      return undefined;
    }
    const f: Follow = {
      serial: this.engine.state.serial[id]!,
      phase: Phase.BUFFERING,
      held: [],
      heldBytes: 0,
      matchUs: -1,
      deadlineUs: Infinity,
      linkType,
      trigger: '',
      writer: undefined,
      name: '',
      otherLink: 0,
    };
    this.follows.set(id, f);
    if (byPort) this.begin(id, f, `FOLLOW_PORT ${this.port[dstPort] === 1 ? dstPort : srcPort}`);
    return this.follows.get(id);
  }

  /** Turns a buffering flow into a follow: opens its temp file and writes what was held. */
  private begin(id: number, f: Follow, trigger: string): void {
    const now = this.engine.clock;
    if (this.following >= this.opts.maxConcurrent) {
      this.refusedConcurrent++;
      this.reportCaps(now);
      this.drop(id, f);
      return;
    }
    if (this.writtenTotal >= this.opts.maxTotalBytes) {
      this.notify('warn', 'follow_cap', `not following ${this.describe(id)}: this run's pcaps reached DLLT_MAX_DISK_MB (${this.opts.maxTotalBytes} bytes)`);
      this.drop(id, f);
      return;
    }
    const name = this.fileName(id);
    const tempPath = join(this.opts.dir, `.${name}.${process.pid}.${++this.tempSerial}.tmp`);
    try {
      f.writer = new PcapFileWriter(tempPath, f.linkType, this.opts.maxFileBytes);
    } catch (err) {
      this.notify('error', 'follow_failed', `cannot follow ${this.describe(id)}: ${(err as Error).message}; check that ${this.opts.dir} is writable and has space`);
      this.drop(id, f);
      return;
    }
    f.phase = Phase.FOLLOWING;
    f.trigger = trigger;
    f.name = name;
    f.matchUs = now;
    f.deadlineUs = now + this.opts.delayUs;
    if (f.deadlineUs < this.nextDeadlineUs) this.nextDeadlineUs = f.deadlineUs;
    this.following++;
    const held = f.held;
    this.releaseHeld(f);
    for (const p of held) {
      if (!this.write(id, f, p.bytes, 0, p.bytes.length, p.wireLen, p.tsUs, f.linkType)) return;
    }
    this.notify('info', 'follow_started', `following ${this.describe(id)} (${trigger}) into ${name}; written ${this.opts.delayUs / 1e6} s after the match or at the connection's end`, {
      path: join(this.opts.dir, name),
      trigger,
    });
  }

  /** Appends a packet to a follow; false if the follow failed and is gone. */
  private write(id: number, f: Follow, data: Uint8Array, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number): boolean {
    if (linkType !== f.linkType) {
      f.otherLink++;
      return true;
    }
    const w = f.writer!;
    try {
      const before = w.bytes;
      if (this.writtenTotal < this.opts.maxTotalBytes) w.append(data, start, capLen, wireLen, tsUs);
      else w.packetsOverCap++;
      this.writtenTotal += w.bytes - before;
      return true;
    } catch (err) {
      this.notify('error', 'follow_failed', `follow of ${this.describe(id)} failed writing ${w.tempPath}: ${(err as Error).message}; the pcap is dropped (free disk space or fix permissions)`);
      this.drop(id, f);
      return false;
    }
  }

  private commit(id: number, f: Follow, why: string): void {
    const w = f.writer!;
    const path = join(this.opts.dir, f.name);
    this.follows.delete(id);
    this.following--;
    try {
      w.commit(path);
    } catch (err) {
      w.abort();
      this.notify('error', 'follow_failed', `could not write ${path}: ${(err as Error).message}; free disk space or fix permissions`);
      return;
    }
    const truncated = w.truncated;
    const capNote = truncated ? `; truncated: ${w.packetsOverCap} packets over DLLT_FOLLOW_MAX_FILE_MB or DLLT_MAX_DISK_MB not written` : '';
    const linkNote = f.otherLink > 0 ? `; ${f.otherLink} packets from an interface of another link type left out` : '';
    this.notify(truncated ? 'warn' : 'info', 'follow_written', `wrote ${path}: ${w.packets} packets, ${w.bytes} bytes (${f.trigger}; ${why})${capNote}${linkNote}`, {
      path,
      packets: w.packets,
      bytes: w.bytes,
      truncated,
      packetsNotWritten: w.packetsOverCap,
      trigger: f.trigger,
    });
  }

  /** Writes the follows whose deadline passed while their connection is open; the rest of
   *  such a flow is not followed. */
  private expire(nowUs: number): void {
    let next = Infinity;
    for (const [id, f] of this.follows) {
      if (f.phase !== Phase.FOLLOWING) continue;
      if (f.deadlineUs <= nowUs) this.commit(id, f, `${this.opts.delayUs / 1e6} s after the match`);
      else if (f.deadlineUs < next) next = f.deadlineUs;
    }
    this.nextDeadlineUs = next;
  }

  private drop(id: number, f: Follow): void {
    if (this.follows.get(id) === f) this.follows.delete(id);
    this.releaseHeld(f);
    if (f.phase === Phase.FOLLOWING) {
      this.following--;
      f.writer?.abort();
      f.writer = undefined;
      f.phase = Phase.BUFFERING;
    }
  }

  private releaseHeld(f: Follow): void {
    this.heldTotal -= f.heldBytes;
    f.held = [];
    f.heldBytes = 0;
  }

  private reportCaps(nowUs: number): void {
    if (nowUs - this.lastCapReportUs < CAP_REPORT_INTERVAL_US) return;
    this.lastCapReportUs = nowUs;
    if (this.refusedConcurrent > 0) {
      this.notify('warn', 'follow_cap', `${this.refusedConcurrent} connections not followed: ${this.opts.maxConcurrent} follows already running (DLLT_FOLLOW_MAX)`, { refused: this.refusedConcurrent });
    }
    if (this.refusedBuffer > 0) {
      this.notify('warn', 'follow_cap', `${this.refusedBuffer} new TCP connections not buffered for SEARCH_HTTP_HEADER: ${FOLLOW_BUFFER_TOTAL_BYTES} bytes already held for undecided connections`, { refused: this.refusedBuffer });
    }
  }

  /** `follow_<ts>_<proto>_<a>_<aport>_<b>_<bport>.pcap` (SPEC 3): the flow's originator first,
   *  its first packet's local time; IPv6 colons become dashes (kubectl cp splits on colons). */
  private fileName(id: number): string {
    const e = this.engine;
    const s = e.state;
    const ends = e.endpointsOf(id);
    const proto = ends.proto === 6 ? 'tcp' : ends.proto === 17 ? 'udp' : String(ends.proto);
    const a = formatIp(ends.version, ends.origAddr).replaceAll(':', '-');
    const b = formatIp(ends.version, ends.respAddr).replaceAll(':', '-');
    const base = `follow_${fileTimestamp(new Date(s.firstTs[id]! / 1000))}_${proto}_${a}_${ends.origPort}_${b}_${ends.respPort}`;
    let name = `${base}.pcap`;
    for (let n = 2; this.usedNames.has(name); n++) name = `${base}_${n}.pcap`;
    this.usedNames.add(name);
    return name;
  }

  private describe(id: number): string {
    const ends = this.engine.endpointsOf(id);
    const a = formatIp(ends.version, ends.origAddr);
    const b = formatIp(ends.version, ends.respAddr);
    const wrap = (ip: string): string => (ends.version === 6 ? `[${ip}]` : ip);
    return `${ends.proto === 6 ? 'tcp' : ends.proto === 17 ? 'udp' : `proto ${ends.proto}`} ${wrap(a)}:${ends.origPort} → ${wrap(b)}:${ends.respPort}`;
  }
}
