/**
 * Truncation ladder: every prefix of every packet of several corpus files decodes without
 * throwing, and the reused view then decodes the next whole packet exactly as a fresh view does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket } from './decode-packet.js';
import { PacketView } from './packet-view.js';
import { DecodeStatus } from './status.js';
import { loadCapture, viewOf, type CapturedPacket } from '../../test/support/corpus.js';

const FILES = [
  'zeek-q-in-q.pcap',
  'sv-decode-sll2-01.pcap',
  'zeek-http-connect-with-header.pcap',
  'zeek-nflog-http.pcap',
  'zeek-ipv6-fragmented-dns.pcap',
  'zeek-icmp-icmp-destunreach-udp.pcap',
  'zeek-tcp-timeout-with-pings.pcap',
  'zeek-tls-irc-starttls.pcap',
];

/** Everything a consumer reads from the view, as one comparable value. */
export function snapshot(view: PacketView): string {
  const { data: _data, dv: _dv, ...fields } = view;
  return JSON.stringify(fields, (_k, v: unknown) => (v instanceof Int32Array ? Array.from(v) : v));
}

function decodeWhole(view: PacketView, p: CapturedPacket, capLen = p.bytes.length): DecodeStatus {
  return decodePacket(view, p.bytes, viewOf(p.bytes), 0, capLen, p.wireLen, p.tsUs, p.linkType, p.ifaceId);
}

for (const file of FILES) {
  test(`truncation ladder: ${file}`, async () => {
    const { packets } = await loadCapture(file);
    const reused = new PacketView();
    const fresh = new PacketView();
    for (let i = 0; i < packets.length; i++) {
      const packet = packets[i]!;
      for (let len = 0; len <= packet.bytes.length; len++) {
        const status = decodeWhole(reused, packet, len);
        assert.ok(status >= DecodeStatus.OK && status <= DecodeStatus.MALFORMED);
        assert.ok(reused.end <= packet.bytes.length);
      }
      const next = packets[(i + 1) % packets.length]!;
      decodeWhole(reused, next);
      decodeWhole(fresh, next);
      assert.equal(snapshot(reused), snapshot(fresh));
    }
  });
}
