/**
 * The composition root of one run: source packets → decode → flow engine → event detectors and
 * application parsers → snapshots → record stage. It receives packets in place from any source (file, stdin, live), keeps decode
 * counters by status and malformed reason, and turns flow lifecycle calls into numeric flow
 * snapshots, handed to the record stage in batches (inline in tests, a worker thread in the CLI).
 */
import { PacketView } from '../decode/packet-view.js';
import { decodePacket } from '../decode/decode-packet.js';
import { DecodeStatus, MALFORMED_REASON_COUNT, MALFORMED_REASON_NAMES, MalformedReason } from '../decode/status.js';
import { END_REASON_NAMES, EndReasonCode, FlowEngine, type FlowLifecycleSink } from '../flow/flow-engine.js';
import { appendEventSnapshot, appendSnapshot, KIND_END, KIND_START, KIND_UPDATE, SnapshotBatch } from '../record/flow-snapshot.js';
import { EventDetector, type EventOutput } from '../analyze/events/detector.js';
import { AppLayer, type AppLayerOutput } from '../analyze/app-layer/app-layer.js';
import { EventCode, eventSpec } from '../analyze/events/catalog.js';
import type { LocalNet } from '../analyze/local-side.js';
import type { FlowAppInfo } from '../record/records.js';
import type { DnsAnswerNames } from '../record/server-names.js';
import type { RecordStage } from '../record/record-stage.js';
import { notifRecord } from '../record/notif.js';
import type { NotifLevel } from '../record/records.js';
import type { PacketHandler } from '../sources/packet-handler.js';
import type { Config } from './config.js';
import { Follower } from '../analyze/follow/follower.js';
import { headerSpecOf, type HeaderSpec, type HttpRequestHead } from '../app/http1/request-head.js';

const MIB = 1024 * 1024;
/** What DLLT_AVOID_KUBE_PROBES adds: the kubelet's probes say `User-Agent: kube-probe/<version>`. */
export const KUBE_PROBE_HEADER: HeaderSpec = { name: 'user-agent', value: 'kube-probe/' };

/** AVOID_LIVENESS_PROBE and, unless switched off, the kube-probe user agent. */
export function avoidHeaders(config: Config): HeaderSpec[] {
  const out: HeaderSpec[] = [];
  if (config.avoidLivenessProbe !== undefined) out.push(headerSpecOf(config.avoidLivenessProbe));
  if (config.avoidKubeProbes) out.push(KUBE_PROBE_HEADER);
  return out;
}

export interface DecodeCounters {
  packets: number;
  ok: number;
  notIp: number;
  unsupported: number;
  malformed: number;
  malformedByReason: Float64Array;
}

export class Pipeline implements PacketHandler, FlowLifecycleSink, EventOutput, AppLayerOutput {
  readonly engine: FlowEngine;
  /** Absent with DLLT_EVENTS=N. */
  readonly detector: EventDetector | undefined;
  /** TLS, HTTP and DNS parsing; absent with DLLT_APP_PARSING=N. */
  readonly app: AppLayer | undefined;
  /** Absent unless SEARCH_HTTP_HEADER or FOLLOW_PORT is set. */
  readonly follower: Follower | undefined;
  readonly decode: DecodeCounters = {
    packets: 0,
    ok: 0,
    notIp: 0,
    unsupported: 0,
    malformed: 0,
    malformedByReason: new Float64Array(MALFORMED_REASON_COUNT),
  };
  sourceErrors = 0;
  private readonly view = new PacketView();
  private batch: SnapshotBatch;
  private evictionsReported = 0;
  /** Event 00011 is raised (DLLT_EVENTS and DLLT_EVENTS_OFF allow it). */
  private readonly vifGoneEvent: boolean;

