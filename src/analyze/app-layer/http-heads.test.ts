/**
 * HTTP request heads through the pipeline, on connections built here: a head in one segment,
 * one split across segments (request line included), one that is not HTTP after a method, and
 * heads longer than the 8 KiB read (in one segment and in several). The flow records' `http`
 * must be what the requests say.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeCaptureFile } from '../../cli/analyze-file.js';
import { ethernet, ipv4, pcapFile, tcp } from '../../../test/support/packet-builder.js';
import { ETHERTYPE_IPV4 } from '../../wire/ethertypes.js';
import { LINKTYPE_ETHERNET } from '../../wire/linktypes.js';
import { TCP_ACK as ACK, TCP_FIN as FIN, TCP_PSH as PSH, TCP_SYN as SYN } from '../../wire/tcp-flags.js';

const CLIENT = '10.77.206.1';
const SERVER = '10.77.206.2';
const CLIENT_ISN = 1000;
const SERVER_ISN = 500_000;

function packet(fromClient: boolean, port: number, flags: number, seq: number, ack: number, payload = ''): Uint8Array {
  const bytes = new TextEncoder().encode(payload);
  const segment = fromClient ? tcp(port, 80, flags, seq, bytes, ack) : tcp(80, port, flags, seq, bytes, ack);
  return ethernet(ETHERTYPE_IPV4, fromClient ? ipv4(CLIENT, SERVER, 6, segment) : ipv4(SERVER, CLIENT, 6, segment));
}

/** Handshake, the client's request in the given pieces, the server's ACK of each, then FINs. */
function connection(port: number, pieces: string[]): Uint8Array[] {
  const out = [
    packet(true, port, SYN, CLIENT_ISN, 0),
    packet(false, port, SYN | ACK, SERVER_ISN, CLIENT_ISN + 1),
    packet(true, port, ACK, CLIENT_ISN + 1, SERVER_ISN + 1),
  ];
  let seq = CLIENT_ISN + 1;
  for (const piece of pieces) {
    out.push(packet(true, port, PSH | ACK, seq, SERVER_ISN + 1, piece));
    seq += piece.length;
    out.push(packet(false, port, ACK, SERVER_ISN + 1, seq));
  }
  out.push(packet(true, port, FIN | ACK, seq, SERVER_ISN + 1), packet(false, port, FIN | ACK, SERVER_ISN + 1, seq + 1), packet(true, port, ACK, seq + 1, SERVER_ISN + 2));
  return out;
}

test('request heads whole, split, not HTTP and too long give the flows their http fields', async () => {
  const long = 'GET /long HTTP/1.1\r\nX-Filler: ' + 'a'.repeat(9000) + '\r\nHost: never.read\r\n\r\n';
  const packets = [
    ...connection(42001, ['GET /a?x=1 HTTP/1.1\r\nHost: one.test\r\nUser-Agent: t/1\r\nAccept: */*\r\n\r\n']),
    ...connection(42002, ['POST /b HT', 'TP/1.1\r\nHo', 'st: two.test\r\nContent-Length: 0\r\n\r\n']),
    ...connection(42003, ['GET \u0001 HTTP/1.1\r\nHost: x\r\n\r\n']),
    ...connection(42004, [long]),
    ...connection(42005, [long.slice(0, 3000), long.slice(3000, 6000), long.slice(6000)]),
    ...connection(42006, ['GE', 'T /f HTTP/1.0\r\n\r\n']),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'dllt-http-heads-'));
  try {
    const path = join(dir, 'heads.pcap');
    writeFileSync(path, pcapFile(LINKTYPE_ETHERNET, packets));
    const { output } = await analyzeCaptureFile(path);
    const http = Object.fromEntries(output.ended.map((f) => [f.srcPort, f.http ?? null]));
    assert.deepEqual(http, {
      42001: { method: 'GET', host: 'one.test', path: '/a?x=1' },
      42002: { method: 'POST', host: 'two.test', path: '/b' },
      42003: null,
      42004: { method: 'GET', path: '/long' },
      42005: { method: 'GET', path: '/long' },
      42006: null,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
