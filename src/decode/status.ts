/**
 * Decode outcomes and malformed-packet reasons: numbered and named, like Suricata's decoder
 * events, so a bad packet is a counted status and never an exception.
 */

export const enum DecodeStatus {
  /** An IP packet was decoded into the view (possibly a non-first fragment: no ports). */
  OK = 0,
  /** Well-formed but not IP (ARP, LLDP, STP...): counted, not an error. */
  NOT_IP = 1,
  /** A link type or protocol we do not decode. */
  UNSUPPORTED = 2,
  /** Headers are inconsistent or cut short; `reason` says which. */
  MALFORMED = 3,
}

/** Reasons are dense small integers so counters can live in one Float64Array. */
export const enum MalformedReason {
  NONE = 0,
  LINK_TRUNCATED = 1,
  VLAN_TRUNCATED = 2,
  VLAN_TOO_DEEP = 3,
  LINKTYPE_UNSUPPORTED = 4,
  IPV4_TRUNCATED = 5,
  IPV4_BAD_VERSION = 6,
  IPV4_BAD_HEADER_LEN = 7,
  IPV4_BAD_TOTAL_LEN = 8,
  IPV6_TRUNCATED = 9,
  IPV6_BAD_VERSION = 10,
  IPV6_EXT_TRUNCATED = 11,
  IPV6_EXT_TOO_MANY = 12,
  TCP_TRUNCATED = 13,
  TCP_BAD_HEADER_LEN = 14,
  UDP_TRUNCATED = 15,
  UDP_BAD_LEN = 16,
  ICMP_TRUNCATED = 17,
  TUNNEL_TRUNCATED = 18,
  TUNNEL_TOO_DEEP = 19,
  GRE_UNSUPPORTED = 20,
  NFLOG_TRUNCATED = 21,
  IP_UNKNOWN_VERSION = 22,
  SCTP_OR_OTHER_TRUNCATED = 23,
  /** IPv6 payload length claims more bytes than the packet has on the wire. */
  IPV6_BAD_PAYLOAD_LEN = 24,
}

/** Names for logs and reports, indexed by MalformedReason. Keep in step with the enum. */
export const MALFORMED_REASON_NAMES: readonly string[] = [
  'none',
  'link_truncated',
  'vlan_truncated',
  'vlan_too_deep',
  'linktype_unsupported',
  'ipv4_truncated',
  'ipv4_bad_version',
  'ipv4_bad_header_len',
  'ipv4_bad_total_len',
  'ipv6_truncated',
  'ipv6_bad_version',
  'ipv6_ext_truncated',
  'ipv6_ext_too_many',
  'tcp_truncated',
  'tcp_bad_header_len',
  'udp_truncated',
  'udp_bad_len',
  'icmp_truncated',
  'tunnel_truncated',
  'tunnel_too_deep',
  'gre_unsupported',
  'nflog_truncated',
  'ip_unknown_version',
  'transport_truncated',
  'ipv6_bad_payload_len',
];

export const MALFORMED_REASON_COUNT = MALFORMED_REASON_NAMES.length;

export const enum TunnelType {
  NONE = 0,
  VXLAN = 1,
  GENEVE = 2,
  IPIP = 3,
  GRE = 4,
}

export const TUNNEL_NAMES: readonly string[] = ['', 'vxlan', 'geneve', 'ipip', 'gre'];
