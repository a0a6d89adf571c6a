/**
 * KubeApiPods against an HTTPS server on loopback that answers GET /api/v1/pods as the API
 * server does (a PodList; a Status object on errors). No Kubernetes API server runs on these
 * machines, so this server stands in for it at the HTTP boundary: TLS with a CA the test makes
 * with openssl, the bearer token, the field selector, and the PodList shape of the v1 API
 * (metadata.uid/name/namespace, status.containerStatuses[].containerID `containerd://<id>`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { KubeApiPods, parsePodList } from './kube-api-pods.js';

const TOKEN = 'dllt-test-token';
const WEB_ID = 'a'.repeat(64);
const SIDECAR_ID = 'b'.repeat(64);
const INIT_ID = 'c'.repeat(64);

const POD_LIST = {
  kind: 'PodList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '4242' },
  items: [
    {
      metadata: { name: 'web-0', namespace: 'shop', uid: '04b92617-ff25-2bcb-5e78-3e989bf77385' },
      spec: { nodeName: 'node-a' },
      status: {
        initContainerStatuses: [{ name: 'migrate', containerID: `containerd://${INIT_ID}` }],
        containerStatuses: [
          { name: 'web', containerID: `containerd://${WEB_ID}` },
          { name: 'envoy', containerID: `cri-o://${SIDECAR_ID}` },
          { name: 'starting' },
        ],
      },
    },
    { metadata: { name: 'no-uid', namespace: 'shop' } },
    null,
  ],
};

function makeCa(dir: string): { key: string; cert: string } {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=kubernetes', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
}

interface FakeApi {
  server: Server;
  url: string;
  paths: string[];
  status: number;
}

async function startApi(tls: { key: string; cert: string }): Promise<FakeApi> {
  const api: FakeApi = { server: undefined as unknown as Server, url: '', paths: [], status: 200 };
  api.server = createServer(tls, (req, res) => {
    api.paths.push(req.url ?? '');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', status: 'Failure', message: 'Unauthorized', code: 401 }));
      return;
    }
    if (api.status !== 200) {
      res.writeHead(api.status, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', status: 'Failure', message: 'pods is forbidden: User "system:serviceaccount:dllt:dllt" cannot list resource "pods"', code: api.status }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(POD_LIST));
  });
  await new Promise<void>((r) => api.server.listen(0, '127.0.0.1', r));
  api.url = `https://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
  return api;
}

const skip = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'openssl is missing (apt-get install openssl)';
  }
})();
if (skip) console.log(`# kube API tests skipped: ${skip}`);

test('in-cluster credentials: pods of this node by uid, container names by id; a miss asks again at most once per interval; errors said once with the API\'s message', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dllt-kube-'));
  const tls = makeCa(dir);
  const api = await startApi(tls);
  try {
    writeFileSync(join(dir, 'token'), TOKEN + '\n');
    writeFileSync(join(dir, 'ca.crt'), tls.cert);
    let now = 0;
    const problems: string[] = [];
    const port = api.url.split(':').pop()!;
    const pods = KubeApiPods.fromEnvironment({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: port, NODE_NAME: 'node-a' }, dir, { clock: () => now, refreshIntervalMs: 10_000, onProblem: (m) => problems.push(m) });
    assert.ok(pods instanceof KubeApiPods);
    await pods.refresh();
    assert.deepEqual(api.paths, ['/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a']);
    const web = pods.lookup('04b92617-ff25-2bcb-5e78-3e989bf77385');
    assert.deepEqual([web?.name, web?.namespace], ['web-0', 'shop']);
    assert.deepEqual(
      [WEB_ID, SIDECAR_ID, INIT_ID].map((id) => pods.containerName('04b92617-ff25-2bcb-5e78-3e989bf77385', id)),
      ['web', 'envoy', 'migrate'],
    );
    assert.equal(pods.size, 1);

    // Unknown uids: one new list call per interval, however many misses.
    assert.equal(pods.lookup('unknown'), undefined);
    assert.equal(pods.lookup('unknown'), undefined);
    await pods.refresh();
    assert.equal(api.paths.length, 2, 'a miss within the interval does not call again');
    now += 10_001;
    api.status = 403;
    pods.lookup('unknown');
    await pods.refresh();
    await pods.refresh();
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^pod lookups through the Kubernetes API at https:\/\/127\.0\.0\.1:\d+ failed: HTTP 403: pods is forbidden: User "system:serviceaccount:dllt:dllt" cannot list resource "pods"; pod names come from DLLT_KUBELET_PODS_DIR only/);
    assert.equal(pods.lookup('04b92617-ff25-2bcb-5e78-3e989bf77385')?.name, 'web-0', 'names already known are kept');
    api.status = 200;
    await pods.refresh();
    assert.equal(problems[1], 'pod lookups through the Kubernetes API work again (1 pods)');

    // A CA that did not sign the server's certificate: refused, said.
    const other = makeCa(mkdtempSync(join(dir, 'other-')));
    const strict = new KubeApiPods({ server: api.url, token: TOKEN, ca: Buffer.from(other.cert), onProblem: (m) => problems.push(m) });
    await strict.refresh();
    assert.equal(strict.size, 0);
    assert.match(problems[2]!, /failed: .*(self.signed|certificate)/i);
  } finally {
    api.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('outside a cluster, or without credentials, the reason says so', () => {
  const none = KubeApiPods.fromEnvironment({}, '/nonexistent');
  assert.deepEqual(none, { reason: 'not in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)' });
  const noToken = KubeApiPods.fromEnvironment({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }, '/nonexistent');
  assert.deepEqual(noToken, { reason: 'no service account credentials in /nonexistent (ENOENT): set automountServiceAccountToken' });
});

test('a body that is not a PodList is refused; malformed items are skipped', () => {
  assert.throws(() => parsePodList('{"kind":"Status"}'), /not a PodList/);
  assert.throws(() => parsePodList('<html>'));
  assert.equal(parsePodList(JSON.stringify(POD_LIST)).size, 1);
  assert.equal(parsePodList(JSON.stringify({ kind: 'PodList', items: [1, 'x', { metadata: { uid: 5 } }] })).size, 0);
});
