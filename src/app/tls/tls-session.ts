/**
 * TLS record-layer and handshake tracker for one TCP connection, fed the two reassembled byte
 * streams as they arrive. It reports the hellos (version, SNI, ALPN), every alert, and the
 * first sign that the peers are not speaking TLS properly.
 *
 * Hand-written rather than taken from a library: it runs on the per-packet hot path and must
 * resume mid-record, mid-header and mid-message at any segment boundary, while no maintained
 * JavaScript package parses TLS records incrementally from raw stream bytes (they expect whole
 * messages, or a socket they terminate). Once the hellos are through it reads only 5-byte
 * record headers and skips bodies in place: no copies, no allocation per call. Only
 * ClientHello and ServerHello bodies are buffered (at most MAX_HELLO_LEN each); Certificate
 * and the other messages are skipped by length.
 *
 * Malformed input is reported through the listener, never thrown (DESIGN 3): one violation
 * per session, after which the session ignores everything.
 */
import { parseClientHello, parseServerHello, type TlsClientHelloInfo, type TlsServerHelloInfo } from './tls-hello.js';
import { tlsHandshakeTypeName } from './tls-names.js';

export { tlsVersionName, tlsAlertLevelName, tlsAlertDescriptionName } from './tls-names.js';

export const enum TlsViolation {
  /** First bytes of a stream expected to be TLS are not a TLS record. */
  NOT_TLS = 1,
  /** Content type not in 20..24 (change_cipher_spec, alert, handshake, application_data, heartbeat). */
  BAD_RECORD_TYPE = 2,
  /** Record version major byte != 3, or minor > 4. */
  BAD_RECORD_VERSION = 3,
  /** 0, or > 16384 + 2048 (encrypted), or > 16384 for plaintext handshake/alert/change_cipher_spec, or an odd plaintext alert. */
  BAD_RECORD_LENGTH = 4,
  /** A message or record the handshake does not allow at this point (first message not a hello, data before keys...). */
  HANDSHAKE_OUT_OF_ORDER = 5,
  /** A ClientHello/ServerHello whose internal lengths do not add up, or an unregistered handshake type. */
  BAD_HANDSHAKE_MESSAGE = 6,
}

export const TLS_VIOLATION_NAMES: readonly string[] = Object.freeze([
  '',
  'not_tls',
  'bad_record_type',
  'bad_record_version',
  'bad_record_length',
  'handshake_out_of_order',
  'bad_handshake_message',
]);

export type { TlsClientHelloInfo, TlsServerHelloInfo };

export interface TlsListener {
  clientHello(info: TlsClientHelloInfo): void;
  serverHello(info: TlsServerHelloInfo): void;
  /** level/description are -1 when the alert is encrypted. */
  alert(dir: 0 | 1, level: number, description: number, encrypted: boolean): void;
  /** At most ONE violation per session in total: after it the session stops parsing both directions. */
  violation(dir: 0 | 1, reason: TlsViolation, detail: string): void;
}

const CONTENT_CHANGE_CIPHER_SPEC = 20;
const CONTENT_ALERT = 21;
const CONTENT_HANDSHAKE = 22;
const CONTENT_APPLICATION_DATA = 23;
const CONTENT_HEARTBEAT = 24;
const CONTENT_NAMES = ['change_cipher_spec', 'alert', 'handshake', 'application_data', 'heartbeat'];

const RECORD_HEADER_LEN = 5;
const HANDSHAKE_HEADER_LEN = 4;
/** RFC 5246 6.2.1 / RFC 8446 5.1: a plaintext fragment is at most 2^14 bytes. */
const MAX_PLAINTEXT_LEN = 16384;
/** RFC 5246 6.2.3: ciphertext may add up to 2048 bytes of MAC, padding and IV. */
const MAX_CIPHERTEXT_LEN = 16384 + 2048;
/** Hellos are the only messages buffered; real ones are a few KiB even with post-quantum key shares. */
const MAX_HELLO_LEN = 64 * 1024;

const HANDSHAKE_CLIENT_HELLO = 1;
const HANDSHAKE_SERVER_HELLO = 2;
const VERSION_TLS13 = 0x0304;
/** Pre-RFC TLS 1.3 drafts (0x7f12 = draft 18...) behave like TLS 1.3 on the wire. */
const VERSION_TLS13_DRAFT_MAJOR = 0x7f;

