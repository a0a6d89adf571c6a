/**
 * Overlays (VXLAN, Geneve, GRE, IP-in-IP): the corpus has none, so packets are assembled from
 * real header bytes; one is cross-checked with tshark through a temporary pcap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePacket } from './decode-packet.js';
import { PacketView } from './packet-view.js';
import { DecodeStatus, MalformedReason, TunnelType } from './status.js';
import { formatIp } from '../wire/ip-format.js';
import { viewOf } from '../../test/support/corpus.js';
import { ethernet, geneve, gre, ipv4, ipv6, pcapFile, tcp, udp, vxlan } from '../../test/support/packet-builder.js';
import { TCP_SYN as SYN } from '../wire/tcp-flags.js';

const inner = (): Uint8Array => ethernet(0x0800, ipv4('10.244.1.5', '10.244.2.7', 6, tcp(40000, 8080, SYN, 12345, new Uint8Array(0))));

function decodeEthernetFrame(view: PacketView, frame: Uint8Array): DecodeStatus {
  return decodePacket(view, frame, viewOf(frame), 0, frame.length, frame.length, 0, 1, 0);
}

function assertInnerTcp(view: PacketView): void {
  assert.equal(formatIp(view.ipVersion, view.src), '10.244.1.5');
  assert.equal(formatIp(view.ipVersion, view.dst), '10.244.2.7');
  assert.equal(view.ipProto, 6);
  assert.equal(view.srcPort, 40000);
  assert.equal(view.dstPort, 8080);
  assert.equal(view.tcpFlags, SYN);
  assert.equal(view.seq, 12345);
}

test('VXLAN on 4789 and flannel 8472: inner flow, outer endpoints, VNI', () => {
  const view = new PacketView();
  for (const port of [4789, 8472]) {
    const frame = ethernet(0x0800, ipv4('192.168.0.1', '192.168.0.2', 17, udp(51000, port, vxlan(42, inner()))));
    assert.equal(decodeEthernetFrame(view, frame), DecodeStatus.OK);
    assertInnerTcp(view);
    assert.equal(view.tunnel, TunnelType.VXLAN);
    assert.equal(view.tunnelId, 42);
    assert.equal(view.outerIpVersion, 4);
    assert.equal(formatIp(4, view.outerSrc), '192.168.0.1');
    assert.equal(formatIp(4, view.outerDst), '192.168.0.2');
  }
});

test('Geneve with options, over IPv6, carrying Ethernet', () => {
  const view = new PacketView();
  const frame = ethernet(0x86dd, ipv6('fd00::1', 'fd00::2', 17, udp(52000, 6081, geneve(0xabcdef, 0x6558, 3, inner()))));
  assert.equal(decodeEthernetFrame(view, frame), DecodeStatus.OK);
  assertInnerTcp(view);
  assert.equal(view.tunnel, TunnelType.GENEVE);
  assert.equal(view.tunnelId, 0xabcdef);
  assert.equal(view.outerIpVersion, 6);
  assert.equal(formatIp(6, view.outerSrc), 'fd00::1');
});

test('GRE with checksum, key and sequence carrying IPv4, and transparent Ethernet bridging', () => {
  const view = new PacketView();
  const innerIp = ipv4('10.244.1.5', '10.244.2.7', 6, tcp(40000, 8080, SYN, 12345, new Uint8Array(0)));
  const ipOverGre = ethernet(0x0800, ipv4('172.16.0.1', '172.16.0.2', 47, gre(0x0800, 77, innerIp)));
  assert.equal(decodeEthernetFrame(view, ipOverGre), DecodeStatus.OK);
  assertInnerTcp(view);
  assert.equal(view.tunnel, TunnelType.GRE);
  assert.equal(view.tunnelId, 77);
  assert.equal(formatIp(4, view.outerSrc), '172.16.0.1');
  const bridged = ethernet(0x0800, ipv4('172.16.0.1', '172.16.0.2', 47, gre(0x6558, null, inner())));
  assert.equal(decodeEthernetFrame(view, bridged), DecodeStatus.OK);
  assertInnerTcp(view);
  assert.equal(view.tunnelId, -1);
});

test('IP-in-IP in both families (4in4, 6in4, 4in6)', () => {
  const view = new PacketView();
  const innerV4 = ipv4('10.244.1.5', '10.244.2.7', 6, tcp(40000, 8080, SYN, 12345, new Uint8Array(0)));
  assert.equal(decodeEthernetFrame(view, ethernet(0x0800, ipv4('1.1.1.1', '2.2.2.2', 4, innerV4))), DecodeStatus.OK);
  assertInnerTcp(view);
  assert.equal(view.tunnel, TunnelType.IPIP);
  assert.equal(formatIp(4, view.outerDst), '2.2.2.2');
  const innerV6 = ipv6('2001:db8::5', '2001:db8::7', 17, udp(5353, 53, new Uint8Array(4)));
  assert.equal(decodeEthernetFrame(view, ethernet(0x0800, ipv4('1.1.1.1', '2.2.2.2', 41, innerV6))), DecodeStatus.OK);
  assert.equal(view.ipVersion, 6);
  assert.equal(formatIp(6, view.src), '2001:db8::5');
  assert.equal(view.dstPort, 53);
  assert.equal(view.outerIpVersion, 4);
  assert.equal(decodeEthernetFrame(view, ethernet(0x86dd, ipv6('fd00::1', 'fd00::2', 4, innerV4))), DecodeStatus.OK);
  assertInnerTcp(view);
  assert.equal(formatIp(6, view.outerSrc), 'fd00::1');
});

test('tunnels nested deeper than MAX_TUNNEL_DEPTH are TUNNEL_TOO_DEEP; the view stays reusable', () => {
  const view = new PacketView();
  let ip = ipv4('10.0.0.1', '10.0.0.2', 6, tcp(1, 2, SYN, 1, new Uint8Array(0)));
  for (let i = 0; i < 4; i++) ip = ipv4('1.1.1.1', '2.2.2.2', 4, ip);
  assert.equal(decodeEthernetFrame(view, ethernet(0x0800, ip)), DecodeStatus.MALFORMED);
  assert.equal(view.reason, MalformedReason.TUNNEL_TOO_DEEP);
  const frame = ethernet(0x0800, ipv4('192.168.0.1', '192.168.0.2', 17, udp(51000, 4789, vxlan(42, inner()))));
  assert.equal(decodeEthernetFrame(view, frame), DecodeStatus.OK);
  assertInnerTcp(view);
});

test('a built VXLAN packet reads the same in tshark', () => {
  const frame = ethernet(0x0800, ipv4('192.168.0.1', '192.168.0.2', 17, udp(51000, 4789, vxlan(42, inner()))));
  const dir = mkdtempSync(join(tmpdir(), 'dllt-vxlan-'));
  const file = join(dir, 'vxlan.pcap');
  writeFileSync(file, pcapFile(1, [frame]));
  const fields = ['vxlan.vni', 'ip.src', 'ip.dst', 'tcp.srcport', 'tcp.dstport', 'tcp.flags'];
  const out = execFileSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
  const view = new PacketView();
  decodeEthernetFrame(view, frame);
  const ours = [
    String(view.tunnelId),
    `${formatIp(4, view.outerSrc)},${formatIp(4, view.src)}`,
    `${formatIp(4, view.outerDst)},${formatIp(4, view.dst)}`,
    String(view.srcPort),
    String(view.dstPort),
    `0x${view.tcpFlags.toString(16).padStart(4, '0')}`,
  ].join('|');
  assert.equal(ours, out);
});
