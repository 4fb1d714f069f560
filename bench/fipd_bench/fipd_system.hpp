// SPDX-License-Identifier: GPL-2.0-or-later
// fipd as the system under test: the real binary in the router namespace,
// restarted with a fresh state file before every trial, so that no trial
// inherits the previous one's damping, maintenance or timeline.
#pragma once

#include <string>
#include <string_view>

#include "bench/fipd_bench/system.hpp"

namespace fipd::bench {

struct FipdConfigOptions {
  std::string mode = "nat";  // of every floating IP
  bool fast = false;         // kFastProbe; else fipd's defaults
  int fips = 1;
  std::string server_address = "10.0.1.2", spare_address = "10.0.2.2";
  // Needed once floating IPs spill into IPv6 (past 200 of them).
  std::string server_address6 = "fd00:0:0:1::2", spare_address6 = "fd00:0:0:2::2";
  uint16_t port = 7000;
  // [probe_defaults] lines that replace `fast` or the defaults (probe_settings()); empty: none.
  std::string probe;
};

// The probe settings of the `-fast` systems: 1 ms probes condemned by a 5 ms
// deadline (BFD-like; up to four answers in a row may be lost).
inline constexpr const char* kFastProbe =
    "interval = \"1ms\"\ntimeout = \"20ms\"\ndetect_time = \"5ms\"\nrise = 2\nfall = 3\n";

// `--fipd-probe` text, KEY=VALUE pairs separated by commas
// ("interval=1ms,detect_time=5ms"), as [probe_defaults] lines: integers as
// such, anything else quoted. Keys are fipd's own, checked by fipd when it
// reads the file; here only the shape is: letters and '_' for a key, no
// quote, backslash or control character in a value, at most 32 pairs.
Result<std::string> probe_settings(std::string_view text);

// The configuration file: two servers (web-1 and the spare, spare-1), a UDP
// health probe the benchmark's service answers ("health" -> "ok ..."), and
// the floating IPs on web-1. Damping is off so that trials can follow each
// other; everything else is fipd's default unless `fast`.
std::string fipd_config(const FipdConfigOptions& options);

}  // namespace fipd::bench
