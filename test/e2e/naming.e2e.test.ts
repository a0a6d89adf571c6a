/**
 * End-to-end test of flow naming (SPEC 8, issue 6): a dnsmasq resolver in the server namespace
 * answers `api.dllt.test` with a CNAME to `svc.dllt.test` and its A record; curl in the client
 * namespace resolves the name through it (glibc, via /etc/netns/<ns>/resolv.conf) and fetches.
 * The flow records must carry the asked name, the CNAME chain and the chain's TTL, as tshark
 * reads them from the reference capture; an openssl s_client with `-servername x.dllt.test`
 * gives `tls.sni`; a flow the client never resolved (the server connecting back) has no name;
 * and `dllt read` of the reference capture with DLLT_DNS_NAME_MIN_S=0 names exactly the flows
 * that started within the answer's TTL.
 *
 * Runs as root with tcpdump, tshark, python3, curl, openssl and dnsmasq; otherwise it prints
 * why it is skipped. Traffic stays in the lab's namespaces (10.77.X.0/24).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { epochToUs, eventLabUnavailable, labScenario, sleep, tsTextUs, type Records } from './event-lab.js';
import { waitForTcpPort } from './netns.js';
import type { FlowRecord } from '../../src/record/records.js';

const skip = eventLabUnavailable(['curl', 'openssl', 'dnsmasq']);

const HTTP_PORT = 8080;
const TLS_PORT = 8443;
const BACK_PORT = 8081;
const ASKED = 'api.dllt.test';
const TARGET = 'svc.dllt.test';
const SNI = 'x.dllt.test';
/** The CNAME's TTL is the chain's smallest; the A record's is longer. */
const CNAME_TTL_S = 2;
const A_TTL_S = 30;

/** The DNS response that answered `ASKED` with an address, as tshark reads it. */
function answerInCapture(pcap: string): { tsUs: number; client: string; ttls: number[]; cnames: string[] } {
  const text = execFileSync(
    'tshark',
    ['-n', '-r', pcap, '-Y', `dns.flags.response == 1 && dns.qry.name == "${ASKED}" && dns.a`, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.time_epoch', '-e', 'ip.dst', '-e', 'dns.resp.ttl', '-e', 'dns.cname'],
    { encoding: 'utf8' },
  );
  const lines = text.trim().split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `one answer with an address for ${ASKED}: ${text}`);
  const [epoch, client, ttls, cnames] = lines[0]!.split('|');
  return {
    tsUs: epochToUs(epoch!),
    client: client!,
    ttls: ttls!.split(',').map(Number),
    cnames: cnames!.split(','),
  };
}

function tcpFlow(records: Records, port: number, path?: string): FlowRecord[] {
  return records.flows.filter((f) => f.proto === 'tcp' && f.dstPort === port && (path === undefined || f.http?.path === path));
}

