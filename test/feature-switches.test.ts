/**
 * DLLT_EVENTS and DLLT_APP_PARSING switch off what they name and nothing else, on every corpus
 * capture: without events the flow records are the same objects as with everything on (their
 * tls, http and serverName included); without application parsing they are the same minus those
 * fields (serverName's chain and TTL with it), and the events are the same minus the ones only the parsers raise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { analyzeCaptureFile } from '../src/cli/analyze-file.js';
import type { EventRecord, FlowRecord } from '../src/record/records.js';
import { CORPUS_DIR, readManifest } from './support/corpus.js';

/** 00003, 00004, 00005 (TLS) and 00103 (DNS failure) come from the application parsers. */
const PARSER_CODES = new Set(['00003', '00004', '00005', '00103']);
const APP_FIELDS = ['tls', 'http', 'serverName', 'serverNameChain', 'serverNameTtl'] as const;

/** Records keep absent fields as undefined members. */
function withoutAppFields(f: FlowRecord): FlowRecord {
  const copy: FlowRecord = { ...f };
  for (const k of APP_FIELDS) copy[k] = undefined;
  return copy;
}

test('DLLT_EVENTS=N keeps the flow records whole; DLLT_APP_PARSING=N drops only the parsed fields and events', async () => {
  const seen = { flowsWithAppFields: 0, parserEvents: 0, otherEvents: 0 };
  for (const row of readManifest()) {
    const path = join(CORPUS_DIR, row.file);
    const all = (await analyzeCaptureFile(path)).output;
    const noEvents = (await analyzeCaptureFile(path, { DLLT_EVENTS: 'N' })).output;
    const noParsing = (await analyzeCaptureFile(path, { DLLT_APP_PARSING: 'N' })).output;

    assert.deepEqual(noEvents.flows, all.flows, `${row.file}: DLLT_EVENTS=N changed the flow records`);
    assert.deepEqual(noEvents.events, [], `${row.file}: DLLT_EVENTS=N still raised events`);

    assert.deepEqual(noParsing.flows, all.flows.map(withoutAppFields), `${row.file}: DLLT_APP_PARSING=N changed more than tls/http/serverName`);
    const parserFree = (events: EventRecord[]): EventRecord[] => events.filter((e) => !PARSER_CODES.has(e.code));
    assert.deepEqual(noParsing.events, parserFree(all.events), `${row.file}: DLLT_APP_PARSING=N changed the other events`);

    seen.flowsWithAppFields += all.flows.filter((f) => APP_FIELDS.some((k) => f[k] !== undefined)).length;
    seen.parserEvents += all.events.length - parserFree(all.events).length;
    seen.otherEvents += parserFree(all.events).length;
  }
  // The corpus has TLS, HTTP and DNS in it: the comparisons above were not between empty sets.
  console.log(`corpus: ${JSON.stringify(seen)}`);
  assert.ok(seen.flowsWithAppFields > 0 && seen.parserEvents > 0 && seen.otherEvents > 0, JSON.stringify(seen));
});
