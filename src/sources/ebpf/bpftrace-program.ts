/**
 * The bpftrace program behind USE_EBPF=Y (SPEC 9): TCP socket life cycles from kernel
 * tracepoints, each event stored as one key of the hash map EVENT_MAP, which dllt-bpfdrain
 * (bpf-drain.c) empties in batches and writes as binary records for drained-event.ts to read.
 *
 * Why tracepoints only: this kernel family has no kprobes and refuses fentry (lockdown), and
 * tracepoints are the stable kernel ABI anyway. Why bpftrace and not our own loader: Debian ships
 * it, it compiles against the running kernel's BTF, and there is no BPF program to build and ship.
 * Why a map and not printf: a printf line cost ~20 µs of bpftrace's CPU (a perf-buffer wake-up
 * per event, formatting) and as much in Node for the JSON around it, 9 lines per short
 * connection; a map entry costs the kernel an insert and the drain a few system calls per
 * thousand events (docs/design/0005-attribution-cost.md).
 *
 * The key holds every column, integers first (bpftrace stores each as 8 bytes), then the four
 * addresses (bpftrace inet values) and `comm`: EVENT_KEY_BYTES in all, which the drain checks
 * against the map bpftrace made. The event's kind is its index in EVENT_KINDS. Two events never
 * share a key: the kernel time and the socket address or task differ.
 *
 * Where addresses come from:
 * - state, retransmit, receive_reset, destroy: the tracepoint's own fields (family, sport, dport,
 *   saddr, daddr, saddr_v6, daddr_v6; the same layout since Linux 5.x). They are filled from
 *   inet_sport/inet_saddr, which keep the local port after the kernel unhashes a closing socket;
 *   `struct sock_common`'s skc_num already reads 0 there.
 * - rtt, io, and send_reset with a socket: the socket itself (tcp_probe and tcp_send_reset carry
 *   28-byte sockaddrs from Linux 6.10 on, four-byte arrays before; sock_send_length has no address
 *   at all): `struct sock_common`, and for full sockets the local port from inet_sport, which an
 *   aborting close has already taken out of skc_num when it sends its reset.
 * - send_reset for no socket (a SYN to a closed port): the IP and TCP headers of the segment that
 *   caused it, local = that segment's destination, namespace = its device's.
 * The network namespace always comes from the socket (`skc_net`), kept until the socket is freed.
 *
 * Every stored event costs dllt CPU (~10 µs in Node at 1,000 connections/s), so the kernel
 * folds what it can: a socket's user is remembered per socket (OWNER_MAP) and carried to the
 * events stored (stateProbes). Rate limits: tcp_probe fires for every segment received on an
 * established socket and sock_send_length/sock_recv_length for every send/recv call. A
 * per-socket map keeps the kernel time of the last event stored, and one is stored only when that
 * is at least SAMPLE_INTERVAL_NS old, counting from the first sample (`rtt`) or system call
 * (`io`), since a sub-second connection's RTT and bytes are in its flow record already; `io` also
 * when a new process uses the socket. tcp_destroy_sock deletes the socket's entries;
 * BPFTRACE_MAP_KEYS_MAX (set by the source) bounds the maps.
 */

/** At most one `rtt` line and one `io` line per socket per this many kernel nanoseconds. */
export const SAMPLE_INTERVAL_NS = 1_000_000_000;

/** Column order of every event's key (integers, addresses, comm); `a`, `b`, `c` depend on the
 *  kind (drained-event.ts). */
export const LINE_COLUMNS = [
  'kind',
  'tsNs',
  'pid',
  'tid',
  'cgroupId',
  'netns',
  'socket',
  'family',
  'localIp4',
  'remoteIp4',
  'localIp6',
  'remoteIp6',
  'localPort',
  'remotePort',
  'a',
  'b',
  'c',
  'comm',
] as const;

/** The kinds of event, by the code the program stores (the key's first integer). */
export const EVENT_KINDS = ['state', 'retransmit', 'receive_reset', 'send_reset', 'rtt', 'destroy', 'io'] as const;

