/**
 * Test-only: rebuilds both byte streams of every TCP connection in a corpus capture, as the
 * pipeline's reassembly will hand them to stream parsers — in sequence order, retransmitted
 * bytes dropped, stopping at the first gap (a lost or snaplen-cut segment).
 * Deliberately simple (whole capture in memory, string keys): it exists to feed parsers real
 * streams, not to be fast.
 */
import { decodePacket } from '../../decode/decode-packet.js';
import { PacketView } from '../../decode/packet-view.js';
import { DecodeStatus } from '../../decode/status.js';
import { formatIp } from '../../wire/ip-format.js';
import { loadCapture, viewOf } from '../../../test/support/corpus.js';
import { TCP_ACK as ACK, TCP_SYN as SYN } from '../../wire/tcp-flags.js';

const TCP = 6;

export interface TcpByteStream {
  /** The stream's contiguous start, in the pieces the segments delivered, in order. */
  segments: Uint8Array[];
  /** The same bytes joined. */
  bytes: Uint8Array;
}

export interface TcpConnection {
  /** `client-ip client-port server-ip server-port`, addresses as formatIp writes them. */
  key: string;
  client: TcpByteStream;
  server: TcpByteStream;
}

interface Endpoint {
  ip: string;
  port: number;
}

interface DataSegment {
  seq: number;
  bytes: Uint8Array;
  /** False when the snaplen cut the payload: the stream has a gap right after it. */
  whole: boolean;
}

interface Direction {
  /** ISN + 1, when this side's SYN was seen. */
  firstSeq: number | undefined;
  data: DataSegment[];
}

interface Connection {
  client: Endpoint;
  server: Endpoint;
  clientSyn: number | undefined;
  fromClient: Direction;
  fromServer: Direction;
}

function endpointKey(e: Endpoint): string {
  return `${e.ip} ${e.port}`;
}

function pairKey(a: Endpoint, b: Endpoint): string {
  const ka = endpointKey(a);
  const kb = endpointKey(b);
  return ka < kb ? `${ka}|${kb}` : `${kb}|${ka}`;
}

/** Seq-ordered, de-duplicated pieces from the stream's first byte up to the first gap. */
function contiguousPieces(dir: Direction): Uint8Array[] {
  if (dir.data.length === 0) return [];
  const reference = dir.firstSeq ?? dir.data[0]!.seq;
  const relative = dir.data
    .map((s) => ({ at: (s.seq - reference) | 0, bytes: s.bytes, whole: s.whole }))
    .sort((x, y) => x.at - y.at);
  let next = dir.firstSeq === undefined ? Math.min(...relative.map((s) => s.at)) : 0;
  const pieces: Uint8Array[] = [];
  for (const s of relative) {
    if (s.at > next) break;
    const end = s.at + s.bytes.length;
    if (end > next) {
      pieces.push(s.bytes.subarray(next - s.at));
      next = end;
    }
    if (!s.whole) break;
  }
  return pieces;
}

function byteStream(dir: Direction): TcpByteStream {
  const pieces = contiguousPieces(dir);
  const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return { segments: pieces, bytes: out };
}

/** Every TCP connection of a corpus file, in order of first packet. */
export async function tcpConnections(file: string): Promise<TcpConnection[]> {
  const { packets } = await loadCapture(file);
  const view = new PacketView();
  const open = new Map<string, Connection>();
  const all: Connection[] = [];
  for (const p of packets) {
    const status = decodePacket(view, p.bytes, viewOf(p.bytes), 0, p.bytes.length, p.wireLen, p.tsUs, p.linkType, p.ifaceId);
    if (status !== DecodeStatus.OK || view.ipProto !== TCP || view.isFragment) continue;
    const src = { ip: formatIp(view.ipVersion, view.src), port: view.srcPort };
    const dst = { ip: formatIp(view.ipVersion, view.dst), port: view.dstPort };
    const key = pairKey(src, dst);
    const isClientSyn = (view.tcpFlags & (SYN | ACK)) === SYN;
    let conn = open.get(key);
    // A new SYN with another ISN on a tuple that already carried data is port reuse: a new connection.
    if (conn !== undefined && isClientSyn && conn.clientSyn !== view.seq && conn.fromClient.data.length > 0) conn = undefined;
    if (conn === undefined) {
      const srcIsClient = isClientSyn || ((view.tcpFlags & (SYN | ACK)) !== (SYN | ACK) && src.port > dst.port);
      conn = {
        client: srcIsClient ? src : dst,
        server: srcIsClient ? dst : src,
        clientSyn: undefined,
        fromClient: { firstSeq: undefined, data: [] },
        fromServer: { firstSeq: undefined, data: [] },
      };
      open.set(key, conn);
      all.push(conn);
    }
    const fromClient = endpointKey(src) === endpointKey(conn.client);
    const dir = fromClient ? conn.fromClient : conn.fromServer;
    if ((view.tcpFlags & SYN) !== 0) dir.firstSeq = (view.seq + 1) | 0;
    if (fromClient && isClientSyn) conn.clientSyn = view.seq;
    if (view.payloadCapLen > 0) {
      dir.data.push({
        seq: view.seq,
        // A plain copy: corpus packets are Buffers, whose slice() is a view.
        bytes: new Uint8Array(p.bytes.subarray(view.payloadOff, view.payloadOff + view.payloadCapLen)),
        whole: view.payloadCapLen >= view.payloadLen,
      });
    }
  }
  return all.map((conn) => ({
    key: `${endpointKey(conn.client)} ${endpointKey(conn.server)}`,
    client: byteStream(conn.fromClient),
    server: byteStream(conn.fromServer),
  }));
}
