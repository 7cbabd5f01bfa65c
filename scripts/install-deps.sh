#!/bin/sh
# Installs every Debian 12 package corral needs to build, test and benchmark.
# Idempotent: a no-op when everything is already present.
set -eu
PKGS="build-essential cmake ninja-build ccache clang libclang-rt-14-dev pkg-config
 libuv1-dev libc-ares-dev node-llhttp android-libboringssl-dev libzookeeper-mt-dev zookeeper
 libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
 haproxy nginx nsd knot wrk dnsperf bind9-dnsutils curl python3 python3-marathon python3-dnspython python3-matplotlib
 procps iproute2"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
