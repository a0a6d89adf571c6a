/**
 * Pod names from the Kubernetes API, for pods the kubelet's log directories do not name (SPEC 9:
 * "or the API when reachable"): a node whose /var/log/pods is not mounted into dllt's pod, or a
 * runtime that logs elsewhere. Only in-cluster: the service account's token and CA that the
 * kubelet mounts into every pod, the API's address from KUBERNETES_SERVICE_HOST/PORT, and this
 * node's name from NODE_NAME (the DaemonSet sets it from spec.nodeName) so one list call brings
 * only this node's pods.
 *
 * Lookups are synchronous reads of a cache, for the attribution path; a miss asks for a new list
 * in the background (at most one call per refresh interval), and later lookups see the result.
 * Hand-written on node:https rather than @kubernetes/client-node: one GET with a bearer token and
 * a CA does not justify a client with dozens of dependencies.
 */
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeApiPodsOptions {
  /** `https://host:port` of the API server. */
  server: string;
  token: string;
  ca: Buffer;
  /** Only this node's pods (spec.nodeName); all pods when absent. */
  nodeName?: string;
  /** A miss asks for a new list at most this often (ms). */
  refreshIntervalMs?: number;
  /** Pods remembered at most. */
  maxPods?: number;
  timeoutMs?: number;
  clock?: () => number;
  /** A failed or a recovered list call, said once per change. */
  onProblem?: (message: string) => void;
}

export interface ApiPod {
  name: string;
  namespace: string;
  /** Container id (64 hex, runtime prefix removed) → container name. */
  containers: Map<string, string>;
}

const DEFAULT_REFRESH_MS = 10_000;
const DEFAULT_MAX_PODS = 65_536;
const DEFAULT_TIMEOUT_MS = 10_000;
/** A pod list bigger than this is refused rather than parsed (memory bound). */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

export class KubeApiPods {
  private pods = new Map<string, ApiPod>();
  private lastRequest = -Infinity;
  private inFlight: Promise<void> | undefined;
  private lastProblem: string | undefined;
  private readonly clock: () => number;

