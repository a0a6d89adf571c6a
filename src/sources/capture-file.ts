/**
 * Reads a capture file (or stdin for `-`), gunzipping when the content starts with the gzip
 * magic whatever the name, and pushes it through the matching stream parser in large chunks.
 * Problems opening or recognising the input reject with a message naming the file and what to
 * do; damage inside the capture is reported through handler.onSourceError instead.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { PacketHandler } from './packet-handler.js';
import { FORMAT_MAGIC_LEN, createStreamParser, detectCaptureFormat } from './capture-format.js';

const READ_CHUNK_BYTES = 1024 * 1024;
const GZIP_MAGIC_0 = 0x1f;
const GZIP_MAGIC_1 = 0x8b;

/** Rejection for input that cannot be read as a capture; `code` is stable for callers and docs. */
export class CaptureFileError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'CaptureFileError';
    this.code = code;
  }
}

export interface CaptureFileResult {
  packets: number;
  bytes: number;
  /** 'pcap' or 'pcapng', with '+gzip' when the input was compressed. */
  format: string;
}

export interface ReadCaptureOptions {
  onProgress?: (bytesRead: number, totalBytes: number) => void;
  signal?: AbortSignal;
}

function describe(path: string): string {
  return path === '-' ? 'standard input' : `'${path}'`;
}

function openError(path: string, err: NodeJS.ErrnoException): CaptureFileError {
  const what = describe(path);
  if (err.code === 'ENOENT') {
    return new CaptureFileError('DLLT_ERR_CAPTURE_FILE_NOT_FOUND', `capture file ${what} does not exist: check the path`);
  }
  if (err.code === 'EACCES' || err.code === 'EPERM') {
    return new CaptureFileError(
      'DLLT_ERR_CAPTURE_FILE_UNREADABLE',
      `capture file ${what} is not readable by this user: fix its permissions or run as a user that can read it`,
    );
  }
  if (err.code === 'EISDIR') {
    return new CaptureFileError('DLLT_ERR_CAPTURE_FILE_UNREADABLE', `${what} is a directory: give the path of a capture file`);
  }
  return new CaptureFileError('DLLT_ERR_CAPTURE_FILE_UNREADABLE', `cannot read capture file ${what}: ${err.message}`);
}

function unknownFormat(path: string, bytes: Uint8Array): CaptureFileError {
  const shown = Array.from(bytes.subarray(0, FORMAT_MAGIC_LEN), (b) => b.toString(16).padStart(2, '0')).join(' ');
  return new CaptureFileError(
    'DLLT_ERR_CAPTURE_FORMAT_UNKNOWN',
    `${describe(path)} is not a pcap or pcapng capture (starts with ${shown || 'nothing'}): ` +
      'give a file written by tcpdump, tshark or dumpcap (optionally gzip-compressed)',
  );
}

/** Buffers just enough of the start of a stream to recognise it, without consuming the rest.
 *  It keeps copies: a file's chunks share one read buffer. */
class Prefix {
  private parts: Uint8Array[] = [];
  length = 0;
  add(chunk: Uint8Array): void {
    this.parts.push(chunk.slice());
    this.length += chunk.length;
  }
  bytes(): Uint8Array {
    if (this.parts.length === 1) return this.parts[0]!;
    const joined = new Uint8Array(this.length);
    let at = 0;
    for (const part of this.parts) {
      joined.set(part, at);
      at += part.length;
    }
    this.parts = [joined];
    return joined;
  }
}

async function* chunksOf(stream: Readable): AsyncGenerator<Uint8Array> {
  for await (const chunk of stream) yield chunk as Uint8Array;
}

/**
 * A file's bytes, read into two buffers the chunks take turns with: a fresh 1 MiB buffer per
 * chunk made the packet thread collect garbage for its external memory every few chunks, and
 * with one buffer the packet thread sat idle during every read (the reads alone take 0.1–0.2 s
 * for the 379 MB bench capture from the page cache, longer from disk); now the next chunk is read
 * on libuv's thread pool while this one is parsed. A chunk is valid until the next one is asked
 * for; the parsers copy what they keep (a record cut by the chunk's end), and so must any other
 * consumer.
 */
async function* fileChunksOf(file: FileHandle): AsyncGenerator<Uint8Array> {
  const buffers = [new Uint8Array(READ_CHUNK_BYTES), new Uint8Array(READ_CHUNK_BYTES)];
  let turn = 0;
  let reading: Promise<{ bytesRead: number }> | undefined = file.read(buffers[turn]!, 0, READ_CHUNK_BYTES, null);
  try {
    for (;;) {
      const { bytesRead } = await reading;
      reading = undefined;
      if (bytesRead === 0) return;
      const chunk = buffers[turn]!.subarray(0, bytesRead);
      turn ^= 1;
      reading = file.read(buffers[turn]!, 0, READ_CHUNK_BYTES, null);
      yield chunk;
    }
  } finally {
    // Stopped early (an abort, a failure downstream): the file is closed after this, not under a read.
    await reading?.catch(() => undefined);
  }
}

