/**
 * The Kubernetes manifests and image in deploy/ keep the promises docs/kubernetes.md makes: host
 * namespaces, exactly the documented capabilities, the documented mounts (read-only where only
 * read), read-only RBAC, and seed keys that are real configuration keys with valid examples.
 *
 * YAML is parsed by PyYAML (Debian python3-yaml): the project has no YAML parser among its npm
 * dependencies, and adding one (`yaml`) for a test alone was left to the integrator.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONFIG_CATALOG, loadConfig } from '../src/cli/config.js';

const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));
const docsPath = fileURLToPath(new URL('../../docs/kubernetes.md', import.meta.url));

const CAPABILITIES = ['NET_RAW', 'NET_ADMIN', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYS_ADMIN', 'BPF', 'PERFMON'];

type Doc = Record<string, any>;

function loadYaml(files: string[]): { docs: Record<string, Doc[]> } | { skip: string } {
  const script = 'import sys, json, yaml\njson.dump({f: list(yaml.safe_load_all(open(f))) for f in sys.argv[1:]}, sys.stdout)';
  const r = spawnSync('python3', ['-c', script, ...files], { encoding: 'utf8' });
  if (r.error !== undefined) return { skip: 'python3 is not installed (needed to parse YAML)' };
  if (r.status !== 0 && /No module named .?yaml/.test(r.stderr)) return { skip: 'python3-yaml is not installed (apt-get install python3-yaml)' };
  assert.equal(r.status, 0, r.stderr);
  return { docs: JSON.parse(r.stdout) as Record<string, Doc[]> };
}

const yamlFiles = readdirSync(deployDir).filter((f) => /\.ya?ml$/.test(f)).map((f) => `${deployDir}${f}`);
const loaded = loadYaml(yamlFiles);
const skip = 'skip' in loaded ? loaded.skip : undefined;
if (skip) console.log(`# deploy manifests: YAML tests skipped: ${skip}`);
const all: Doc[] = 'docs' in loaded ? Object.values(loaded.docs).flat().filter((d) => d !== null) : [];

function only(kind: string): Doc {
  const found = all.filter((d) => d['kind'] === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
}

test('every YAML in deploy/ parses, and the kinds are the expected ones', { skip }, () => {
  assert.deepEqual(yamlFiles.map((f) => f.slice(deployDir.length)).sort(), ['dllt-daemonset.yaml', 'dllt-rbac.yaml']);
  assert.deepEqual(all.map((d) => d['kind']).sort(), ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Namespace', 'ServiceAccount']);
  assert.equal(only('Namespace')['metadata']['name'], 'dllt');
});

test('DaemonSet: host network and PIDs, root with exactly the documented capabilities, no privileged mode', { skip }, () => {
  const ds = only('DaemonSet');
  assert.equal(ds['metadata']['namespace'], 'dllt');
  const pod = ds['spec']['template']['spec'];
  assert.equal(pod['hostNetwork'], true);
  assert.equal(pod['hostPID'], true);
  assert.equal(pod['hostIPC'], undefined);
  assert.equal(pod['serviceAccountName'], 'dllt');
  assert.equal(pod['containers'].length, 1);
  const c = pod['containers'][0];
  const sc = c['securityContext'];
  assert.equal(sc['privileged'], false);
  assert.equal(sc['runAsUser'], 0);
  assert.equal(sc['readOnlyRootFilesystem'], true);
  assert.deepEqual(sc['capabilities']['drop'], ['ALL']);
  assert.deepEqual(sc['capabilities']['add'], CAPABILITIES);
  for (const k of ['cpu', 'memory']) {
    assert.ok(c['resources']['requests'][k], `request ${k}`);
    assert.ok(c['resources']['limits'][k], `limit ${k}`);
  }
});

test('DaemonSet: /dllt written, kubelet logs and tracefs read-only, no other host path', { skip }, () => {
  const pod = only('DaemonSet')['spec']['template']['spec'];
  const volumes = new Map<string, Doc>(pod['volumes'].map((v: Doc) => [v['name'], v]));
  const mounts = pod['containers'][0]['volumeMounts'] as Doc[];
  const seen = mounts
    .filter((m) => volumes.get(m['name'])?.['hostPath'] !== undefined)
    .map((m) => `${volumes.get(m['name'])!['hostPath']['path']} -> ${m['mountPath']}${m['readOnly'] === true ? ' ro' : ''}`)
    .sort();
  assert.deepEqual(seen, [
    '/dllt -> /dllt',
    '/sys/kernel/tracing -> /sys/kernel/tracing ro',
    '/var/log/containers -> /var/log/containers ro',
    '/var/log/pods -> /var/log/pods ro',
  ]);
  const hostPaths = [...volumes.values()].filter((v) => v['hostPath'] !== undefined).map((v) => v['hostPath']['path']).sort();
  assert.deepEqual(hostPaths, ['/dllt', '/sys/kernel/tracing', '/var/log/containers', '/var/log/pods']);
});

test('RBAC: one ServiceAccount, allowed only to read pods', { skip }, () => {
  const sa = only('ServiceAccount');
  assert.deepEqual([sa['metadata']['name'], sa['metadata']['namespace']], ['dllt', 'dllt']);
  const role = only('ClusterRole');
  assert.deepEqual(role['rules'], [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
  const binding = only('ClusterRoleBinding');
  assert.deepEqual(binding['roleRef'], { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role['metadata']['name'] });
  assert.deepEqual(binding['subjects'], [{ kind: 'ServiceAccount', name: 'dllt', namespace: 'dllt' }]);
});

/** `# - name: KEY` / `#   value: "V"` pairs: the settings an operator uncomments. */
function commentedEnv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /^\s*#\s*- name: (\w+)[^\n]*\n\s*#\s*value: "([^"]*)"/gm;
  for (const m of text.matchAll(re)) out.set(m[1]!, m[2]!);
  return out;
}

