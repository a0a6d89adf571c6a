/**
 * One socket event as dllt-bpfdrain writes it (bpf-drain.c, write_event): a fixed binary record
 * read in place into one reused object of numbers, for the attributor and the processEBPF writer.
 *
 * Hand-written because it is attribution's per-event path (thousands a second at 1,000
 * connections/s): the drain used to print tab-separated text that Node split, parsed and turned
 * into an object of strings per event, and that was most of the attribution worker's time
 * (docs/design/0005-attribution-cost.md). Strings (the command, the socket's hex address, IPv6
 * text) are made only when asked for; toSocketEvent() gives the event as an object.
 *
 * Validation is the boundary's: read() refuses (false) a record no program of ours stores: an
 * unknown kind or family, a state number that is none, an IPv4-mapped address facing a real
 * IPv6 one. Never throws.
 */
import { formatIp } from '../../wire/ip-format.js';
import { BYTES_COUNTED, EVENT_KINDS, OWNER_FROM_LISTENER, OWNER_FROM_SOCKET } from './bpftrace-program.js';
import { runsInProcessContext, TCP_STATE_NAMES, type SocketEvent, type SocketEventKind } from './socket-event.js';

/** A record's bytes, its first being RECORD_TAG. */
export const DRAINED_EVENT_BYTES = 112;
/** 'E': text records of the drain start with another byte. */
export const RECORD_TAG = 0x45;

const AF_INET = 2;
const AF_INET6 = 10;
const COMM_BYTES = 16;
const TWO_32 = 4294967296;

/** Event kinds by code (EVENT_KINDS): numbers on the hot path. */
export const KIND_STATE = EVENT_KINDS.indexOf('state');
export const KIND_DESTROY = EVENT_KINDS.indexOf('destroy');
export const KIND_IO = EVENT_KINDS.indexOf('io');
export const KIND_RTT = EVENT_KINDS.indexOf('rtt');

/** TCP state numbers (include/net/tcp_states.h), as TCP_STATE_NAMES has them. */
export const enum TcpState {
  ESTABLISHED = 1,
  SYN_SENT = 2,
  SYN_RECV = 3,
  CLOSE = 7,
  LISTEN = 10,
}
const STATE_COUNT = TCP_STATE_NAMES.length;

export const enum PidFrom {
  TASK = 0,
  SOCKET = 1,
  LISTENER = 2,
}

const textDecoder = new TextDecoder();

export class DrainedEvent {
  /** Index in EVENT_KINDS. */
  kind = 0;
  tsNs = 0;
  /** tsNs on the wall clock, µs since the epoch (kernel-clock.ts), as the reader was given. */
  tsUs = 0;
  pid = 0;
  tid = 0;
  /** 0: none (SocketEvent.cgroupId absent). */
  cgroupId = 0;
  /** 0: unknown. */
  netns = 0;
  /** The socket's kernel address in two unsigned halves; both 0 for no socket. */
  socketLow = 0;
  socketHigh = 0;
  /** 4 also for an IPv6 socket talking to an IPv4-mapped peer (both ends then as IPv4). */
  family: 4 | 6 = 4;
  /** Addresses as parseIp words: IPv4 in word 0, the rest 0. */
  readonly local = new Int32Array(4);
  readonly remote = new Int32Array(4);
  /** 0: none assigned yet. */
  localPort = 0;
  /** 0: no peer. */
  remotePort = 0;
  /** For `state`: old and new state numbers; retransmit and resets: the state in `oldState` (0: none). */
  oldState = 0;
  newState = 0;
  /** The kind's two numbers (rtt: srtt µs and cwnd; io, destroy: bytes sent and received). */
  a = 0;
  b = 0;
  /** Flags of the program (bpftrace-program.ts). */
  c = 0;
  pidFrom: PidFrom = PidFrom.TASK;
  processContext = false;
  /** The record read last, for the command's bytes. */
  private bytes: Uint8Array = new Uint8Array(DRAINED_EVENT_BYTES);
  private at = 0;

