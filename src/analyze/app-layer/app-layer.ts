/**
 * Application understanding per flow: decides from the first client bytes whether a TCP flow
 * speaks TLS or HTTP/1 (or should, on a TLS port), feeds the parsers the reassembled streams,
 * and reads DNS responses on port 53 (UDP datagrams; on TCP, the server's length-prefixed
 * messages, dns-tcp.ts). What it learns goes to the flow record (FlowAppInfo) and
 * becomes events 00003, 00004, 00005 and 00103. Sessions exist only for flows being parsed and
 * are dropped as soon as the parser has nothing more to learn, so bulk traffic costs one
 * probe per flow. It runs whether events are on or not (the records need it; DLLT_APP_PARSING=N
 * switches it off), and raises its events through the event detector when there is one.
 */
import type { PacketView } from '../../decode/packet-view.js';
import type { FlowEngine } from '../../flow/flow-engine.js';
import { KEY_WORDS } from '../../flow/flow-table.js';
import { NO_OFFSET, ORIG, RESP } from '../../flow/flow-state.js';
import type { FlowAppInfo } from '../../record/records.js';
import { probeTls, TlsSession, TlsViolation, tlsAlertDescriptionName, tlsAlertLevelName, tlsVersionName, type TlsClientHelloInfo, type TlsListener, type TlsServerHelloInfo } from '../../app/tls/tls-session.js';
import { HttpHeadStatus, HttpRequestHead, probeHttpRequest, type HeaderSpec } from '../../app/http1/request-head.js';
import { dnsNamings, parseDnsMessage } from '../../app/dns/dns-message.js';
import { DnsQueries } from './dns-queries.js';
import { formatIp } from '../../wire/ip-format.js';
import type { DnsAnswerNames } from '../../record/server-names.js';
import { DNS_NO_ANSWER, EventCode } from '../events/catalog.js';
import { TcpStreams, type StreamReceiver } from './tcp-stream.js';
import { DnsTcpFramer } from './dns-tcp.js';

export interface AppLayerOptions {
  /** Raise 00003 for each TLS handshake. */
  tlsEvents: boolean;
  /** Ports where a client must speak TLS: other bytes there are 00005 `not_tls`. */
  tlsPorts: readonly number[];
  /** AVOID_LIVENESS_PROBE (and kube-probe): connections whose request carries one get no
   *  events and no follow. */
  avoidHeaders: readonly HeaderSpec[];
}

export interface AppLayerOutput {
  raise(id: number, code: EventCode, side: number, value: number, aux: number): void;
  appInfo(id: number, info: FlowAppInfo): void;
  /** The names a DNS response gave its client (for the flows' `serverName`). */
  dnsAnswer(answer: DnsAnswerNames): void;
  ignore(id: number): void;
  /** The client's request head of a TCP flow, once read; undefined when the flow turned out
   *  to have none (TLS, another protocol, a gap, or it ended first). At most once per flow. */
  requestHead(id: number, head: HttpRequestHead | undefined): void;
}

const PROTO_TCP = 6;
const PROTO_UDP = 17;
const ACK = 0x10;
const RST = 0x04;
const DNS_PORT = 53;
const DNS_HEADER_LEN = 12;
/** A query unanswered this long is a failure (the resolver's default timeout, resolv.conf(5));
 *  a flow cut short by the end of a capture file is not. */
const DNS_ANSWER_TIMEOUT_US = 5_000_000;
/** Queries kept undecoded at once: flows waiting for their answer, a handful normally. */
const DNS_QUERY_SLOTS = 2048;
/** Responses read per DNS-over-TCP connection: a resolver's connection carries one or a few;
 *  a zone transfer carries thousands that name nothing a flow record needs. */
const DNS_TCP_MAX_RESPONSES = 8;

const enum AppState {
  UNDECIDED = 0,
  PARSING = 1,
  DONE = 2,
  /** A UDP flow that carried a DNS message: dnsQueries may hold its question. */
  DNS = 3,
}

class Session implements StreamReceiver, TlsListener {
  readonly streams: TcpStreams;
  tls: TlsSession | undefined;
  http: HttpRequestHead | undefined;
  /** DNS over TCP: the server's messages, and how many were read. */
  dns: DnsTcpFramer | undefined;
  dnsResponses = 0;
  info: FlowAppInfo = {};
  /** Info changed since it was last sent to the record stage. */
  dirty = false;
  /** The HTTP request head was handed on (requestHead). */
  headSeen = false;
  private clientHelloSeen = false;

  constructor(
    private readonly layer: AppLayer,
    readonly id: number,
    readonly serial: number,
  ) {
    this.streams = new TcpStreams(this);
  }

