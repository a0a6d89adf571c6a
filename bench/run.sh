#!/usr/bin/env bash
# npm run bench → bash bench/run.sh (after the build). docs/bench.md explains how to read it.
#
#   1. replay: dllt read vs tshark conv,tcp vs argus vs the tcpdump -r floor on one capture of
#      real traffic (bench/build-capture.sh), whole-process wall time and peak RSS; dllt also
#      without event detection and as bare flows, for what detection and parsing cost;
#   2. roles: dllt read with and without a 50-rule DLLT_ROLE_RULES file (bench/role-rules-50.ts),
#      three alternating runs each, fastest of each compared;
#   3. memory: dllt on a 2 M-flow random-source SYN flood file with DLLT_MAX_FLOWS=1000000;
#   4. heap growth per million packets (bench/heap.ts);
#   5. attribution: dllt capture's CPU with process attribution off and on (USE_EBPF=N, and =Y
#      when bpftrace is there) under 1,000 new TCP connections/s, and the share of flows whose
#      two ends are attributed to the right processes (bench/attribution.sh);
#   6. live capacity: tcpreplay at fixed rates into a veth between two namespaces of ours, with
#      dllt capture, then tcpdump, on the receiving end; kernel drops for each.
#
# Environment: BENCH_SECTIONS (default "replay roles memory heap attribution live") picks
# sections; BENCH_ATTR_* (bench/attribution.sh) shape section 5; BENCH_LIVE_LIMIT
# (packets replayed per rate, 1000000); BENCH_RATES (default "100000 200000 300000 400000 600000 top").
# Results are printed and copied to bench/out/last-run.txt.
set -euo pipefail

cd "$(dirname "$0")/.."
OUTDIR=bench/out
CAP=$OUTDIR/capture.pcap
SYN=$OUTDIR/syn-flood.pcap
CLI=dist/app/main.js
mkdir -p "$OUTDIR"
[[ -f $CLI ]] || { echo "bench: $CLI missing: run npm run build" >&2; exit 1; }

if [[ $(id -u) -eq 0 ]]; then
  bash .ci/bench-deps.sh
elif [[ ! -s $CAP ]]; then
  echo "bench: not root and no cached $CAP: run once as root (namespaces, apt-get)" >&2
  exit 1
fi

# shellcheck source=bench/lib-netns.sh
source bench/lib-netns.sh
TMP=$(mktemp -d /tmp/dlltb-run.XXXXXX)
cleanup() { lab_cleanup; rm -rf "$TMP"; }
trap cleanup EXIT
exec > >(tee "$OUTDIR/last-run.txt") 2>&1

bash bench/build-capture.sh "$CAP"
[[ -s $SYN ]] || node dist/bench/syn-flood.js "$SYN" --count 2000000

count_packets() {
  # capinfos reads the whole file: cache the count beside it.
  local f=$1
  if [[ ! -s $f.packets || $f.packets -ot $f ]]; then
    capinfos -c -M "$f" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}' >"$f.packets"
  fi
  cat "$f.packets"
}
PKTS=$(count_packets "$CAP")

# measure NAME CMD...: runs CMD once, sets WALL (s), RSS (KiB) and CPU (user + system s) from
# GNU time.
measure() {
  local name=$1; shift
  if ! /usr/bin/time -f '%e %M %U %S' -o "$TMP/time" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err"; then
    echo "bench: $name failed:" >&2
    tail -5 "$TMP/$name.err" >&2
    WALL=NaN RSS=NaN CPU=NaN
    return
  fi
  local user sys
  read -r WALL RSS user sys <"$TMP/time"
  CPU=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')
}

SECTIONS=" ${BENCH_SECTIONS:-replay roles memory heap attribution live} "
want() { [[ $SECTIONS == *" $1 "* ]]; }

