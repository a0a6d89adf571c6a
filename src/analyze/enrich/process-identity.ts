/**
 * Who is behind one end of a flow on this host (SPEC 9): the process, its container and, on
 * Kubernetes, its pod. Filled by the sources that can see it (/proc, eBPF); absent fields are
 * unknown, never zero or empty.
 */
export interface ProcessIdentity {
  pid: number;
  ppid?: number;
  /** /proc/<pid>/comm (at most 15 bytes, as the kernel keeps it). */
  comm?: string;
  /** The /proc/<pid>/exe link's target. */
  exe?: string;
  /** /proc/<pid>/cmdline, arguments joined by spaces, cut at CMDLINE_MAX_CHARS with a trailing `…`. */
  cmdline?: string;
  /** Real uid. */
  uid?: number;
  /** The uid's name in the host's /etc/passwd. */
  user?: string;
  /** 64-hex container id from the cgroup path. */
  containerId?: string;
  /** `containerd`, `cri-o` or `docker`: the cgroup path shape the id came from. */
  containerRuntime?: string;
  /** The pod's uid (dashes restored) from a kubepods cgroup path. */
  podUid?: string;
  /** From the kubelet's pods directory (`<namespace>_<name>_<uid>`) or the API. */
  podName?: string;
  podNamespace?: string;
  /** The container's name in its pod (kubelet pods directory: one folder per container). */
  containerName?: string;
}

export const CMDLINE_MAX_CHARS = 512;