  /** Reads the record at bytes[at, at + DRAINED_EVENT_BYTES); false when it is none of ours. */
  read(bytes: Uint8Array, view: DataView, at: number, wallOffsetUs: number): boolean {
    if (bytes[at] !== RECORD_TAG) return false;
    const kind = bytes[at + 1]!;
    const familyCode = bytes[at + 2]!;
    if (kind >= EVENT_KINDS.length || (familyCode !== AF_INET && familyCode !== AF_INET6)) return false;
    this.bytes = bytes;
    this.at = at;
    this.kind = kind;
    this.localPort = view.getUint16(at + 4, true);
    this.remotePort = view.getUint16(at + 6, true);
    this.pid = view.getUint32(at + 8, true);
    this.tid = view.getUint32(at + 12, true);
    this.netns = view.getUint32(at + 16, true);
    this.socketLow = view.getUint32(at + 20, true);
    this.socketHigh = view.getUint32(at + 24, true);
    const c = view.getUint32(at + 28, true);
    this.c = c;
    this.tsNs = wide(view, at + 32);
    this.tsUs = Math.round(this.tsNs / 1000 + wallOffsetUs);
    this.cgroupId = wide(view, at + 40);
    this.a = wide(view, at + 48);
    this.b = wide(view, at + 56);
    if (!this.readAddresses(view, at, familyCode)) return false;

    this.oldState = 0;
    this.newState = 0;
    if (kind === KIND_STATE) {
      if (!isState(this.a) || !isState(this.b)) return false;
      this.oldState = this.a;
      this.newState = this.b;
    } else if (kind !== KIND_RTT && kind !== KIND_IO && kind !== KIND_DESTROY && isState(this.a)) {
      this.oldState = this.a;
    }
    this.pidFrom =
      kind === KIND_STATE || kind === KIND_DESTROY ? ((c & OWNER_FROM_SOCKET) !== 0 ? PidFrom.SOCKET : (c & OWNER_FROM_LISTENER) !== 0 ? PidFrom.LISTENER : PidFrom.TASK) : PidFrom.TASK;
    this.processContext = this.pidFrom === PidFrom.SOCKET || runsInProcessContext(EVENT_KINDS[kind]!, TCP_STATE_NAMES[this.oldState], TCP_STATE_NAMES[this.newState]);
    return true;
  }

  /** Addresses in the event's own family; an IPv6 socket whose peer is IPv4-mapped is an IPv4
   *  connection on the wire, so both ends become IPv4 (its unspecified `::` becomes 0.0.0.0). */
  private readAddresses(view: DataView, at: number, familyCode: number): boolean {
    const local = this.local;
    const remote = this.remote;
    for (let i = 0; i < 4; i++) {
      local[i] = view.getInt32(at + 64 + 4 * i, false);
      remote[i] = view.getInt32(at + 80 + 4 * i, false);
    }
    if (familyCode === AF_INET) {
      local[1] = local[2] = local[3] = 0;
      remote[1] = remote[2] = remote[3] = 0;
      this.family = 4;
      return true;
    }
    if (!isMapped(local) && !isMapped(remote)) {
      this.family = 6;
      return true;
    }
    if (!(isMapped(local) || isZero(local)) || !(isMapped(remote) || isZero(remote))) return false;
    local[0] = local[3]!;
    remote[0] = remote[3]!;
    local[1] = local[2] = local[3] = 0;
    remote[1] = remote[2] = remote[3] = 0;
    this.family = 4;
    return true;
  }

  get hasSocket(): boolean {
    return this.socketLow !== 0 || this.socketHigh !== 0;
  }

  /** The socket address as a Map key: exact below 2^53, which kernel addresses differ within
   *  (their top bits are all ones); socketHigh tells any two apart. */
  get socketKey(): number {
    return (this.socketHigh & 0x1fffff) * TWO_32 + this.socketLow;
  }

