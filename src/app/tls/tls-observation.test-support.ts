/**
 * Test-only: a listener that records every call, and the per-connection summary (hellos,
 * plaintext alerts, encrypted alert counts) that both our parser's calls and tshark's
 * dissection are reduced to before they are compared.
 */
import type { TlsClientHelloInfo, TlsListener, TlsServerHelloInfo, TlsViolation } from './tls-session.js';
import { TlsSession } from './tls-session.js';
import type { StreamChunk } from './tcp-streams.test-support.js';

export type ListenerCall =
  | { kind: 'clientHello'; info: TlsClientHelloInfo }
  | { kind: 'serverHello'; info: TlsServerHelloInfo }
  | { kind: 'alert'; dir: 0 | 1; level: number; description: number; encrypted: boolean }
  | { kind: 'violation'; dir: 0 | 1; reason: TlsViolation; detail: string };

export class RecordingListener implements TlsListener {
  readonly calls: ListenerCall[] = [];
  clientHello(info: TlsClientHelloInfo): void {
    this.calls.push({ kind: 'clientHello', info });
  }
  serverHello(info: TlsServerHelloInfo): void {
    this.calls.push({ kind: 'serverHello', info });
  }
  alert(dir: 0 | 1, level: number, description: number, encrypted: boolean): void {
    this.calls.push({ kind: 'alert', dir, level, description, encrypted });
  }
  violation(dir: 0 | 1, reason: TlsViolation, detail: string): void {
    this.calls.push({ kind: 'violation', dir, reason, detail });
  }
  violations(): Extract<ListenerCall, { kind: 'violation' }>[] {
    return this.calls.filter((c): c is Extract<ListenerCall, { kind: 'violation' }> => c.kind === 'violation');
  }
}

export interface ObservedClientHello {
  legacyVersion: number;
  sni: string | undefined;
  alpn: string[];
  supportedVersions: number[];
}

export interface ObservedServerHello {
  legacyVersion: number;
  selectedVersion: number;
  alpn: string | undefined;
  helloRetryRequest: boolean;
}

export interface TlsObservation {
  clientHellos: ObservedClientHello[];
  serverHellos: ObservedServerHello[];
  /** Plaintext alerts as [dir, level, description], in stream order. */
  alerts: [0 | 1, number, number][];
  /** Encrypted alert records per direction. */
  encryptedAlerts: [number, number];
}

export function emptyObservation(): TlsObservation {
  return { clientHellos: [], serverHellos: [], alerts: [], encryptedAlerts: [0, 0] };
}

export function observationOf(calls: readonly ListenerCall[]): TlsObservation {
  const o = emptyObservation();
  for (const c of calls) {
    if (c.kind === 'clientHello') {
      const { legacyVersion, sni, alpn, supportedVersions } = c.info;
      o.clientHellos.push({ legacyVersion, sni, alpn, supportedVersions });
    } else if (c.kind === 'serverHello') {
      const { legacyVersion, selectedVersion, alpn, helloRetryRequest } = c.info;
      o.serverHellos.push({ legacyVersion, selectedVersion, alpn, helloRetryRequest });
    } else if (c.kind === 'alert') {
      if (c.encrypted) o.encryptedAlerts[c.dir]++;
      else o.alerts.push([c.dir, c.level, c.description]);
    }
  }
  return o;
}

/** Feeds chunks to a fresh session (null bytes = a gap) and returns what the listener saw. */
export function runSession(chunks: readonly StreamChunk[]): { listener: RecordingListener; session: TlsSession } {
  const listener = new RecordingListener();
  const session = new TlsSession(listener);
  for (const c of chunks) {
    if (c.bytes === null) session.gap(c.dir);
    else session.feed(c.dir, c.bytes, 0, c.bytes.length);
  }
  return { listener, session };
}