  constructor(
    config: Config,
    private readonly stage: RecordStage,
    /** The record's `if` when the source names no interface (file basename, live ifname). */
    private readonly defaultIfName: string,
    /** Addresses of the monitored side besides DLLT_LOCAL_NETS (live: the interface's). */
    extraLocalNets: readonly LocalNet[] = [],
    /** Where follow pcaps go; without it nothing is followed. */
    followDir?: string,
  ) {
    this.vifGoneEvent = config.events && !config.eventsOff.includes(EventCode.VIF_DISAPPEARED);
    const first = stage.nextBatch();
    this.batch = new SnapshotBatch(first.nums, first.history);
    const us = 1_000_000;
    this.engine = new FlowEngine(
      {
        maxFlows: config.maxFlows,
        timeouts: {
          tcpEstablishedUs: config.tcpIdleS * us,
          tcpClosingUs: config.tcpClosingS * us,
          tcpHalfOpenUs: config.partialTimeoutS * us,
          udpUs: config.udpIdleS * us,
          icmpUs: config.icmpIdleS * us,
          activeUs: config.activeTimeoutS * us,
        },
      },
      this,
    );
    this.detector = !config.events ? undefined : new EventDetector(
      this.engine,
      {
        maxFlows: config.maxFlows,
        partialTimeoutUs: Math.round(config.partialTimeoutS * us),
        staleMinUs: Math.round(config.staleMinS * us),
        staleGapFactor: config.staleGapFactor,
        staleMinDataPkts: config.staleMinDataPkts,
        staleStrongUs: Math.round(config.staleStrongS * us),
        resetStormCount: config.resetStormCount,
        resetStormWindowUs: Math.round(config.resetStormWindowS * us),
        zeroWindowStallUs: Math.round(config.zeroWindowStallS * us),
        retransRatePct: config.retransRatePct,
        retransMinPkts: config.retransMinPkts,
        eventsPerFlow: config.eventsPerFlow,
        eventsPerSecond: config.eventsPerSecond,
        disabled: config.eventsOff,
        localNets: [...config.localNets, ...extraLocalNets],
      },
      this,
    );
    this.app = !config.appParsing ? undefined : new AppLayer(
      this.engine,
      { tlsEvents: config.tlsEvents, tlsPorts: config.tlsPorts, avoidHeaders: avoidHeaders(config) },
      this,
    );
    const follows = config.searchHttpHeader !== undefined || config.followPorts.length > 0;
    this.follower = !follows || followDir === undefined ? undefined : new Follower(
      this.engine,
      {
        dir: followDir,
        searchHeader: config.searchHttpHeader === undefined ? undefined : headerSpecOf(config.searchHttpHeader),
        followPorts: config.followPorts,
        delayUs: Math.round(config.followDelayS * us),
        maxConcurrent: config.followMax,
        maxFileBytes: config.followMaxFileMb * MIB,
        maxTotalBytes: config.maxDiskMb * MIB,
      },
      (level, kind, message, extra) => this.notify(level, kind, message, extra),
    );
  }

  onPacket(data: Uint8Array, dv: DataView, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number, ifaceId: number): void {
    const d = this.decode;
    d.packets++;
    const status = decodePacket(this.view, data, dv, start, capLen, wireLen, tsUs, linkType, ifaceId);
    this.detector?.beforePacket(tsUs);
    if (status === DecodeStatus.OK) {
      d.ok++;
      this.track(data, start, capLen, wireLen, tsUs, linkType);
      return;
    }
    if (status === DecodeStatus.NOT_IP) d.notIp++;
    else if (status === DecodeStatus.UNSUPPORTED) d.unsupported++;
    else {
      d.malformed++;
      d.malformedByReason[this.view.reason]!++;
      const v = this.view;
      if (v.reason === MalformedReason.TCP_TRUNCATED) {
        // Cut inside the options: still a whole segment for tracking. Cut before: count it only.
        if (v.tcpHdrLen > 0) {
          this.track(data, start, capLen, wireLen, tsUs, linkType);
          return;
        }
        if (v.srcPort + v.dstPort > 0 && this.engine.accountTruncated(v)) return;
      }
    }
    // Packets we do not turn into flows still move packet time forward.
    this.engine.advanceClock(tsUs);
  }

  /** The decoded packet (this.view) through the flow engine, the event detector, the
   *  application parsers and the follower, in that order. */
  private track(data: Uint8Array, start: number, capLen: number, wireLen: number, tsUs: number, linkType: number): void {
    const v = this.view;
    this.engine.processPacket(v);
    this.detector?.onPacket(v);
    this.app?.onPacket(v);
    this.follower?.onPacket(data, start, capLen, wireLen, tsUs, linkType, v.srcPort, v.dstPort, v.ipProto);
  }

  onInterface(ifaceId: number, _linkType: number, name: string): void {
    this.stage.interfaceName(ifaceId, name);
  }

  onSourceError(offset: number, message: string): void {
    this.sourceErrors++;
    this.notify('warn', 'source_error', `${message} (at byte offset ${offset})`, { offset });
  }

  /** Live mode: wall time moves the clock when the interface is quiet. */
  advanceClock(nowUs: number): void {
    this.engine.advanceClock(nowUs);
    this.detector?.onClock();
    this.follower?.onClock(this.engine.clock);
    this.drain();
    this.reportEvictions();
  }

  /** Ends every open flow (SIGTERM: `shutdown`; end of file: `eof`). */
  finish(reason: EndReasonCode.SHUTDOWN | EndReasonCode.EOF): void {
    this.engine.flushAll(reason);
    this.drain();
    this.reportEvictions();
  }

  /**
   * Live mode: the monitored interface vanished at `tsUs`, after its capture delivered its last
   * packets. Every open flow ends (`interface_gone`) and event 00011 names them; returns how many.
   */
  interfaceGone(ifindex: number, tsUs: number): number {
    this.advanceClock(tsUs);
    const cut = this.engine.flushAll(EndReasonCode.INTERFACE_GONE);
    this.drain();
    this.stage.interfaceGone({ ifindex, tsUs, event: this.vifGoneEvent });
    this.reportEvictions();
    return cut;
  }