/** The map the events go to (`@ev`; bpftrace names it AT_ev in the kernel). */
export const EVENT_MAP = 'ev';

/** 13 integers of 8 bytes, four bpftrace inet values (8-byte family, 16-byte address), comm. */
export const EVENT_KEY_BYTES = 13 * 8 + 4 * 24 + 16;

/** A tracepoint a probe reads, and the fields it needs there. */
interface ProbeSpec {
  /** `category:name` under /sys/kernel/tracing/events. */
  tracepoint: string;
  fields: readonly string[];
  text: string;
}

/** Network to host order for a 16-bit port (bpftrace 0.17 has no bswap). */
const ntohs = (expr: string): string => `((${expr} >> 8) | ((${expr} & 0xff) << 8))`;

/** family, four addresses and two ports in LINE_COLUMNS order. */
type Endpoints = [string, string, string, string, string, string, string];

const FROM_TRACEPOINT: Endpoints = [
  'args->family',
  'ntop(args->saddr)',
  'ntop(args->daddr)',
  'ntop(args->saddr_v6)',
  'ntop(args->daddr_v6)',
  'args->sport',
  'args->dport',
];
const TRACEPOINT_ADDRESS_FIELDS = ['family', 'saddr', 'daddr', 'saddr_v6', 'daddr_v6', 'sport', 'dport'];

const common = (field: string): string => `$sk->__sk_common.${field}`;
/** Any socket, time-wait and request sockets included: they all begin with sock_common. */
const FROM_SOCK_COMMON: Endpoints = [
  common('skc_family'),
  `ntop(${common('skc_rcv_saddr')})`,
  `ntop(${common('skc_daddr')})`,
  `ntop(${common('skc_v6_rcv_saddr.in6_u.u6_addr8')})`,
  `ntop(${common('skc_v6_daddr.in6_u.u6_addr8')})`,
  common('skc_num'),
  ntohs(common('skc_dport')),
];
/** A full socket: the local port from inet_sport, which survives unhashing on close. */
const FROM_FULL_SOCK: Endpoints = [...FROM_SOCK_COMMON.slice(0, 5), ntohs('((struct inet_sock *)$sk)->inet_sport'), FROM_SOCK_COMMON[6]] as Endpoints;

/** The segment's headers, as seen by the host that answers it with a reset. */
const FROM_SEGMENT: Endpoints = [
  '($ip->version == 4 ? 2 : 10)',
  'ntop($ip->daddr)',
  'ntop($ip->saddr)',
  'ntop($ip6->daddr.in6_u.u6_addr8)',
  'ntop($ip6->saddr.in6_u.u6_addr8)',
  ntohs('$th->dest'),
  ntohs('$th->source'),
];

const NETNS_OF_SOCK = common('skc_net.net->ns.inum');

/** Who an event is credited to: the four task columns of the key (pid, tid, cgroup, comm). */
interface Task {
  pid: string;
  tid: string;
  cgroup: string;
  comm: string;
}

/** The task the kernel runs the probe on. */
const RUNNING_TASK: Task = { pid: 'pid', tid: 'tid', cgroup: 'cgroup', comm: 'comm' };
/** The task chosen by chooseTask(). */
const CHOSEN_TASK: Task = { pid: '$p', tid: '$t', cgroup: '$g', comm: '$c' };

/**
 * Where a stored event's task columns came from, in its `c` column (as bits, since `destroy`
 * also says there whether bytes were counted): the running task (0), the socket's user as its
 * last system call showed it (OWNER_FROM_SOCKET), the owner of the listener that accepted it
 * (OWNER_FROM_LISTENER).
 */
export const BYTES_COUNTED = 1;
export const OWNER_FROM_SOCKET = 2;
export const OWNER_FROM_LISTENER = 4;

/** `(pid, tid, cgroup, comm)` of the running task: the value of the owner maps. */
const TASK_TUPLE = '(pid, tid, cgroup, comm)';

