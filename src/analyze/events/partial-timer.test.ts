/**
 * Event 00006 comes from a packet-time timer: it must fire at the first packet past the
 * deadline and carry the deadline as its time, also when an earlier half-open entry went stale
 * in between (its connection was refused and ended first). Built capture, expected times from
 * the packets' own timestamps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeCaptureFile } from '../../cli/analyze-file.js';
import { ethernet, ipv4, pcapFile, tcp, udp } from '../../../test/support/packet-builder.js';
import { ETHERTYPE_IPV4 } from '../../wire/ethertypes.js';
import { LINKTYPE_ETHERNET } from '../../wire/linktypes.js';
import { TCP_ACK as ACK, TCP_RST as RST, TCP_SYN as SYN } from '../../wire/tcp-flags.js';

const CLIENT = '10.77.205.1';
const SERVER = '10.77.205.2';
const FIRST_TS_S = 1_700_000_000;
const PARTIAL_TIMEOUT_S = 3;

/** pcapFile's timestamp of packet `i`: one second and one millisecond apart. */
function tsUsOf(i: number): number {
  return (FIRST_TS_S + i) * 1_000_000 + 1000 * i;
}

function segment(src: string, dst: string, srcPort: number, dstPort: number, flags: number): Uint8Array {
  return ethernet(ETHERTYPE_IPV4, ipv4(src, dst, 6, tcp(srcPort, dstPort, flags, 1000, new Uint8Array(0))));
}

test('00006 fires at its deadline after a stale half-open entry ahead of it', async () => {
  const packets = [
    segment(CLIENT, SERVER, 41000, 80, SYN),
    segment(SERVER, CLIENT, 80, 41000, RST | ACK),
    // The refused connection ends here (DLLT_TCP_CLOSING_S after its RST), before its own
    // half-open deadline; the next one is never answered.
    segment(CLIENT, SERVER, 41001, 80, SYN),
    ...Array.from({ length: 4 }, () => ethernet(ETHERTYPE_IPV4, ipv4(CLIENT, SERVER, 17, udp(41100, 9999, new Uint8Array(4))))),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'dllt-partial-'));
  try {
    const path = join(dir, 'partial.pcap');
    writeFileSync(path, pcapFile(LINKTYPE_ETHERNET, packets, FIRST_TS_S));
    const { output } = await analyzeCaptureFile(path, { DLLT_PARTIAL_TIMEOUT_S: String(PARTIAL_TIMEOUT_S), DLLT_TCP_CLOSING_S: '0.5' });
    const events = output.events.map((e) => [e.code, e.srcPort, e.value, e.tsUs]);
    assert.deepEqual(events, [
      ['00009', 41000, '1', tsUsOf(1)],
      ['00006', 41001, 'no_syn_ack', tsUsOf(2) + PARTIAL_TIMEOUT_S * 1_000_000],
    ]);
    const refused = output.ended.find((f) => f.srcPort === 41000)!;
    assert.equal(refused.endReason, 'rst');
    assert.ok(Date.parse(refused.ts) * 1000 <= tsUsOf(2), 'the refused connection ended before the second SYN was judged');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
