#!/usr/bin/env bash
# bench/build-capture.sh OUT.pcap
#
# Builds the replay benchmark's capture from REAL programs talking across a veth between two
# namespaces of ours (client 10.77.X.1, server 10.77.X.2), captured by tcpdump inside the
# client namespace with offloads off. Reuses OUT.pcap when it exists (delete it to rebuild).
#
# Mix (about 2.1 M packets, about 130 k flows, under two minutes on 2 cores):
#   HTTP   node http server, ab (one connection per request)          ~25 k flows
#   TLS    openssl s_server; ab over https + openssl s_client with SNI  ~2.3 k flows
#   DNS    dnsmasq for a local zone; a python client, new socket each  ~30 k flows, + dig
#   refused hping3 SYNs and python connects to closed ports (SYN/RST)  ~77 k flows
#   filtered nftables drop in the server namespace (SYN retries)       300 flows
#   bulk   iperf3 TCP (-n bounded) and iperf3 UDP with small datagrams
set -euo pipefail

OUT=${1:?usage: build-capture.sh OUT.pcap}
if [[ -s $OUT ]]; then
  echo "build-capture: reusing $OUT ($(stat -c %s "$OUT") bytes; delete it to rebuild)"
  exit 0
fi
[[ $(id -u) -eq 0 ]] || { echo "build-capture: needs root (network namespaces)" >&2; exit 1; }
for t in tcpdump ab openssl dnsmasq dig hping3 iperf3 nft python3 node capinfos; do
  command -v "$t" >/dev/null || { echo "build-capture: $t missing: run bash .ci/bench-deps.sh" >&2; exit 1; }
done

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib-netns.sh
source "$HERE/lib-netns.sh"
WORK=$(mktemp -d /tmp/dlltb-capture.XXXXXX)
cleanup() { lab_cleanup; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$(dirname "$OUT")"

lab_pair $((RANDOM % 250 + 1))
C=$NS_A S=$NS_Z SIP=$IP_Z
say() { printf 'build-capture: [%3ss] %s\n' "$SECONDS" "$*"; }

# --- servers -------------------------------------------------------------------------------
lab_bg "$S" node -e '
  const body = Buffer.alloc(2048, 120);
  require("http").createServer((q, r) => { r.setHeader("content-type", "text/plain"); r.end(body); })
    .listen(80, process.argv[1]);' "$SIP"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=bench.dllt.test -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
lab_bg "$S" openssl s_server -quiet -www -accept 443 -cert "$WORK/cert.pem" -key "$WORK/key.pem"
lab_bg "$S" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
  --listen-address="$SIP" --port=53 --address=/bench.dllt.test/"$SIP" --cache-size=0 --pid-file= --user=root
ip netns exec "$S" nft -f - <<'EOF'
table inet dlltbench {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 9999 drop
  }
}
EOF
lab_wait_listen "$S" 80
lab_wait_listen "$S" 443

# --- capture -------------------------------------------------------------------------------
# Snaplen 512 keeps TLS ClientHellos (SNI) and HTTP headers whole while bulk payload is cut.
lab_bg "$C" tcpdump -i eth0 -n -p -s 512 -B 65536 -w "$OUT.part" 2>"$WORK/tcpdump.err"
CAP_PID=$LAB_LAST_PID
sleep 1

# --- traffic -------------------------------------------------------------------------------
say "HTTP: 25000 connections (ab)"
ip netns exec "$C" timeout 120 ab -q -n 25000 -c 16 -s 5 "http://$SIP/" >"$WORK/ab-http.txt" || true

say "TLS: 2000 connections (ab over https) + 300 openssl s_client with SNI"
ip netns exec "$C" timeout 120 ab -q -n 2000 -c 4 -s 5 "https://$SIP/" >"$WORK/ab-https.txt" || true
ip netns exec "$C" timeout 120 bash -c "
  for i in \$(seq 300); do
    echo | timeout 5 openssl s_client -connect $SIP:443 -servername host\$i.bench.dllt.test >/dev/null 2>&1 || true
  done"

say "DNS: 30000 queries (python, one socket each) + 50 dig"
ip netns exec "$C" timeout 120 python3 - "$SIP" <<'EOF'
import socket, struct, sys
server = sys.argv[1]
def query(qid, name):
    q = struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0)
    for label in name.split('.'):
        q += bytes([len(label)]) + label.encode()
    return q + b'\0' + struct.pack('>HH', 1, 1)
for i in range(30000):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    s.sendto(query(i & 0xffff, 'h%d.bench.dllt.test' % i), (server, 53))
    try:
        s.recv(512)
    except socket.timeout:
        pass
    s.close()
EOF
ip netns exec "$C" timeout 60 bash -c "for i in \$(seq 50); do dig +time=1 +tries=1 @$SIP d\$i.bench.dllt.test A >/dev/null || true; done"

say "refused: 75000 hping3 SYNs to 5 closed ports + 2000 python connects"
for port in 7001 7002 7003 7004 7005; do
  ip netns exec "$C" timeout 30 hping3 -q -S -p "$port" -c 15000 -i u25 "$SIP" >/dev/null 2>&1 || true
done
ip netns exec "$C" timeout 60 python3 - "$SIP" <<'EOF'
import socket, sys
for i in range(2000):
    s = socket.socket()
    s.settimeout(1)
    try:
        s.connect((sys.argv[1], 7100 + i % 50))
    except OSError:
        pass
    s.close()
EOF

say "filtered: 300 connects into an nftables drop (SYN retries)"
ip netns exec "$C" timeout 30 python3 - "$SIP" <<'EOF'
import socket, sys, threading
def attempt():
    s = socket.socket()
    s.settimeout(3.5)
    try:
        s.connect((sys.argv[1], 9999))
    except OSError:
        pass
    s.close()
threads = [threading.Thread(target=attempt) for _ in range(300)]
for t in threads: t.start()
for t in threads: t.join()
EOF

say "bulk: iperf3 TCP 400 MB"
lab_bg "$S" iperf3 -s -1 -B "$SIP" -p 5201 >/dev/null
lab_wait_listen "$S" 5201
ip netns exec "$C" timeout 60 iperf3 -c "$SIP" -p 5201 -n 400M -b 1G >/dev/null || true

say "bulk: iperf3 UDP 1.2 M small datagrams"
lab_bg "$S" iperf3 -s -1 -B "$SIP" -p 5202 >/dev/null
lab_wait_listen "$S" 5202
ip netns exec "$C" timeout 60 iperf3 -c "$SIP" -p 5202 -u -l 64 -b 48M -n 76800000 >/dev/null || true

sleep 1
kill -TERM "$CAP_PID"
wait "$CAP_PID" 2>/dev/null || true
say "tcpdump: $(grep -E 'received by filter|dropped by kernel' "$WORK/tcpdump.err" | tr '\n' ' ')"
mv "$OUT.part" "$OUT"
say "capture written: $(capinfos -c -M "$OUT" | awk -F: '/Number of packets/ {gsub(/ /, "", $2); print $2}') packets, $(stat -c %s "$OUT") bytes"