  data(dir: 0 | 1, data: Uint8Array, start: number, end: number): void {
    if (this.dns !== undefined) {
      this.dns.feed(data, start, end);
      return;
    }
    if (this.tls !== undefined) {
      this.tls.feed(dir, data, start, end);
      if (this.tls.finished) this.layer.endSession(this);
      return;
    }
    const http = this.http!;
    const status = http.feed(data, start, end);
    if (status === HttpHeadStatus.NEED_MORE) return;
    if (status === HttpHeadStatus.DONE || status === HttpHeadStatus.TOO_LONG) this.layer.httpHead(this, http);
    this.layer.endSession(this);
  }

  gap(dir: 0 | 1): void {
    if (this.tls !== undefined) {
      this.tls.gap(dir);
      if (this.tls.finished) this.layer.endSession(this);
    } else {
      this.layer.endSession(this);
    }
  }

  clientHello(info: TlsClientHelloInfo): void {
    this.clientHelloSeen = true;
    const tls = (this.info.tls ??= {});
    if (info.sni !== undefined) tls.sni = info.sni;
    this.layer.publish(this);
  }

  serverHello(info: TlsServerHelloInfo): void {
    if (info.helloRetryRequest) return;
    const tls = (this.info.tls ??= {});
    tls.version = tlsVersionName(info.selectedVersion);
    // Only the server's choice is `alpn` (TLS 1.3 hides it in EncryptedExtensions: absent then).
    if (info.alpn !== undefined) tls.alpn = info.alpn;
    this.layer.publish(this);
    if (this.clientHelloSeen) this.layer.tlsHandshake(this, info.selectedVersion);
  }

  alert(dir: 0 | 1, level: number, description: number, encrypted: boolean): void {
    const tls = (this.info.tls ??= {});
    tls.alert = encrypted ? 'encrypted' : `${tlsAlertLevelName(level)} ${tlsAlertDescriptionName(description)}`;
    this.layer.publish(this);
    // An encrypted alert once data has flowed both ways is, on all but broken sessions, the
    // close_notify that ends it (the seed: "not a problem"): recorded in the flow, not raised.
    if (encrypted && this.tls?.applicationDataBothWays) return;
    this.layer.raise(this, EventCode.TLS_ALERT, dir, encrypted ? -1 : level * 256 + description);
  }

  violation(dir: 0 | 1, reason: TlsViolation): void {
    this.layer.raise(this, EventCode.TLS_EXCEPTION, dir, reason);
  }
}

/** What a flow record says of its request head. */
function httpInfoOf(head: HttpRequestHead): NonNullable<FlowAppInfo['http']> {
  const http: NonNullable<FlowAppInfo['http']> = {};
  if (head.method !== undefined) http.method = head.method;
  if (head.host !== undefined) http.host = head.host;
  if (head.path !== undefined) http.path = head.path;
  return http;
}

export class AppLayer {
  private readonly state: Uint8Array;
  private readonly sessions = new Map<number, Session>();
  /** UDP port-53 flows: the first question asked, for a failure or a missing answer. */
  private readonly dnsQueries: DnsQueries;
  private readonly tlsPort = new Uint8Array(65536);
  /** The packet being fed to a session's streams: a DNS answer's client is its destination. */
  private packet: PacketView | undefined;

  constructor(
    private readonly engine: FlowEngine,
    private readonly opts: AppLayerOptions,
    private readonly out: AppLayerOutput,
  ) {
    this.state = new Uint8Array(engine.table.capacity);
    this.dnsQueries = new DnsQueries(engine.table.capacity, DNS_QUERY_SLOTS);
    for (const p of opts.tlsPorts) this.tlsPort[p] = 1;
  }

  /** After engine.processPacket(v) (and the event detector). */
  onPacket(v: PacketView): void {
    const e = this.engine;
    const id = e.lastFlow;
    if (id < 0) return;
    if (e.lastFlowIsNew) this.state[id] = AppState.UNDECIDED;
    if (v.ipProto === PROTO_TCP) {
      if (!(v.tcpFlags & RST)) this.tcpSegment(id, e.lastSide, v);
    } else if (v.ipProto === PROTO_UDP) {
      // Kept this small so it is inlined into the packet loop: most UDP is not DNS.
      if (v.srcPort === DNS_PORT || v.dstPort === DNS_PORT) this.dnsPacket(id, e.lastSide, v);
    }
  }