/**
 * Sets $p/$t/$g/$c to the owner tuple `lookup` when the map holds one for this socket, else to the
 * running task, and $from to `from` or 0. Variables rather than two stores in two branches: each
 * store builds its EVENT_KEY_BYTES key on the 512-byte BPF stack.
 */
function chooseTask(lookup: string, from: number, alsoWhenFound = ''): string {
  return (
    `$o = ${lookup}; $p = pid; $t = tid; $g = cgroup; $c = comm; $from = (uint64)0;\n` +
    `  if ($o.0 != 0) { $p = $o.0; $t = $o.1; $g = $o.2; $c = $o.3; $from = ${from};${alsoWhenFound} }`
  );
}

/** Stores one event: the key order of bpf-drain.c (integers, addresses, comm). */
function storeEvent(
  kind: (typeof EVENT_KINDS)[number],
  netns: string,
  socket: string,
  endpoints: Endpoints,
  a: string,
  b: string,
  c: string,
  task: Task = RUNNING_TASK,
): string {
  const [family, localIp4, remoteIp4, localIp6, remoteIp6, localPort, remotePort] = endpoints;
  const integers = [String(EVENT_KINDS.indexOf(kind)), 'nsecs', task.pid, task.tid, task.cgroup, netns, socket, family, localPort, remotePort, a, b, c];
  // Map reads are uint64 already, and bpftrace cannot cast a map whose type a later probe sets.
  const key = [...integers.map((x) => (x.startsWith('@') ? x : `(uint64)(${x})`)), localIp4, remoteIp4, localIp6, remoteIp6, task.comm];
  return `@${EVENT_MAP}[${key.join(', ')}] = 1;`;
}

/** The socket's address as its id: stable for the socket's life, reused only after destroy. */
const key = (arg: string): string => `(uint64)${arg}`;
const sockOf = (arg: string): string => `$sk = (struct sock *)${arg};`;

/** The owner of each socket (OWNER_MAP[socket]) and of each listener (LISTENER_MAP[netns, port]). */
const OWNER_MAP = '@own';
const LISTENER_MAP = '@lis';

/**
 * State changes, folded in the kernel so that a short connection costs dllt 2 events per socket
 * (bench section `attribution`): each socket's user is remembered in OWNER_MAP when a system
 * call shows it (connect: CLOSE → SYN_SENT; the close() calls: → FIN_WAIT1, CLOSE_WAIT →
 * LAST_ACK; send/recv, see ioProbe) and those transitions store nothing; the events that are
 * stored carry that user (OWNER_FROM_SOCKET), and an accepted socket's ESTABLISHED carries the
 * owner of the listener on its port (OWNER_FROM_LISTENER), which listen() put in LISTENER_MAP.
 * Stored: listen and a listener's close, established (both ends), and endings that are news
 * (→ CLOSE from SYN_SENT, SYN_RECV, ESTABLISHED, CLOSE_WAIT: refused, reset, timed out). Left
 * out: the steps of an orderly teardown (FIN_WAIT2, CLOSE_WAIT, CLOSING, and CLOSE from
 * FIN_WAIT1/FIN_WAIT2/CLOSING/LAST_ACK, which destroy follows), LISTEN → SYN_RECV (the accepted
 * socket's birth, which ESTABLISHED follows at once): the flow record shows them from its packets.
 */
const TCP_PROTO = 'args->protocol == 6';
const REMEMBERS_USER = '((args->oldstate == 7 && args->newstate == 2) || args->newstate == 4 || (args->oldstate == 8 && args->newstate == 9))';
const IS_LISTEN = 'args->newstate == 10';
const IS_LISTENER_CLOSE = '(args->oldstate == 10 && args->newstate == 7)';
const IS_ACCEPTED = '(args->oldstate == 3 && args->newstate == 1)';
const IS_NEWS =
  '((args->oldstate == 2 && args->newstate == 1) || ' +
  '(args->newstate == 7 && (args->oldstate == 2 || args->oldstate == 3 || args->oldstate == 1 || args->oldstate == 8)))';

