/**
 * Text names for TLS protocol numbers. Used when a record or event is written, never per
 * packet, so building strings here is fine. The registries are small, so a sparse array
 * indexed by the wire value is both the table and the lookup.
 */

const VERSION_NAMES: Record<number, string> = {
  0x0300: 'SSLv3',
  0x0301: 'TLSv1.0',
  0x0302: 'TLSv1.1',
  0x0303: 'TLSv1.2',
  0x0304: 'TLSv1.3',
};

function hex4(v: number): string {
  return '0x' + (v & 0xffff).toString(16).padStart(4, '0');
}

/** Protocol version as OpenSSL/Wireshark print it; anything else (GREASE, drafts) as 0x0a0a. */
export function tlsVersionName(v: number): string {
  return VERSION_NAMES[v] ?? hex4(v);
}

export function tlsAlertLevelName(level: number): string {
  if (level === 1) return 'warning';
  if (level === 2) return 'fatal';
  return `level_${level}`;
}

/** IANA "TLS Alerts" registry, spelled as RFC 8446 and Wireshark spell them. */
const ALERT_DESCRIPTIONS: readonly (string | undefined)[] = (() => {
  const names: (string | undefined)[] = [];
  const entries: [number, string][] = [
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
  for (const [code, name] of entries) names[code] = name;
  return names;
})();

export function tlsAlertDescriptionName(desc: number): string {
  return (Number.isInteger(desc) && desc >= 0 ? ALERT_DESCRIPTIONS[desc] : undefined) ?? `alert_${desc}`;
}

/** Handshake message types (IANA "TLS HandshakeType"); a type missing here is not TLS. */
const HANDSHAKE_TYPE_NAMES: readonly (string | undefined)[] = (() => {
  const names: (string | undefined)[] = [];
  const entries: [number, string][] = [
    [0, 'hello_request'],
    [1, 'client_hello'],
    [2, 'server_hello'],
    [3, 'hello_verify_request'],
    [4, 'new_session_ticket'],
    [5, 'end_of_early_data'],
    [6, 'hello_retry_request'],
    [8, 'encrypted_extensions'],
    [9, 'request_connection_id'],
    [10, 'new_connection_id'],
    [11, 'certificate'],
    [12, 'server_key_exchange'],
    [13, 'certificate_request'],
    [14, 'server_hello_done'],
    [15, 'certificate_verify'],
    [16, 'client_key_exchange'],
    [17, 'client_certificate_request'],
    [20, 'finished'],
    [21, 'certificate_url'],
    [22, 'certificate_status'],
    [23, 'supplemental_data'],
    [24, 'key_update'],
    [25, 'compressed_certificate'],
    [26, 'ekt_key'],
    [67, 'next_protocol'],
    [254, 'message_hash'],
  ];
  for (const [code, name] of entries) names[code] = name;
  return names;
})();

/** Name of a registered handshake type, undefined for an unregistered one. */
export function tlsHandshakeTypeName(type: number): string | undefined {
  return HANDSHAKE_TYPE_NAMES[type];
}