function isTls13(version: number): boolean {
  return version === VERSION_TLS13 || version >> 8 === VERSION_TLS13_DRAFT_MAJOR;
}

/** What the bytes of the current record are for. */
const enum RecordBody {
  SKIP = 0,
  HANDSHAKE = 1,
  ALERT = 2,
}

/** How far the server's hello has got; the client's encryption depends on it. */
const enum ServerHelloSeen {
  NONE = 0,
  RETRY_REQUEST = 1,
  FINAL = 2,
}

/** One direction's position in its stream. Fields are all set here so both instances share one shape. */
class DirectionState {
  stopped = false;
  sawRecord = false;
  /** Bytes of the current record header read so far (0 between records); the fields below fill as they come. */
  headerFill = 0;
  recordType = 0;
  recordVersion = 0;
  recordLength = 0;
  recordRemaining = 0;
  body: RecordBody = RecordBody.SKIP;
  /** Records are opaque from here on: after this direction's change_cipher_spec, or its TLS 1.3 ServerHello. */
  encrypted = false;
  /** The next handshake message must be this side's hello: at the start, and again after a HelloRetryRequest. */
  expectHello = true;
  sentHello = false;
  /** Handshake message header bytes read (0..4; 4 means inside the body). Messages may span records. */
  messageHeaderFill = 0;
  messageType = 0;
  messageLength = 0;
  messageRemaining = 0;
  /** The hello being collected; null while skipping any other message. */
  hello: Uint8Array | null = null;
  helloFill = 0;
  /** An alert's level byte whose description byte is still to come. */
  pendingAlertLevel = -1;
  /** An encrypted application_data record was sent: this side's handshake is over. */
  sentApplicationData = false;
}

export class TlsSession {
  private readonly listener: TlsListener;
  private readonly client = new DirectionState();
  private readonly server = new DirectionState();
  private violated = false;
  private serverHello: ServerHelloSeen = ServerHelloSeen.NONE;
  private tls13 = false;
  /** Offering TLS 1.3 licenses the client's middlebox-compatibility change_cipher_spec and 0-RTT data before the ServerHello. */
  private clientOffersTls13 = false;

  constructor(listener: TlsListener) {
    this.listener = listener;
  }

  /** Both sides have sent encrypted application data: the session is up, so an encrypted alert
   *  from here on is most likely the close_notify that ends it. */
  get applicationDataBothWays(): boolean {
    return this.client.sentApplicationData && this.server.sentApplicationData;
  }

  /** True once neither direction will be parsed any more (violation, gaps, or limits). */
  get finished(): boolean {
    return this.violated || (this.client.stopped && this.server.stopped);
  }

  /** Bytes of direction `dir`, in stream order, from data[start..end). Nothing is retained after return. */
  feed(dir: 0 | 1, data: Uint8Array, start: number, end: number): void {
    const side: 0 | 1 = dir === 0 ? 0 : 1;
    const d = side === 0 ? this.client : this.server;
    if (this.violated || d.stopped) return;
    let pos = start | 0;
    if (pos < 0) pos = 0;
    let stop = end | 0;
    if (stop > data.length) stop = data.length;
    while (pos < stop) {
      if (d.recordRemaining === 0) {
        if (d.headerFill === 0 && stop - pos >= RECORD_HEADER_LEN) {
          d.recordType = data[pos]!;
          d.recordVersion = (data[pos + 1]! << 8) | data[pos + 2]!;
          d.recordLength = (data[pos + 3]! << 8) | data[pos + 4]!;
          pos += RECORD_HEADER_LEN;
        } else {
          const b = data[pos++]!;
          if (d.headerFill === 0) {
            d.recordType = b;
            d.recordVersion = 0;
            d.recordLength = 0;
          } else if (d.headerFill < 3) {
            d.recordVersion = (d.recordVersion << 8) | b;
          } else {
            d.recordLength = (d.recordLength << 8) | b;
          }
          if (++d.headerFill < RECORD_HEADER_LEN) continue;
          d.headerFill = 0;
        }
        if (!this.startRecord(side, d)) return;
        continue;
      }
      const take = d.recordRemaining < stop - pos ? d.recordRemaining : stop - pos;
      if (d.body === RecordBody.HANDSHAKE) this.handshakeBytes(side, d, data, pos, pos + take);
      else if (d.body === RecordBody.ALERT) this.alertBytes(side, d, data, pos, pos + take);
      pos += take;
      d.recordRemaining -= take;
      if (this.violated || d.stopped) return;
    }
  }

