/**
 * Every capture of the shared corpus through readCaptureFile + decodePacket: nothing throws,
 * packet counts match MANIFEST.tsv, and a per-file table of decode outcomes is printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readCaptureFile } from '../src/sources/capture-file.js';
import type { PacketHandler } from '../src/sources/packet-handler.js';
import { decodePacket } from '../src/decode/decode-packet.js';
import { PacketView } from '../src/decode/packet-view.js';
import { DecodeStatus, MALFORMED_REASON_COUNT, MALFORMED_REASON_NAMES } from '../src/decode/status.js';
import { CORPUS_DIR, readManifest } from './support/corpus.js';

class CountingDecoder implements PacketHandler {
  readonly view = new PacketView();
  readonly byStatus = [0, 0, 0, 0];
  readonly byReason = new Array<number>(MALFORMED_REASON_COUNT).fill(0);
  sourceErrors = 0;
  onPacket(data: Uint8Array, dv: DataView, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number, ifaceId: number): void {
    const status = decodePacket(this.view, data, dv, start, capLen, wireLen, tsUs, linkType, ifaceId);
    this.byStatus[status]!++;
    if (status === DecodeStatus.MALFORMED || status === DecodeStatus.UNSUPPORTED) this.byReason[this.view.reason]!++;
  }
  onInterface(): void {}
  onSourceError(): void {
    this.sourceErrors++;
  }
}

test('every corpus capture reads and decodes with the MANIFEST packet count', async (t) => {
  const rows = readManifest();
  assert.ok(rows.length > 0);
  const lines: string[] = ['file\tpackets\tok\tnot_ip\tunsupported\tmalformed(by reason)\tsource_errors'];
  for (const row of rows) {
    const counter = new CountingDecoder();
    const result = await readCaptureFile(join(CORPUS_DIR, row.file), counter);
    assert.equal(result.packets, row.packets, `${row.file}: packet count`);
    const reasons = counter.byReason
      .map((n, i) => (n > 0 ? `${MALFORMED_REASON_NAMES[i]}=${n}` : ''))
      .filter((s) => s !== '')
      .join(',');
    lines.push(
      [
        row.file,
        result.packets,
        counter.byStatus[DecodeStatus.OK],
        counter.byStatus[DecodeStatus.NOT_IP],
        counter.byStatus[DecodeStatus.UNSUPPORTED],
        `${counter.byStatus[DecodeStatus.MALFORMED]}${reasons ? ` (${reasons})` : ''}`,
        counter.sourceErrors,
      ].join('\t'),
    );
  }
  for (const line of lines) t.diagnostic(line);
  console.log(lines.join('\n'));
});
