/**
 * PacketlessRecorder on flows the real SocketFlowTable makes from `ss` lines (in the format
 * iproute2 prints), with the real /proc identity reader: the records' packet-only fields absent,
 * the Community ID of the spec's own test vector, interim records at the active timeout, and a
 * server end known only from its destroyed socket credited to its listener's owner.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { FlowRecord, ProcessFlowRecord } from '../record/records.js';
import { parseSsLine, type TcpSocketInfo } from '../sources/packetless/ss-parse.js';
import { SocketFlowTable } from '../sources/packetless/socket-flows.js';
import { ProcessIdentityReader } from '../sources/proc/process-identity-reader.js';
import { PacketlessRecorder } from './packetless-recorder.js';

const NETNS = 4026530001;
/** No such process: /proc has nothing, so what `ss` said is all there is. */
const GONE_PID = 2_147_483_646;

function info(line: string): TcpSocketInfo {
  const parsed = parseSsLine(line);
  assert.ok(parsed, line);
  return parsed;
}

function setup(activeTimeoutUs: number) {
  const flows: FlowRecord[] = [];
  const procs: ProcessFlowRecord[] = [];
  const recorder = new PacketlessRecorder({ writeFlow: (r) => flows.push(r), writeProcessFlow: (r) => procs.push(r) }, 'packetless', activeTimeoutUs, new ProcessIdentityReader());
  const table = new SocketFlowTable(recorder);
  const cycle = (): void => {
    table.finishCycle();
    recorder.onCycleEnd();
  };
  return { flows, procs, recorder, table, cycle };
}

test('a server end known only from its destroyed socket: Community ID, server-side rtt, no client counters, the listener\'s owner in process_flows', () => {
  const { flows, procs, table, cycle } = setup(60_000_000);
  const t0 = 1_795_000_000_000_000;
  table.applyTable(NETNS, [info(`LISTEN 0 128 *:80 *:* users:(("web",pid=${process.pid},fd=3)) ino:77 sk:1`)], t0, true);
  cycle();
  // The spec's vector: 128.232.110.120:34855 → 66.35.250.204:80 is 1:LQU9qZlK+B5F3KDmev6m5PMibrg=.
  table.applyDestroyed(NETNS, info('UNCONN 0 0 66.35.250.204:80 128.232.110.120:34855 ino:0 sk:2a ts sack cubic rto:204 rtt:1.5/0.75 cwnd:10 bytes_sent:500 bytes_acked:501 bytes_received:300 segs_out:4 segs_in:5 retrans:0/2 lastsnd:10 lastrcv:20 minrtt:1.2'), t0 + 1_000_000);
  cycle();
  cycle();

  assert.deepEqual(flows.map((f) => f.type), ['flow_start', 'flow_end']);
  const end = flows[1]!;
  assert.deepEqual(
    [end.srcIP, end.srcPort, end.dstIP, end.dstPort, end.communityId, end.roleMethod, end.endReason],
    ['128.232.110.120', 34855, '66.35.250.204', 80, '1:LQU9qZlK+B5F3KDmev6m5PMibrg=', 'listener', 'fin'],
  );
  assert.deepEqual([end.srcPayloadBytes, end.dstPayloadBytes, end.srcPkts, end.dstPkts], [300, 500, 5, 4], 'payload and segments from the server socket');
  assert.deepEqual([end.retransSrc, end.retransDst, end.rttUs, end.rttVarUs, end.minRttUs, end.rttSide], [undefined, 2, 1500, 750, 1200, 'server']);
  for (const absent of ['srcBytes', 'dstBytes', 'connState', 'history', 'srcTcpFlags', 'outOfOrderSrc', 'synToSynAckUs'] as const) assert.equal(end[absent], undefined, absent);
  assert.equal(end.tsUs, t0 + 1_000_000, 'ts is when the counters were read');

  assert.equal(procs.length, 1);
  const server = procs[0]!;
  assert.deepEqual(
    [server.side, server.pid, server.comm, server.via, server.netns, server.communityId, server.tsUs],
    ['server', process.pid, readFileSync('/proc/self/comm', 'utf8').trim(), 'listener', NETNS, end.communityId, t0 + 1_000_000],
    'the listener owner, identified from /proc',
  );
});

test('an open flow gets a flow_update each active timeout; a process /proc no longer has is written as ss named it', () => {
  const { flows, procs, table, cycle } = setup(500_000);
  const t0 = 1_795_000_000_000_000;
  const client = (bytes: number): TcpSocketInfo =>
    info(`ESTAB 0 0 10.77.200.1:40000 10.77.200.2:8080 users:(("curl",pid=${GONE_PID},fd=5)) uid:1000 ino:91 sk:3b <-> ts sack cubic rto:204 rtt:2/1 cwnd:10 bytes_sent:${bytes} bytes_acked:${bytes + 1} segs_out:9 segs_in:7 data_segs_out:3 minrtt:1.5`);
  const readings = [0, 300_000, 600_000, 900_000, 1_200_000];
  for (const [i, dt] of readings.entries()) {
    table.applyTable(NETNS, [client(1000 * (i + 1))], t0 + dt, true);
    cycle();
  }
  assert.deepEqual(
    flows.map((f) => [f.type, f.tsUs - t0, f.srcPayloadBytes]),
    [
      ['flow_start', 0, 1000],
      ['flow_update', 600_000, 3000],
      ['flow_update', 1_200_000, 5000],
    ],
  );
  assert.deepEqual(flows[1]!.roleMethod, 'connect');
  assert.deepEqual(
    procs.map((p) => [p.side, p.pid, p.comm, p.uid, p.exe, p.via]),
    [['client', GONE_PID, 'curl', 1000, undefined, 'socket']],
    'one record per end, written once',
  );
});