labScenario('naming', skip, 'flows carry the DNS name the client asked (CNAME chain, TTL), the TLS SNI, and no name where the client never asked', async (lab) => {
  const { client, server } = lab.pair;
  lab.lab.useNameserver(client.name, server.ipv4);
  lab.lab.spawnIn(server.name, 'timeout', [
    '90', 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--pid-file',
    '--bind-interfaces', `--listen-address=${server.ipv4}`, '--port=53',
    `--host-record=${TARGET},${server.ipv4},${A_TTL_S}`, `--cname=${ASKED},${TARGET},${CNAME_TTL_S}`,
  ], { stdio: ['ignore', 'ignore', 'ignore'] });
  const docs = join(lab.tmp, 'www');
  mkdirSync(docs);
  for (const page of ['by-name', 'later', 'back']) writeFileSync(join(docs, page), `${page}\n`);
  const httpServer = (ns: string, ip: string, port: number) =>
    lab.lab.spawnIn(ns, 'timeout', ['90', 'python3', '-m', 'http.server', String(port), '--bind', ip, '--directory', docs], { stdio: ['ignore', 'ignore', 'ignore'] });
  httpServer(server.name, server.ipv4, HTTP_PORT);
  httpServer(client.name, client.ipv4, BACK_PORT);
  const certDir = join(lab.tmp, 'cert');
  mkdirSync(certDir);
  execFileSync('timeout', ['20', 'openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', `/CN=${SNI}`], { cwd: certDir, stdio: 'ignore' });
  lab.lab.spawnIn(server.name, 'timeout', ['90', 'openssl', 's_server', '-accept', `${server.ipv4}:${TLS_PORT}`, '-cert', join(certDir, 'c.pem'), '-key', join(certDir, 'k.pem'), '-www'], { stdio: ['ignore', 'ignore', 'ignore'] });
  // Probed from inside each namespace: over lo, not on the captured veth.
  await waitForTcpPort(lab.lab, server.name, server.ipv4, HTTP_PORT);
  await waitForTcpPort(lab.lab, server.name, server.ipv4, TLS_PORT);
  await waitForTcpPort(lab.lab, client.name, client.ipv4, BACK_PORT);
  await waitForTcpPort(lab.lab, server.name, server.ipv4, 53);

  const run = await lab.startCapture('naming', { DLLT_TCP_CLOSING_S: '1' });
  const curl = (ns: string, url: string) => lab.lab.runIn(ns, 'curl', ['-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', url], 10_000);
  const byName = await curl(client.name, `http://${ASKED}:${HTTP_PORT}/by-name`);
  assert.equal(byName.stdout, '200', `curl by name: ${byName.stderr}`);
  const tls = await lab.lab.runIn(client.name, 'timeout', ['10', 'openssl', 's_client', '-connect', `${server.ipv4}:${TLS_PORT}`, '-servername', SNI], 15_000, 'GET / HTTP/1.0\r\n\r\n');
  assert.match(tls.stdout, /BEGIN CERTIFICATE|Protocol/, `s_client: ${tls.stderr}`);
  // Past the CNAME's TTL (but within DLLT_DNS_NAME_MIN_S's default), by address.
  await sleep((CNAME_TTL_S + 1) * 1000);
  const later = await curl(client.name, `http://${server.ipv4}:${HTTP_PORT}/later`);
  assert.equal(later.stdout, '200', `curl later: ${later.stderr}`);
  const back = await curl(server.name, `http://${client.ipv4}:${BACK_PORT}/back`);
  assert.equal(back.stdout, '200', `curl back: ${back.stderr}`);
  await sleep(1500);
  const live = await run.stop();

  const answer = answerInCapture(run.refPcap);
  assert.equal(answer.client, client.ipv4);
  assert.deepEqual(answer.cnames, [TARGET]);
  const chainTtl = Math.min(...answer.ttls);
  assert.equal(chainTtl, CNAME_TTL_S, `tshark's TTLs ${answer.ttls}`);

  const check = (records: Records, minHoldS: number, label: string): void => {
    const [named] = tcpFlow(records, HTTP_PORT, '/by-name');
    assert.ok(named, `${label}: the flow fetched by name: ${JSON.stringify(records.flows)}`);
    assert.equal(named.clientIP, client.ipv4);
    assert.equal(named.http?.host, `${ASKED}:${HTTP_PORT}`);
    assert.deepEqual([named.serverName, named.serverNameChain, named.serverNameTtl], [ASKED, [ASKED, TARGET], chainTtl], label);

    const tlsFlows = tcpFlow(records, TLS_PORT);
    assert.equal(tlsFlows.length, 1, label);
    assert.equal(tlsFlows[0]!.tls?.sni, SNI, label);
    const [laterFlow] = tcpFlow(records, HTTP_PORT, '/later');
    assert.ok(laterFlow, label);
    // The oracle: the answer's time in the reference capture, its TTL, and the hold.
    const holdUs = Math.max(chainTtl, minHoldS) * 1_000_000;
    for (const f of [tlsFlows[0]!, laterFlow]) {
      const expected = tsTextUs(f.firstTs) <= answer.tsUs + holdUs ? ASKED : undefined;
      assert.equal(f.serverName, expected, `${label}: ${f.dstPort} ${f.http?.path ?? ''} started ${tsTextUs(f.firstTs) - answer.tsUs} µs after the answer`);
    }
    const [backFlow] = tcpFlow(records, BACK_PORT);
    assert.ok(backFlow, label);
    assert.equal(backFlow.clientIP, server.ipv4);
    assert.equal(backFlow.serverName, undefined, `${label}: the server never asked a name for the client`);
    const dnsFlows = records.flows.filter((f) => f.proto === 'udp' && f.dstPort === 53);
    assert.ok(dnsFlows.length >= 1, label);
  };
  check(live, 60, 'live');
  assert.equal(tcpFlow(live, HTTP_PORT, '/later')[0]!.serverName, ASKED, 'live: the default hold (60 s) outlasts the 2 s TTL');

  const read = lab.readFile(run.refPcap, { DLLT_DNS_NAME_MIN_S: '0' });
  check(read, 0, 'read, hold 0');
  assert.equal(tcpFlow(read, HTTP_PORT, '/later')[0]!.serverName, undefined, 'read with no hold: the TTL has lapsed');
});