  constructor(private readonly opts: KubeApiPodsOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  /**
   * The API as a pod of the cluster sees it, or why not: outside a cluster (no
   * KUBERNETES_SERVICE_HOST) or without a service account token, the kubelet's directories are
   * the only source of names.
   */
  static fromEnvironment(env: NodeJS.ProcessEnv = process.env, saDir = SERVICE_ACCOUNT_DIR, extra: Partial<KubeApiPodsOptions> = {}): KubeApiPods | { reason: string } {
    const host = env['KUBERNETES_SERVICE_HOST'];
    const port = env['KUBERNETES_SERVICE_PORT'] ?? '443';
    if (host === undefined || host === '') return { reason: 'not in a Kubernetes pod (KUBERNETES_SERVICE_HOST is not set)' };
    let token: string;
    let ca: Buffer;
    try {
      token = readFileSync(join(saDir, 'token'), 'utf8').trim();
      ca = readFileSync(join(saDir, 'ca.crt'));
    } catch (err) {
      return { reason: `no service account credentials in ${saDir} (${(err as NodeJS.ErrnoException).code ?? String(err)}): set automountServiceAccountToken` };
    }
    const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const nodeName = env['NODE_NAME'] || undefined;
    return new KubeApiPods({ server, token, ca, ...(nodeName !== undefined ? { nodeName } : {}), ...extra });
  }

  get size(): number {
    return this.pods.size;
  }

  lookup(podUid: string): ApiPod | undefined {
    const pod = this.pods.get(podUid);
    if (pod === undefined) this.refreshSoon();
    return pod;
  }

  containerName(podUid: string, containerId: string): string | undefined {
    const pod = this.lookup(podUid);
    const name = pod?.containers.get(containerId);
    if (pod !== undefined && name === undefined) this.refreshSoon();
    return name;
  }

  /** Lists the pods now (or joins the list call under way). Never rejects. */
  refresh(): Promise<void> {
    this.inFlight ??= this.list().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private refreshSoon(): void {
    if (this.inFlight !== undefined || this.clock() - this.lastRequest < (this.opts.refreshIntervalMs ?? DEFAULT_REFRESH_MS)) return;
    void this.refresh();
  }

  private async list(): Promise<void> {
    this.lastRequest = this.clock();
    const path = '/api/v1/pods' + (this.opts.nodeName !== undefined ? `?fieldSelector=${encodeURIComponent(`spec.nodeName=${this.opts.nodeName}`)}` : '');
    try {
      const body = await this.get(path);
      this.pods = parsePodList(body, this.opts.maxPods ?? DEFAULT_MAX_PODS);
      if (this.lastProblem !== undefined) this.opts.onProblem?.(`pod lookups through the Kubernetes API work again (${this.pods.size} pods)`);
      this.lastProblem = undefined;
    } catch (err) {
      const message = `pod lookups through the Kubernetes API at ${this.opts.server} failed: ${(err as Error).message}; pod names come from DLLT_KUBELET_PODS_DIR only (check the dllt-pod-reader RBAC and the network policy)`;
      if (message !== this.lastProblem) this.opts.onProblem?.(message);
      this.lastProblem = message;
    }
  }

  private get(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(
        new URL(path, this.opts.server),
        { method: 'GET', ca: this.opts.ca, headers: { authorization: `Bearer ${this.opts.token}`, accept: 'application/json' }, timeout: this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS },
        (res) => {
          const chunks: Buffer[] = [];
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            if (bytes > MAX_RESPONSE_BYTES) req.destroy(new Error(`the pod list is larger than ${MAX_RESPONSE_BYTES} bytes`));
            else chunks.push(c);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            if (res.statusCode === 200) resolve(text);
            else reject(new Error(`HTTP ${res.statusCode}${apiMessage(text)}`));
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${(this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s`)));
      req.on('error', reject);
      req.end();
    });
  }
}

/** The API's error text (a Status object's message), if the body is one. */
function apiMessage(text: string): string {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    return typeof m === 'string' ? `: ${m}` : '';
  } catch {
    return '';
  }
}

/** A PodList's pods by uid. Malformed items are skipped; a body that is no PodList throws. */
export function parsePodList(text: string, maxPods = DEFAULT_MAX_PODS): Map<string, ApiPod> {
  const list = JSON.parse(text) as { kind?: unknown; items?: unknown };
  if (list.kind !== 'PodList' || !Array.isArray(list.items)) throw new Error('the answer is not a PodList');
  const pods = new Map<string, ApiPod>();
  for (const item of list.items as unknown[]) {
    if (pods.size >= maxPods) break;
    const meta = (item as { metadata?: { uid?: unknown; name?: unknown; namespace?: unknown } } | null)?.metadata;
    if (typeof meta?.uid !== 'string' || typeof meta.name !== 'string' || typeof meta.namespace !== 'string') continue;
    const containers = new Map<string, string>();
    const status = (item as { status?: Record<string, unknown> }).status ?? {};
    for (const key of ['initContainerStatuses', 'containerStatuses', 'ephemeralContainerStatuses']) {
      const statuses = status[key];
      if (!Array.isArray(statuses)) continue;
      for (const s of statuses as Array<{ name?: unknown; containerID?: unknown }>) {
        // `containerd://<64 hex>`, `cri-o://...`, `docker://...`.
        const id = typeof s?.containerID === 'string' ? /^[a-z-]+:\/\/([0-9a-f]{64})$/.exec(s.containerID)?.[1] : undefined;
        if (id !== undefined && typeof s.name === 'string') containers.set(id, s.name);
      }
    }
    pods.set(meta.uid, { name: meta.name, namespace: meta.namespace, containers });
  }
  return pods;
}