/** `forgetOnClose`: without tcp_destroy_sock, the owner map is emptied when a socket closes. */
function stateProbes(forgetOnClose: boolean): ProbeSpec {
  const k = key('args->skaddr');
  const listenerKey = `${LISTENER_MAP}[(uint64)${NETNS_OF_SOCK}, (uint64)args->sport]`;
  const store = (c: string, task?: Task): string => storeEvent('state', NETNS_OF_SOCK, k, FROM_TRACEPOINT, 'args->oldstate', 'args->newstate', c, task);
  const tp = 'tracepoint:sock:inet_sock_set_state';
  const forget = forgetOnClose ? ` if (args->newstate == 7) { delete(${OWNER_MAP}[${k}]); }` : '';
  return {
    tracepoint: 'sock:inet_sock_set_state',
    fields: ['skaddr', 'oldstate', 'newstate', 'protocol', ...TRACEPOINT_ADDRESS_FIELDS],
    text: [
      `${tp} /${TCP_PROTO} && ${REMEMBERS_USER}/ {\n  ${OWNER_MAP}[${k}] = ${TASK_TUPLE};\n}`,
      `${tp} /${TCP_PROTO} && ${IS_LISTEN}/ {\n  ${sockOf('args->skaddr')}\n  ${listenerKey} = ${TASK_TUPLE};\n  ${store('0')}\n}`,
      `${tp} /${TCP_PROTO} && ${IS_LISTENER_CLOSE}/ {\n  ${sockOf('args->skaddr')}\n  delete(${listenerKey});\n  ${store('0')}\n}`,
      `${tp} /${TCP_PROTO} && ${IS_ACCEPTED}/ {\n  ${sockOf('args->skaddr')}\n` +
        `  ${chooseTask(listenerKey, OWNER_FROM_LISTENER, ` ${OWNER_MAP}[${k}] = $o;`)}\n  ${store('$from', CHOSEN_TASK)}\n}`,
      `${tp} /${TCP_PROTO} && ${IS_NEWS}/ {\n  ${sockOf('args->skaddr')}\n` +
        `  ${chooseTask(`${OWNER_MAP}[${k}]`, OWNER_FROM_SOCKET)}\n  ${store('$from', CHOSEN_TASK)}${forget}\n}`,
    ].join('\n'),
  };
}

function retransmitProbe(): ProbeSpec {
  return {
    tracepoint: 'tcp:tcp_retransmit_skb',
    fields: ['skaddr', 'state', ...TRACEPOINT_ADDRESS_FIELDS],
    text:
      'tracepoint:tcp:tcp_retransmit_skb {\n' +
      `  ${sockOf('args->skaddr')}\n` +
      `  ${storeEvent('retransmit', NETNS_OF_SOCK, key('args->skaddr'), FROM_TRACEPOINT, 'args->state', '0', '0')}\n}`,
  };
}

function receiveResetProbe(): ProbeSpec {
  return {
    tracepoint: 'tcp:tcp_receive_reset',
    fields: ['skaddr', ...TRACEPOINT_ADDRESS_FIELDS],
    text:
      'tracepoint:tcp:tcp_receive_reset {\n' +
      `  ${sockOf('args->skaddr')}\n` +
      `  ${storeEvent('receive_reset', NETNS_OF_SOCK, key('args->skaddr'), FROM_TRACEPOINT, common('skc_state'), '0', '0')}\n}`,
  };
}

/** States whose sockets are not full `struct sock`s (include/net/tcp_states.h). */
const TCP_TIME_WAIT = 6;
const TCP_NEW_SYN_RECV = 12;

