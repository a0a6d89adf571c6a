#!/bin/sh
# Builds dllt's two C helpers next to the modules that run them in dist/: dllt-sockdiag
# (src/sources/proc/sock-diag.c, attribution's TCP tables) and dllt-bpfdrain
# (src/sources/ebpf/bpf-drain.c, USE_EBPF=Y's event map). Without a C compiler dllt still works:
# attribution then reads TCP tables from /proc, at several times the CPU, and USE_EBPF=Y falls back
# to /proc; both say so in log_notif.
set -eu
cd "$(dirname "$0")/.."
if ! command -v cc >/dev/null 2>&1; then
  echo "build: no C compiler (cc), so dllt-sockdiag and dllt-bpfdrain are not built: attribution will read TCP tables from /proc and USE_EBPF=Y will fall back to /proc; apt-get install gcc libc6-dev" >&2
  exit 0
fi
build() {
  mkdir -p "$(dirname "$2")"
  cc -O2 -Wall -Wextra -Werror -o "$2.tmp" "$1"
  mv "$2.tmp" "$2"
}
build src/sources/proc/sock-diag.c dist/src/sources/proc/dllt-sockdiag
build src/sources/ebpf/bpf-drain.c dist/src/sources/ebpf/dllt-bpfdrain
