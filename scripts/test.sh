#!/usr/bin/env bash
# The test command: installs what is missing (Debian packages), builds, and
# runs every test. With CI=true (as .ci/run sets it) or --sanitize it then
# builds and runs the whole suite again under AddressSanitizer and
# UndefinedBehaviorSanitizer. Kernel tests need root: they build their own
# throwaway network namespaces and never touch the machine's own network.
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=false
[ "${CI:-}" = "true" ] && sanitize=true
for arg in "$@"; do
  case "$arg" in
    --sanitize) sanitize=true ;;
    --no-sanitize) sanitize=false ;;
    *) echo "usage: $0 [--sanitize|--no-sanitize]" >&2; exit 2 ;;
  esac
done

./scripts/install-deps.sh
jobs=$(nproc)

echo "== build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
echo "== tests"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== the demo (it must complete and leave nothing behind)"
./demo.sh
if ip netns list 2>/dev/null | grep -q '^fipd-demo-'; then
  echo "the demo left network namespaces behind" >&2
  exit 1
fi

if $sanitize; then
  echo "== build (AddressSanitizer + UndefinedBehaviorSanitizer)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFIPD_SANITIZE=ON -DFIPD_BUILD_BENCH=OFF >/dev/null
  cmake --build build-asan -j "$jobs"
  echo "== tests under sanitizers"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
fi
