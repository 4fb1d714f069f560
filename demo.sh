#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The failed-server story, end to end, in network namespaces this script
# creates and always removes:
#
#   client ── router (fipd) ── web-1   (the customer's server, data in web-1/data)
#   198.51.100.2   │            10.0.1.2
#                  └─ web-2              (built by the rebuild hook when web-1 breaks)
#                               10.0.2.2
#
# The customer reaches the site at the floating IP 203.0.113.10. web-1's
# service breaks; fipd notices, locks the customer out of web-1 (SSH), calls
# the rebuild hook (packaging/examples/rebuild-hook-demo), which builds web-2,
# copies web-1's data across and starts the service; fipd repoints the
# floating IP once web-2 passes its probes. The customer's requests go on to
# the same address and get the same content. Exits non-zero when the story
# does not complete.
#
# Usage: ./demo.sh            (as root; installs and builds what it needs)
set -euo pipefail
cd "$(dirname "$0")"
repo=$PWD

if [ "$(id -u)" -ne 0 ]; then
  echo "demo.sh: run as root: it builds network namespaces" >&2
  exit 2
fi
if ip netns list 2>/dev/null | grep -q '^fipd-demo-'; then
  echo "demo.sh: namespaces named fipd-demo-* exist already (another demo running?); remove them first:" >&2
  ip netns list | grep '^fipd-demo-' >&2
  exit 2
fi

./scripts/install-deps.sh
echo "== building fipd and fipctl"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target fipd fipctl >/dev/null
fipd=$repo/build/src/fipd
fipctl=$repo/build/src/fipctl

