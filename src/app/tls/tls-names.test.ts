/** Name tables and probeTls. Expected names are copied from RFC 8446 6 and the IANA TLS Alerts registry. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  TLS_VIOLATION_NAMES,
  TlsViolation,
  probeTls,
  tlsAlertDescriptionName,
  tlsAlertLevelName,
  tlsVersionName,
} from './tls-session.js';
import { clientHelloRecord } from './tls-builders.test-support.js';

test('version names, GREASE and drafts as four hex digits', () => {
  assert.equal(tlsVersionName(0x0304), 'TLSv1.3');
  assert.equal(tlsVersionName(0x0303), 'TLSv1.2');
  assert.equal(tlsVersionName(0x0302), 'TLSv1.1');
  assert.equal(tlsVersionName(0x0301), 'TLSv1.0');
  assert.equal(tlsVersionName(0x0300), 'SSLv3');
  assert.equal(tlsVersionName(0x0a0a), '0x0a0a');
  assert.equal(tlsVersionName(0x7f1c), '0x7f1c');
  assert.equal(tlsVersionName(0x0200), '0x0200');
});

test('alert level names', () => {
  assert.equal(tlsAlertLevelName(1), 'warning');
  assert.equal(tlsAlertLevelName(2), 'fatal');
  assert.equal(tlsAlertLevelName(0), 'level_0');
  assert.equal(tlsAlertLevelName(-1), 'level_-1');
});

test('alert description names follow the IANA registry', () => {
  const registry: [number, string][] = [
    [0, 'close_notify'],
    [10, 'unexpected_message'],
    [20, 'bad_record_mac'],
    [21, 'decryption_failed'],
    [22, 'record_overflow'],
    [30, 'decompression_failure'],
    [40, 'handshake_failure'],
    [41, 'no_certificate'],
    [42, 'bad_certificate'],
    [43, 'unsupported_certificate'],
    [44, 'certificate_revoked'],
    [45, 'certificate_expired'],
    [46, 'certificate_unknown'],
    [47, 'illegal_parameter'],
    [48, 'unknown_ca'],
    [49, 'access_denied'],
    [50, 'decode_error'],
    [51, 'decrypt_error'],
    [52, 'too_many_cids_requested'],
    [60, 'export_restriction'],
    [70, 'protocol_version'],
    [71, 'insufficient_security'],
    [80, 'internal_error'],
    [86, 'inappropriate_fallback'],
    [90, 'user_canceled'],
    [100, 'no_renegotiation'],
    [109, 'missing_extension'],
    [110, 'unsupported_extension'],
    [111, 'certificate_unobtainable'],
    [112, 'unrecognized_name'],
    [113, 'bad_certificate_status_response'],
    [114, 'bad_certificate_hash_value'],
    [115, 'unknown_psk_identity'],
    [116, 'certificate_required'],
    [117, 'general_error'],
    [120, 'no_application_protocol'],
    [121, 'ech_required'],
  ];
  const named = new Set(registry.map(([code]) => code));
  for (const [code, name] of registry) assert.equal(tlsAlertDescriptionName(code), name);
  for (let code = 0; code < 256; code++) {
    if (!named.has(code)) assert.equal(tlsAlertDescriptionName(code), `alert_${code}`);
  }
  assert.equal(tlsAlertDescriptionName(-1), 'alert_-1');
  assert.equal(tlsAlertDescriptionName(1.5), 'alert_1.5');
});

test('violation names are indexed by the enum value', () => {
  assert.equal(TLS_VIOLATION_NAMES[0], '');
  assert.equal(TLS_VIOLATION_NAMES[TlsViolation.NOT_TLS], 'not_tls');
  assert.equal(TLS_VIOLATION_NAMES[TlsViolation.BAD_RECORD_TYPE], 'bad_record_type');
  assert.equal(TLS_VIOLATION_NAMES[TlsViolation.BAD_RECORD_VERSION], 'bad_record_version');
  assert.equal(TLS_VIOLATION_NAMES[TlsViolation.BAD_RECORD_LENGTH], 'bad_record_length');
  assert.equal(TLS_VIOLATION_NAMES[TlsViolation.HANDSHAKE_OUT_OF_ORDER], 'handshake_out_of_order');
  assert.equal(TLS_VIOLATION_NAMES[TlsViolation.BAD_HANDSHAKE_MESSAGE], 'bad_handshake_message');
  assert.equal(TLS_VIOLATION_NAMES.length, 7);
  assert.ok(Object.isFrozen(TLS_VIOLATION_NAMES));
});

test('probeTls: yes, no, and need-more at every prefix of a ClientHello record', () => {
  const ch = clientHelloRecord({ sni: 'probe.example' });
  for (let n = 0; n < 6; n++) assert.equal(probeTls(ch, 0, n), -1, `${n} bytes`);
  for (let n = 6; n <= ch.length; n++) assert.equal(probeTls(ch, 0, n), 1, `${n} bytes`);
  // The same bytes further into a buffer.
  const shifted = new Uint8Array(ch.length + 10);
  shifted.set(ch, 10);
  assert.equal(probeTls(shifted, 10, shifted.length), 1);
  assert.equal(probeTls(shifted, 0, shifted.length), 0);
});

test('probeTls: rules TLS out as soon as a byte does', () => {
  const p = (bytes: number[]): number => probeTls(new Uint8Array(bytes), 0, bytes.length);
  assert.equal(p([0x47]), 0, 'G of GET');
  assert.equal(p([0x80, 0x2e, 0x01, 0x03, 0x01, 0x00]), 0, 'SSLv2-style hello');
  assert.equal(p([0x15, 0x03, 0x03, 0x00, 0x02, 0x02]), 0, 'alert record');
  assert.equal(p([0x16, 0x02]), 0, 'major version 2');
  assert.equal(p([0x16, 0x03, 0x05]), 0, 'minor version 5');
  assert.equal(p([0x16, 0x03, 0x01, 0x00, 0x00]), 0, 'empty record');
  assert.equal(p([0x16, 0x03, 0x01, 0x40, 0x01]), 0, '16385-byte plaintext record');
  assert.equal(p([0x16, 0x03, 0x01, 0x40, 0x00, 0x01]), 1, '16384-byte record holding a ClientHello');
  assert.equal(p([0x16, 0x03, 0x03, 0x00, 0x50, 0x02]), 0, 'ServerHello first');
  assert.equal(p([0x16, 0x03, 0x00, 0x00, 0x50, 0x01]), 1, 'SSLv3 record');
});

test('probeTls: hostile bounds are clamped, never thrown on', () => {
  const ch = clientHelloRecord();
  assert.equal(probeTls(ch, -5, 3), -1);
  assert.equal(probeTls(ch, 0, ch.length + 100), 1);
  assert.equal(probeTls(ch, 10, 2), -1);
  assert.equal(probeTls(new Uint8Array(0), 0, 0), -1);
});