function sendResetProbe(): ProbeSpec {
  return {
    tracepoint: 'tcp:tcp_send_reset',
    fields: ['skaddr', 'skbaddr', 'state'],
    text:
      `tracepoint:tcp:tcp_send_reset /args->skaddr != 0 && args->state != ${TCP_TIME_WAIT} && args->state != ${TCP_NEW_SYN_RECV}/ {\n` +
      `  ${sockOf('args->skaddr')}\n` +
      `  ${storeEvent('send_reset', NETNS_OF_SOCK, key('args->skaddr'), FROM_FULL_SOCK, 'args->state', '0', '0')}\n}\n` +
      `tracepoint:tcp:tcp_send_reset /args->skaddr != 0 && (args->state == ${TCP_TIME_WAIT} || args->state == ${TCP_NEW_SYN_RECV})/ {\n` +
      `  ${sockOf('args->skaddr')}\n` +
      `  ${storeEvent('send_reset', NETNS_OF_SOCK, key('args->skaddr'), FROM_SOCK_COMMON, 'args->state', '0', '0')}\n}\n` +
      'tracepoint:tcp:tcp_send_reset /args->skaddr == 0 && args->skbaddr != 0/ {\n' +
      '  $skb = (struct sk_buff *)args->skbaddr;\n' +
      '  $ip = (struct iphdr *)($skb->head + $skb->network_header);\n' +
      '  $ip6 = (struct ipv6hdr *)($skb->head + $skb->network_header);\n' +
      '  $th = (struct tcphdr *)($skb->head + $skb->transport_header);\n' +
      `  ${storeEvent('send_reset', '$skb->dev->nd_net.net->ns.inum', '0', FROM_SEGMENT, '0', '0', '0')}\n}`,
  };
}

function rttProbe(): ProbeSpec {
  const k = key('args->skaddr');
  return {
    tracepoint: 'tcp:tcp_probe',
    fields: ['skaddr', 'srtt', 'snd_cwnd'],
    text:
      `tracepoint:tcp:tcp_probe /args->srtt > 0 && @rtt_at[${k}] == 0/ {\n  @rtt_at[${k}] = nsecs;\n}\n` +
      `tracepoint:tcp:tcp_probe /args->srtt > 0 && @rtt_at[${k}] != 0 && nsecs - @rtt_at[${k}] >= ${SAMPLE_INTERVAL_NS}/ {\n` +
      `  @rtt_at[${k}] = nsecs;\n` +
      `  ${sockOf('args->skaddr')}\n` +
      `  ${storeEvent('rtt', NETNS_OF_SOCK, k, FROM_FULL_SOCK, 'args->srtt', 'args->snd_cwnd', '0')}\n}`,
  };
}

/**
 * Bytes per socket from sock_sendmsg/sock_recvmsg (a MSG_PEEK read consumes nothing: skipped).
 * These run in the calling process, so an `io` event names the process that really reads or
 * writes the socket. One is stored when that process is not the owner OWNER_MAP holds (a
 * forked worker reading a socket its parent's listener accepted; a socket older than bpftrace),
 * which then becomes the owner, and at most once per SAMPLE_INTERVAL_NS from the socket's first
 * system call on: a sub-second connection used by the process that made it stores none.
 */
function ioProbe(direction: 'send' | 'recv'): ProbeSpec {
  const k = key('args->sk');
  const counter = direction === 'send' ? '@sent' : '@received';
  const notPeek = direction === 'recv' ? ' && (args->flags & 2) == 0' : '';
  return {
    tracepoint: `sock:sock_${direction}_length`,
    fields: ['sk', 'protocol', 'ret', 'flags'],
    text:
      `tracepoint:sock:sock_${direction}_length /args->protocol == 6 && args->ret > 0${notPeek}/ {\n` +
      `  ${counter}[${k}] = ${counter}[${k}] + (uint64)args->ret;\n` +
      `  if (@io_at[${k}] == 0) { @io_at[${k}] = nsecs; }\n` +
      `  $o = ${OWNER_MAP}[${k}];\n` +
      `  if ($o.0 != pid || nsecs - @io_at[${k}] >= ${SAMPLE_INTERVAL_NS}) {\n` +
      `    @io_at[${k}] = nsecs;\n` +
      `    ${OWNER_MAP}[${k}] = ${TASK_TUPLE};\n` +
      `    ${sockOf('args->sk')}\n` +
      `    ${storeEvent('io', NETNS_OF_SOCK, k, FROM_FULL_SOCK, `@sent[${k}]`, `@received[${k}]`, '0')}\n` +
      '  }\n}',
  };
}

