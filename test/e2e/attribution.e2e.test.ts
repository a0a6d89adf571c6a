/**
 * End to end: processes, containers and pods behind both ends of a connection (SPEC 9, issue
 * 5 acceptance 1). Two "pods" are built the way a CRI builds them: a network namespace with a
 * veth to a host bridge, the pod's processes placed in a cgroup shaped like
 * `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope`,
 * and a kubelet-style pods directory (`<namespace>_<name>_<uid>/<container>/`, with the
 * `containers/<pod>_<namespace>_<container>-<id>.log` links beside it). A python3 server runs in
 * pod A, curl in pod B; `dllt capture` watches pod A's host-side veth by ifindex. process_flows
 * must name, for the connection, the server's pid/comm/container/pod and the client's — the
 * pids are the test's own children, the ids and names what the test created.
 *
 * Three variants: USE_EBPF=N, USE_EBPF=Y (the ends must come from eBPF events), and USE_EBPF=Y
 * with eBPF's capabilities dropped (one clear warning, /proc still attributes).
 * Runs as root with a cgroup v2 hierarchy, python3 and curl; otherwise it prints why it skips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, ifindexOf, labUnavailableReason, NetnsLab, waitForTcpPort } from './netns.js';
import { CLI, eventLabUnavailable, labScenario, packetSocketsOn, readJsonLines, sleep, waitFor } from './event-lab.js';
import type { EventRecord, FlowRecord, ProcessFlowRecord, SocketEventRecord } from '../../src/record/records.js';
import { checkEbpf } from '../../src/sources/ebpf/ebpf-availability.js';
import { findPodInterface } from '../../src/cli/run-pod.js';
import { CGROUP2, fakePodsUnavailable, inPod, makePod, removeCgroups } from './fake-pods.js';

const skip = labUnavailableReason(['python3', 'curl']) ?? fakePodsUnavailable();
if (skip) console.log(`# attribution e2e skipped: ${skip}`);

const PORT = 8080;
const CLOSED_PORT = 8081;

/** Answers one request after `delay` s, so curl's socket is open while dllt looks (/proc sees
 *  only sockets that exist). */
const SLOW_SERVER_PY = `
import socket, sys, threading, time
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2])))
ls.listen(16)
def serve(c):
    c.recv(4096)
    time.sleep(float(sys.argv[3]))
    c.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nok\\n")
    c.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/** The three ways attribution runs: /proc, eBPF, and USE_EBPF=Y without the privilege eBPF needs
 *  (capsh drops it from dllt's bounding set), where /proc must still do the job. */
const VARIANTS = [
  { name: 'USE_EBPF=N', useEbpf: 'N', foundBy: 'proc', dropEbpfCaps: false },
  { name: 'USE_EBPF=Y', useEbpf: 'Y', foundBy: 'ebpf', dropEbpfCaps: false },
  { name: 'USE_EBPF=Y without CAP_SYS_ADMIN/CAP_BPF/CAP_PERFMON', useEbpf: 'Y', foundBy: 'proc', dropEbpfCaps: true },
] as const;

// As dllt does, tracefs is mounted when it is missing.
const ebpfCheck = checkEbpf();
const ebpfSkip = skip ?? (ebpfCheck.ok ? undefined : ebpfCheck.reason);
if (ebpfSkip && !skip) console.log(`# attribution e2e with USE_EBPF=Y skipped: ${ebpfSkip}`);
const capshSkip = skip ?? (existsSync('/usr/sbin/capsh') ? undefined : 'capsh is missing (apt-get install libcap2-bin)');
if (capshSkip && !skip) console.log(`# attribution e2e without eBPF privilege skipped: ${capshSkip}`);

type Notif = { kind: string; level: string; message: string; attributedFlows?: number; localFlows?: number };