  flowEnding(id: number): void {
    if (this.state[id] === AppState.PARSING) {
      const session = this.sessions.get(id);
      if (session !== undefined) this.endSession(session);
    }
    if (this.state[id] === AppState.DNS) {
      const s = this.engine.state;
      const waited = this.engine.clock - s.firstTs[id]!;
      const info = s.pkts[id * 2 + 1] === 0 && waited >= DNS_ANSWER_TIMEOUT_US ? this.dnsQueries.question(id) : undefined;
      if (info !== undefined) {
        this.out.appInfo(id, info);
        this.out.raise(id, EventCode.DNS_FAILURE, RESP, DNS_NO_ANSWER, 0);
      }
      this.dnsQueries.forget(id);
    }
  }

  /** Sends the flow's application info if it changed (before a record that should carry it). */
  flushInfo(id: number): void {
    if (this.state[id] !== AppState.PARSING) return;
    const session = this.sessions.get(id);
    if (session !== undefined) this.send(session);
  }

  private tcpSegment(id: number, side: number, v: PacketView): void {
    const st = this.state[id]!;
    if (st === AppState.DONE) return;
    if (st === AppState.UNDECIDED) {
      if (v.payloadLen <= 0) return;
      if (!this.decide(id, side, v)) return;
    }
    const session = this.sessions.get(id);
    if (session === undefined) return;
    const s = this.engine.state;
    const dir = side as 0 | 1;
    if (v.tcpFlags & ACK) session.streams.acked((dir ^ 1) as 0 | 1, v.ack);
    if (v.payloadLen > 0 && session.streams.active(dir)) {
      this.packet = v;
      const e = id * 2 + side;
      const handshakeTs = side === ORIG ? s.synTs[id] : s.synAckTs[id];
      const firstSeq = handshakeTs !== NO_OFFSET ? (s.startSeq[e]! + 1) | 0 : NaN;
      session.streams.segment(dir, v.seq, v.data, v.payloadOff, v.payloadCapLen, v.payloadLen, firstSeq);
    }
  }

  private dnsPacket(id: number, side: number, v: PacketView): void {
    const d = v.data;
    const off = v.payloadOff;
    const end = off + v.payloadCapLen;
    if (end - off < DNS_HEADER_LEN) return;
    const isResponse = (d[off + 2]! & 0x80) !== 0;
    this.state[id] = AppState.DNS;
    if (!isResponse) {
      if (side === ORIG) this.dnsQueries.query(id, d, off, end);
      return;
    }
    // An answer from the server: the query can no longer go unanswered.
    if (side === RESP) this.dnsQueries.answered(id);
    const failure = this.dnsResponse(id, side, d, off, end, v);
    if (failure !== undefined) this.dnsQueries.failed(id, failure);
  }

  /** A DNS response of flow `id` in d[off, end) (a UDP datagram or a TCP message, header length
   *  checked): a failure raises 00103 and names the flow's question (returned, for the UDP
   *  path's unanswered-query bookkeeping); names go to the records. `v` is the packet that
   *  brought it: its destination is the client. */
  private dnsResponse(id: number, side: number, d: Uint8Array, off: number, end: number, v: PacketView): FlowAppInfo | undefined {
    const rcode = d[off + 3]! & 0x0f;
    const answers = (d[off + 6]! << 8) | d[off + 7]!;
    const failed = rcode === 2 || rcode === 3 || rcode === 5;
    if (!failed && !(rcode === 0 && answers > 0)) return undefined;
    const msg = parseDnsMessage(d, off, end);
    if (msg === undefined) return undefined;
    if (failed) {
      const q = msg.questions[0];
      const info: FlowAppInfo = { dns: { query: q?.name ?? '', qtype: q?.type ?? '', rcode: msg.rcodeName } };
      this.out.appInfo(id, info);
      this.out.raise(id, EventCode.DNS_FAILURE, side, rcode, 0);
      return info;
    }
    const namings = dnsNamings(msg);
    if (namings.length > 0) this.out.dnsAnswer({ client: formatIp(v.ipVersion, v.dst), tsUs: v.tsUs, namings });
    return undefined;
  }