  /** Whether the local address is unspecified (a listener on every address, or not bound yet). */
  get localIsWildcard(): boolean {
    return isZero(this.local);
  }

  get remoteIsUnspecified(): boolean {
    return isZero(this.remote);
  }

  /** The command's bytes: bytes()[commStart(), commStart() + commLength()). */
  commBytes(): Uint8Array {
    return this.bytes;
  }

  commStart(): number {
    return this.at + 96;
  }

  commLength(): number {
    const bytes = this.bytes;
    const start = this.at + 96;
    let n = 0;
    while (n < COMM_BYTES && bytes[start + n] !== 0) n++;
    return n;
  }

  /** The command as the kernel keeps it (UTF-8, invalid bytes replaced). */
  comm(): string {
    const start = this.commStart();
    return textDecoder.decode(this.bytes.subarray(start, start + this.commLength()));
  }

  /** The socket's kernel address in lowercase hex, as SocketEvent.socketId. */
  socketId(): string {
    if (this.socketHigh === 0) return this.socketLow.toString(16);
    return this.socketHigh.toString(16) + this.socketLow.toString(16).padStart(8, '0');
  }

  localIp(): string {
    return formatIp(this.family, this.local);
  }

  remoteIp(): string {
    return formatIp(this.family, this.remote);
  }

  /** The event as an object (the processEBPF record's fields; SocketEvent). */
  toSocketEvent(): SocketEvent {
    const kind: SocketEventKind = EVENT_KINDS[this.kind]!;
    const ev: SocketEvent = {
      kind,
      tsNs: this.tsNs,
      tsUs: this.tsUs,
      pid: this.pid,
      tid: this.tid,
      comm: this.comm(),
      processContext: this.processContext,
      family: this.family,
      localIp: this.localIp(),
    };
    if (this.pidFrom !== PidFrom.TASK) ev.pidFrom = this.pidFrom === PidFrom.SOCKET ? 'socket' : 'listener';
    if (this.cgroupId !== 0) ev.cgroupId = this.cgroupId;
    if (this.netns !== 0) ev.netns = this.netns;
    if (this.hasSocket) ev.socketId = this.socketId();
    if (this.localPort !== 0) ev.localPort = this.localPort;
    if (!this.remoteIsUnspecified) ev.remoteIp = this.remoteIp();
    if (this.remotePort !== 0) ev.remotePort = this.remotePort;
    switch (kind) {
      case 'state':
        ev.oldState = TCP_STATE_NAMES[this.oldState];
        ev.newState = TCP_STATE_NAMES[this.newState];
        break;
      case 'retransmit':
      case 'receive_reset':
      case 'send_reset':
        if (this.oldState !== 0) ev.state = TCP_STATE_NAMES[this.oldState];
        break;
      case 'rtt':
        ev.srttUs = this.a;
        ev.sndCwnd = this.b;
        break;
      case 'io':
        ev.sentBytes = this.a;
        ev.receivedBytes = this.b;
        break;
      case 'destroy':
        if ((this.c & BYTES_COUNTED) !== 0) {
          ev.sentBytes = this.a;
          ev.receivedBytes = this.b;
        }
        break;
    }
    return ev;
  }
}

/** An unsigned 64-bit little-endian integer: exact below 2^53 (ns of uptime for 104 days, byte
 *  counts, cgroup ids), rounded above as Number() rounds. */
function wide(view: DataView, at: number): number {
  return view.getUint32(at + 4, true) * TWO_32 + view.getUint32(at, true);
}

function isState(n: number): boolean {
  return n >= 1 && n < STATE_COUNT;
}

const isMapped = (w: Int32Array): boolean => w[0] === 0 && w[1] === 0 && w[2] === 0xffff;
const isZero = (w: Int32Array): boolean => w[0] === 0 && w[1] === 0 && w[2] === 0 && w[3] === 0;
