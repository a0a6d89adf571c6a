#!/bin/sh
# Builds dllt's C helpers next to the modules that run them in dist/src/, and puts a copy beside
# the bundle in dist/app/ (scripts/bundle.mjs), which `dllt` runs from: dllt-sockdiag
# (src/sources/proc/sock-diag.c, attribution's TCP tables), dllt-bpfdrain
# (src/sources/ebpf/bpf-drain.c, USE_EBPF=Y's event map) and dllt-capture
# (src/sources/pcap-capture.c, live capture through libpcap). Without a C compiler dllt still
# works: attribution then reads TCP tables from /proc, at several times the CPU, USE_EBPF=Y falls
# back to /proc, and live capture runs tcpdump -U (about half the capacity); log_notif says so.
set -eu
cd "$(dirname "$0")/.."
if ! command -v cc >/dev/null 2>&1; then
  echo "build: no C compiler (cc), so dllt-sockdiag, dllt-bpfdrain and dllt-capture are not built: attribution will read TCP tables from /proc, USE_EBPF=Y will fall back to /proc and live capture will run tcpdump -U; apt-get install gcc libc6-dev libpcap-dev" >&2
  exit 0
fi
build() {
  mkdir -p "$(dirname "$2")" dist/app
  cc -O2 -Wall -Wextra -Werror -o "$2.tmp" "$1" ${3:-}
  mv "$2.tmp" "$2"
  cp -p "$2" "dist/app/$(basename "$2").tmp"
  mv "dist/app/$(basename "$2").tmp" "dist/app/$(basename "$2")"
}
build src/sources/proc/sock-diag.c dist/src/sources/proc/dllt-sockdiag
build src/sources/ebpf/bpf-drain.c dist/src/sources/ebpf/dllt-bpfdrain
if echo '#include <pcap/pcap.h>' | cc -E - >/dev/null 2>&1; then
  build src/sources/pcap-capture.c dist/src/sources/dllt-capture -lpcap
else
  rm -f dist/src/sources/dllt-capture dist/app/dllt-capture
  echo "build: libpcap's headers are missing, so dllt-capture is not built: live capture will run tcpdump -U (about half the capacity); apt-get install libpcap-dev" >&2
fi
