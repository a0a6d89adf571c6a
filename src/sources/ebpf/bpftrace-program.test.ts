/**
 * The program builder: which probes a kernel gets, and that the reduced programs (a kernel
 * without some tracepoints) still compile in the real bpftrace. The full program runs in
 * ebpf-socket-source.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBpftraceProgram, EVENT_KINDS, LINE_COLUMNS } from './bpftrace-program.js';
import { checkEbpf } from './ebpf-availability.js';
import { collect } from '../../../test/e2e/netns.js';

/** The fields the tracepoints have on Linux 6.18 (from /sys/kernel/tracing/events/.../format). */
const KERNEL_6_18: Record<string, string[]> = {
  'sock:inet_sock_set_state': ['skaddr', 'oldstate', 'newstate', 'sport', 'dport', 'family', 'protocol', 'saddr', 'daddr', 'saddr_v6', 'daddr_v6'],
  'tcp:tcp_retransmit_skb': ['skbaddr', 'skaddr', 'state', 'sport', 'dport', 'family', 'saddr', 'daddr', 'saddr_v6', 'daddr_v6', 'err'],
  'tcp:tcp_receive_reset': ['skaddr', 'sport', 'dport', 'family', 'saddr', 'daddr', 'saddr_v6', 'daddr_v6', 'sock_cookie'],
  'tcp:tcp_send_reset': ['skbaddr', 'skaddr', 'state', 'reason', 'saddr', 'daddr'],
  'tcp:tcp_probe': ['saddr', 'daddr', 'sport', 'dport', 'family', 'mark', 'data_len', 'snd_nxt', 'snd_una', 'snd_cwnd', 'ssthresh', 'snd_wnd', 'srtt', 'rcv_wnd', 'sock_cookie', 'skbaddr', 'skaddr'],
  'tcp:tcp_destroy_sock': ['skaddr', 'sport', 'dport', 'family', 'saddr', 'daddr', 'saddr_v6', 'daddr_v6', 'sock_cookie'],
  'sock:sock_send_length': ['sk', 'family', 'protocol', 'ret', 'flags'],
  'sock:sock_recv_length': ['sk', 'family', 'protocol', 'ret', 'flags'],
};

function kernelWithout(...missing: string[]): (tp: string) => ReadonlySet<string> | undefined {
  return (tp) => (missing.includes(tp) || !(tp in KERNEL_6_18) ? undefined : new Set(KERNEL_6_18[tp]));
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

/** The elements of each `@ev[...]` key in `text`, split at its top-level commas. */
function eventKeys(text: string): string[][] {
  const keys: string[][] = [];
  for (let at = text.indexOf('@ev['); at >= 0; at = text.indexOf('@ev[', at + 1)) {
    const parts: string[] = [];
    let depth = 0;
    let start = at + 4;
    for (let i = start; ; i++) {
      const ch = text[i]!;
      if (ch === '(' || ch === '[') depth++;
      else if ((ch === ')' || ch === ']') && depth > 0) depth--;
      else if ((ch === ',' || ch === ']') && depth === 0) {
        parts.push(text.slice(start, i).trim());
        start = i + 1;
        if (ch === ']') break;
      }
    }
    keys.push(parts);
  }
  return keys;
}

const kindOf = (key: string[]): string => EVENT_KINDS[Number(/^\(uint64\)\((\d+)\)$/.exec(key[0]!)![1])]!;

test('a kernel with every tracepoint gets every probe, the per-socket maps and their cleanup', () => {
  const p = buildBpftraceProgram(kernelWithout());
  assert.deepEqual(p.omitted, []);
  assert.equal(p.byteCounts, true);
  for (const tp of Object.keys(KERNEL_6_18)) assert.ok(p.text.includes(`tracepoint:${tp} `), tp);
  assert.equal(count(p.text, 'tracepoint:tcp:tcp_send_reset '), 3, 'full socket, time-wait/request socket, no socket');
  assert.equal(count(p.text, 'printf('), 0, 'every event goes to the map');
  const keys = eventKeys(p.text);
  assert.deepEqual(
    keys.map(kindOf),
    ['state', 'state', 'state', 'state', 'retransmit', 'receive_reset', 'send_reset', 'send_reset', 'send_reset', 'rtt', 'io', 'io', 'destroy'],
    'state: listen, a listener closed, accepted, the other news',
  );
  for (const key of keys) {
    // The columns of a line, each once; the four addresses and comm after the 13 integers.
    assert.equal(key.length, LINE_COLUMNS.length, key.join(', '));
    assert.ok(key.slice(0, 13).every((k) => k.startsWith('(uint64)(') || k.startsWith('@')), key.join(', '));
    assert.ok(key.slice(13, 17).every((k) => k.startsWith('ntop(')), key.join(', '));
    // The running task's, or the one chooseTask picked (the socket's or listener's owner).
    const task = key[2] === '(uint64)(pid)' ? ['(uint64)(pid)', '(uint64)(tid)', '(uint64)(cgroup)', 'comm'] : ['(uint64)($p)', '(uint64)($t)', '(uint64)($g)', '$c'];
    assert.deepEqual([key[2], key[3], key[4], key[17]], task, key.join(', '));
  }
  const chosen = keys.filter((k) => k[2] === '(uint64)($p)').map((k) => `${kindOf(k)} ${k[12]}`);
  assert.deepEqual(chosen, ['state (uint64)($from)', 'state (uint64)($from)', 'destroy (uint64)($from + 1)'], 'accepted, news, destroy carry an owner');
  assert.match(p.text, /END \{\n {2}clear\(@ev\); clear\(@own\); clear\(@lis\); clear\(@rtt_at\); clear\(@sent\); clear\(@received\); clear\(@io_at\);\n\}/);
  assert.match(p.text, /delete\(@own\[\(uint64\)args->skaddr\]\); delete\(@rtt_at\[\(uint64\)args->skaddr\]\); delete\(@sent/);
  // connect() and the close() calls only remember their caller.
  assert.match(p.text, /newstate == 2\) \|\| args->newstate == 4 \|\| \(args->oldstate == 8 && args->newstate == 9\)\)\/ \{\n {2}@own\[\(uint64\)args->skaddr\] = \(pid, tid, cgroup, comm\);\n\}/);
});