  flowStarted(id: number): void {
    this.snapshot(id, KIND_START, -1);
    this.engine.table.reported(id, this.engine.clock);
  }

  flowUpdated(id: number): void {
    this.app?.flushInfo(id);
    this.snapshot(id, KIND_UPDATE, -1);
  }

  flowEnded(id: number, reason: EndReasonCode): void {
    this.detector?.flowEnding(id);
    this.app?.flowEnding(id);
    this.follower?.flowEnding(id, END_REASON_NAMES[reason]!);
    this.snapshot(id, KIND_END, reason);
  }

  event(id: number, tsUs: number, code: EventCode, side: number, value: number, aux: number, nodeIp: number): void {
    appendEventSnapshot(this.batch, this.engine, id, tsUs, code, side, value, aux, nodeIp);
    if (this.batch.full) this.drain();
  }

  /** An application parser's event: it goes through the detector's switches and limits. */
  raise(id: number, code: EventCode, side: number, value: number, aux: number): void {
    this.detector?.raise(id, code, side, value, aux);
  }

  appInfo(id: number, info: FlowAppInfo): void {
    this.stage.appInfo(this.engine.state.serial[id]!, info);
  }

  dnsAnswer(answer: DnsAnswerNames): void {
    this.stage.dnsAnswer(answer);
  }

  requestHead(id: number, head: HttpRequestHead | undefined): void {
    this.follower?.httpHead(id, head);
  }

  ignore(id: number): void {
    this.detector?.ignore(id);
    this.follower?.ignore(id);
  }

  /** Events the per-flow cap or the per-code rate limit held back, one notification per report. */
  reportSuppressedEvents(): void {
    const suppressed = this.detector?.takeSuppressed();
    if (suppressed === undefined) return;
    const describe = (m: Map<number, number>): string =>
      [...m].map(([code, n]) => `${n} × ${eventSpec(code).codeText}`).join(', ');
    const parts: string[] = [];
    if (suppressed.perSecond.size > 0) parts.push(`over DLLT_EVENTS_PER_S: ${describe(suppressed.perSecond)}`);
    if (suppressed.perFlow.size > 0) parts.push(`over DLLT_EVENTS_PER_FLOW: ${describe(suppressed.perFlow)}`);
    const byCode = (m: Map<number, number>): Record<string, number> =>
      Object.fromEntries([...m].map(([code, n]) => [eventSpec(code).codeText, n]));
    this.notify('warn', 'events_suppressed', `events not written (storm protection): ${parts.join('; ')}`, {
      suppressedPerSecond: byCode(suppressed.perSecond),
      suppressedPerFlow: byCode(suppressed.perFlow),
    });
  }

  /** Hands the snapshots gathered so far to the record stage (at least once a second live). */
  drain(): void {
    this.reportSuppressedEvents();
    if (this.batch.count === 0) return;
    const full = this.batch;
    this.stage.flows(full.nums, full.history, full.count);
    const next = this.stage.nextBatch();
    this.batch = new SnapshotBatch(next.nums, next.history);
  }

  notify(level: NotifLevel, kind: string, message: string, extra?: Record<string, unknown>): void {
    this.stage.notif(notifRecord(this.defaultIfName, level, kind, message, extra));
  }

  /** Per-reason malformed counts with names, for the summary notification and tests. */
  malformedSummary(): Record<string, number> {
    const out: Record<string, number> = {};
    const by = this.decode.malformedByReason;
    for (let i = 1; i < by.length; i++) if (by[i]! > 0) out[MALFORMED_REASON_NAMES[i]!] = by[i]!;
    return out;
  }

  /** Evictions are reported as one notification per batch, never one per flow. */
  reportEvictions(): void {
    const c = this.engine.counters;
    if (c.evictions === this.evictionsReported) return;
    const fresh = c.evictions - this.evictionsReported;
    this.evictionsReported = c.evictions;
    this.notify('warn', 'eviction', `flow table full (DLLT_MAX_FLOWS): ${fresh} flows evicted since the last report, ${c.evictions} in all; raise DLLT_MAX_FLOWS if memory allows`, {
      evicted: fresh,
      evictedTotal: c.evictions,
      evictedEmbryonicOrOnePacket: c.evictionsFirstClass,
      activeFlows: this.engine.activeFlows,
    });
  }

  private snapshot(id: number, kind: number, reason: EndReasonCode | -1): void {
    appendSnapshot(this.batch, this.engine, id, this.engine.state.serial[id]!, kind, reason, this.engine.clock);
    if (this.batch.full) this.drain();
  }

}
