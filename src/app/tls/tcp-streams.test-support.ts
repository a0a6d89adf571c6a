/**
 * Test-only TCP reassembly for the TLS tests: reads a corpus capture with the repo's reader and
 * decoder and rebuilds each connection's two byte streams in sequence order (retransmissions
 * dropped, out-of-order segments held until the hole fills), keeping the packet order in which
 * the bytes became available so the parser sees the directions interleaved as on the wire.
 * Small captures only: everything is copied and kept.
 */
import { join } from 'node:path';
import { readCaptureFile } from '../../sources/capture-file.js';
import type { PacketHandler } from '../../sources/packet-handler.js';
import { decodePacket } from '../../decode/decode-packet.js';
import { PacketView } from '../../decode/packet-view.js';
import { DecodeStatus } from '../../decode/status.js';
import { formatIp } from '../../wire/ip-format.js';
import { CORPUS_DIR } from '../../../test/support/corpus.js';
import { probeTls } from './tls-session.js';

const IPPROTO_TCP = 6;
const TCP_SYN = 0x02;
const TCP_ACK = 0x10;

/** Bytes that became contiguous in one direction when frame `frame` arrived; bytes null = lost bytes. */
export interface StreamChunk {
  dir: 0 | 1;
  bytes: Uint8Array | null;
  frame: number;
}

export interface TcpConnection {
  /** 'address:port' as tshark prints them; the client is the SYN sender, else the first sender. */
  client: string;
  server: string;
  serverPort: number;
  sawSyn: boolean;
  chunks: StreamChunk[];
}

interface PendingSegment {
  seq: number;
  bytes: Uint8Array;
}

class DirectionAssembly {
  nextSeq: number | undefined = undefined;
  pending: PendingSegment[] = [];
  lost = false;
}

class ConnectionBuilder {
  readonly assembly = [new DirectionAssembly(), new DirectionAssembly()] as const;
  constructor(readonly conn: TcpConnection) {}

  segment(dir: 0 | 1, seq: number, flags: number, payload: Uint8Array, truncated: boolean, frame: number): void {
    const a = this.assembly[dir];
    if (a.lost) return;
    if ((flags & TCP_SYN) !== 0) {
      a.nextSeq = (seq + 1) >>> 0;
      return;
    }
    if (payload.length === 0) return;
    if (truncated) {
      this.lose(dir, frame);
      return;
    }
    if (a.nextSeq === undefined) a.nextSeq = seq >>> 0;
    a.pending.push({ seq: seq >>> 0, bytes: payload });
    this.drain(dir, frame);
  }

  /** Delivers every held segment that now starts at or before the next expected byte. */
  private drain(dir: 0 | 1, frame: number): void {
    const a = this.assembly[dir];
    for (let progress = true; progress; ) {
      progress = false;
      for (let i = 0; i < a.pending.length; i++) {
        const s = a.pending[i]!;
        const offset = (a.nextSeq! - s.seq) | 0;
        if (offset < 0) continue;
        a.pending.splice(i, 1);
        progress = true;
        if (offset < s.bytes.length) {
          const fresh = s.bytes.subarray(offset);
          this.conn.chunks.push({ dir, bytes: fresh, frame });
          a.nextSeq = (a.nextSeq! + fresh.length) >>> 0;
        }
        break;
      }
    }
  }

  lose(dir: 0 | 1, frame: number): void {
    const a = this.assembly[dir];
    if (a.lost) return;
    a.lost = true;
    a.pending = [];
    this.conn.chunks.push({ dir, bytes: null, frame });
  }

  /** Segments still waiting for a hole that never filled are a capture gap. */
  finish(frame: number): void {
    for (const dir of [0, 1] as const) {
      if (this.assembly[dir].pending.length > 0) this.lose(dir, frame);
    }
  }
}

class ConnectionCollector implements PacketHandler {
  private readonly view = new PacketView();
  private readonly byKey = new Map<string, ConnectionBuilder>();
  readonly builders: ConnectionBuilder[] = [];
  readonly sourceErrors: string[] = [];
  frame = 0;

  onPacket(data: Uint8Array, dv: DataView, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number, ifaceId: number): void {
    this.frame++;
    const v = this.view;
    if (decodePacket(v, data, dv, start, capLen, wireLen, tsUs, linkType, ifaceId) !== DecodeStatus.OK) return;
    if (v.ipProto !== IPPROTO_TCP || v.isFragment) return;
    const src = `${formatIp(v.ipVersion, v.src)}:${v.srcPort}`;
    const dst = `${formatIp(v.ipVersion, v.dst)}:${v.dstPort}`;
    const key = src < dst ? `${src}|${dst}` : `${dst}|${src}`;
    let builder = this.byKey.get(key);
    if (builder === undefined) {
      const pureSyn = (v.tcpFlags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
      const synAck = (v.tcpFlags & (TCP_SYN | TCP_ACK)) === (TCP_SYN | TCP_ACK);
      const client = synAck ? dst : src;
      const server = synAck ? src : dst;
      builder = new ConnectionBuilder({
        client,
        server,
        serverPort: synAck ? v.srcPort : v.dstPort,
        sawSyn: pureSyn || synAck,
        chunks: [],
      });
      this.byKey.set(key, builder);
      this.builders.push(builder);
    }
    const dir: 0 | 1 = src === builder.conn.client ? 0 : 1;
    // A copy as a plain Uint8Array: the source reuses its buffer, and Buffer#slice would not copy.
    const payload = Uint8Array.from(data.subarray(v.payloadOff, v.payloadOff + v.payloadCapLen));
    builder.segment(dir, v.seq, v.tcpFlags, payload, v.payloadCapLen < v.payloadLen, this.frame);
  }

  onInterface(): void {}

  onSourceError(offset: number, message: string): void {
    this.sourceErrors.push(`${offset}: ${message}`);
  }
}

export async function readTcpConnections(file: string): Promise<TcpConnection[]> {
  const collector = new ConnectionCollector();
  await readCaptureFile(join(CORPUS_DIR, file), collector);
  if (collector.sourceErrors.length > 0) throw new Error(`${file} is damaged: ${collector.sourceErrors.join('; ')}`);
  for (const b of collector.builders) b.finish(collector.frame);
  return collector.builders.map((b) => b.conn);
}

/**
 * Index of the chunk where TLS starts: the first client chunk that probes as a ClientHello
 * (chunk 0 for a plain TLS connection, later after a STARTTLS exchange), or -1.
 */
export function tlsStartIndex(conn: TcpConnection): number {
  return conn.chunks.findIndex((c) => c.dir === 0 && c.bytes !== null && probeTls(c.bytes, 0, c.bytes.length) === 1);
}