  /** Bytes of this direction were lost: its record boundaries are unknown from here on. */
  gap(dir: 0 | 1): void {
    this.stopDirection(dir === 0 ? this.client : this.server);
  }

  private stopDirection(d: DirectionState): void {
    d.stopped = true;
    d.hello = null;
  }

  private fail(side: 0 | 1, reason: TlsViolation, detail: string): false {
    this.violated = true;
    this.client.hello = null;
    this.server.hello = null;
    this.listener.violation(side, reason, detail);
    return false;
  }

  /** Checks a complete record header and decides what its body is for; false when parsing stops. */
  private startRecord(side: 0 | 1, d: DirectionState): boolean {
    const type = d.recordType;
    const version = d.recordVersion;
    const length = d.recordLength;
    const first = !d.sawRecord;
    d.sawRecord = true;
    if (type < CONTENT_CHANGE_CIPHER_SPEC || type > CONTENT_HEARTBEAT || version >> 8 !== 3 || (version & 0xff) > 4) {
      if (first) return this.fail(side, TlsViolation.NOT_TLS, `stream starts with ${headerHex(type, version, length)}, not a TLS record header`);
      if (type < CONTENT_CHANGE_CIPHER_SPEC || type > CONTENT_HEARTBEAT) {
        return this.fail(side, TlsViolation.BAD_RECORD_TYPE, `record content type ${type}`);
      }
      return this.fail(side, TlsViolation.BAD_RECORD_VERSION, `record version 0x${version.toString(16).padStart(4, '0')}`);
    }
    const typeName = CONTENT_NAMES[type - CONTENT_CHANGE_CIPHER_SPEC]!;
    // TLS 1.3 encrypts everything as application_data (RFC 8446 5.2): an alert record there is plaintext.
    const plaintextAlert = type === CONTENT_ALERT && (!d.encrypted || this.tls13);
    const plaintextControl = !d.encrypted && (type === CONTENT_HANDSHAKE || type === CONTENT_CHANGE_CIPHER_SPEC);
    const maxLength = plaintextAlert || plaintextControl ? MAX_PLAINTEXT_LEN : MAX_CIPHERTEXT_LEN;
    if (length === 0 || length > maxLength) {
      return this.fail(side, TlsViolation.BAD_RECORD_LENGTH, `${typeName} record length ${length} (allowed 1..${maxLength})`);
    }
    if (plaintextAlert && (length & 1) !== 0) {
      return this.fail(side, TlsViolation.BAD_RECORD_LENGTH, `plaintext alert record length ${length} is odd`);
    }
    d.recordRemaining = length;
    d.body = RecordBody.SKIP;
    switch (type) {
      case CONTENT_HANDSHAKE:
        if (!d.encrypted) d.body = RecordBody.HANDSHAKE;
        return true;
      case CONTENT_ALERT:
        if (plaintextAlert) d.body = RecordBody.ALERT;
        else this.listener.alert(side, -1, -1, true);
        return true;
      case CONTENT_CHANGE_CIPHER_SPEC:
        return this.changeCipherSpec(side, d, length);
      case CONTENT_APPLICATION_DATA:
        return this.applicationData(side, d);
      default:
        // Heartbeats carry no handshake state; RFC 6520 only discourages them mid-handshake.
        return true;
    }
  }

