// SPDX-License-Identifier: GPL-2.0-or-later
// fipd as the system under test: the real binary in the router namespace,
// restarted with a fresh state file before every trial, so that no trial
// inherits the previous one's damping, maintenance or timeline.
#pragma once

#include <string>

#include "bench/fipd_bench/system.hpp"

namespace fipd::bench {

struct FipdConfigOptions {
  std::string mode = "nat";  // of every floating IP
  bool fast = false;         // interval 2ms, timeout 20ms, rise 2, fall 3; else fipd's defaults
  int fips = 1;
  std::string server_address = "10.0.1.2", spare_address = "10.0.2.2";
  // Needed once floating IPs spill into IPv6 (past 200 of them).
  std::string server_address6 = "fd00:0:0:1::2", spare_address6 = "fd00:0:0:2::2";
  uint16_t port = 7000;
};

// The configuration file: two servers (web-1 and the spare, spare-1), a UDP
// health probe the benchmark's service answers ("health" -> "ok ..."), and
// the floating IPs on web-1. Damping is off so that trials can follow each
// other; everything else is fipd's default unless `fast`.
std::string fipd_config(const FipdConfigOptions& options);

}  // namespace fipd::bench
