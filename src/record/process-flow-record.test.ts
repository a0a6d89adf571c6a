/**
 * The hand-written process_flow JSON line against the generic serializer, for identities from
 * complete (a pod's process, with characters JSON must escape) to a bare pid, and flows of both
 * families and protocols.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { identityJson, processFlowRecord, writeProcessFlowJson, type IdentifiedEnd } from './process-flow-record.js';
import { LineBytes, piece } from './line-bytes.js';
import { toJsonLine } from './serialize.js';
import type { ProcessIdentity } from '../analyze/enrich/process-identity.js';

const POD_PROCESS: ProcessIdentity = {
  pid: 4242,
  ppid: 1,
  comm: 'python3',
  exe: '/usr/bin/python3.11',
  cmdline: 'python3 -c print("a\\tb") é \u0001',
  uid: 1000,
  user: 'web "admin"',
  containerId: 'a'.repeat(64),
  containerRuntime: 'containerd',
  podUid: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
  podName: 'web-0',
  podNamespace: 'shop',
  containerName: 'app',
};

const FLOWS = [
  { serial: 1, proto: 6, srcIP: '10.77.1.1', srcPort: 40000, dstIP: '10.77.1.2', dstPort: 80, clientIsSrc: true, communityId: '1:LQU9qZlK+B5F3KDmev6m5PMibrg=', firstTsUs: 1_763_900_000_123_456 },
  { serial: 2, proto: 17, srcIP: 'fd77::1', srcPort: 5353, dstIP: 'fd77::2', dstPort: 53, clientIsSrc: false, communityId: '', firstTsUs: 1_763_900_001_000_000 },
  { serial: 3, proto: 132, srcIP: '10.77.1.1', srcPort: 1, dstIP: '10.77.1.2', dstPort: 2, clientIsSrc: true, communityId: '1:x', firstTsUs: 0 },
];

test('writeProcessFlowJson writes what toJsonLine(processFlowRecord()) writes, byte for byte, a line per end', () => {
  const identities: ProcessIdentity[] = [POD_PROCESS, { pid: 7 }, { pid: 8, comm: 'curl', uid: 0, podName: 'client' }, { pid: 9, comm: 'we"ird\\\u00e9', cmdline: 'a\nb \u0001' }];
  for (const ifName of ['dllt7', 'a "quoted" name']) {
    const out = new LineBytes();
    const expected: string[] = [];
    for (const flow of FLOWS) {
      for (const identity of identities) {
        for (const [side, via, foundBy] of [['client', 'socket', 'proc'], ['server', 'listener', 'ebpf'], ['client', 'socket', 'ss']] as const) {
          const end: IdentifiedEnd = { flow, identity, side, netns: 4026532001, via, foundBy };
          writeProcessFlowJson(out, piece(JSON.stringify(ifName)), end, identityJson(identity));
          expected.push(toJsonLine(processFlowRecord(ifName, end)));
        }
      }
    }
    assert.equal(out.lines, expected.length);
    let at = 0;
    for (let i = 0; i < out.lines; i++) {
      assert.equal(Buffer.from(out.bytes.subarray(at, at + out.lineSizes[i]!)).toString('utf8'), expected[i]);
      at += out.lineSizes[i]!;
    }
  }
});
