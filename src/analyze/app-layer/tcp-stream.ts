/**
 * In-order delivery of one TCP connection's two byte streams to the application parsers
 * (TLS, HTTP). Segments arriving in order are passed straight through (no copy); a segment
 * beyond a hole is copied and held until the hole is filled, within a small bound. A hole that
 * cannot be filled (the snaplen cut the payload, the peer acknowledged bytes we never saw, or
 * the hold bound is hit) ends delivery for that direction with a gap: parsers must never guess
 * across missing bytes. Only flows an application parser wants get one of these.
 */

/** Out-of-order bytes held per direction before giving up on the hole. */
const MAX_HELD_BYTES = 256 * 1024;
const MAX_HELD_SEGMENTS = 64;

export interface StreamReceiver {
  data(dir: 0 | 1, data: Uint8Array, start: number, end: number): void;
  gap(dir: 0 | 1): void;
}

interface Held {
  seq: number;
  bytes: Uint8Array;
}

class Direction {
  started = false;
  stopped = false;
  nextSeq = 0;
  held: Held[] = [];
  heldBytes = 0;
}

export class TcpStreams {
  private readonly dirs = [new Direction(), new Direction()] as const;

  constructor(private readonly receiver: StreamReceiver) {}

  /** Whether bytes of direction `dir` are still wanted. */
  active(dir: 0 | 1): boolean {
    return !this.dirs[dir].stopped;
  }

  /** Stops delivery for a direction the parser no longer needs (no gap reported). */
  stop(dir: 0 | 1): void {
    const d = this.dirs[dir];
    d.stopped = true;
    d.held = [];
    d.heldBytes = 0;
  }

  /** The direction's stream so far was read elsewhere: delivery goes on from `nextSeq`. */
  startAfter(dir: 0 | 1, nextSeq: number): void {
    const d = this.dirs[dir];
    d.started = true;
    d.nextSeq = nextSeq;
  }

  /**
   * One segment's payload. `firstSeq` is where the direction's stream starts (ISN + 1 when its
   * SYN was seen, else NaN: then the first data segment defines it). capLen < wireLen means the
   * snaplen cut the payload.
   */
  segment(dir: 0 | 1, seq: number, data: Uint8Array, start: number, capLen: number, wireLen: number, firstSeq: number): void {
    const d = this.dirs[dir];
    if (d.stopped || wireLen <= 0) return;
    if (!d.started) {
      d.started = true;
      d.nextSeq = Number.isNaN(firstSeq) ? seq : firstSeq;
    }
    const offset = (seq - d.nextSeq) | 0;
    if (offset > 0) {
      this.hold(dir, d, seq, data, start, capLen, wireLen);
      return;
    }
    if (capLen < wireLen) {
      // Bytes before the cut could be used, but what follows would be guessed: stop here.
      if (offset + wireLen > 0) this.fail(dir);
      return;
    }
    const skip = -offset;
    if (skip >= wireLen) return;
    d.nextSeq = (seq + wireLen) | 0;
    this.receiver.data(dir, data, start + skip, start + wireLen);
    if (d.held.length > 0) this.release(dir, d);
  }

  /**
   * The peer acknowledged `ack` for direction `dir`: if that covers a hole we are holding bytes
   * behind, the missing bytes will not be sent again, so the hole is a capture gap.
   */
  acked(dir: 0 | 1, ack: number): void {
    const d = this.dirs[dir];
    if (d.stopped || !d.started || d.held.length === 0) return;
    if (((ack - d.held[0]!.seq) | 0) > 0) this.fail(dir);
  }

  private hold(dir: 0 | 1, d: Direction, seq: number, data: Uint8Array, start: number, capLen: number, wireLen: number): void {
    if (capLen < wireLen || d.held.length >= MAX_HELD_SEGMENTS || d.heldBytes + wireLen > MAX_HELD_BYTES) {
      this.fail(dir);
      return;
    }
    let i = d.held.length;
    while (i > 0 && ((d.held[i - 1]!.seq - seq) | 0) > 0) i--;
    // A copy: sources lend their batch buffer (a Buffer, whose slice() would not copy).
    const bytes = new Uint8Array(wireLen);
    bytes.set(data.subarray(start, start + wireLen));
    d.held.splice(i, 0, { seq, bytes });
    d.heldBytes += wireLen;
  }

  private release(dir: 0 | 1, d: Direction): void {
    while (d.held.length > 0 && !d.stopped) {
      const h = d.held[0]!;
      const offset = (h.seq - d.nextSeq) | 0;
      if (offset > 0) return;
      d.held.shift();
      d.heldBytes -= h.bytes.length;
      const skip = -offset;
      if (skip >= h.bytes.length) continue;
      d.nextSeq = (h.seq + h.bytes.length) | 0;
      this.receiver.data(dir, h.bytes, skip, h.bytes.length);
    }
  }

  private fail(dir: 0 | 1): void {
    this.stop(dir);
    this.receiver.gap(dir);
  }
}
