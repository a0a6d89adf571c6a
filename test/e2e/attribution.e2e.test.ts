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
 * Runs as root with a cgroup v2 hierarchy, python3 and curl; otherwise it prints why it skips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collect, ifindexOf, labUnavailableReason, NetnsLab, waitForTcpPort } from './netns.js';
import { CLI, packetSocketsOn, readJsonLines, sleep, waitFor } from './event-lab.js';
import type { FlowRecord, ProcessFlowRecord } from '../../src/record/records.js';
import { findPodInterface } from '../../src/cli/run-pod.js';

/** The cgroup v2 hierarchy: alone, or hybrid's `unified` (ENVIRONMENT.md). */
const CGROUP2 = existsSync('/sys/fs/cgroup/unified/cgroup.procs') ? '/sys/fs/cgroup/unified' : existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : undefined;
const skip = labUnavailableReason(['python3', 'curl']) ?? (CGROUP2 === undefined ? 'no cgroup v2 hierarchy to place the pods\' processes in' : undefined);
if (skip) console.log(`# attribution e2e skipped: ${skip}`);

const PORT = 8080;

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

interface FakePod {
  namespace: string;
  name: string;
  uid: string;
  container: string;
  containerId: string;
  /** cgroup directory (absolute) the pod's container processes go in. */
  cgroup: string;
}

function makePod(root: string, podsDir: string, namespace: string, name: string, container: string): FakePod {
  const uid = [8, 4, 4, 4, 12].map((n) => randomBytes(n / 2).toString('hex')).join('-');
  const containerId = randomBytes(32).toString('hex');
  const slice = `kubepods-besteffort-pod${uid.replaceAll('-', '_')}.slice`;
  const cgroup = join(root, 'kubepods.slice', 'kubepods-besteffort.slice', slice, `cri-containerd-${containerId}.scope`);
  mkdirSync(cgroup, { recursive: true });
  mkdirSync(join(podsDir, `${namespace}_${name}_${uid}`, container), { recursive: true });
  writeFileSync(join(podsDir, `${namespace}_${name}_${uid}`, container, '0.log'), '');
  const containersDir = join(podsDir, '..', 'containers');
  mkdirSync(containersDir, { recursive: true });
  symlinkSync(join(podsDir, `${namespace}_${name}_${uid}`, container, '0.log'), join(containersDir, `${name}_${namespace}_${container}-${containerId}.log`));
  return { namespace, name, uid, container, containerId, cgroup };
}

/** Removes a cgroup tree deepest first (its processes must be gone). */
function removeCgroups(dir: string): void {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) removeCgroups(join(dir, entry.name));
  try {
    rmdirSync(dir);
  } catch {
    // A process still inside: left for the next run's cleanup rather than failing the test here.
  }
}

/** Runs `argv` inside netns `ns` as a member of cgroup `cgroup` (it joins before exec).
 *  nsenter, not `ip netns exec`: the latter remounts /sys, hiding the cgroup hierarchy. */
function inPod(lab: NetnsLab, ns: string, cgroup: string, argv: string[]) {
  const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return lab.spawnHost('nsenter', [`--net=/run/netns/${ns}`, 'sh', '-c', `echo $$ > '${cgroup}/cgroup.procs' && exec ${quoted}`]);
}

for (const useEbpf of ['N']) {
  test(`USE_EBPF=${useEbpf}: process_flows names both ends of a pod-to-pod connection (pid, comm, container, pod) on pod A's host veth`, { skip, timeout: 60_000 }, async () => {
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
      const server = inPod(lab, pair.server.name, podA.cgroup, ['python3', '-c', SLOW_SERVER_PY, pair.server.ipv4, String(PORT), '1.5']);
      await waitForTcpPort(lab, pair.server.name, pair.server.ipv4, PORT);

      const out = join(tmp, 'out');
      const ifindex = ifindexOf(pair.serverHostIf);
      // `dllt pod shop/web-0` finds the same interface: pods dir → uid → cgroup → netns → veth peer.
      const podIf = findPodInterface('shop/web-0', podsDir);
      assert.deepEqual([podIf.ifindex, podIf.ifname, podIf.pid], [ifindex, pair.serverHostIf, server.pid]);
      const dllt = lab.spawnHost(process.execPath, [CLI, 'capture', '--ifindex', String(ifindex), '--out', out], {
        env: { ...process.env, USE_EBPF: useEbpf, DLLT_KUBELET_PODS_DIR: podsDir, DLLT_TCP_CLOSING_S: '1' },
      });
      const before = packetSocketsOn(ifindex);
      const dlltDone = collect(dllt, 60_000);
      const dir = join(out, 'logs', `dllt${ifindex}`);
      await waitFor(() => packetSocketsOn(ifindex) > before, 'dllt to open the interface');
      await sleep(300);

      const curl = inPod(lab, pair.client.name, podB.cgroup, ['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{local_port}', `http://${pair.server.ipv4}:${PORT}/`]);
      const curlRun = await collect(curl, 15_000);
      assert.equal(curlRun.code, 0, curlRun.stderr);
      const clientPort = Number(curlRun.stdout);
      await sleep(2500);
      dllt.kill('SIGTERM');
      const run = await dlltDone;
      assert.equal(run.code, 0, run.stderr);

      const flows = readJsonLines<FlowRecord>(dir, 'end_flows_').filter((f) => f.proto === 'tcp' && f.dstPort === PORT && f.srcPort === clientPort);
      assert.equal(flows.length, 1, JSON.stringify(flows));
      const ends = readJsonLines<ProcessFlowRecord>(dir, 'process_flows_').filter((p) => p.communityId === flows[0]!.communityId);
      const view = (p: ProcessFlowRecord | undefined) =>
        p && { side: p.side, pid: p.pid, comm: p.comm, containerId: p.containerId, containerRuntime: p.containerRuntime, podUid: p.podUid, podName: p.podName, podNamespace: p.podNamespace, containerName: p.containerName, srcPort: p.srcPort, dstPort: p.dstPort };
      assert.deepEqual(view(ends.find((p) => p.side === 'server')), {
        side: 'server', pid: server.pid, comm: 'python3', containerId: podA.containerId, containerRuntime: 'containerd',
        podUid: podA.uid, podName: 'web-0', podNamespace: 'shop', containerName: 'web', srcPort: clientPort, dstPort: PORT,
      });
      assert.deepEqual(view(ends.find((p) => p.side === 'client')), {
        side: 'client', pid: curl.pid, comm: 'curl', containerId: podB.containerId, containerRuntime: 'containerd',
        podUid: podB.uid, podName: 'client-7f9c', podNamespace: 'shop', containerName: 'curl', srcPort: clientPort, dstPort: PORT,
      });
      assert.equal(ends.length, 2, JSON.stringify(ends));
      const note = readJsonLines<{ kind: string; attributedFlows?: number; localFlows?: number }>(dir, 'log_notif_').find((n) => n.kind === 'attribution');
      assert.ok(note && note.attributedFlows! >= 1, JSON.stringify(note));
      passed = true;
    } finally {
      lab.cleanup();
      removeCgroups(cgroupRoot);
      if (passed) rmSync(tmp, { recursive: true, force: true });
      else console.log(`# attribution e2e artifacts kept in ${tmp}`);
    }
  });
}