  /** First payload of a flow: start a parser, or decide there is nothing to parse. Returns
   *  whether the segment is still to be fed to the new session. */
  private decide(id: number, side: number, v: PacketView): boolean {
    this.state[id] = AppState.DONE;
    if (v.ipProto !== PROTO_TCP || side !== ORIG || v.payloadCapLen <= 0) return this.noHead(id);
    const s = this.engine.state;
    const fromStart = s.synTs[id] !== NO_OFFSET;
    if (fromStart && v.seq !== ((s.startSeq[id * 2]! + 1) | 0)) return this.noHead(id);
    const start = v.payloadOff;
    const end = start + v.payloadCapLen;
    if (fromStart && this.responderPort(id) === DNS_PORT) {
      const session = this.startSession(id);
      session.dns = new DnsTcpFramer((data, from, to) => this.dnsTcpResponse(session, data, from, to));
      // The answers are what a flow record needs; the questions come back in them.
      session.streams.stop(ORIG);
      this.out.requestHead(id, undefined);
      return false;
    }
    if (probeTls(v.data, start, end) === 1) {
      const session = this.startSession(id);
      session.tls = new TlsSession(session);
      this.out.requestHead(id, undefined);
      return true;
    }
    if (probeHttpRequest(v.data, start, end) === 1) {
      const head = new HttpRequestHead();
      if (v.payloadCapLen < v.payloadLen) {
        // Cut by the snaplen: the session's stream reports the gap.
        this.httpSession(id, head);
        return true;
      }
      // Most request heads come whole in their first segment: read it here, and start a
      // session (and its stream reassembly) only when the head goes on.
      const status = head.feed(v.data, start, end);
      if (status === HttpHeadStatus.NEED_MORE) {
        this.httpSession(id, head).streams.startAfter(0, (v.seq + v.payloadLen) | 0);
      } else if (status === HttpHeadStatus.NOT_HTTP) {
        this.out.requestHead(id, undefined);
      } else {
        const http = httpInfoOf(head);
        this.handOn(id, head);
        this.out.appInfo(id, { http });
      }
      return false;
    }
    if (fromStart && this.tlsPort[this.responderPort(id)]) this.out.raise(id, EventCode.TLS_EXCEPTION, ORIG, TlsViolation.NOT_TLS, 0);
    return this.noHead(id);
  }

  /** The flow has no request head to look for. */
  private noHead(id: number): false {
    this.out.requestHead(id, undefined);
    return false;
  }

  /** A session reading the client's request head; the server's bytes are not needed. */
  private httpSession(id: number, head: HttpRequestHead): Session {
    const session = this.startSession(id);
    session.http = head;
    session.streams.stop(1);
    return session;
  }

  private startSession(id: number): Session {
    const session = new Session(this, id, this.engine.state.serial[id]!);
    this.state[id] = AppState.PARSING;
    this.sessions.set(id, session);
    return session;
  }

  private responderPort(id: number): number {
    const ports = this.engine.table.keys[id * KEY_WORDS + 8]!;
    return this.engine.state.origEndpoint[id] === 0 ? ports & 0xffff : ports >>> 16;
  }

  private dnsTcpResponse(session: Session, data: Uint8Array, start: number, end: number): void {
    if (end - start < DNS_HEADER_LEN || !(data[start + 2]! & 0x80) || !this.isCurrent(session)) return;
    this.dnsResponse(session.id, RESP, data, start, end, this.packet!);
    if (++session.dnsResponses >= DNS_TCP_MAX_RESPONSES) this.endSession(session);
  }

  endSession(session: Session): void {
    if (this.sessions.get(session.id) !== session) return;
    if (session.http !== undefined && !session.headSeen && this.isCurrent(session)) this.out.requestHead(session.id, undefined);
    this.send(session);
    this.sessions.delete(session.id);
    this.state[session.id] = AppState.DONE;
  }

  /** Info changed; it is sent before the flow's next record or event, not on every change. */
  publish(session: Session): void {
    session.dirty = true;
  }

  private send(session: Session): void {
    if (!session.dirty || !this.isCurrent(session)) return;
    session.dirty = false;
    const info = session.info;
    this.out.appInfo(session.id, { ...info, ...(info.tls ? { tls: { ...info.tls } } : {}), ...(info.http ? { http: { ...info.http } } : {}) });
  }

  raise(session: Session, code: EventCode, side: number, value: number): void {
    if (!this.isCurrent(session)) return;
    this.send(session);
    this.out.raise(session.id, code, side, value, 0);
  }

  tlsHandshake(session: Session, version: number): void {
    if (this.opts.tlsEvents) this.raise(session, EventCode.TCP_IS_TLS, RESP, version);
  }

  httpHead(session: Session, head: HttpRequestHead): void {
    if (!this.isCurrent(session)) return;
    session.info.http = httpInfoOf(head);
    session.headSeen = true;
    this.publish(session);
    this.handOn(session.id, head);
  }

  /** A complete (or over-long) request head: the flow is ignored if it carries an avoided
   *  header, else the head goes to the follower. */
  private handOn(id: number, head: HttpRequestHead): void {
    for (const avoid of this.opts.avoidHeaders) {
      if (head.matches(avoid)) {
        this.out.ignore(id);
        return;
      }
    }
    this.out.requestHead(id, head);
  }

  private isCurrent(session: Session): boolean {
    return this.engine.state.serial[session.id] === session.serial;
  }
}
