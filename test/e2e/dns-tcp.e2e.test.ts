/**
 * End-to-end test of DNS over TCP: dnsmasq in the server namespace, `dig +tcp` in the client
 * namespace. A name dnsmasq knows gets an A record, and the client's next flow to that address
 * must carry it as `serverName` (with the record's TTL); a name it does not know gets a failure
 * answer, which must raise 00103 on that TCP connection with the rcode and the name that tshark
 * reads from the reference capture. Live and `dllt read` of the reference capture alike.
 *
 * Runs as root with tcpdump, tshark, dnsmasq, dig, curl and python3; otherwise it prints why it
 * is skipped. Traffic stays in the lab's namespaces (10.77.X.0/24).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { eventLabUnavailable, labScenario, sleep, type Records } from './event-lab.js';
import { waitForTcpPort } from './netns.js';

const skip = eventLabUnavailable(['dnsmasq', 'dig', 'curl']);

const KNOWN = 'web.dllt.test';
const UNKNOWN = 'nosuch.dllt.test';
const TTL_S = 300;
const HTTP_PORT = 8080;
/** tshark's dns.flags.rcode as the failure names dllt writes. */
const RCODE_NAMES: Record<string, string> = { '2': 'SERVFAIL', '3': 'NXDOMAIN', '5': 'REFUSED' };

interface TcpAnswer {
  clientPort: number;
  name: string;
  rcode: string;
}

/** The DNS responses carried over TCP in the capture, as tshark reads them. */
function tcpAnswers(pcap: string): TcpAnswer[] {
  const text = execFileSync('tshark', ['-n', '-r', pcap, '-Y', 'tcp && dns.flags.response == 1', '-T', 'fields', '-E', 'separator=|', '-e', 'tcp.dstport', '-e', 'dns.qry.name', '-e', 'dns.flags.rcode'], { encoding: 'utf8' });
  return text.trim().split('\n').filter((l) => l !== '').map((line) => {
    const [port, name, rcode] = line.split('|');
    return { clientPort: Number(port), name: name!, rcode: rcode! };
  });
}

labScenario('dns-tcp', skip, 'DNS over TCP (dig +tcp): a failure answer raises 00103 with tshark\'s rcode and name, an A answer names the next flow', async (lab) => {
  const { client, server } = lab.pair;
  lab.lab.spawnIn(server.name, 'timeout', [
    '60', 'dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--pid-file',
    '--bind-interfaces', `--listen-address=${server.ipv4}`, '--port=53', `--host-record=${KNOWN},${server.ipv4},${TTL_S}`,
  ], { stdio: ['ignore', 'ignore', 'ignore'] });
  lab.lab.spawnIn(server.name, 'timeout', ['60', 'python3', '-m', 'http.server', String(HTTP_PORT), '--bind', server.ipv4, '--directory', lab.tmp], { stdio: ['ignore', 'ignore', 'ignore'] });
  await waitForTcpPort(lab.lab, server.name, server.ipv4, 53);
  await waitForTcpPort(lab.lab, server.name, server.ipv4, HTTP_PORT);

  const run = await lab.startCapture('dns-tcp', { DLLT_TCP_CLOSING_S: '1' });
  const dig = (name: string) => lab.lab.runIn(client.name, 'dig', ['+tcp', '+time=2', '+tries=1', `@${server.ipv4}`, name, 'A'], 10_000);
  const known = await dig(KNOWN);
  assert.match(known.stdout, /status: NOERROR/, known.stdout + known.stderr);
  const unknown = await dig(UNKNOWN);
  const status = /status: (\w+)/.exec(unknown.stdout)?.[1];
  assert.ok(status !== undefined && status !== 'NOERROR', `dnsmasq must fail ${UNKNOWN}: ${unknown.stdout}${unknown.stderr}`);
  const fetch = await lab.lab.runIn(client.name, 'curl', ['-sS', '--max-time', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://${server.ipv4}:${HTTP_PORT}/`], 10_000);
  assert.equal(fetch.stdout, '200', fetch.stderr);
  await sleep(1500);
  const live = await run.stop();

  const answers = tcpAnswers(run.refPcap);
  assert.equal(answers.length, 2, JSON.stringify(answers));
  const failure = answers.find((a) => a.name === UNKNOWN)!;
  assert.equal(RCODE_NAMES[failure.rcode], status, `tshark's rcode ${failure.rcode} and dig's status`);
  const check = (records: Records, label: string): void => {
    const dnsEvents = records.events.filter((e) => e.code === '00103').map((e) => [e.proto, e.srcIP, e.srcPort, e.dstIP, e.dstPort, e.side, e.value]);
    assert.deepEqual(dnsEvents, [['tcp', client.ipv4, failure.clientPort, server.ipv4, 53, 'dst', `${status} ${UNKNOWN} A`]], label);
    const web = records.flows.filter((f) => f.proto === 'tcp' && f.dstPort === HTTP_PORT);
    assert.ok(web.length > 0, `${label}: the HTTP flow`);
    for (const f of web) assert.deepEqual([f.serverName, f.serverNameTtl], [KNOWN, TTL_S], label);
  };
  check(live, 'live');
  check(lab.readFile(run.refPcap, {}), 'read');
});
