/**
 * Test-only: dllt-bpfdrain's binary event record (drained-event.ts) built from the columns the
 * drain and bpftrace used to print as text, so tests keep feeding lines bpftrace really printed
 * on this machine through the record reader the worker uses. Lenient: a column that is not what
 * the program stores is written as the drain would write whatever the kernel held (a number
 * truncated to its field, an address of zeros), and the reader judges the record.
 */
import { parseIp } from '../../wire/ip-parse.js';
import { BYTES_COUNTED, EVENT_KINDS, LINE_COLUMNS, OWNER_FROM_LISTENER, OWNER_FROM_SOCKET } from './bpftrace-program.js';
import { DRAINED_EVENT_BYTES, DrainedEvent, RECORD_TAG } from './drained-event.js';
import { TCP_STATE_NAMES, type SocketEvent } from './socket-event.js';

const COLUMN = Object.fromEntries(LINE_COLUMNS.map((name, i) => [name, i])) as Record<(typeof LINE_COLUMNS)[number], number>;

/** The record of one tab-separated line of LINE_COLUMNS (the comm takes the rest of the line). */
export function drainedRecord(line: string): Uint8Array {
  const text = line.endsWith('\n') ? line.slice(0, -1) : line;
  const parts = text.split('\t');
  const columns = [...parts.slice(0, LINE_COLUMNS.length - 1), parts.slice(LINE_COLUMNS.length - 1).join('\t')];
  const at = (name: (typeof LINE_COLUMNS)[number]): string => columns[COLUMN[name]] ?? '';
  const bytes = new Uint8Array(DRAINED_EVENT_BYTES);
  const view = new DataView(bytes.buffer);
  bytes[0] = RECORD_TAG;
  const kind = (EVENT_KINDS as readonly string[]).indexOf(at('kind'));
  bytes[1] = kind < 0 ? 255 : kind;
  const family = Number(at('family'));
  bytes[2] = family;
  view.setUint16(4, Number(at('localPort')) & 0xffff, true);
  view.setUint16(6, Number(at('remotePort')) & 0xffff, true);
  view.setUint32(8, Number(at('pid')) >>> 0, true);
  view.setUint32(12, Number(at('tid')) >>> 0, true);
  view.setUint32(16, Number(at('netns')) >>> 0, true);
  const socket = BigInt('0x' + (at('socket') || '0'));
  view.setBigUint64(20, socket, true);
  view.setUint32(28, Number(at('c')) >>> 0, true);
  view.setBigUint64(32, BigInt(at('tsNs') || '0'), true);
  view.setBigUint64(40, BigInt(at('cgroupId') || '0'), true);
  view.setBigUint64(48, BigInt(at('a') || '0'), true);
  view.setBigUint64(56, BigInt(at('b') || '0'), true);
  const [local, remote] = family === 10 ? [at('localIp6'), at('remoteIp6')] : [at('localIp4'), at('remoteIp4')];
  writeAddress(view, 64, local, family);
  writeAddress(view, 80, remote, family);
  bytes.set(new TextEncoder().encode(at('comm')).subarray(0, 16), 96);
  return bytes;
}

function writeAddress(view: DataView, at: number, text: string, family: number): void {
  const ip = parseIp(text);
  if (ip === undefined || ip.version !== (family === 10 ? 6 : 4)) return;
  for (let i = 0; i < (ip.version === 4 ? 1 : 4); i++) view.setInt32(at + 4 * i, ip.words[i]!, false);
}

/** The event of one such line as the worker reads it, or undefined when the reader refuses it. */
export function drainedEventOf(line: string, wallOffsetUs: number): SocketEvent | undefined {
  const bytes = drainedRecord(line);
  const reader = new DrainedEvent();
  return reader.read(bytes, new DataView(bytes.buffer), 0, wallOffsetUs) ? reader.toSocketEvent() : undefined;
}

/** The DrainedEvent the worker reads for the record of `e` (its fields as the drain writes them). */
export function drainedOf(e: SocketEvent, wallOffsetUs = 0): DrainedEvent {
  const state = (name: string | undefined): number => (name === undefined ? 0 : (TCP_STATE_NAMES as readonly (string | undefined)[]).indexOf(name));
  const flags = (e.pidFrom === 'socket' ? OWNER_FROM_SOCKET : e.pidFrom === 'listener' ? OWNER_FROM_LISTENER : 0) | (e.kind === 'destroy' && e.sentBytes !== undefined ? BYTES_COUNTED : 0);
  const [a, b] =
    e.kind === 'state' ? [state(e.oldState), state(e.newState)] : e.kind === 'rtt' ? [e.srttUs ?? 0, e.sndCwnd ?? 0] : e.kind === 'io' || e.kind === 'destroy' ? [e.sentBytes ?? 0, e.receivedBytes ?? 0] : [state(e.state), 0];
  const v6 = e.family === 6;
  const wildcard = v6 ? '::' : '0.0.0.0';
  const line = [
    e.kind, e.tsNs, e.pid, e.tid, e.cgroupId ?? 0, e.netns ?? 0, e.socketId ?? '0', v6 ? 10 : 2,
    v6 ? '' : e.localIp, v6 ? '' : e.remoteIp ?? wildcard, v6 ? e.localIp : '', v6 ? e.remoteIp ?? wildcard : '',
    e.localPort ?? 0, e.remotePort ?? 0, a, b, flags, e.comm,
  ].join('\t');
  const bytes = drainedRecord(line);
  const reader = new DrainedEvent();
  if (!reader.read(bytes, new DataView(bytes.buffer), 0, wallOffsetUs)) throw new Error(`no record for ${JSON.stringify(e)}`);
  return reader;
}
