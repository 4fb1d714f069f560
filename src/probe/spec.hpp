// SPDX-License-Identifier: GPL-2.0-or-later
// What to probe: servers and their probes, as the configuration and the
// control socket describe them, and their validation.
//
// Plain data, immutable once handed to the engine. validate() is the one
// place that decides what is acceptable; its errors name the server, the
// probe and the field: "server web-1: probe 0: timeout: '0ms' must be > 0".
//
// Decision: a timeout longer than the interval is allowed. Probes of one
// server then overlap (interval 2ms, timeout 20ms is the way to see a silent
// server within ~25 ms while a refused connection is seen within 2 ms); the
// engine keeps at most kMaxInFlightPerProbe attempts of one probe in flight,
// so the overlap stays finite whatever the ratio.
//
// Ranges (README "Configuration", fipd.toml(5)): interval, fastinter and
// downinter 1ms to 1h; timeout 1ms to 60s; detect_time 2 to 16 intervals
// (fastinter too, when set), so that one lost answer never fails a server
// and the attempts one deadline covers fit kMaxInFlightPerProbe; at most kMaxProbesPerServer
// probes per server and kMaxProbes in all. 1ms is the fastest pace the
// figures were measured at (100 servers, ICMP); a longer timeout than a
// minute only delays what a silent server reveals.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/ip_address.hpp"
#include "base/clock.hpp"

namespace fipd::probe {

using namespace std::chrono_literals;

inline constexpr Duration kMinInterval = 1ms, kMaxInterval = 1h;
inline constexpr Duration kMinTimeout = 1ms, kMaxTimeout = 60s;
inline constexpr size_t kMaxProbesPerServer = 16;
inline constexpr size_t kMaxProbes = 100'000;  // over all servers
inline constexpr uint32_t kMaxInFlightPerProbe = 16;

enum class ProbeKind : uint8_t { tcp, http, udp, icmp };
const char* kind_name(ProbeKind k);
// "tcp", "http", "udp", "icmp"; anything else is an EINVAL Error quoting it.
Result<ProbeKind> parse_probe_kind(std::string_view text);

struct ProbeSpec {
  ProbeKind kind = ProbeKind::tcp;
  uint16_t port = 0;  // tcp, http, udp; none for icmp
  Duration interval = 1s;
  Duration timeout = 500ms;
  Duration fastinter = 0ms;  // while changing state; 0: the interval
  Duration downinter = 0ms;  // while down; 0: the interval
  // Deadline detection (0: off). The probe is down once no valid answer has
  // come for detect_time while fipd sent on time, whatever one attempt's
  // timeout; an attempt then waits at most detect_time, and its timeout
  // counts as a lost answer, not a failure (engine.hpp).
  Duration detect_time = 0ms;
  unsigned rise = 2;
  unsigned fall = 3;
  unsigned spread_percent = 10;  // each interval is varied by up to this much, both ways
  // tcp: bytes sent once connected; udp: the datagram. expect: the reply's
  // required prefix (tcp, udp); empty for tcp: connecting is enough.
  std::string send;
  std::string expect;
  // http: GET of path with Host: host (empty: the server's address);
  // success only on one of `http_status` (empty: any 2xx or 3xx).
  std::string http_path = "/";
  std::string http_host;
  std::vector<uint16_t> http_status;
  // Where probes leave from: a source address, a device (SO_BINDTODEVICE),
  // a firewall mark (SO_MARK; 0 sets none).
  std::optional<IpAddress> source;
  std::string device;
  uint32_t mark = 0;

  Duration fast_interval() const { return fastinter.count() > 0 ? fastinter : interval; }
  Duration down_interval() const { return downinter.count() > 0 ? downinter : interval; }
  // How long one attempt waits for its answer.
  Duration attempt_timeout() const {
    return detect_time.count() > 0 ? std::min(timeout, detect_time) : timeout;
  }

  friend bool operator==(const ProbeSpec&, const ProbeSpec&) = default;
};

struct ServerSpec {
  std::string id;  // unique in the engine: "web-1"
  IpAddress address;
  std::vector<ProbeSpec> probes;
};

// EINVAL with "server ID: probe N: FIELD: ..." for the first problem found.
Status validate(const ServerSpec& server);

}  // namespace fipd::probe