declare -A WALLS RSSS CPUS
if want replay; then
echo
echo "== replay: $CAP, $PKTS packets ($(nproc) cores, $(node --version))"
# dllt with everything on, without event detection (DLLT_EVENTS=N: the flow records are
# unchanged, TLS/HTTP/DNS parsing still fills them) and as bare flows (DLLT_EVENTS=N
# DLLT_APP_PARSING=N): the fastest of REPLAY_RUNS alternating runs each (a 2-core virtual
# machine's single runs swing by ±20 %, more than the 15 % the events cost is held to); the peak
# RSS is the highest of those runs.
REPLAY_RUNS=${BENCH_REPLAY_RUNS:-5}
echo "(dllt, noevents and flows: fastest of $REPLAY_RUNS alternating runs each)"
printf '%-8s %10s %14s %12s %8s\n' tool 'wall s' 'packets/s' 'peak RSS MB' 'CPU s'
for tool in dllt noevents flows; do WALLS[$tool]=NaN RSSS[$tool]=0 CPUS[$tool]=NaN; done
for _ in $(seq "$REPLAY_RUNS"); do
  for tool in dllt noevents flows; do
    rm -rf "$TMP/replay-$tool"
    case $tool in
      dllt) measure dllt node "$CLI" read "$CAP" --out "$TMP/replay-dllt" ;;
      noevents) DLLT_EVENTS=N measure noevents node "$CLI" read "$CAP" --out "$TMP/replay-noevents" ;;
      flows) DLLT_EVENTS=N DLLT_APP_PARSING=N measure flows node "$CLI" read "$CAP" --out "$TMP/replay-flows" ;;
    esac
    # The CPU time shown is the fastest run's.
    CPUS[$tool]=$(awk -v a="${WALLS[$tool]}" -v b="$WALL" -v c="${CPUS[$tool]}" -v d="$CPU" 'BEGIN { print (a == "NaN" || b < a) ? d : c }')
    WALLS[$tool]=$(awk -v a="${WALLS[$tool]}" -v b="$WALL" 'BEGIN { print (a == "NaN" || b < a) ? b : a }')
    RSSS[$tool]=$(awk -v a="${RSSS[$tool]}" -v b="$RSS" 'BEGIN { print (b > a) ? b : a }')
  done
done
for tool in dllt noevents flows tshark argus floor; do
  case $tool in
    tshark) measure tshark tshark -n -q -r "$CAP" -z conv,tcp ;;
    argus) measure argus argus -r "$CAP" -w /dev/null ;;
    floor) measure floor tcpdump -r "$CAP" -w /dev/null ;;
    *) WALL=${WALLS[$tool]} RSS=${RSSS[$tool]} CPU=${CPUS[$tool]} ;;
  esac
  WALLS[$tool]=$WALL RSSS[$tool]=$RSS CPUS[$tool]=$CPU
  awk -v t="$tool" -v w="$WALL" -v r="$RSS" -v p="$PKTS" -v c="$CPU" \
    'BEGIN { printf "%-8s %10.2f %14.0f %12.1f %8.2f\n", t, w, p / w, r / 1024, c }'
done
for other in tshark argus floor; do
  awk -v o="$other" -v dw="${WALLS[dllt]}" -v ow="${WALLS[$other]}" -v dr="${RSSS[dllt]}" -v orr="${RSSS[$other]}" -v n="$(nproc)" \
    'BEGIN { printf "%d cores: dllt/%-7s speed %.2fx (packets/s ratio), peak RSS %.2fx\n", n, o, ow / dw, dr / orr }'
done
awk -v dw="${WALLS[dllt]}" -v nw="${WALLS[noevents]}" -v fw="${WALLS[flows]}" 'BEGIN {
  printf "event detection cost: %.1f %% of dllt read throughput (target <= 15 %%; dllt vs noevents)\n", (1 - nw / dw) * 100
  printf "application parsing cost (TLS, HTTP, DNS for the flow records): %.1f %% of noevents throughput (noevents vs flows)\n", (1 - fw / nw) * 100
  printf "both together: %.1f %% of dllt read throughput (dllt vs flows)\n", (1 - fw / dw) * 100 }'
# The issue's targets are "on one core": every tool again, limited to CPU 0 by taskset. dllt
# then sees one usable CPU and makes its records on the packet thread (no record worker).
echo
echo "one core (taskset -c 0; dllt: fastest of $REPLAY_RUNS runs):"
printf '%-8s %10s %14s %12s %8s\n' tool 'wall s' 'packets/s' 'peak RSS MB' 'CPU s'
declare -A WALL1
for tool in dllt tshark argus; do
  case $tool in
    dllt)
      best=NaN
      for _ in $(seq "$REPLAY_RUNS"); do
        rm -rf "$TMP/replay1-dllt"
        measure dllt1 taskset -c 0 node "$CLI" read "$CAP" --out "$TMP/replay1-dllt"
        if awk -v a="$best" -v b="$WALL" 'BEGIN { exit !(a == "NaN" || b < a) }'; then best=$WALL bestRss=$RSS bestCpu=$CPU; fi
      done
      WALL=$best RSS=$bestRss CPU=$bestCpu ;;
    tshark) measure tshark1 taskset -c 0 tshark -n -q -r "$CAP" -z conv,tcp ;;
    argus) measure argus1 taskset -c 0 argus -r "$CAP" -w /dev/null ;;
  esac
  WALL1[$tool]=$WALL
  awk -v t="$tool" -v w="$WALL" -v r="$RSS" -v p="$PKTS" -v c="$CPU" \
    'BEGIN { printf "%-8s %10.2f %14.0f %12.1f %8.2f\n", t, w, p / w, r / 1024, c }'
