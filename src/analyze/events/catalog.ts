/**
 * The one catalog of network events (SPEC 6): code, the seed's constant name, description,
 * probable cause, what `value` holds and which settings tune it. Detectors, the record stage
 * (description/cause texts) and the README event table (generated, a test keeps it identical)
 * all read it. Codes 00001–00011 and their texts are the seed's (dllt-agent-instructions.txt);
 * ours start at 00100 and are never reused.
 */

export const enum EventCode {
  TCP_SYN_RETRANS = 1,
  TCP_RESET = 2,
  TCP_IS_TLS = 3,
  TLS_ALERT = 4,
  TLS_EXCEPTION = 5,
  TCP_PARTIAL_CONNECTION = 6,
  TCP_ESTABLISHED_STALE = 7,
  TCP_ESTABLISHED_STALE2 = 8,
  TCP_SYN_RESET = 9,
  TCP_RESET_ABNORMAL = 10,
  VIF_DISAPPEARED = 11,
  TCP_ZERO_WINDOW_STALL = 100,
  TCP_HIGH_RETRANS = 101,
  ICMP_UNREACHABLE = 102,
  DNS_FAILURE = 103,
}

export interface EventSpec {
  code: EventCode;
  /** Five digits, as the seed writes it. */
  codeText: string;
  name: string;
  description: string;
  cause: string;
  /** What the record's `value` holds for this code. */
  value: string;
  /** Raised by default (switch off with `DLLT_EVENTS_OFF`, or `DLLT_TLS_EVENTS=N` for 00003). */
  defaultOn: boolean;
  /** The settings that tune it, as the README lists them. */
  settings: string;
}

const SEED_RESET_CAUSE =
  'This could be a problem or not. 1) One of the applications may have crashed 2) did not accept a negotiation with the other application and closed the connection. 3) In HTTP connections this is a normal way of closing connections to avoid the socket protecting time.';
const SEED_STALE_CAUSE =
  'It can detect connections that suddenly stop streaming data because of an application error on one side.';

