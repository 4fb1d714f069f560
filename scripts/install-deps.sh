#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs everything fipd needs to build, test, benchmark and package, from
# Debian 12's own archive. Idempotent: packages already present are skipped,
# so running it on a machine that has them costs one dpkg query.
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config git ca-certificates
  # kernel programming
  libmnl-dev libnftnl-dev libnl-3-dev libnl-route-3-dev
  # engine
  libboost-program-options-dev libtomlplusplus-dev nlohmann-json3-dev
  libsystemd-dev libcurl4-openssl-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # libFuzzer for the parsers' fuzz targets (tests/fuzz): clang 19, whose
  # std::expected support works with Debian 12's libstdc++ (clang 14 does not)
  clang-19 libclang-rt-19-dev
  # independent tools the tests check kernel state with, and traffic helpers
  nftables conntrack iproute2 iputils-ping procps util-linux libcap2-bin
  socat jq python3 curl
  # fipd-bench's baseline: keepalived (VRRP, only inside its namespaces)
  keepalived
  # the Debian package: shlibs, checks, the unit's verification, strace
  # for the system calls the unit's filter must allow, and hardening-check
  # (devscripts) for the binaries' hardening
  dpkg-dev lintian man-db systemd strace devscripts
  # the unit booted under a real systemd (tests/packaging/systemd_boot_test.sh)
  debootstrap systemd-container
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