  private changeCipherSpec(side: 0 | 1, d: DirectionState, length: number): boolean {
    // Already encrypted: TLS 1.3's compatibility record, or a renegotiation under the current keys.
    if (d.encrypted) return true;
    if (d.messageHeaderFill !== 0) {
      return this.fail(side, TlsViolation.HANDSHAKE_OUT_OF_ORDER, 'change_cipher_spec inside a fragmented handshake message');
    }
    if (length !== 1) {
      return this.fail(side, TlsViolation.BAD_RECORD_LENGTH, `change_cipher_spec record length ${length}, expected 1`);
    }
    if (!d.sentHello) {
      return this.fail(side, TlsViolation.HANDSHAKE_OUT_OF_ORDER, `change_cipher_spec before the ${side === 0 ? 'client_hello' : 'server_hello'}`);
    }
    if (this.serverHello === ServerHelloSeen.FINAL) {
      d.encrypted = true;
      return true;
    }
    // Before a final ServerHello only TLS 1.3's middlebox-compatibility record (RFC 8446 D.4) is legitimate.
    if (this.clientOffersTls13 || this.serverHello === ServerHelloSeen.RETRY_REQUEST) return true;
    if (side === 0 && this.server.stopped) {
      // The server's half was lost, so its hello may well have been sent: believe the client.
      d.encrypted = true;
      return true;
    }
    return this.fail(side, TlsViolation.HANDSHAKE_OUT_OF_ORDER, 'change_cipher_spec before the server_hello');
  }

  private applicationData(side: 0 | 1, d: DirectionState): boolean {
    if (d.encrypted) {
      d.sentApplicationData = true;
      return true;
    }
    if (d.messageHeaderFill !== 0) {
      return this.fail(side, TlsViolation.HANDSHAKE_OUT_OF_ORDER, 'application_data inside a fragmented handshake message');
    }
    if (side === 0 && d.sentHello && this.serverHello !== ServerHelloSeen.FINAL && (this.clientOffersTls13 || this.server.stopped)) {
      // TLS 1.3 0-RTT early data, or a client whose server half we lost.
      return true;
    }
    const who = side === 0 ? 'client' : 'server';
    const missing = d.sentHello ? `${who}'s change_cipher_spec` : `${who}'s hello`;
    return this.fail(side, TlsViolation.HANDSHAKE_OUT_OF_ORDER, `application_data before the ${missing}`);
  }

  private alertBytes(side: 0 | 1, d: DirectionState, data: Uint8Array, pos: number, end: number): void {
    for (let i = pos; i < end; i++) {
      if (d.pendingAlertLevel < 0) {
        d.pendingAlertLevel = data[i]!;
      } else {
        const level = d.pendingAlertLevel;
        d.pendingAlertLevel = -1;
        this.listener.alert(side, level, data[i]!, false);
      }
    }
  }

  /** Splits a plaintext handshake record's bytes into messages; collects hellos, skips the rest by length. */
  private handshakeBytes(side: 0 | 1, d: DirectionState, data: Uint8Array, pos: number, end: number): void {
    while (pos < end) {
      if (d.messageHeaderFill < HANDSHAKE_HEADER_LEN) {
        const b = data[pos++]!;
        if (d.messageHeaderFill === 0) {
          d.messageType = b;
          d.messageLength = 0;
        } else {
          d.messageLength = (d.messageLength << 8) | b;
        }
        if (++d.messageHeaderFill < HANDSHAKE_HEADER_LEN) continue;
        if (!this.startMessage(side, d)) return;
      } else {
        const take = d.messageRemaining < end - pos ? d.messageRemaining : end - pos;
        const hello = d.hello;
        if (hello !== null) {
          let fill = d.helloFill;
          for (let i = pos; i < pos + take; i++) hello[fill++] = data[i]!;
          d.helloFill = fill;
        }
        pos += take;
        d.messageRemaining -= take;
      }
      if (d.messageRemaining === 0) {
        if (!this.endMessage(side, d)) return;
        // A TLS 1.3 ServerHello switches keys: whatever follows in this record is not plaintext.
        if (d.body !== RecordBody.HANDSHAKE) return;
      }
    }
  }

