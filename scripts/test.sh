#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The test command: installs what is missing (Debian packages), builds with
# warnings as errors (FIPD_WERROR), and runs every test. With CI=true (as
# .ci/run sets it) it also builds the programs in a Release build (-O3) and
# with clang 19, to keep every configuration building, then builds and runs
# the whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer
# (--builds and --sanitize ask for either without CI). Kernel tests need root:
# they build their own throwaway network namespaces and never touch the
# machine's own network.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=false
builds=false
if [ "${CI:-}" = "true" ]; then sanitize=true; builds=true; fi
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=true ;;
    --no-sanitize) sanitize=false ;;
    --builds) builds=true ;;
    --no-builds) builds=false ;;
    *) echo "usage: $0 [--sanitize|--no-sanitize] [--builds|--no-builds]" >&2; exit 2 ;;
  esac
done

./scripts/install-deps.sh
jobs=$(nproc)

echo "== build (RelWithDebInfo, warnings are errors)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFIPD_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== the demo (it must complete and leave nothing behind)"
./demo.sh
if ip netns list 2>/dev/null | grep -q '^fipd-demo-'; then
  echo "the demo left network namespaces behind" >&2
  exit 1
fi

if $builds; then
  # The programs only (no tests, no benchmarks): these builds are here to
  # compile, and the suite has run above.
  programs=(-DFIPD_WERROR=ON -DFIPD_BUILD_TESTS=OFF -DFIPD_BUILD_BENCH=OFF)
  echo "== build (Release, g++)"
  cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release "${programs[@]}" >/dev/null
  cmake --build build-release -j "$jobs"
  echo "== build (RelWithDebInfo, clang 19)"
  cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-19 \
    -DCMAKE_CXX_COMPILER=clang++-19 "${programs[@]}" >/dev/null
  cmake --build build-clang -j "$jobs"
fi

if $sanitize; then
  echo "== build (AddressSanitizer + UndefinedBehaviorSanitizer, warnings are errors)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFIPD_SANITIZE=ON -DFIPD_BUILD_BENCH=OFF \
    -DFIPD_WERROR=ON >/dev/null
  cmake --build build-asan -j "$jobs"
  echo "== tests under sanitizers"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
fi