for (const v of VARIANTS) {
  const variantSkip = v.dropEbpfCaps ? capshSkip : v.useEbpf === 'Y' ? ebpfSkip : skip;
  test(`${v.name}: process_flows names both ends of a pod-to-pod connection (pid, comm, container, pod) on pod A's host veth`, { skip: variantSkip, timeout: 90_000 }, async () => {
    const lab = new NetnsLab('dllta');
    const tmp = mkdtempSync(join(tmpdir(), 'dllt-attr-'));
    const cgroupRoot = join(CGROUP2!, `dllt-e2e-${lab.tag}`);
    let passed = false;
    try {
      const podsDir = join(tmp, 'log', 'pods');
      mkdirSync(podsDir, { recursive: true });
      const podA = makePod(cgroupRoot, podsDir, 'shop', 'web-0', 'web');
      const podB = makePod(cgroupRoot, podsDir, 'shop', 'client-7f9c', 'curl');
      const pair = lab.bridgedPair();

      const out = join(tmp, 'out');
      const ifindex = ifindexOf(pair.serverHostIf);
      const dlltArgv = [process.execPath, CLI, 'capture', '--ifindex', String(ifindex), '--out', out];
      const [cmd, ...args] = v.dropEbpfCaps ? ['capsh', '--drop=cap_sys_admin,cap_bpf,cap_perfmon', '--', '-c', 'exec "$0" "$@"', ...dlltArgv] : dlltArgv;
      const dllt = lab.spawnHost(cmd!, args, {
        env: { ...process.env, USE_EBPF: v.useEbpf, DLLT_KUBELET_PODS_DIR: podsDir, DLLT_TCP_CLOSING_S: '1', DLLT_FLUSH_INTERVAL_MS: '100' },
      });
      const before = packetSocketsOn(ifindex);
      const dlltDone = collect(dllt, 90_000);
      const dir = join(out, 'logs', `dllt${ifindex}`);
      const notifs = (): Notif[] => {
        try {
          return readJsonLines<Notif>(dir, 'log_notif_');
        } catch {
          return []; // not created yet, or a line half written
        }
      };
      await waitFor(() => packetSocketsOn(ifindex) > before, 'dllt to open the interface');
      if (v.useEbpf === 'Y') {
        // bpftrace compiles its program for seconds before its probes are attached.
        await waitFor(() => notifs().some((n) => n.kind.startsWith('ebpf_')), 'dllt to report on eBPF', 30_000);
      }
      await sleep(300);

      // The server starts after dllt, so with eBPF its listen() is seen too.
      const server = inPod(lab, pair.server.name, podA.cgroup, ['python3', '-c', SLOW_SERVER_PY, pair.server.ipv4, String(PORT), '1.5']);
      await waitForTcpPort(lab, pair.server.name, pair.server.ipv4, PORT);
      // `dllt pod shop/web-0` finds the same interface: pods dir → uid → cgroup → netns → veth peer.
      const podIf = findPodInterface('shop/web-0', podsDir);
      assert.deepEqual([podIf.ifindex, podIf.ifname, podIf.pid, podIf.addresses], [ifindex, pair.serverHostIf, server.pid, [pair.server.ipv4]]);

      const curl = inPod(lab, pair.client.name, podB.cgroup, ['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{local_port}', `http://${pair.server.ipv4}:${PORT}/`]);
      const curlRun = await collect(curl, 15_000);
      assert.equal(curlRun.code, 0, curlRun.stderr);
      const clientPort = Number(curlRun.stdout);
      // A refused connection lasts under a millisecond: only eBPF sees curl's socket, and the
      // 00009 event then names curl (the resetting side has no process: nothing listens).
      const refused = inPod(lab, pair.client.name, podB.cgroup, ['curl', '-sS', '--max-time', '5', '-o', '/dev/null', `http://${pair.server.ipv4}:${CLOSED_PORT}/`]);
      assert.equal((await collect(refused, 10_000)).code, 7);
      await sleep(3500);
      dllt.kill('SIGTERM');
      const run = await dlltDone;
      assert.equal(run.code, 0, run.stderr);

      const flows = readJsonLines<FlowRecord>(dir, 'end_flows_').filter((f) => f.proto === 'tcp' && f.dstPort === PORT && f.srcPort === clientPort);
      assert.equal(flows.length, 1, JSON.stringify(flows));
      const ends = readJsonLines<ProcessFlowRecord>(dir, 'process_flows_').filter((p) => p.communityId === flows[0]!.communityId);
      const view = (p: ProcessFlowRecord | undefined) =>
        p && { side: p.side, pid: p.pid, comm: p.comm, containerId: p.containerId, containerRuntime: p.containerRuntime, podUid: p.podUid, podName: p.podName, podNamespace: p.podNamespace, containerName: p.containerName, srcPort: p.srcPort, dstPort: p.dstPort, netns: p.netns, foundBy: p.foundBy };
      assert.deepEqual(view(ends.find((p) => p.side === 'server')), {
        side: 'server', pid: server.pid, comm: 'python3', containerId: podA.containerId, containerRuntime: 'containerd',
        podUid: podA.uid, podName: 'web-0', podNamespace: 'shop', containerName: 'web', srcPort: clientPort, dstPort: PORT,
        netns: statSync(`/run/netns/${pair.server.name}`).ino, foundBy: v.foundBy,
      });
      assert.deepEqual(view(ends.find((p) => p.side === 'client')), {
        side: 'client', pid: curl.pid, comm: 'curl', containerId: podB.containerId, containerRuntime: 'containerd',
        podUid: podB.uid, podName: 'client-7f9c', podNamespace: 'shop', containerName: 'curl', srcPort: clientPort, dstPort: PORT,
        netns: statSync(`/run/netns/${pair.client.name}`).ino, foundBy: v.foundBy,
      });
      assert.equal(ends.length, 2, JSON.stringify(ends));
      const all = notifs();
      const note = all.find((n) => n.kind === 'attribution');
      assert.ok(note && note.attributedFlows! >= 1, JSON.stringify(note));

      const ebpfNotes = all.filter((n) => n.kind.startsWith('ebpf_'));
      // Without CAP_SYS_ADMIN the sock_diag helper cannot enter the pods' namespaces: /proc reads
      // the TCP tables, and the operator is told once.
      const problems = all.filter((n) => n.kind === 'attribution_problem').map((n) => [n.level, n.message]);
      if (v.dropEbpfCaps) {
        assert.equal(problems.length, 1, JSON.stringify(problems));
        assert.match(problems[0]![1]!, /^reading TCP socket tables from \/proc instead of sock_diag \(several times the CPU\): cannot enter \/proc\/\d+\/ns\/net: Operation not permitted: entering another network namespace needs CAP_SYS_ADMIN$/);
      } else assert.deepEqual(problems, []);
      if (v.useEbpf === 'N') assert.deepEqual(ebpfNotes, []);
      else if (v.dropEbpfCaps) {
        assert.deepEqual(ebpfNotes.map((n) => [n.kind, n.level, n.message]), [
          ['ebpf_unavailable', 'warn', 'USE_EBPF=Y: missing capability CAP_SYS_ADMIN (or CAP_BPF with CAP_PERFMON): run as root or grant it (Kubernetes: securityContext.capabilities.add); using /proc'],
        ]);
        assert.equal(readJsonLines(dir, 'processEBPF_').length, 0);
      } else {
        assert.deepEqual(ebpfNotes.map((n) => n.kind), ['ebpf_started']);
        // The raw events: curl's connection in pod B's namespace, credited to connect()'s caller,
        // its accepted end in pod A's to the listener's owner, python's listen() in pod A's.
        const events = readJsonLines<SocketEventRecord>(dir, 'processEBPF_');
        const connected = events.find((e) => e.oldState === 'TCP_SYN_SENT' && e.newState === 'TCP_ESTABLISHED' && e.pid === curl.pid);
        assert.deepEqual(
          connected && [connected.comm, connected.processContext, connected.pidFrom, connected.netns, connected.remoteIP, connected.remotePort],
          ['curl', true, 'socket', statSync(`/run/netns/${pair.client.name}`).ino, pair.server.ipv4, PORT],
        );
        const accepted = events.find((e) => e.oldState === 'TCP_SYN_RECV' && e.newState === 'TCP_ESTABLISHED' && e.remotePort === connected?.localPort);
        assert.deepEqual(accepted && [accepted.pid, accepted.comm, accepted.pidFrom, accepted.localPort], [server.pid, 'python3', 'listener', PORT]);
        const refusedEvent = readJsonLines<EventRecord>(dir, 'netwevents_').find((e) => e.code === '00009' && e.dstPort === CLOSED_PORT);
        assert.deepEqual(refusedEvent && [refusedEvent.side, refusedEvent.processSide, refusedEvent.pid, refusedEvent.comm, refusedEvent.podName, refusedEvent.containerId], ['dst', 'client', refused.pid, 'curl', 'client-7f9c', podB.containerId]);
        const listen = events.find((e) => e.newState === 'TCP_LISTEN' && e.pid === server.pid);
        assert.deepEqual(listen && [listen.comm, listen.localIP, listen.localPort, listen.netns], ['python3', pair.server.ipv4, PORT, statSync(`/run/netns/${pair.server.name}`).ino]);
      }
      passed = true;
    } finally {
      lab.cleanup();
      removeCgroups(cgroupRoot);
      if (passed) rmSync(tmp, { recursive: true, force: true });
      else console.log(`# attribution e2e artifacts kept in ${tmp}`);
    }
  });
}

