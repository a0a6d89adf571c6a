#!/bin/sh
# Builds dllt's one C helper, dllt-sockdiag (src/sources/proc/sock-diag.c), next to the module
# that runs it in dist/. Without a C compiler dllt still works: attribution then reads TCP
# tables from /proc, at several times the CPU, and says so in log_notif.
set -eu
cd "$(dirname "$0")/.."
out=dist/src/sources/proc/dllt-sockdiag
mkdir -p "$(dirname "$out")"
if ! command -v cc >/dev/null 2>&1; then
  echo "build: no C compiler (cc), so dllt-sockdiag is not built: attribution will read TCP tables from /proc; apt-get install gcc libc6-dev" >&2
  exit 0
fi
cc -O2 -Wall -Wextra -Werror -o "$out.tmp" src/sources/proc/sock-diag.c
mv "$out.tmp" "$out"