  /** A handshake message header is complete: check its type against the handshake so far. */
  private startMessage(side: 0 | 1, d: DirectionState): boolean {
    const type = d.messageType;
    d.messageRemaining = d.messageLength;
    const name = tlsHandshakeTypeName(type);
    if (name === undefined) return this.fail(side, TlsViolation.BAD_HANDSHAKE_MESSAGE, `unknown handshake message type ${type}`);
    const ownHello = side === 0 ? HANDSHAKE_CLIENT_HELLO : HANDSHAKE_SERVER_HELLO;
    const ownHelloName = side === 0 ? 'client_hello' : 'server_hello';
    const who = side === 0 ? 'client' : 'server';
    if (d.expectHello) {
      if (type !== ownHello) {
        return this.fail(side, TlsViolation.HANDSHAKE_OUT_OF_ORDER, `${name} from the ${who} where its ${ownHelloName} was expected`);
      }
    } else if (type === HANDSHAKE_CLIENT_HELLO || type === HANDSHAKE_SERVER_HELLO) {
      // A repeated hello is only believable if the peer's half (which could hold a HelloRetryRequest) was lost.
      const peer = side === 0 ? this.server : this.client;
      if (type !== ownHello || !peer.stopped) {
        return this.fail(side, TlsViolation.HANDSHAKE_OUT_OF_ORDER, `unexpected ${name} from the ${who}`);
      }
    }
    if (type === ownHello) {
      if (d.messageLength > MAX_HELLO_LEN) {
        this.stopDirection(d);
        return false;
      }
      d.hello = new Uint8Array(d.messageLength);
      d.helloFill = 0;
    }
    return true;
  }

  /** A handshake message is complete; hellos are parsed and reported here. */
  private endMessage(side: 0 | 1, d: DirectionState): boolean {
    d.messageHeaderFill = 0;
    const body = d.hello;
    if (body === null) return true;
    d.hello = null;
    return side === 0 ? this.clientHelloDone(d, body) : this.serverHelloDone(d, body);
  }

  private clientHelloDone(d: DirectionState, body: Uint8Array): boolean {
    const info = parseClientHello(body);
    if (typeof info === 'string') return this.fail(0, TlsViolation.BAD_HANDSHAKE_MESSAGE, info);
    d.expectHello = false;
    d.sentHello = true;
    this.clientOffersTls13 = info.supportedVersions.some(isTls13);
    this.listener.clientHello(info);
    return true;
  }

  private serverHelloDone(d: DirectionState, body: Uint8Array): boolean {
    const info = parseServerHello(body);
    if (typeof info === 'string') return this.fail(1, TlsViolation.BAD_HANDSHAKE_MESSAGE, info);
    if (info.helloRetryRequest) {
      if (this.serverHello === ServerHelloSeen.RETRY_REQUEST) {
        return this.fail(1, TlsViolation.HANDSHAKE_OUT_OF_ORDER, 'second hello_retry_request (RFC 8446 4.1.4)');
      }
      this.serverHello = ServerHelloSeen.RETRY_REQUEST;
      this.client.expectHello = true;
    } else {
      this.serverHello = ServerHelloSeen.FINAL;
      d.expectHello = false;
    }
    d.sentHello = true;
    this.listener.serverHello(info);
    if (!info.helloRetryRequest && isTls13(info.selectedVersion)) {
      // RFC 8446 2: everything after the ServerHello is under handshake keys, in both directions.
      this.tls13 = true;
      startEncryption(this.server);
      startEncryption(this.client);
    }
    return true;
  }
}

function startEncryption(d: DirectionState): void {
  d.encrypted = true;
  d.messageHeaderFill = 0;
  d.hello = null;
  if (d.body === RecordBody.HANDSHAKE) d.body = RecordBody.SKIP;
}

function headerHex(type: number, version: number, length: number): string {
  const bytes = [type, version >> 8, version & 0xff, length >> 8, length & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Does this look like the start of a TLS client stream? 1 yes (a handshake record, version
 * 3.0..3.4, plausible length, and a ClientHello when the 6th byte is there), 0 no, -1 need
 * more bytes. Answers 0 as soon as any byte present rules TLS out.
 */
export function probeTls(data: Uint8Array, start: number, end: number): 1 | 0 | -1 {
  let from = start | 0;
  if (from < 0) from = 0;
  let to = end | 0;
  if (to > data.length) to = data.length;
  const n = to - from;
  if (n < 1) return -1;
  if (data[from] !== CONTENT_HANDSHAKE) return 0;
  if (n < 2) return -1;
  if (data[from + 1] !== 3) return 0;
  if (n < 3) return -1;
  if (data[from + 2]! > 4) return 0;
  if (n < 5) return -1;
  const length = (data[from + 3]! << 8) | data[from + 4]!;
  if (length === 0 || length > MAX_PLAINTEXT_LEN) return 0;
  if (n < 6) return -1;
  return data[from + 5] === HANDSHAKE_CLIENT_HELLO ? 1 : 0;
}