export const EVENT_CATALOG: readonly EventSpec[] = [
  {
    code: EventCode.TCP_SYN_RETRANS, codeText: '00001', name: 'CODE_TCP_SYN_RETRANS_STR',
    description: 'When a SYN message is resent',
    cause: "This means: 1) there is high latency 2) The IP is unreachable because a port is closed or it doesn't exist (node crashed, application configuration error, Pod deleted)",
    value: 'number of SYNs of the attempt (same tuple and ISN), raised once when the attempt is answered, refused, times out or ends',
    defaultOn: true, settings: '—',
  },
  {
    code: EventCode.TCP_RESET, codeText: '00002', name: 'CODE_TCP_RESET_STR',
    description: 'When a RST message is received from one side of a established connection.',
    cause: SEED_RESET_CAUSE,
    value: '`client` or `server`: who sent the RST',
    defaultOn: true, settings: '—',
  },
  {
    code: EventCode.TCP_IS_TLS, codeText: '00003', name: 'CODE_TCP_IS_TLS_STR',
    description: 'When a TLS connection is established',
    cause: 'This indicates a connection is TLS. This is configurable.',
    value: 'negotiated version and SNI, e.g. `TLSv1.3 example.com`',
    defaultOn: true, settings: '`DLLT_TLS_EVENTS`',
  },
  {
    code: EventCode.TLS_ALERT, codeText: '00004', name: 'CODE_TLS_ALERT_STR',
    description: 'When a TLS alert is sent by one side of a TLS connection.',
    cause: 'This happens 1) On TLS handshake failure 2) An error during the communication, this is not usual 3) A close alert indicating connection is to be closed (not a problem)',
    value: 'level and description, e.g. `fatal unknown_ca`, or `encrypted` when the alert is encrypted (an encrypted alert after application data went both ways is the session\'s close: kept in the flow\'s `tls.alert`, not raised)',
    defaultOn: true, settings: '—',
  },
  {
    code: EventCode.TLS_EXCEPTION, codeText: '00005', name: 'CODE_TLS_EXCEP_STR',
    description: 'When an error is detected in the TLS protocol',
    cause: 'This happens when a message is corrupted or there is an implementation error on one application. The TLS protocol is not followed.',
    value: 'the violation: `not_tls` (garbage on a TLS port or connection), `bad_record_type`, `bad_record_version`, `bad_record_length`, `handshake_out_of_order`, `bad_handshake_message`',
    defaultOn: true, settings: '`DLLT_TLS_PORTS`',
  },
  {
    code: EventCode.TCP_PARTIAL_CONNECTION, codeText: '00006', name: 'CODE_TCP_PARTIAL_CONNECTION_STR',
    description: 'When a TCP connection was never completed, the handshake was not completed, and one side has a half-open connection after 30 secs.',
    cause: 'This happens, if the monitored side received a SYN message and returned SYN-ACK, because of a possible TCP-half-open-connection DoS attack, or a scanning for opened ports. If the monitored side sent the SYN message, this is because the other side in unreachable: configuration error, the other node crashed, the pod was deleted.',
    value: '`no_syn_ack` (the client is half-open: its SYN got no answer) or `no_ack` (the server is half-open: its SYN-ACK got no final ACK)',
    defaultOn: true, settings: '`DLLT_PARTIAL_TIMEOUT_S`',
  },
  {
    code: EventCode.TCP_ESTABLISHED_STALE, codeText: '00007', name: 'CODE_TCP_ESTABLISHED_STALE_STR',
    description: 'When an established TCP connection suddenly stopped sending data from one or both sides. This is an early sign.',
    cause: SEED_STALE_CAUSE,
    value: 'the silent side: `client`, `server` or `both`',
    defaultOn: true, settings: '`DLLT_STALE_MIN_S`, `DLLT_STALE_GAP_FACTOR`, `DLLT_STALE_MIN_DATA_PKTS`',
  },
  {
    code: EventCode.TCP_ESTABLISHED_STALE2, codeText: '00008', name: 'CODE_TCP_ESTABLISHED_STALE2_STR',
    description: 'When an established TCP connection suddenly stopped sending data from one or both sides. This is a stronger proof of a possible problem.',
    cause: SEED_STALE_CAUSE,
    value: 'the silent side (`client`, `server`, `both`), or `client_retransmitting`/`server_retransmitting` when a side resends unacknowledged data meanwhile',
    defaultOn: true, settings: '`DLLT_STALE_STRONG_S`',
  },
  {
    code: EventCode.TCP_SYN_RESET, codeText: '00009', name: 'CODE_TCP_SYN_RESET_STR',
    description: 'When a node or pod receives a connection request for a port where no application is listening.',
    cause: "This happens because 1) The listening application has crashed 2) a process is trying to connect to an application that doesn't exist because of a configuration error or 3) it can be a malicious process seaching for assets in the network",
    value: 'number of SYNs the server refused in this attempt',
    defaultOn: true, settings: '—',
  },
  {
    code: EventCode.TCP_RESET_ABNORMAL, codeText: '00010', name: 'CODE_TCP_RESET_ABNORMAL_STR',
    description: 'When an abnormal quantity of RESET connection has been seen for a specific IP/port',
    cause: 'This happens for a configuration error in one application, an error in one application, or a monitored node/pod that is being attacked to gain access.',
    value: 'number of reset connections of that server IP:port within the window (the record names the flow that crossed the threshold)',
    defaultOn: true, settings: '`DLLT_RESET_STORM_COUNT`, `DLLT_RESET_STORM_WINDOW_S`',
  },
  {
    code: EventCode.VIF_DISAPPEARED, codeText: '00011', name: 'CODE_VIF_DISAPPEARED',
    description: 'When a Kubernetes pod is deleted and the virtual interface disappears',
    cause: 'This happens when a Kubernetes pod is deleted. It can be an error in the application running in the main container or the pod is being migrated to run in other node.',
    value: 'the interface name; the record also has its `ifindex`, `cutFlowCount` (open flows it ended, `endReason` `interface_gone`) and `cutFlows` (the first 100 of them: 5-tuple and `communityId`); live capture only',
    defaultOn: true, settings: '`DLLT_ON_VIF_GONE`',
  },
  {
    code: EventCode.TCP_ZERO_WINDOW_STALL, codeText: '00100', name: 'CODE_TCP_ZERO_WINDOW_STALL',
    description: 'When one side of an established TCP connection keeps its receive window at zero, so the other side cannot send.',
    cause: 'The receiving application stopped reading (hung, overloaded, blocked on a lock or a slow disk) while its peer still has data to send.',
    value: 'the side whose window is closed: `client` or `server`',
    defaultOn: true, settings: '`DLLT_ZERO_WINDOW_STALL_S`',
  },
  {
    code: EventCode.TCP_HIGH_RETRANS, codeText: '00101', name: 'CODE_TCP_HIGH_RETRANS',
    description: 'When one side of a TCP connection retransmits a high share of its data segments.',
    cause: 'Packet loss or congestion on the path, an overloaded receiver, or a middlebox dropping segments (MTU problems).',
    value: 'the retransmitting side and its rate, e.g. `server 23%`',
    defaultOn: true, settings: '`DLLT_RETRANS_RATE_PCT`, `DLLT_RETRANS_MIN_PKTS`',
  },
  {
    code: EventCode.ICMP_UNREACHABLE, codeText: '00102', name: 'CODE_ICMP_UNREACHABLE',
    description: 'When an ICMP destination-unreachable message quotes a packet of a flow.',
    cause: 'Nothing listens on the UDP port, no route to the host or network, a firewall rejects the traffic, or the path MTU is smaller than the packets (fragmentation needed).',
    value: 'the ICMP reason, e.g. `port_unreachable`, `host_unreachable`, `admin_prohibited`, `frag_needed`',
    defaultOn: true, settings: '—',
  },
  {
    code: EventCode.DNS_FAILURE, codeText: '00103', name: 'CODE_DNS_FAILURE',
    description: "When a DNS query fails: the server answers NXDOMAIN, SERVFAIL or REFUSED, over UDP or TCP, or no answer comes at all (UDP; on TCP the connection's own events tell).",
    cause: 'A wrong or missing name (typo, missing Kubernetes service, wrong search domain), a broken or unreachable DNS server (CoreDNS down, network policy blocking port 53).',
    value: 'the result and the name asked, e.g. `NXDOMAIN nosuch.example A`, or `no_answer name A`',
    defaultOn: true, settings: '—',
  },
];

/** Event 00103's value when a DNS query got no answer at all (otherwise the rcode). */
export const DNS_NO_ANSWER = -1;

const BY_CODE = new Map<number, EventSpec>(EVENT_CATALOG.map((e) => [e.code, e]));

export function eventSpec(code: number): EventSpec {
  const spec = BY_CODE.get(code);
  if (spec === undefined) throw new RangeError(`unknown event code ${code}`);
  return spec;
}

/** `3` → `00003`; also accepts the five-digit text. */
export function parseEventCode(text: string): EventCode | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const code = Number(text);
  return BY_CODE.has(code) ? (code as EventCode) : undefined;
}

/** The README's event table (between the `events:start`/`events:end` markers). */
export function renderEventTableMarkdown(): string {
  const rows = EVENT_CATALOG.map((e) =>
    `| ${e.codeText} | \`${e.name}\` | ${e.description} | ${e.cause} | ${e.value} | ${e.defaultOn ? 'on' : 'off'} | ${e.settings} |`,
  );
  return ['| code | name | raised when | probable cause | `value` | default | settings |', '| --- | --- | --- | --- | --- | --- | --- |', ...rows, ''].join('\n');
}
