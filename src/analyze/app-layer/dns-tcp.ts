/**
 * DNS over TCP (RFC 1035 4.2.2, RFC 7766): each message in a connection's byte stream is preceded
 * by its length in two bytes. This splits one direction's reassembled stream into messages.
 * Messages that arrive whole in a segment (nearly all) are handed on in place; one split across
 * segments is copied until it is complete. Hand-written: the framing is four lines, and the
 * messages themselves go to the DNS parser the UDP path uses.
 */

const LENGTH_PREFIX = 2;

export class DnsTcpFramer {
  /** Bytes of an incomplete message (its length prefix included), carried to the next segment. */
  private pending = new Uint8Array(0);
  private pendingLen = 0;

  constructor(private readonly onMessage: (data: Uint8Array, start: number, end: number) => void) {}

  /** The next bytes of the stream, in order. */
  feed(data: Uint8Array, start: number, end: number): void {
    let at = start;
    if (this.pendingLen > 0) {
      at = this.completePending(data, at, end);
      if (this.pendingLen > 0) return;
    }
    while (end - at >= LENGTH_PREFIX) {
      const len = (data[at]! << 8) | data[at + 1]!;
      if (end - at - LENGTH_PREFIX < len) break;
      this.onMessage(data, at + LENGTH_PREFIX, at + LENGTH_PREFIX + len);
      at += LENGTH_PREFIX + len;
    }
    if (at < end) this.keep(data, at, end);
  }

  /** Adds to the pending message what it still lacks; returns where the rest of `data` starts. */
  private completePending(data: Uint8Array, at: number, end: number): number {
    if (this.pendingLen < LENGTH_PREFIX) {
      const take = Math.min(LENGTH_PREFIX - this.pendingLen, end - at);
      this.keep(data, at, at + take);
      at += take;
      if (this.pendingLen < LENGTH_PREFIX) return at;
    }
    const whole = LENGTH_PREFIX + ((this.pending[0]! << 8) | this.pending[1]!);
    const take = Math.min(whole - this.pendingLen, end - at);
    this.keep(data, at, at + take);
    at += take;
    if (this.pendingLen === whole) {
      this.pendingLen = 0;
      this.onMessage(this.pending, LENGTH_PREFIX, whole);
    }
    return at;
  }

  private keep(data: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (this.pendingLen + n > this.pending.length) {
      // At most a 2-byte prefix and a 65,535-byte message.
      const grown = new Uint8Array(Math.min(LENGTH_PREFIX + 0xffff, Math.max(512, 2 * (this.pendingLen + n))));
      grown.set(this.pending.subarray(0, this.pendingLen));
      this.pending = grown;
    }
    this.pending.set(data.subarray(start, end), this.pendingLen);
    this.pendingLen += n;
  }
}