/** Raw input chunks, reporting progress and turning I/O failures into CaptureFileError. */
async function* rawChunksOf(
  path: string,
  chunks: AsyncIterable<unknown>,
  totalBytes: number,
  onProgress: ((bytesRead: number, totalBytes: number) => void) | undefined,
): AsyncGenerator<Uint8Array> {
  let bytesRead = 0;
  try {
    for await (const chunk of chunks) {
      bytesRead += (chunk as Uint8Array).length;
      onProgress?.(bytesRead, totalBytes);
      yield chunk as Uint8Array;
    }
  } catch (err) {
    throw openError(path, err as NodeJS.ErrnoException);
  }
}

export async function readCaptureFile(
  path: string,
  handler: PacketHandler,
  opts?: ReadCaptureOptions,
): Promise<CaptureFileResult> {
  if (path === '-') return await pump(path, rawChunksOf(path, process.stdin, 0, opts?.onProgress), handler, opts?.signal);
  let file: FileHandle;
  let totalBytes: number;
  try {
    file = await open(path, 'r');
    const info = await file.stat();
    if (info.isDirectory()) {
      await file.close();
      throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    }
    totalBytes = info.size;
  } catch (err) {
    throw openError(path, err as NodeJS.ErrnoException);
  }
  try {
    return await pump(path, rawChunksOf(path, fileChunksOf(file), totalBytes, opts?.onProgress), handler, opts?.signal);
  } finally {
    await file.close();
  }
}

async function pump(
  path: string,
  rawChunks: AsyncGenerator<Uint8Array>,
  handler: PacketHandler,
  signal: AbortSignal | undefined,
): Promise<CaptureFileResult> {
  const prefix = new Prefix();
  // Look at the first bytes to decide between plain and gzip input.
  while (prefix.length < 2) {
    const next = await rawChunks.next();
    if (next.done) break;
    prefix.add(next.value);
  }
  const head = prefix.bytes();
  const gzipped = head.length >= 2 && head[0] === GZIP_MAGIC_0 && head[1] === GZIP_MAGIC_1;

  let source: AsyncIterator<Uint8Array>;
  let gunzip: Gunzip | undefined;
  const firstBytes = new Prefix();
  if (gzipped) {
    gunzip = createGunzip({ chunkSize: READ_CHUNK_BYTES });
    pipeInto(rawChunks, head, gunzip);
    source = chunksOf(gunzip);
  } else {
    if (head.length > 0) firstBytes.add(head);
    source = rawChunks;
  }

  try {
    while (firstBytes.length < FORMAT_MAGIC_LEN) {
      const next = await source.next();
      if (next.done) break;
      firstBytes.add(next.value);
    }
  } catch (err) {
    if (err instanceof CaptureFileError) throw err;
    throw gzipError(path, err as Error);
  }
  const start = firstBytes.bytes();
  const parser = createStreamParser(start, handler);
  if (parser === null) {
    gunzip?.destroy();
    throw unknownFormat(path, start);
  }
  const format = detectCaptureFormat(start)! + (gzipped ? '+gzip' : '');

  let bytes = start.length;
  parser.feed(start);
  try {
    while (!signal?.aborted) {
      const next = await source.next();
      if (next.done) break;
      bytes += next.value.length;
      parser.feed(next.value);
    }
  } catch (err) {
    if (err instanceof CaptureFileError) throw err;
    // A damaged or cut gzip stream: keep what was decoded, like a truncated capture.
    handler.onSourceError(bytes, `gzip stream of ${describe(path)} is damaged or cut short (${(err as Error).message}): stopped`);
  }
  parser.end();
  gunzip?.destroy();
  return { packets: parser.packets, bytes, format };
}

/** Feeds the raw chunks (after the already-read head) into gunzip, honouring backpressure. */
function pipeInto(rawChunks: AsyncGenerator<Uint8Array>, head: Uint8Array, gunzip: Gunzip): void {
  const feeder = async (): Promise<void> => {
    gunzip.write(head);
    for (;;) {
      const next = await rawChunks.next();
      if (next.done) break;
      // A copy: gunzip may hold a chunk past the next read, which reuses the read buffer.
      if (!gunzip.write(next.value.slice())) await new Promise<void>((resolve) => gunzip.once('drain', resolve));
    }
    gunzip.end();
  };
  feeder().catch((err: Error) => gunzip.destroy(err));
}

function gzipError(path: string, err: Error): CaptureFileError {
  return new CaptureFileError(
    'DLLT_ERR_CAPTURE_FORMAT_UNKNOWN',
    `${describe(path)} starts like gzip but cannot be decompressed (${err.message}): check that the file is a complete .gz of a capture`,
  );
}
