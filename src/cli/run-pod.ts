/**
 * `dllt pod NAMESPACE/NAME` (SPEC 1, 10): the seed's monitorPod.sh as a command. The pod's uid
 * comes from the kubelet's pods directory (DLLT_KUBELET_PODS_DIR), its processes from their
 * kubepods cgroups, the host side of its veth from the network namespace one of them lives in;
 * then it is `dllt capture --ifindex` on that interface, with the pod's addresses as the
 * monitored side (DLLT_LOCAL_NETS): the host end of a veth has no address of its own.
 */
import { hostVethOf } from '../sources/host-veth.js';
import { ProcessIdentityReader } from '../sources/proc/process-identity-reader.js';
import { namespaceAddresses } from '../sources/proc/netns-sockets.js';
import { parseCidr, type Config } from './config.js';
import { DlltError } from './errors.js';
import { runCapture } from './run-capture.js';

export interface PodInterface {
  ifindex: number;
  ifname: string;
  pid: number;
  /** The pod's own addresses: the monitored side of its flows (the host veth has none). */
  addresses: string[];
}

/** The processes of pod `target` (`namespace/name`) running on this node, from the kubelet's pods directory and their cgroups. */
export function findPodProcesses(target: string, podsDir: string, procRoot = '/proc'): number[] {
  const slash = target.indexOf('/');
  if (slash <= 0 || slash === target.length - 1 || target.indexOf('/', slash + 1) >= 0) {
    throw new DlltError('DLLT_ERR_USAGE', `pod "${target}" is not NAMESPACE/NAME`, { hint: 'e.g. dllt pod shop/web-0' });
  }
  const [namespace, name] = [target.slice(0, slash), target.slice(slash + 1)];
  const reader = new ProcessIdentityReader({ procRoot, podsDir });
  const pod = reader.pods.findPod(namespace, name);
  if (pod === undefined) {
    throw new DlltError('DLLT_ERR_CAPTURE_NO_INTERFACE', `pod ${target} has no entry in ${podsDir} (no ${namespace}_${name}_<uid> directory): it does not run on this node`, {
      hint: 'run dllt on the pod\'s node (kubectl get pod -o wide), or set DLLT_KUBELET_PODS_DIR',
    });
  }
  const pids = reader.podProcesses(pod.uid);
  if (pids.length === 0) {
    throw new DlltError('DLLT_ERR_CAPTURE_NO_INTERFACE', `pod ${target} (uid ${pod.uid}) has no running process on this node (no cgroup names it)`, {
      hint: 'the pod may be terminating; check kubectl get pod',
    });
  }
  return pids;
}

/** The host-side interface of pod `target` (`namespace/name`) on this node. */
export function findPodInterface(target: string, podsDir: string, procRoot = '/proc'): PodInterface {
  const pids = findPodProcesses(target, podsDir, procRoot);
  const reasons = new Set<string>();
  for (const pid of pids) {
    const veth = hostVethOf(pid);
    if ('error' in veth) {
      reasons.add(veth.error);
      continue;
    }
    return { ifindex: veth.hostIfindex, ifname: veth.hostIfname, pid, addresses: namespaceAddresses(pid, procRoot) ?? [] };
  }
  throw new DlltError('DLLT_ERR_CAPTURE_NO_INTERFACE', `no host veth found for pod ${target}: ${[...reasons].join('; ')}`, {
    hint: 'a hostNetwork pod has no veth of its own: capture on the node\'s interface instead',
  });
}

export async function runPod(config: Config, target: string): Promise<number> {
  const found = findPodInterface(target, config.kubeletPodsDir);
  if (!config.quiet) process.stderr.write(`dllt: pod ${target}: host interface ${found.ifname} (index ${found.ifindex}), found through pid ${found.pid}, addresses ${found.addresses.join(' ') || 'none'}\n`);
  const podNets = found.addresses.map((a) => parseCidr(a)).filter((n) => n !== undefined);
  return runCapture({ ...config, interfaceIndex: found.ifindex, localNets: [...config.localNets, ...podNets] }, undefined);
}