test("the seed's keys are offered in the DaemonSet, commented, as valid configuration", { skip }, () => {
  const text = readFileSync(`${deployDir}dllt-daemonset.yaml`, 'utf8');
  const offered = commentedEnv(text);
  const catalogKeys = CONFIG_CATALOG.map((s) => s.key as string);
  const seedKeys = catalogKeys.filter((k) => !k.startsWith('DLLT_'));
  assert.deepEqual(seedKeys.filter((k) => !offered.has(k)), [], 'every seed key is offered');
  assert.deepEqual([...offered.keys()].filter((k) => !catalogKeys.includes(k)), [], 'only real keys are offered');
  const env: Record<string, string> = Object.fromEntries(offered);
  for (const e of only('DaemonSet')['spec']['template']['spec']['containers'][0]['env'] as Doc[]) {
    if (typeof e['value'] === 'string') env[e['name']] = e['value'];
  }
  const cfg = loadConfig({ flags: {}, env, isWritableDir: () => true });
  assert.equal(cfg.outRoot, '/dllt');
});

test('every capability is explained beside it and in docs/kubernetes.md', () => {
  const text = readFileSync(`${deployDir}dllt-daemonset.yaml`, 'utf8');
  const docs = readFileSync(docsPath, 'utf8');
  for (const cap of CAPABILITIES) {
    assert.match(text, new RegExp(`^\\s*- ${cap}\\s+# \\S`, 'm'), `${cap} commented in the manifest`);
    assert.match(docs, new RegExp(`^\\| \`${cap}\` \\|`, 'm'), `${cap} has a row in docs/kubernetes.md`);
  }
});

test('Dockerfile: Debian Node 20 base, the tools dllt drives, the bundle, dllt as entrypoint', () => {
  const text = readFileSync(`${deployDir}Dockerfile`, 'utf8');
  const bases = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
  assert.deepEqual(bases, ['node:20-bookworm-slim', 'node:20-bookworm-slim']);
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  for (const pkg of ['tcpdump', 'bpftrace', 'iproute2', 'util-linux']) assert.match(runtime, new RegExp(`apt-get install[^\\n]*(\\\\\\n[^\\n]*)*\\b${pkg}\\b`), pkg);
  assert.match(runtime, /^COPY --from=build \/src\/dist\/app \.\/dist\/app$/m);
  assert.match(runtime, /ln -s \/opt\/dllt\/dist\/app\/main\.js \/usr\/local\/bin\/dllt/);
  assert.match(runtime, /^ENTRYPOINT \["dllt"\]$/m);
});