done
grep -q '"recordThread":"packet"' "$TMP"/replay1-dllt/logs/*/log_notif_*.log || echo "bench: dllt did not see one usable CPU under taskset"
for other in tshark argus; do
  awk -v o="$other" -v dw="${WALL1[dllt]}" -v ow="${WALL1[$other]}" \
    'BEGIN { printf "one core: dllt/%-7s speed %.2fx (packets/s ratio)\n", o, ow / dw }'
done
echo
EVENTS=$(cat "$TMP"/replay-dllt/logs/*/netwevents_*.log 2>/dev/null | wc -l)
echo "events written: $EVENTS"
cat "$TMP"/replay-dllt/logs/*/netwevents_*.log 2>/dev/null | sed -n 's/.*"code":"\([0-9]*\)".*/\1/p' | sort | uniq -c | awk '{ printf "  %s x %s\n", $2, $1 }'
fi

if want roles; then
echo
echo "== roles: dllt read of $CAP with and without 50 role rules (fastest of 3 alternating runs)"
node dist/bench/role-rules-50.js "$TMP/rules-50.json"
BEST_PLAIN=NaN BEST_RULES=NaN
for round in 1 2 3; do
  rm -rf "$TMP/roles-plain" "$TMP/roles-rules"
  measure plain node "$CLI" read "$CAP" --out "$TMP/roles-plain" -q
  BEST_PLAIN=$(awk -v a="$BEST_PLAIN" -v b="$WALL" 'BEGIN { print (a == "NaN" || b < a) ? b : a }')
  DLLT_ROLE_RULES="$TMP/rules-50.json" measure rules node "$CLI" read "$CAP" --out "$TMP/roles-rules" -q
  BEST_RULES=$(awk -v a="$BEST_RULES" -v b="$WALL" 'BEGIN { print (a == "NaN" || b < a) ? b : a }')
  echo "  round $round: without ${BEST_PLAIN} s best so far, with rules ${BEST_RULES} s best so far"
done
awk -v p="$BEST_PLAIN" -v r="$BEST_RULES" -v n="$PKTS" \
  'BEGIN { printf "without rules %.2f s (%.0f packets/s), with 50 rules %.2f s: rules cost %.1f %% (target <= 5 %%)\n", p, n / p, r, (r / p - 1) * 100 }'
echo "flows by roleMethod with the rules (end_flows):"
cat "$TMP"/roles-rules/logs/*/end_flows_*.log | sed -n 's/.*"roleMethod":"\([^"]*\)".*/\1/p' | sort | uniq -c | sort -rn | awk '{ printf "  %-20s %s\n", $2, $1 }'
fi