// The baseline of the attribution bench: the same capture with attribution off (eBPF asked for
// too, so neither attribution method may start).
labScenario('attribution', eventLabUnavailable(['curl']), 'DLLT_ATTRIBUTION=N: flows are written; no attribution, no process_flows or processEBPF file', async (lab) => {
  const { client, server } = lab.pair;
  lab.lab.spawnIn(server.name, 'python3', ['-m', 'http.server', String(PORT), '--bind', server.ipv4]);
  await waitForTcpPort(lab.lab, server.name, server.ipv4, PORT);
  const run = await lab.startCapture('off', { DLLT_ATTRIBUTION: 'N', USE_EBPF: 'Y' });
  const curl = await lab.lab.runIn(client.name, 'curl', ['-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{local_port}', `http://${server.ipv4}:${PORT}/`], 15_000);
  assert.equal(curl.code, 0, curl.stderr);
  await sleep(2500);
  const records = await run.stop();
  const tcp = records.flows.filter((f) => f.proto === 'tcp').map((f) => [f.srcIP, f.srcPort, f.dstIP, f.dstPort]);
  assert.deepEqual(tcp, [[client.ipv4, Number(curl.stdout), server.ipv4, PORT]]);
  assert.deepEqual(readdirSync(run.dir).filter((f) => f.startsWith('process_flows_') || f.startsWith('processEBPF_')), []);
  assert.deepEqual(records.notifs.filter((n) => n.kind === 'attribution' || n.kind.startsWith('ebpf')), []);
});
