# Namespace helpers for the bench scripts (sourced, not run). The bash twin of test/e2e/netns.ts,
# under the same rules: names unique to this process (dlltb<pid>...), 10.77.X.0/24 inside our
# namespaces only, no default route, no host-side interface at all (two namespaces joined by one
# veth), and cleanup that kills what we started and deletes what we created, run from an EXIT trap.

LAB_TAG="dlltb$$"
LAB_NAMESPACES=()
LAB_PIDS=()

# lab_pair SUBNET: namespaces ${LAB_TAG}a (10.77.SUBNET.1) and ${LAB_TAG}z (10.77.SUBNET.2), each
# with eth0 (offloads off, IPv6 off so no router solicitations or MLD join the traffic).
lab_pair() {
  local subnet=$1 a="${LAB_TAG}a" z="${LAB_TAG}z" ns
  ip netns add "$a"; LAB_NAMESPACES+=("$a")
  ip netns add "$z"; LAB_NAMESPACES+=("$z")
  ip link add eth0 netns "$a" type veth peer name eth0 netns "$z"
  for ns in "$a" "$z"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip netns exec "$ns" ethtool -K eth0 gro off gso off tso off >/dev/null
  done
  ip -n "$a" addr add "10.77.$subnet.1/24" dev eth0
  ip -n "$z" addr add "10.77.$subnet.2/24" dev eth0
  ip -n "$a" link set eth0 up
  ip -n "$z" link set eth0 up
  NS_A=$a NS_Z=$z IP_A="10.77.$subnet.1" IP_Z="10.77.$subnet.2"
}

# lab_bg NS CMD...: starts CMD in NS in the background and remembers its pid for cleanup.
# `ip netns exec` execs CMD, so the pid is CMD's own.
lab_bg() {
  local ns=$1; shift
  ip netns exec "$ns" "$@" &
  LAB_PIDS+=("$!")
  LAB_LAST_PID=$!
}

# lab_wait_listen NS PORT: waits (10 s at most) until a TCP socket listens on PORT in NS. Reads
# the socket table instead of connecting: a probe connection would be a test client to iperf3 -1.
lab_wait_listen() {
  ip netns exec "$1" timeout 10 bash -c "until ss -Hltn 'sport = :$2' | grep -q .; do sleep 0.05; done"
}

lab_cleanup() {
  local pid ns
  # Reaped inside a redirected group so bash's "Killed" job notices stay quiet.
  for pid in "${LAB_PIDS[@]}"; do { kill -KILL "$pid" && wait "$pid"; } 2>/dev/null || true; done
  # Children our commands started inside our namespaces (server workers) are ours too.
  for ns in "${LAB_NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  done
  for ns in "${LAB_NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  LAB_NAMESPACES=()
  LAB_PIDS=()
}
