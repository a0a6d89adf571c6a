#!/usr/bin/env bash
# Installs everything dllt needs on a fresh Debian 12 machine (run as root): the Debian
# packages for capture and for the end-to-end tests, then the npm dependencies and the build.
# Idempotent and quiet; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  tcpdump        # live capture (dllt streams `tcpdump -w -`, see docs/design/0001-capture-mechanism.md)
  tshark         # outside oracle in the tests (per-conversation totals)
  iproute2       # namespaces and veth pairs for the end-to-end tests
  ethtool        # offloads off on test veths
  python3        # test servers (http.server, UDP echo)
  curl           # test clients
  netcat-openbsd # UDP exchanges in the tests
  nftables       # filtered ports in the tests
  openssl        # TLS peers in the tests
  dnsmasq-base   # the resolver in the flow-naming and DNS-over-TCP tests (the binary only, no system service)
  dnsutils       # dig +tcp in the DNS-over-TCP test
  python3-yaml   # parses deploy/*.yaml in the manifest test
  bpftrace       # USE_EBPF=Y: socket events from the kernel's TCP tracepoints
  libcap2-bin    # capsh: the test that runs USE_EBPF=Y without eBPF's capabilities
  procps
  gcc            # builds the C helpers dllt-sockdiag (attribution's sock_diag reads) and dllt-bpfdrain (USE_EBPF=Y's event map)
  libc6-dev
  libpcap-dev    # builds dllt-capture, live capture through libpcap with one pipe write per ring block
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: missing Debian packages (${missing[*]}); run as root (sudo) to install them" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
npm ci --no-audit --no-fund --loglevel=error
npm run --silent build
