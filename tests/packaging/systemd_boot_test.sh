#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# fipd.service under a real systemd: a Debian 12 container booted with
# systemd-nspawn, the freshly built package installed in it, fipd started
# through the unit. Checks:
#
#   - the unit becomes active through READY (Type=notify), runs, its MainPID
#   - fipd runs as user fipd with exactly CAP_NET_ADMIN and CAP_NET_RAW
#     (effective, permitted, bounding and ambient), no_new_privs, seccomp
#   - fipctl status answers, and the server behind the floating IP is up
#   - systemctl reload with a broken file is refused; the same fipd runs on
#   - a frozen fipd (SIGSTOP) is killed by the watchdog and restarted
#   - the kernel table (same handle, same map element) survives that restart
#   - systemctl stop leaves the table in place
#
# The container has its own network namespace (--private-network: loopback
# only, nothing in or to the root namespace); fipd's table, the veth and the
# server's namespace all live inside it. Commands run in the container with
# nsenter into its PID 1, each under a timeout; the container is shut down
# (then killed, by the PID this script started) on every exit.
#
# The root (debootstrap --variant=minbase, bookworm, from the mirror apt
# uses) is built once and cached in $FIPD_TEST_CACHE (default
# /var/cache/fipd-test), keyed by its package list (which includes the
# package's Depends); each run boots a copy. Exit 77 means skipped: not
# root, tools missing, no root could be built, or no container boots.
set -euo pipefail

B=${FIPD_BUILD_DIR:?}
V=${FIPD_VERSION:?}
arch=$(dpkg --print-architecture)
deb=$B/packages/fipd_${V}_${arch}.deb
work=$B/systemd-boot-test
cache=${FIPD_TEST_CACHE:-/var/cache/fipd-test}
suite=bookworm
machine=fipd-test-$$

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "skipped: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "booting a container needs root"
for tool in debootstrap systemd-nspawn nsenter flock jq; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps.sh)"
done
[ -f "$deb" ] || fail "no $deb (package_build makes it)"

# --- the cached root -------------------------------------------------------

# The mirror apt already uses for bookworm (one-line or deb822 sources),
# else Debian's own.
find_mirror() {
  local f m
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    m=$(awk -v s="$suite" '$1 == "deb" { sub(/\[[^]]*\]/, ""); $0 = $0
                                         if ($3 == s && $2 ~ /^https?:/) { print $2; exit } }' "$f")
    [ -z "$m" ] || { echo "$m"; return; }
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    m=$(awk -v s="$suite" 'BEGIN { RS = "" } {
        uri = ""; ok = 0
        n = split($0, line, "\n")
        for (j = 1; j <= n; j++) {
          if (line[j] ~ /^URIs:/) { split(line[j], w, /[ \t]+/); uri = w[2] }
          if (line[j] ~ /^Suites:/) { m = split(line[j], w, /[ \t]+/); for (k = 2; k <= m; k++) if (w[k] == s) ok = 1 }
        }
        if (ok && uri ~ /^https?:/) { print uri; exit }
      }' "$f")
    [ -z "$m" ] || { echo "$m"; return; }
  done
  echo http://deb.debian.org/debian
}
mirror=${FIPD_TEST_MIRROR:-$(find_mirror)}

