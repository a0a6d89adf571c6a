/**
 * Decoders against real corpus packets. Every expected value comes from tshark 4.0 output
 * (`tshark -o tcp.relative_sequence_numbers:FALSE -T fields ...`), not from this decoder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket } from './decode-packet.js';
import { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason } from './status.js';
import { formatIp } from '../wire/ip-format.js';
import { loadCapture, viewOf, type CapturedPacket } from '../../test/support/corpus.js';

function decode(view: PacketView, p: CapturedPacket): DecodeStatus {
  return decodePacket(view, p.bytes, viewOf(p.bytes), 0, p.bytes.length, p.wireLen, p.tsUs, p.linkType, p.ifaceId);
}

function endpoints(view: PacketView): string {
  return `${formatIp(view.ipVersion, view.src)}:${view.srcPort} > ${formatIp(view.ipVersion, view.dst)}:${view.dstPort}`;
}

test('Q-in-Q: both VLAN tags kept (zeek-q-in-q.pcap #1)', async () => {
  const { packets } = await loadCapture('zeek-q-in-q.pcap');
  const view = new PacketView();
  assert.equal(decode(view, packets[0]!), DecodeStatus.OK);
  assert.equal(view.vlanCount, 2);
  assert.equal(view.vlanOuter, 13);
  assert.equal(view.vlanInner, 10);
  assert.equal(view.ipProto, 17);
  assert.equal(endpoints(view), '172.19.51.37:47808 > 172.19.51.63:47808');
  // #5 is ARP inside the same two tags.
  assert.equal(decode(view, packets[4]!), DecodeStatus.NOT_IP);
});

test('SLL2 TCP SYN with options (sv-decode-sll2-01.pcap #1, #2)', async () => {
  const { packets } = await loadCapture('sv-decode-sll2-01.pcap');
  const view = new PacketView();
  assert.equal(decode(view, packets[0]!), DecodeStatus.OK);
  assert.equal(endpoints(view), '192.168.1.253:56478 > 192.168.1.21:80');
  assert.equal(view.tcpFlags, 0x02);
  assert.equal(view.seq, 2332771219 | 0);
  assert.equal(view.window, 64240);
  assert.equal(view.mss, 1460);
  assert.equal(view.windowScale, 7);
  assert.equal(view.payloadLen, 0);
  assert.equal(decode(view, packets[1]!), DecodeStatus.OK);
  assert.equal(view.tcpFlags, 0x12);
  assert.equal(view.seq, 845479108);
  assert.equal(view.ack, 2332771220 | 0);
});

test('SLL2 ICMP echo, ICMPv6 and ARP (zeek-linux_dlt_sll2.pcap)', async () => {
  const { packets } = await loadCapture('zeek-linux_dlt_sll2.pcap');
  const view = new PacketView();
  assert.equal(decode(view, packets[0]!), DecodeStatus.OK);
  assert.equal(formatIp(4, view.src), '192.0.2.1');
  assert.equal(view.icmpType, 8);
  assert.equal(view.icmpId, 8);
  assert.equal(decode(view, packets[1]!), DecodeStatus.OK);
  assert.equal(view.icmpType, 0);
  assert.equal(decode(view, packets[2]!), DecodeStatus.OK);
  assert.equal(view.ipVersion, 6);
  assert.equal(view.ipProto, 58);
  assert.equal(decode(view, packets[4]!), DecodeStatus.NOT_IP);
  assert.equal(decode(view, packets[5]!), DecodeStatus.NOT_IP);
});

test('BSD NULL link type carrying IPv6 (zeek-http-connect-with-header.pcap #1)', async () => {
  const { packets } = await loadCapture('zeek-http-connect-with-header.pcap');
  const view = new PacketView();
  assert.equal(decode(view, packets[0]!), DecodeStatus.OK);
  assert.equal(view.ipVersion, 6);
  assert.equal(endpoints(view), '::1:52522 > ::1:80');
  assert.equal(view.seq, 1321751229);
  assert.equal(view.mss, 16324);
  assert.equal(view.windowScale, 5);
});

test('NFLOG payload TLV (zeek-nflog-http.pcap #1)', async () => {
  const { packets } = await loadCapture('zeek-nflog-http.pcap');
  const view = new PacketView();
  assert.equal(decode(view, packets[0]!), DecodeStatus.OK);
  assert.equal(endpoints(view), '10.0.2.15:49762 > 93.184.216.34:80');
  assert.equal(view.seq, 1060289233);
  assert.equal(view.tcpFlags, 0x02);
  assert.equal(view.window, 29200);
  assert.equal(view.mss, 1460);
  assert.equal(view.windowScale, 7);
  assert.equal(view.tsUs, 1470574779148133);
});

test('nanosecond pcap on SLL (tcpdump-tcp-handshake-nano.pcap)', async () => {
  const { packets } = await loadCapture('tcpdump-tcp-handshake-nano.pcap');
  const view = new PacketView();
  // tshark frame.time_epoch 1418145369.924505488 and 1418145370.052027262, truncated to µs.
  assert.equal(packets[0]!.tsUs, 1418145369924505);
  assert.equal(packets[1]!.tsUs, 1418145370052027);
  assert.equal(decode(view, packets[1]!), DecodeStatus.OK);
  assert.equal(endpoints(view), '137.116.81.94:80 > 131.155.215.69:46656');
  assert.equal(view.seq, 3078856592 | 0);
  assert.equal(view.ack, 797190860);
  assert.equal(view.mss, 1440);
  assert.equal(view.windowScale, 8);
});

test('IPv6 fragments: ports only from the first fragment (zeek-ipv6-fragmented-dns.pcap)', async () => {
  const { packets } = await loadCapture('zeek-ipv6-fragmented-dns.pcap');
  const view = new PacketView();
  assert.equal(decode(view, packets[0]!), DecodeStatus.OK);
  assert.equal(view.isFragment, false);
  assert.equal(endpoints(view), '2001:470:1f11:81f:d138:5f55:6d4:1fe2:51850 > 2607:f740:b::f93:53');
  // #6: first fragment (offset 0, more, id 2) carries the UDP ports.
  assert.equal(decode(view, packets[5]!), DecodeStatus.OK);
  assert.equal(view.isFragment, true);
  assert.equal(view.fragOffset, 0);
  assert.equal(view.moreFragments, true);
  assert.equal(view.fragId, 2);
  assert.equal(view.ipProto, 17);
  assert.equal(endpoints(view), '2607:f740:b::f93:53 > 2001:470:1f11:81f:d138:5f55:6d4:1fe2:51851');
  // #7: offset 179 units = 1432 bytes, no ports.
  assert.equal(decode(view, packets[6]!), DecodeStatus.OK);
  assert.equal(view.fragOffset, 179 * 8);
  assert.equal(view.moreFragments, true);
  assert.equal(view.srcPort, 0);
  assert.equal(view.dstPort, 0);
  assert.equal(view.ipProto, 17);
  // #8: last fragment, offset 358 units.
  assert.equal(decode(view, packets[7]!), DecodeStatus.OK);
  assert.equal(view.fragOffset, 358 * 8);
  assert.equal(view.moreFragments, false);
});

test('ICMP port unreachable quotes the UDP tuple (zeek-icmp-icmp-destunreach-udp.pcap)', async () => {
  const { packets } = await loadCapture('zeek-icmp-icmp-destunreach-udp.pcap');
  const view = new PacketView();
  assert.equal(decode(view, packets[0]!), DecodeStatus.OK);
  assert.equal(formatIp(4, view.src), '192.168.1.102');
  assert.equal(formatIp(4, view.dst), '192.168.1.1');
  assert.equal(view.icmpType, 3);
  assert.equal(view.icmpCode, 3);
  assert.equal(view.hasQuoted, true);
  assert.equal(view.quotedIpVersion, 4);
  assert.equal(view.quotedProto, 17);
  assert.equal(formatIp(4, view.quotedSrc), '192.168.1.1');
  assert.equal(formatIp(4, view.quotedDst), '192.168.1.102');
  assert.equal(view.quotedSrcPort, 53);
  assert.equal(view.quotedDstPort, 59207);
});

test('pcapng with two interfaces (zeek-pcapng-multi-interface.pcapng)', async () => {
  const capture = await loadCapture('zeek-pcapng-multi-interface.pcapng');
  assert.deepEqual(
    capture.interfaces.map((i) => i.name),
    ['eth0', '\\Device\\NPF_{5AE6EDB4-EFF9-46B3-A3C2-EE50C688A9E6}'],
  );
  assert.deepEqual(capture.packets.map((p) => p.ifaceId), [0, 0, 1, 1, 1, 1]);
  // tshark: 1767663089.500330493 (ns resolution on eth0) and 1767663437.111897000.
  assert.equal(capture.packets[0]!.tsUs, 1767663089500330);
  assert.equal(capture.packets[2]!.tsUs, 1767663437111897);
  const view = new PacketView();
  assert.equal(decode(view, capture.packets[2]!), DecodeStatus.OK);
  assert.equal(view.ifaceId, 1);
  assert.equal(endpoints(view), '10.0.0.4:56351 > 1.1.1.1:53');
});

test('TCP header cut inside its options is TCP_TRUNCATED with fixed fields kept (zeek-tcp-truncated-header.pcap #1)', async () => {
  const { packets } = await loadCapture('zeek-tcp-truncated-header.pcap');
  const view = new PacketView();
  // tshark: 68 of 74 bytes captured, TCP header length 40 but only 34 bytes of it present.
  assert.equal(decode(view, packets[0]!), DecodeStatus.MALFORMED);
  assert.equal(view.reason, MalformedReason.TCP_TRUNCATED);
  assert.equal(endpoints(view), '201.186.157.67:60827 > 128.3.26.249:25');
  assert.equal(view.tcpFlags, 0xc2);
  assert.equal(view.seq, 1041724894);
  assert.equal(view.window, 5840);
  assert.equal(view.mss, 1460);
  assert.equal(view.payloadCapLen, 0);
  // The rest of the file is whole per tshark (#2 is a SYN-ACK with 2 bytes of Ethernet padding).
  assert.equal(decode(view, packets[1]!), DecodeStatus.OK);
  assert.equal(view.tcpFlags, 0x12);
  assert.equal(view.payloadLen, 0);
  assert.equal(view.payloadCapLen, 0);
});

test('unknown link type is UNSUPPORTED', () => {
  const view = new PacketView();
  const bytes = new Uint8Array(40);
  assert.equal(decodePacket(view, bytes, viewOf(bytes), 0, 40, 40, 0, 147, 0), DecodeStatus.UNSUPPORTED);
  assert.equal(view.reason, MalformedReason.LINKTYPE_UNSUPPORTED);
});
