/** Test helpers: the shared capture corpus and a handler that keeps copies of every packet. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { PacketHandler } from '../../src/sources/packet-handler.js';
import { readCaptureFile } from '../../src/sources/capture-file.js';

/** The shared corpus sits beside the checkout (../shared/corpus); compiled, this file is in
 *  dist/test/support, four levels below the checkout's parent. */
export const CORPUS_DIR = process.env['DLLT_CORPUS_DIR'] ?? resolve(import.meta.dirname, '../../../../shared/corpus');

export interface ManifestRow {
  file: string;
  fileFormat: string;
  linkType: string;
  packets: number;
}

export function readManifest(): ManifestRow[] {
  const lines = readFileSync(join(CORPUS_DIR, 'MANIFEST.tsv'), 'utf8').trim().split('\n');
  const header = lines[0]!.split('\t');
  const col = (name: string): number => header.indexOf(name);
  return lines.slice(1).map((line) => {
    const cells = line.split('\t');
    return {
      file: cells[col('file')]!,
      fileFormat: cells[col('file_format')]!,
      linkType: cells[col('link_type')]!,
      packets: Number(cells[col('packets')]),
    };
  });
}

export interface CapturedPacket {
  bytes: Uint8Array;
  wireLen: number;
  tsUs: number;
  linkType: number;
  ifaceId: number;
}

export interface InterfaceInfo {
  ifaceId: number;
  linkType: number;
  name: string;
  snapLen: number;
}

/** Copies each packet out of the parser's reused buffer so tests can inspect them later. */
export class CollectingHandler implements PacketHandler {
  readonly packets: CapturedPacket[] = [];
  readonly interfaces: InterfaceInfo[] = [];
  readonly errors: { offset: number; message: string }[] = [];
  onPacket(data: Uint8Array, _dv: DataView, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number, ifaceId: number): void {
    // A real copy: the reader lends its batch Buffer, whose slice() would share it.
    this.packets.push({ bytes: Uint8Array.prototype.slice.call(data, start, start + capLen), wireLen, tsUs, linkType, ifaceId });
  }
  onInterface(ifaceId: number, linkType: number, name: string, snapLen: number): void {
    this.interfaces.push({ ifaceId, linkType, name, snapLen });
  }
  onSourceError(offset: number, message: string): void {
    this.errors.push({ offset, message });
  }
}

export async function loadCapture(file: string): Promise<CollectingHandler> {
  const handler = new CollectingHandler();
  await readCaptureFile(join(CORPUS_DIR, file), handler);
  return handler;
}

/** A DataView over exactly the bytes of `bytes`. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
