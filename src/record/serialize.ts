/**
 * Record serializers: JSON Lines (the default) and an aligned key=value text rendering of the
 * same fields. Keys come out in the documented order (fields.ts) whatever order the producer
 * built the object in, so lines diff cleanly between runs. Absent means absent: undefined and
 * null properties and empty nested objects are left out.
 */

import { piece, type LineBytes, type Piece } from './line-bytes.js';
import { EVENT_FIELDS, FLOW_FIELDS, NESTED_FIELDS, NOTIF_FIELDS, PROCESS_FLOW_FIELDS, SOCKET_EVENT_FIELDS } from './fields.js';

type Fields = Record<string, unknown>;

const ORDER_BY_TYPE: Readonly<Record<string, readonly string[]>> = {
  flow_start: FLOW_FIELDS,
  flow_update: FLOW_FIELDS,
  flow_end: FLOW_FIELDS,
  notif: NOTIF_FIELDS,
  event: EVENT_FIELDS,
  process_flow: PROCESS_FLOW_FIELDS,
  socket_event: SOCKET_EVENT_FIELDS,
};

const LEADING_ORDER = ['type', 'ts', 'tsUs', 'if'];

/** The widest record type (`process_flow`, `socket_event`), so columns line up. */
const TYPE_COLUMN = 12;
/** Room for `dllt<ifindex>` names and short file names; longer ones push the line right. */
const IF_COLUMN = 8;

export function toJsonLine(rec: object): string {
  return JSON.stringify(ordered(rec as Fields)) + '\n';
}

/**
 * `ts type if key=value...`: three fixed columns, then every other field (nested ones as
 * `tls.sni=`) in the documented order. `tsUs` is left out because `ts` carries the same
 * microseconds. Empty values and values with spaces, quotes, backslashes or control characters are
 * JSON-quoted; `=` needs no quoting because a reader splits at the first one.
 */
export function toTextLine(rec: object): string {
  const fields = ordered(rec as Fields);
  const head = `${textValue(fields['ts'] ?? '-')} ${String(fields['type'] ?? '-').padEnd(TYPE_COLUMN)} ${textValue(fields['if'] ?? '-').padEnd(IF_COLUMN)}`;
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (key === 'ts' || key === 'type' || key === 'if' || key === 'tsUs') continue;
    if (isPlainObject(value)) {
      for (const [child, childValue] of Object.entries(value)) pairs.push(`${key}.${child}=${textValue(childValue)}`);
    } else {
      pairs.push(`${key}=${textValue(value)}`);
    }
  }
  return pairs.length === 0 ? `${head.trimEnd()}\n` : `${head} ${pairs.join(' ')}\n`;
}

function ordered(rec: Fields, order: readonly string[] = ORDER_BY_TYPE[String(rec['type'])] ?? LEADING_ORDER): Fields {
  const out: Fields = {};
  for (const key of order) put(out, key, rec[key]);
  for (const key of Object.keys(rec)) if (!(key in out)) put(out, key, rec[key]);
  return out;
}

function put(out: Fields, key: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (isPlainObject(value)) {
    const nested = ordered(value, NESTED_FIELDS[key] ?? []);
    if (Object.keys(nested).length > 0) out[key] = nested;
    return;
  }
  out[key] = value;
}

function isPlainObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function textValue(value: unknown): string {
  const text = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  return /^[^\s"'\\\x00-\x1f\x7f]+$/.test(text) ? text : JSON.stringify(text);
}

const US_PER_S = 1_000_000;
const S_PER_DAY = 86_400;

/** Date prefixes of recently formatted seconds, direct-mapped: one record formats up to three
 *  different seconds (now, first and last packet), which a single entry would thrash. */
const PREFIX_SLOTS = 16;
const cachedSeconds = new Float64Array(PREFIX_SLOTS).fill(NaN);
const cachedPrefixes: string[] = new Array<string>(PREFIX_SLOTS).fill('');
const cachedPrefixPieces: Piece[] = new Array<Piece>(PREFIX_SLOTS).fill(piece(''));

/** The cache slot of `seconds`, filled with its `YYYY-MM-DDTHH:MM:SS.`: records come in bursts
 *  within one second, so the date part is made once per second. */
function prefixSlot(seconds: number): number {
  // Bitwise, not %: a remainder of a double above 2^31 is a call to fmod.
  const slot = seconds & (PREFIX_SLOTS - 1);
  if (cachedSeconds[slot] !== seconds) {
    cachedSeconds[slot] = seconds;
    const prefix = formatSecondPrefix(seconds);
    cachedPrefixes[slot] = prefix;
    cachedPrefixPieces[slot] = piece(prefix);
  }
  return slot;
}

/**
 * µs since the epoch → `2026-11-22T16:48:12.123456Z`. Integer arithmetic throughout: a Date
 * holds milliseconds, and dividing a µs count by 1e6 in floating point can round.
 */
export function formatTs(tsUs: number): string {
  const whole = Math.floor(tsUs);
  const micros = ((whole % US_PER_S) + US_PER_S) % US_PER_S;
  return cachedPrefixes[prefixSlot((whole - micros) / US_PER_S)]! + String(US_PER_S + micros).slice(1) + 'Z';
}

/** formatTs(tsUs) written as bytes, without the string. */
export function writeTs(out: LineBytes, tsUs: number): void {
  if (!(tsUs >= 0 && tsUs <= Number.MAX_SAFE_INTEGER)) return out.text(formatTs(tsUs));
  const whole = Math.floor(tsUs);
  let seconds = Math.floor(whole / US_PER_S);
  let micros = whole - seconds * US_PER_S;
  // The quotient can round up to the next integer just below a whole second.
  if (micros < 0) {
    seconds--;
    micros += US_PER_S;
  }
  out.piece(cachedPrefixPieces[prefixSlot(seconds)]!);
  out.digits(micros, 6);
  out.ascii(0x5a);
}

/** `YYYY-MM-DDTHH:MM:SS.` for whole seconds since the epoch. */
export function formatSecondPrefix(seconds: number): string {
  const secOfDay = ((seconds % S_PER_DAY) + S_PER_DAY) % S_PER_DAY;
  const days = (seconds - secOfDay) / S_PER_DAY;
  const [y, m, d] = civilFromDays(days);
  const hh = Math.floor(secOfDay / 3600);
  const mm = Math.floor((secOfDay % 3600) / 60);
  const ss = secOfDay % 60;
  return `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}T${pad(hh, 2)}:${pad(mm, 2)}:${pad(ss, 2)}.`;
}

/** Howard Hinnant's days → (year, month, day) in the proleptic Gregorian calendar. */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

/** `YYYY_MM_DD_HH_MM_SS` in local time, as the seed names its files. */
export function fileTimestamp(date: Date): string {
  return [
    pad(date.getFullYear(), 4),
    pad(date.getMonth() + 1, 2),
    pad(date.getDate(), 2),
    pad(date.getHours(), 2),
    pad(date.getMinutes(), 2),
    pad(date.getSeconds(), 2),
  ].join('_');
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}
