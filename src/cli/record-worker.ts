/**
 * The record worker: owns the run's DLLT files and turns flow snapshot batches into records
 * there, off the per-packet thread. Started by WorkerRecordStage; speaks its message protocol.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { InlineRecordStage } from '../record/record-stage.js';
import { notifRecord } from '../record/notif.js';
import type { DlltFileSink } from '../sinks/dllt-files.js';
import { compiledRoleRules, openRunFiles } from './run-files.js';
import { newBatchArrays } from '../record/flow-snapshot.js';
import { EventProcesses } from '../record/event-processes.js';
import { AttributionClient, type AttributionStats } from './attribution-client.js';
import { unpackAppInfos, unpackDnsAnswers } from './flat-extras.js';
import { SLOT_GENERATION, SLOT_STATE_FREE, STAGE_FAILED, STAGE_STATUS, type StageMessage, type WorkerInit, type WorkerReply } from './worker-record-stage.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const slotStates = new Int32Array(init.slotStates);
const slots = init.slotNums.map((nums, i) => newBatchArrays(nums, init.slotHistory[i]!));

function reply(m: WorkerReply): void {
  port.postMessage(m);
}

let sink: DlltFileSink;
let stage: InlineRecordStage | undefined;
let attribution: AttributionClient | undefined;
let eventProcesses: EventProcesses | undefined;
try {
  const files = openRunFiles(init, (text) => reply({ t: 'warning', text }), {
    processFlows: init.attribution !== undefined,
    socketEvents: init.attribution?.useEbpf === true,
  });
  sink = files.sink;
  if (init.attribution !== undefined) {
    const events = new EventProcesses((rec) => sink.writeEvent(rec));
    eventProcesses = events;
    attribution = new AttributionClient({ ...init.attribution, lines: { ifName: init.ifName, format: init.sink.format } }, {
      found: (bytes, sizes, ends, settled) => {
        sink.writeProcessFlowLines(bytes, sizes);
        events.found(ends);
        events.settled(settled);
      },
      socketEvents: (bytes, sizes) => sink.writeSocketEventLines(bytes, sizes),
      notice: files.notice,
    });
  }
  const client = attribution;
  const events = eventProcesses;
  stage = new InlineRecordStage(sink, init.ifName, {
    roleRules: compiledRoleRules(init.roleRules),
    dnsNameMinS: init.dnsNameMinS,
    onFlowStart:
      client === undefined
        ? undefined
        : (flow) => {
            client.flowStarted(flow);
            events!.flowStarted(flow.serial, flow.clientIsSrc);
          },
    onEvent: events === undefined ? undefined : (rec, serial) => events.event(rec, serial),
  });
  reply({ t: 'ready' });
} catch (err) {
  const e = err as { code?: string; message?: string; hint?: string };
  // A packet thread may already be waiting for a slot: wake it to see the failure.
  Atomics.store(slotStates, STAGE_STATUS, STAGE_FAILED);
  Atomics.add(slotStates, SLOT_GENERATION, 1);
  Atomics.notify(slotStates, SLOT_GENERATION);
  reply({ t: 'error', code: e.code ?? 'DLLT_ERR_INTERNAL', message: e.message ?? String(err), hint: e.hint });
}

// Messages sent while it started: after a failed start only the ring's owner needs to know
// (STAGE_STATUS above), and the main thread stops this worker.
port.on('message', (m: StageMessage) => {
  if (stage === undefined) return;
  switch (m.t) {
    case 'flows': {
      const slot = slots[m.slot]!;
      try {
        unpackAppInfos(m.apps, (serial, info) => stage.appInfo(serial, info));
        unpackDnsAnswers(m.dns, (answer) => stage.dnsAnswer(answer));
        stage.flows(slot.nums, slot.history, m.count);
        attribution?.send();
      } finally {
        Atomics.store(slotStates, m.slot, SLOT_STATE_FREE);
        Atomics.add(slotStates, SLOT_GENERATION, 1);
        Atomics.notify(slotStates, SLOT_GENERATION);
      }
      break;
    }
    case 'notif':
      stage.notif(m.rec);
      break;
    case 'summary':
      stage.summary(m.text);
      break;
    case 'iface':
      stage.interfaceName(m.id, m.name);
      break;
    case 'vif_gone':
      stage.interfaceGone(m.gone);
      break;
    case 'close':
      void closeAll().then(() => reply({ t: 'closed' }));
      break;
  }
});

async function closeAll(): Promise<void> {
  if (attribution !== undefined) noteAttribution(await attribution.close());
  eventProcesses?.flush();
  await sink.close();
}

function noteAttribution(s: AttributionStats): void {
  const unattributed = s.localFlows - s.attributedFlows;
  sink.writeNotif(notifRecord(init.ifName, 'info', 'attribution',
    `attribution: ${s.flows} TCP/UDP flows, ${s.localFlows} with an end on this host, ${s.attributedFlows} of those with every local end's process found (${s.ends} ends)` +
      (unattributed > 0 ? `; ${unattributed} not fully attributed (their sockets closed before /proc was read, or are held by no process)` : ''),
    { flows: s.flows, localFlows: s.localFlows, attributedFlows: s.attributedFlows, ends: s.ends }));
}
