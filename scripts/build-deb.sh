#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds fipd's Debian package: configures and builds a release tree (tests
# and benchmarks included, as fipd-bench is built from their test bed), then
# `cpack -G DEB`. Prints the path of the .deb. The build has Debian's
# hardening flags (FIPD_HARDENING, the top CMakeLists.txt) and no -Werror:
# a compiler's new warning must not stop a package build.
#
#   scripts/build-deb.sh [build-dir]      default: build-deb
#
# Then, as root: dpkg -i build-deb/packages/fipd_<version>_<arch>.deb
# The package neither enables nor starts fipd.service.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=${1:-build-deb}
./scripts/install-deps.sh >&2
cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIPD_SANITIZE=OFF -DFIPD_HARDENING=ON \
  -DFIPD_WERROR=OFF >&2
cmake --build "$dir" -j "$(nproc)" >&2
rm -f "$dir"/packages/fipd_*.deb
(cd "$dir" && cpack -G DEB --config CPackConfig.cmake) >&2
ls "$PWD/$dir"/packages/fipd_*.deb