# systemd and what the checks use, plus the package's own Depends (first of
# each alternative, no versions), so that dpkg -i needs no network.
packages=$( { printf '%s\n' systemd systemd-sysv dbus nftables iproute2 libcap2-bin
              dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g'; } |
            grep . | sort -u | paste -sd, -)
key=$(printf '%s %s %s %s\n' "$suite" "$arch" "$mirror" "$packages" | sha256sum | cut -c1-12)
base=$cache/$suite-root-$key

build_root() {
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock -w 240 9 || fail "$cache/.lock is held for 4 minutes"
  if [ ! -f "$base/.complete" ]; then
    local tmp=$cache/.build-$key-$$ start=$SECONDS
    rm -rf --one-file-system "$tmp" "$base"
    echo "building the $suite root (once per package list) from $mirror: $packages"
    if ! timeout 600 debootstrap --variant=minbase --include="$packages" "$suite" "$tmp" "$mirror" \
        >"$work/debootstrap.log" 2>&1; then
      tail -n 20 "$work/debootstrap.log"
      rm -rf --one-file-system "$tmp"
      skip "debootstrap $suite from $mirror failed (no archive reachable?); log: $work/debootstrap.log"
    fi
    chroot "$tmp" apt-get clean
    touch "$tmp/.complete"
    mv "$tmp" "$base"
    echo "root built in $((SECONDS - start)) s: $base"
  fi
  exec 9>&-
}

# --- the container ---------------------------------------------------------

root=$work/root
nspawn_pid=
leader=

# (Pipes into grep -q go through a variable: with pipefail, a writer cut
# off by grep's early exit would turn a match into a failure.)
mounted_below() { local m; m=$(findmnt -rno TARGET); grep -q "^$1\(/\|$\)" <<<"$m"; }

cleanup() {
  local rc=$?
  trap - EXIT
  if [ -n "$leader" ] && [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && kill -0 "$leader" 2>/dev/null; then
    echo "--- journal of fipd.service in the container"
    ct journalctl -u fipd --no-pager -o short-monotonic 2>&1 | tail -n 60 || true
  fi
  if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
    # SIGTERM: nspawn asks the container's systemd to power off.
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$nspawn_pid" 2>/dev/null; then
      echo "the container did not power off in 15 s: killing it"
      [ -n "$leader" ] && kill -KILL "$leader" 2>/dev/null || true
      kill -KILL "$nspawn_pid" 2>/dev/null || true
    fi
    wait "$nspawn_pid" 2>/dev/null || true
  fi
  rm -rf --one-file-system "/run/systemd/nspawn/propagate/$machine"
  if [ -d "$root" ]; then
    if mounted_below "$root"; then echo "left $root: something is still mounted below it"
    else rm -rf --one-file-system "$root"; fi
  fi
  exit "$rc"
}

# A command inside the container (its mount, UTS, IPC, network, PID and
# cgroup namespaces), bounded; T=seconds overrides the default 30.
ct() {
  timeout "${T:-30}" nsenter -t "$leader" -m -u -i -n -p -C -- \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 SYSTEMD_COLORS=0 SYSTEMD_PAGER= "$@"
}
prop() { ct systemctl show -P "$1" fipd.service; }

boot() {
  local opts=(--boot --private-network --register=no --quiet --console=read-only
              --machine="$machine" --directory="$root")
  # Without a systemd on the host there is no bus to ask for a scope: the
  # container stays in the caller's cgroup.
  [ -d /run/systemd/system ] || opts+=(--keep-unit)
  systemd-nspawn "${opts[@]}" </dev/null >"$work/console.log" 2>&1 &
  nspawn_pid=$!
  local i c
  for i in $(seq 120); do
    kill -0 "$nspawn_pid" 2>/dev/null || break
    for c in $(ps -o pid= --ppid "$nspawn_pid"); do
      [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && leader=$c
    done
    [ -n "$leader" ] && break
    sleep 0.25
  done
  if [ -z "$leader" ]; then
    tail -n 20 "$work/console.log"
    skip "systemd-nspawn --boot did not start a container (console: $work/console.log)"
  fi
  local state
  wait_for 120 ct test -S /run/systemd/private || true
  state=$(T=90 ct systemctl is-system-running --wait 2>&1) || true
  case "$state" in
  running) ;;
  degraded) echo "the container booted degraded:"; ct systemctl --failed --no-legend || true ;;
  *) tail -n 20 "$work/console.log"; skip "the container did not boot: is-system-running says '$state'" ;;
  esac
  echo "container $machine booted (leader PID $leader on the host)"
}

# --- the checks ------------------------------------------------------------

# The table's handle and whether its map holds 203.0.113.10 -> 10.0.0.11.
# The table in text: nft 1.0.6 knows no persist flag and, for a table whose
# only flag is one it does not know (after fipd is gone), stops its JSON
# output mid-object (see tests/netlink/nft_table_test.cpp); the map in JSON.
table_state() {
  local text handle json element
  text=$(ct nft -a list table inet fipd 2>&1) || { echo "none: $text"; return; }
  handle=$(sed -n 's/^table inet fipd { .*# handle \([0-9]*\).*/\1/p' <<<"$text")
  json=$(ct nft -j list map inet fipd dnat4 2>&1) || { echo "handle $handle, no map dnat4: $json"; return; }
  element=$(jq -r '[.nftables[] | select(.map) | .map.elem // [] | .[]
                    | select(tostring | test("203\\.0\\.113\\.10.*10\\.0\\.0\\.11"))] | length > 0' <<<"$json" 2>&1)
  echo "handle ${handle:-?} element $element"
}