test('a kernel without sock_send_length loses io lines and byte totals, nothing else', () => {
  const p = buildBpftraceProgram(kernelWithout('sock:sock_send_length'));
  assert.deepEqual(p.omitted, ['sock:sock_send_length', 'sock:sock_recv_length']);
  assert.equal(p.byteCounts, false);
  assert.equal(p.text.includes('@sent'), false);
  assert.equal(eventKeys(p.text).map(kindOf).includes('io'), false);
  assert.ok(p.text.includes('tracepoint:tcp:tcp_probe '));
});

test('a probe whose fields this kernel lacks is left out (tcp_probe before skaddr existed)', () => {
  const old = (tp: string): ReadonlySet<string> | undefined =>
    tp === 'tcp:tcp_probe' ? new Set(KERNEL_6_18[tp]!.filter((f) => f !== 'skaddr')) : kernelWithout()(tp);
  const p = buildBpftraceProgram(old);
  assert.deepEqual(p.omitted, ['tcp:tcp_probe']);
  assert.equal(p.text.includes('@rtt_at'), false);
});

test('without tcp_destroy_sock nothing would empty the per-socket maps: rtt and io are left out too', () => {
  const p = buildBpftraceProgram(kernelWithout('tcp:tcp_destroy_sock'));
  assert.deepEqual(p.omitted.sort(), ['sock:sock_recv_length', 'sock:sock_send_length', 'tcp:tcp_destroy_sock', 'tcp:tcp_probe']);
  assert.deepEqual([...new Set(p.text.match(/@\w+/g))].sort(), ['@ev', '@lis', '@own'], 'only the owner maps');
  assert.match(p.text, /\/ \{\n {2}\$sk = [^\n]*\n {2}\$o = @own[^\n]*\n[^\n]*\n {2}@ev\[[^\n]*\] = 1; if \(args->newstate == 7\) \{ delete\(@own\[\(uint64\)args->skaddr\]\); \}\n\}/, 'owners forgotten at CLOSE');
  assert.match(p.text, /END \{\n {2}clear\(@ev\); clear\(@own\); clear\(@lis\);\n\}/);
});

const check = checkEbpf();
const compileSkip = check.ok ? undefined : check.reason;
if (compileSkip) console.log(`# bpftrace-program: compile test skipped: ${compileSkip}`);

test('without inet_sock_set_state no listener map is made; io and destroy still keep owners', () => {
  const p = buildBpftraceProgram(kernelWithout('sock:inet_sock_set_state'));
  assert.deepEqual(p.omitted, ['sock:inet_sock_set_state']);
  assert.equal(p.text.includes('@lis'), false);
  assert.match(p.text, /END \{\n {2}clear\(@ev\); clear\(@own\); clear\(@rtt_at\)/);
});

test('reduced programs compile in the real bpftrace (--emit-elf: compiled against BTF, not loaded)', { skip: compileSkip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dllt-bpf-'));
  try {
    const variants = {
      noIo: buildBpftraceProgram(kernelWithout('sock:sock_send_length')).text,
      noMaps: buildBpftraceProgram(kernelWithout('tcp:tcp_destroy_sock')).text,
      noStates: buildBpftraceProgram(kernelWithout('sock:inet_sock_set_state')).text,
    };
    const runs = Object.entries(variants).map(async ([name, text]) => {
      const elf = join(dir, `${name}.elf`);
      const r = await collect(spawn('bpftrace', ['--emit-elf', elf, '-e', text], { stdio: ['ignore', 'pipe', 'pipe'] }), 60_000);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.ok(statSync(elf).size > 0, `${name}: ELF written`);
    });
    await Promise.all(runs);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
