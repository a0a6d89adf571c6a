#!/usr/bin/env bash
# Installs what bench/run.sh, bench/build-capture.sh and the e2e tests drive: real programs
# (servers, clients, capture tools) from Debian's packages. Idempotent: packages already present
# are skipped, so a warm machine pays one dpkg query and no apt-get.
set -euo pipefail

# package -> a file it installs; a present file means the package is there.
declare -A probe=(
  [tcpdump]=/usr/bin/tcpdump
  [tshark]=/usr/bin/tshark
  [argus-server]=/usr/sbin/argus
  [tcpreplay]=/usr/bin/tcpreplay
  [iperf3]=/usr/bin/iperf3
  [apache2-utils]=/usr/bin/ab
  [dnsmasq]=/usr/sbin/dnsmasq
  [dnsutils]=/usr/bin/dig
  [openssl]=/usr/bin/openssl
  [socat]=/usr/bin/socat
  [netcat-openbsd]=/bin/nc.openbsd
  [nftables]=/usr/sbin/nft
  [hping3]=/usr/sbin/hping3
  [nmap]=/usr/bin/nmap
  [time]=/usr/bin/time
  [ethtool]=/usr/sbin/ethtool
  [iproute2]=/usr/sbin/ip
  [curl]=/usr/bin/curl
  [python3]=/usr/bin/python3
)
missing=()
for pkg in "${!probe[@]}"; do
  [[ -e ${probe[$pkg]} ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer once so the install never blocks.
echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