if want memory; then
echo
echo "== memory: $SYN (2 M random-source SYNs, 2 M flows), DLLT_MAX_FLOWS=1000000"
DLLT_MAX_FLOWS=1000000 measure synflood node "$CLI" read "$SYN" --out "$TMP/syn"
EVICTED=$(cat "$TMP"/syn/logs/*/log_notif_*.log 2>/dev/null | grep '"kind":"eviction"' |
  sed -n 's/.*"evictedTotal":\([0-9]*\).*/\1/p' | tail -1)
awk -v w="$WALL" -v r="$RSS" -v e="${EVICTED:-none reported}" \
  'BEGIN { printf "wall %.2f s, %.0f packets/s, peak RSS %.1f MB (target < 512 MB: %s), evictions %s\n", w, 2000000 / w, r / 1024, (r / 1024 < 512 ? "met" : "NOT met"), e }'
fi

if want heap; then
  echo
  echo "== heap growth (bench/heap.ts)"
  node --expose-gc dist/bench/heap.js "$CAP" || echo "heap measurement failed (see above)"
fi

if want attribution; then
  bash bench/attribution.sh || echo "attribution bench failed (see above)"
fi

want live || exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo; echo "== live capacity skipped: needs root (namespaces)"; exit 0
fi

LIMIT=${BENCH_LIVE_LIMIT:-1000000}
RATES=${BENCH_RATES:-100000 200000 300000 400000 600000 top}
lab_pair $((RANDOM % 250 + 1))
IFX=$(ip netns exec "$NS_Z" cat /sys/class/net/eth0/ifindex)

# Packet sockets open on eth0 in the receiving namespace: the capture is up once there is one.
wait_capture_up() {
  ip netns exec "$NS_Z" timeout 15 bash -c \
    "until awk 'NR > 1 && \$5 == $IFX { found = 1 } END { exit !found }' /proc/net/packet; do sleep 0.05; done" 2>/dev/null
}

# replay RATE: sets SENT and ACHIEVED from tcpreplay's summary.
replay() {
  local speed=--pps=$1
  [[ $1 == top ]] && speed=--topspeed
  ip netns exec "$NS_A" timeout 120 tcpreplay -q -i eth0 "$speed" --limit="$LIMIT" --preload-pcap "$CAP" >"$TMP/replay.txt" 2>&1 || true
  SENT=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$TMP/replay.txt")
  ACHIEVED=$(sed -n 's/.*Bps, [0-9.]* Mbps, \([0-9.]*\) pps.*/\1/p' "$TMP/replay.txt")
}

echo
echo "== live capacity: tcpreplay (--limit $LIMIT, --preload-pcap) into a veth; capture in the other namespace"
printf '%-7s %-10s %12s %12s %12s %12s\n' capture rate 'sent pps' sent received 'kernel drops'
# Best = the highest rate tcpreplay actually achieved with no drop (a "top" run may be slower
# than a fixed rate when the sender competes with the capture for the two cores).
declare -A BEST=([dllt]=0 [tcpdump]=0) BESTRATE=([dllt]=none [tcpdump]=none)
for rate in $RATES; do
  for tool in dllt tcpdump; do
    if [[ $tool == dllt ]]; then
      lab_bg "$NS_Z" env DLLT_STATS_INTERVAL_S=3600 node "$CLI" capture --ifindex "$IFX" --out "$TMP/live-$rate" >/dev/null 2>"$TMP/live.err"
    else
      lab_bg "$NS_Z" tcpdump -i eth0 -n -p -B 32768 -w /dev/null 2>"$TMP/live.err"
    fi
    pid=$LAB_LAST_PID
    if ! wait_capture_up; then
      echo "bench: $tool capture did not start at rate $rate:"; tail -5 "$TMP/live.err"
      kill -TERM "$pid" 2>/dev/null || true
      continue
    fi
    sleep 0.5
    replay "$rate"
    sleep 1
    kill -TERM "$pid" 2>/dev/null || echo "bench: $tool exited before the end of the replay: $(tail -3 "$TMP/live.err")"
    wait "$pid" 2>/dev/null || true
    if [[ $tool == dllt ]]; then
      line=$(cat "$TMP"/live-"$rate"/logs/*/log_notif_*.log | grep '"kind":"kernel_drops"' | tail -1)
      received=$(sed -n 's/.*"received":\([0-9]*\).*/\1/p' <<<"$line")
      dropped=$(sed -n 's/.*"dropped":\([0-9]*\).*/\1/p' <<<"$line")
    else
      received=$(sed -n 's/^\([0-9]*\) packets\{0,1\} received by filter.*/\1/p' "$TMP/live.err")
      dropped=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' "$TMP/live.err")
    fi
    printf '%-7s %-10s %12s %12s %12s %12s\n' "$tool" "$rate" "${ACHIEVED:-?}" "${SENT:-?}" "${received:-?}" "${dropped:-?}"
    if [[ ${dropped:-x} == 0 && ${received:-0} -ge ${SENT:-1} ]] &&
      awk -v a="${ACHIEVED:-0}" -v b="${BEST[$tool]}" 'BEGIN { exit !(a > b) }'; then
      BEST[$tool]=$ACHIEVED BESTRATE[$tool]=$rate
    fi
  done
done
for tool in dllt tcpdump; do
  echo "highest achieved rate with zero kernel drops, $tool: ${BEST[$tool]} pps (setting ${BESTRATE[$tool]})"
done