demo=$(mktemp -d /tmp/fipd-demo-XXXXXX)
pids=()
cleanup() {
  local rc=$?
  set +e
  # Only what this script started, by PID.
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for f in "$demo"/*/http.pid; do [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^fipd-demo-'); do ip netns del "$ns" 2>/dev/null; done
  rm -rf "$demo"
  exit $rc
}
trap cleanup EXIT INT TERM

say() { printf '\033[1m%s\033[0m %s\n' "$(date +%H:%M:%S.%3N)" "$*"; }
in_ns() { local ns=$1; shift; ip netns exec "fipd-demo-$ns" "$@"; }
now_ms() { date +%s%3N; }
# The time now in ms, on the wall clock and on fipd's own (CLOCK_MONOTONIC,
# its status's *_mono_us), read together.
both_ms() {
  python3 -c 'import time; print(time.time_ns() // 1000000, time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000000)'
}

say "building the network: client, router, web-1 (namespaces fipd-demo-*)"
for ns in client router web1; do ip netns add "fipd-demo-$ns"; in_ns "$ns" ip link set lo up; done
# Every link is created from inside a demo namespace: nothing ever exists in
# the namespace this script runs in.
in_ns client ip link add cli type veth peer name cli netns fipd-demo-router
in_ns client ip addr add 198.51.100.2/24 dev cli
in_ns client ip link set cli up
in_ns client ip route add default via 198.51.100.1
in_ns router ip addr add 198.51.100.1/24 dev cli
in_ns router ip link set cli up
in_ns router sysctl -qw net.ipv4.ip_forward=1
# Server N (namespace fipd-demo-webN, created) joins the router: 10.0.N.2
# behind the router's 10.0.N.1.
join_server() {
  local n=$1
  in_ns "web$n" ip link set lo up
  in_ns router ip link add "r-web$n" type veth peer name eth0 netns "fipd-demo-web$n"
  in_ns router ip addr add "10.0.$n.1/24" dev "r-web$n"
  in_ns router ip link set "r-web$n" up
  in_ns "web$n" ip addr add "10.0.$n.2/24" dev eth0
  in_ns "web$n" ip link set eth0 up
  in_ns "web$n" ip route add default via "10.0.$n.1"
}
join_server 1

say "web-1 serves the customer's site from its data folder"
mkdir -p "$demo/web-1/data/images" "$demo/web-2"
echo "<h1>Customer site</h1><p>Served from the customer's data.</p>" >"$demo/web-1/data/index.html"
head -c 200000 /dev/urandom | base64 >"$demo/web-1/data/images/photo.b64"
for i in $(seq 1 20); do echo "order $i" >"$demo/web-1/data/order-$i.txt"; done
setsid ip netns exec fipd-demo-web1 python3 -m http.server 80 --bind 10.0.1.2 --directory "$demo/web-1/data" \
  </dev/null >"$demo/web-1/http.log" 2>&1 &
echo $! >"$demo/web-1/http.pid"
# An SSH stand-in on web-1, to show the maintenance lockout.
setsid ip netns exec fipd-demo-web1 socat TCP-LISTEN:22,bind=10.0.1.2,fork,reuseaddr SYSTEM:'echo SSH-2.0-web-1' \
  </dev/null >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do in_ns router curl -s -o /dev/null --max-time 0.2 http://10.0.1.2/ && break; sleep 0.1; done

cat >"$demo/fipd.toml" <<TOML
[engine]
control_socket = "$demo/fipd.sock"
state_file = "$demo/state.json"
health_listen = ""
management_prefixes = ["10.255.0.0/16"]
min_move_interval = "100ms"

[probe_defaults]
kind = "http"
port = 80
path = "/index.html"
expect = [200]
interval = "100ms"
timeout = "300ms"
rise = 2
fall = 3

[rebuild]
hook = "$repo/packaging/examples/rebuild-hook-demo"
timeout = "60s"
healthy_timeout = "30s"
environment = { DEMO_DIR = "$demo" }

[[server]]
name = "web-1"
address = "10.0.1.2"

[[floating_ip]]
address = "203.0.113.10"
server = "web-1"
mode = "nat"
lockout_ports = [22]
TOML

# The demo's stand-in for a provisioning system: when the rebuild hook asks
# (a file), it builds web-2 (a namespace joined to the router) and starts its
# web service, which outlives the hook. Bounded: it gives up after 3 minutes.
provision() {
  for _ in $(seq 1 1800); do
    if [ -e "$demo/web-2/start" ] && ! ip netns list | grep -qw fipd-demo-web2; then
      ip netns add fipd-demo-web2
      join_server 2
    fi
    if [ -e "$demo/web-2/start" ] &&
      { [ ! -s "$demo/web-2/http.pid" ] || ! kill -0 "$(cat "$demo/web-2/http.pid")" 2>/dev/null; }; then
      ip netns exec fipd-demo-web2 python3 -m http.server 80 --bind 10.0.2.2 --directory "$demo/web-2/data" \
        </dev/null >"$demo/web-2/http.log" 2>&1 &
      echo $! >"$demo/web-2/http.pid"
    fi
    sleep 0.1
  done
}
provision &
pids+=($!)

say "starting fipd on the router"
# Not through in_ns: a backgrounded function would give the PID of a
# subshell, and cleanup must be able to stop fipd itself.
ip netns exec fipd-demo-router "$fipd" --config "$demo/fipd.toml" --log-level notice 2>"$demo/fipd.log" &
pids+=($!)

ctl() { "$fipctl" --socket "$demo/fipd.sock" "$@"; }
wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local limit=$1 what=$2; shift 2
  local end=$(($(now_ms) + limit * 1000))
  until "$@" >/dev/null 2>&1; do
    if [ "$(now_ms)" -gt "$end" ]; then
      say "FAILED: $what did not happen within ${limit}s"
      cat "$demo/fipd.log"
      exit 1
    fi
    sleep 0.05
  done
}
# Every wait rests on fipd's state as `fipctl --json status` gives it, which
# no wait can miss; the watch below only tells the story. `status_is FILTER`
# is true when the jq FILTER holds for the status.
status_is() { ctl --json status | jq -e "$1" >/dev/null; }
server_is() { status_is ".result.servers[] | select(.name == \"$1\") | $2"; }

wait_for 10 "fipd answering on its control socket" status_is '.ok'
# The file exists before tail opens it, and the story's events come once
# the watcher is subscribed (fipd counts it in its metrics).
: >"$demo/watch.log"
ctl watch >"$demo/watch.log" 2>&1 &
pids+=($!)
tail --pid=$$ -n +1 -f "$demo/watch.log" | sed -u 's/^/    fipctl watch | /' &
pids+=($!)
watching() { ctl metrics | awk '/^fipd_control_watchers [1-9]/ { n++ } END { exit n == 0 }'; }
wait_for 5 "fipctl watch subscribed" watching

# The customer: one request every 50 ms, at most 1200 (60 s), each answer
# checked against the original content.
expected=$(cat "$demo/web-1/data/index.html")
(
  for _ in $(seq 1 1200); do
    [ -e "$demo/stop-client" ] && break
    t=$(now_ms)
    body=$(in_ns client curl -s --max-time 0.5 http://203.0.113.10/index.html || true)
    if [ "$body" = "$expected" ]; then
      echo "$t ok"
    else
      echo "$t fail"
    fi
    sleep 0.05
  done
) >"$demo/client.log" &
client=$!
pids+=($client)

wait_for 10 "web-1 up" server_is web-1 '.health == "up"'
sleep 1
say "client: $(in_ns client curl -s --max-time 1 http://203.0.113.10/index.html)"
say "client: ssh to 203.0.113.10: $(in_ns client socat -T1 - TCP:203.0.113.10:22,connect-timeout=1 </dev/null 2>&1 | head -1)"

say "web-1's web service breaks"
read -r t_break t_break_mono < <(both_ms)
kill "$(cat "$demo/web-1/http.pid")"
wait_for 10 "the failure detected" server_is web-1 '.health == "down"'
# fipd's own time of the event, not this script's polling: its clock when
# it answered, less how long web-1 had been down.
t_detect_mono=$(ctl --json status |
  jq -r '.result | (.engine.now_mono_us - (.servers[] | select(.name == "web-1") | .since_us_ago)) / 1000 | floor')
wait_for 5 "the lockout" server_is web-1 '.maintenance != "none"'
ssh_answer=$(in_ns client socat -T1 - TCP:203.0.113.10:22,connect-timeout=1 </dev/null 2>&1 | head -1 || true)
say "client: ssh to 203.0.113.10 while web-1 is in maintenance: ${ssh_answer:-no answer} (locked out by fipd's lockout set)"
rebuilt='.result.rebuilds.records[] | select(.server == "web-1" and .stage == "done")'
wait_for 60 "the rebuild" status_is "$rebuilt"
t_done=$(ctl --json status | jq -r "[$rebuilt] | last | .finished_unix_ms")
sleep 1
touch "$demo/stop-client"
wait "$client" || true

say "client: $(in_ns client curl -s --max-time 1 http://203.0.113.10/index.html)"
ctl status || true

# The summary.
requests=$(wc -l <"$demo/client.log")
failed=$(grep -c fail "$demo/client.log" || true)
gap=$(awk '$2=="ok" { if (last && $1-last > g) g = $1-last; last = $1 } END { print g+0 }' "$demo/client.log")
status_json=$(ctl --json status)
repoint_us=$(jq -r '[.result.failovers[] | select(.to=="web-2")] | last | (.committed_mono_us - .decided_mono_us)' <<<"$status_json")
files_lost=$(diff -rq "$demo/web-1/data" "$demo/web-2/data" | wc -l)
echo
say "summary"
printf '  %-38s %s\n' "detection (service broke -> down)" "$((t_detect_mono - t_break_mono)) ms" \
  "kernel repoint (decided -> committed)" "${repoint_us} us" \
  "rebuild (service broke -> done)" "$((t_done - t_break)) ms" \
  "client-visible gap (longest stretch)" "${gap} ms" \
  "client requests failed" "$failed of $requests" \
  "files lost in the move" "$files_lost"
served=$(in_ns client curl -s --max-time 1 http://203.0.113.10/index.html)
repointed=$(jq -r '.result.floating_ips[] | select(.address == "203.0.113.10") | .server' <<<"$status_json")
if [ "$served" = "$(cat "$demo/web-1/data/index.html")" ] && [ "$files_lost" -eq 0 ] && [ "$repointed" = web-2 ]; then
  say "the customer's site is served by web-2, with the same content, at the same address"
else
  say "FAILED: the story did not complete"
  exit 1
fi