# Waits (bounded, in quarter seconds) until "$@" succeeds.
wait_for() {
  local n=$1; shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.25; done
  return 1
}
running_with_new_pid() {
  local pid
  [ "$(prop ActiveState)" = active ] && [ "$(prop SubState)" = running ] || return 1
  pid=$(prop MainPID)
  [ "$pid" != 0 ] && [ "$pid" != "$1" ]
}
table_has_element() { [[ $(table_state) == *"element true" ]]; }
web_1_up() { local out; out=$(ct fipctl status 2>/dev/null) && grep -E '^\s*web-1\b' <<<"$out" | grep -qw up; }

main() {
  mkdir -p "$work"
  # One run per build tree at a time: the root copy and logs are shared.
  exec 8>"$work/.lock"
  flock -w 240 8 || fail "$work/.lock is held for 4 minutes"
  build_root
  trap cleanup EXIT
  trap 'exit 143' TERM INT HUP
  rm -rf --one-file-system "$root"
  mounted_below "$root" && fail "something is mounted below $root"
  cp -a --reflink=auto "$base" "$root"
  cp "$deb" "$root/root/fipd.deb"
  boot

  # The kernel features fipd needs, in the container's own namespace.
  ct nft add table inet fipd_boot_probe && ct nft delete table inet fipd_boot_probe ||
    skip "nf_tables does not work in the container's network namespace"

  # Installed as an operator would, under the running systemd: postinst
  # creates the user, reloads systemd, neither enables nor starts fipd.
  T=120 ct dpkg -i /root/fipd.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i in the container"; }
  [ "$(ct systemctl is-enabled fipd.service 2>&1)" = disabled ] || fail "fipd.service is enabled by the package"
  [ "$(prop ActiveState)" = inactive ] || fail "fipd.service was started by the package"

  # A server in a namespace of its own behind a veth, all inside the
  # container; fipd probes it with icmp (its raw socket needs CAP_NET_RAW).
  ct ip netns add srv
  ct ip link add fipd0 type veth peer name srv0 netns srv
  ct ip addr add 10.0.0.1/24 dev fipd0
  ct ip link set fipd0 up
  ct ip -n srv addr add 10.0.0.11/24 dev srv0
  ct ip -n srv link set srv0 up
  ct ip -n srv link set lo up

  local good='[[server]]
name = "web-1"
address = "10.0.0.11"
probe = { kind = "icmp", interval = "200ms", timeout = "100ms" }

[[floating_ip]]
address = "203.0.113.10"
server = "web-1"
mode = "nat"'
  # Written through the existing conffile, which keeps its owner and mode.
  ct sh -c 'cat > /etc/fipd/fipd.toml' <<<"$good"
  ct fipd --check-config --config /etc/fipd/fipd.toml || fail "the test's configuration"

  # 1. Active through READY: Type=notify leaves the unit activating until
  #    READY=1, and systemctl start waits for that.
  T=60 ct systemctl start fipd.service || fail "systemctl start fipd"
  [ "$(ct systemctl is-active fipd.service)" = active ] || fail "fipd.service is not active"
  [ "$(prop Type)" = notify ] || fail "Type=$(prop Type)"
  [ "$(prop SubState)" = running ] || fail "SubState=$(prop SubState)"
  local pid
  pid=$(prop MainPID)
  [ "$pid" != 0 ] || fail "no MainPID"
  echo "active through READY: MainPID $pid, StatusText '$(prop StatusText)', WatchdogUSec $(prop WatchdogUSec)"

  # 2. User fipd, exactly CAP_NET_ADMIN and CAP_NET_RAW.
  local status uid set hex caps
  status=$(ct cat "/proc/$pid/status")
  uid=$(ct id -u fipd)
  [ "$(awk '/^Uid:/ { print $2, $3, $4, $5 }' <<<"$status")" = "$uid $uid $uid $uid" ] ||
    fail "fipd does not run as fipd ($uid): $(grep -E '^Uid:' <<<"$status")"
  for set in CapEff CapPrm CapBnd CapAmb; do
    hex=$(awk -v s="$set:" '$1 == s { print $2 }' <<<"$status")
    caps=$(ct capsh --decode="$hex" | sed 's/^[^=]*=//')
    [ "$caps" = cap_net_admin,cap_net_raw ] || fail "$set of fipd: $caps ($hex)"
  done
  grep -qE '^NoNewPrivs:\s+1$' <<<"$status" || fail "no_new_privs is not set"
  grep -qE '^Seccomp:\s+2$' <<<"$status" || fail "no seccomp filter"
  echo "fipd runs as fipd ($uid) with cap_net_admin,cap_net_raw, no_new_privs, seccomp"

  # 3. fipctl answers; the server is up (bounded: 20 s).
  ct fipctl status >"$work/status.txt" || fail "fipctl status"
  wait_for 80 web_1_up || { ct fipctl status; fail "web-1 never came up"; }
  local table
  wait_for 40 table_has_element || fail "the table: $(table_state)"
  table=$(table_state)
  echo "fipctl status answers, web-1 is up; table inet fipd: $table"

  # 4. A broken file: the reload is refused, the same fipd runs on.
  ct sh -c 'cat > /etc/fipd/fipd.toml' <<<'[[server]
name = '
  if T=60 ct systemctl reload fipd.service 2>"$work/reload.txt"; then fail "a reload with a broken file succeeded"; fi
  local journal
  journal=$(ct journalctl -u fipd.service --no-pager -o cat)
  grep -q '^/etc/fipd/fipd.toml: 1 error$' <<<"$journal" || fail "the journal does not say why the reload failed"
  echo "the broken reload is refused: $(head -n 1 "$work/reload.txt")"
  [ "$(ct systemctl is-active fipd.service)" = active ] || fail "fipd.service is not active after the refused reload"
  [ "$(prop MainPID)" = "$pid" ] || fail "MainPID $(prop MainPID) after the refused reload, was $pid"
  ct sh -c 'cat > /etc/fipd/fipd.toml' <<<"$good"
  T=60 ct systemctl reload fipd.service || fail "a reload with the good file"
  [ "$(prop MainPID)" = "$pid" ] || fail "MainPID changed on a good reload"

  # 5. Frozen: the watchdog (WatchdogSec=5s) kills it, Restart= starts a new
  #    one (bounded: 60 s, well over 5 s + TimeoutAbortSec + RestartSec).
  ct kill -STOP "$pid"
  wait_for 240 running_with_new_pid "$pid" || fail "no restart after SIGSTOP: $(prop ActiveState)/$(prop SubState) MainPID $(prop MainPID)"
  journal=$(ct journalctl -u fipd.service --no-pager -o cat)
  grep -qi 'watchdog timeout' <<<"$journal" || fail "the journal has no watchdog timeout"
  echo "the frozen fipd $pid was killed by the watchdog; MainPID now $(prop MainPID), NRestarts $(prop NRestarts)"

  # 6. The table survives the restart: same handle, same element.
  wait_for 80 web_1_up || { ct fipctl status; fail "web-1 is not up after the restart"; }
  [ "$(table_state)" = "$table" ] || fail "table after the restart: $(table_state), before: $table"
  echo "the table survived the restart: $table"

  # 7. stop leaves the table in place.
  T=60 ct systemctl stop fipd.service || fail "systemctl stop fipd"
  [ "$(prop ActiveState)" = inactive ] || fail "ActiveState=$(prop ActiveState) after stop"
  [ "$(table_state)" = "$table" ] || fail "table after stop: $(table_state), before: $table"
  echo "stopped; the table is still there: $table"
  # What the container's systemd said about the unit beyond the expected
  # refused reload and watchdog kill: a sandboxing directive it could not
  # apply would show here.
  local said
  said=$(ct journalctl -b _PID=1 -p warning --no-pager -o cat)
  grep -F fipd <<<"$said" | grep -v -e 'Reload failed' -e 'Watchdog timeout' -e 'SIGABRT' -e 'status=6/ABRT' -e "result 'watchdog'" || true
  echo "PASS"
}

main "$@"