/** Credited to the socket's last user when one is known; `c` holds BYTES_COUNTED when the byte
 *  totals in `a`/`b` were counted (this kernel has sock_send_length/sock_recv_length). */
function destroyProbe(maps: readonly string[], byteCounts: boolean): ProbeSpec {
  const k = key('args->skaddr');
  const [sent, received] = byteCounts ? [`@sent[${k}]`, `@received[${k}]`] : ['0', '0'];
  const forget = [OWNER_MAP, ...maps].map((m) => `delete(${m}[${k}]);`).join(' ');
  return {
    tracepoint: 'tcp:tcp_destroy_sock',
    fields: ['skaddr', ...TRACEPOINT_ADDRESS_FIELDS],
    text:
      'tracepoint:tcp:tcp_destroy_sock {\n' +
      `  ${sockOf('args->skaddr')}\n` +
      `  ${chooseTask(`${OWNER_MAP}[${k}]`, OWNER_FROM_SOCKET)}\n` +
      `  ${storeEvent('destroy', NETNS_OF_SOCK, k, FROM_TRACEPOINT, sent, received, `$from + ${byteCounts ? BYTES_COUNTED : 0}`, CHOSEN_TASK)}\n` +
      `  ${forget}\n` +
      '}',
  };
}

export interface BuiltProgram {
  text: string;
  /** Tracepoints left out because this kernel lacks them or a field they read. */
  omitted: string[];
  /** Whether `io` lines and the byte totals on `destroy` are in. */
  byteCounts: boolean;
}

/**
 * The program for a kernel whose tracepoints are described by `fieldsOf` (the field names of
 * `category:name`, undefined when it does not exist). A probe whose tracepoint or fields are
 * missing is left out and named in `omitted`; maps are touched only by probes that are in, so the
 * program stays valid whatever is left out.
 */
export function buildBpftraceProgram(fieldsOf: (tracepoint: string) => ReadonlySet<string> | undefined): BuiltProgram {
  const omitted: string[] = [];
  const has = (p: ProbeSpec): boolean => {
    const fields = fieldsOf(p.tracepoint);
    return fields !== undefined && p.fields.every((f) => fields.has(f));
  };
  const kept: ProbeSpec[] = [];
  // Per-socket map entries are deleted on tcp_destroy_sock: without it they would only pile up.
  const canForget = has(destroyProbe([], false));
  for (const p of [stateProbes(!canForget), retransmitProbe(), receiveResetProbe(), sendResetProbe()]) {
    if (has(p)) kept.push(p);
    else omitted.push(p.tracepoint);
  }
  const maps: string[] = [];
  const rtt = rttProbe();
  if (canForget && has(rtt)) {
    kept.push(rtt);
    maps.push('@rtt_at');
  } else {
    omitted.push(rtt.tracepoint);
  }
  const io = [ioProbe('send'), ioProbe('recv')];
  const byteCounts = canForget && io.every(has);
  if (byteCounts) {
    kept.push(...io);
    maps.push('@sent', '@received', '@io_at');
  } else {
    omitted.push(...io.map((p) => p.tracepoint));
  }
  if (canForget) kept.push(destroyProbe(maps, byteCounts));
  else omitted.push('tcp:tcp_destroy_sock');
  const texts = kept.map((p) => p.text);
  // Emptied at exit, so bpftrace does not print every entry when it stops (the drain has taken
  // the last events by then).
  // Only maps some probe uses: bpftrace refuses a map it has no type for.
  const ownerMaps = [OWNER_MAP, LISTENER_MAP].filter((m) => texts.some((t) => t.includes(`${m}[`)));
  texts.push(`END {\n  ${[`@${EVENT_MAP}`, ...ownerMaps, ...maps].map((m) => `clear(${m});`).join(' ')}\n}`);
  return { text: texts.join('\n') + '\n', omitted, byteCounts };
}
