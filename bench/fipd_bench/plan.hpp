// SPDX-License-Identifier: GPL-2.0-or-later
// What a run measures: the systems, the scenarios and the number of trials,
// from the command line's choices. Pure; main.cpp parses, this decides.
//
//   quick  fipd's three modes at their fastest, the shell loop and
//          keepalived at its fastest; the service killed and a host of 100
//          floating IPs dying; 3 trials each. Under a minute on 2 cores.
//   full   every system, every failure, hosts of 1, 100 and 10,000
//          floating IPs; 10 trials each.
#pragma once

#include <string>
#include <vector>

#include "bench/fipd_bench/system.hpp"

namespace fipd::bench {

struct PlanChoices {
  bool quick = false;
  int trials = 0;                     // 0: the mode's default
  std::vector<std::string> systems;   // empty: the mode's
  std::vector<std::string> failures;  // empty: the mode's
  std::vector<int> fips;              // host-down sizes; empty: the mode's
};

struct Plan {
  std::string mode;  // "quick", "full", or "custom" when narrowed
  int trials = 0;
  std::vector<const SystemSpec*> systems;
  std::vector<Scenario> scenarios;
};

// An EINVAL Error naming the unknown system or failure.
Result<Plan> make_plan(const PlanChoices& choices);
// "a,b,c" -> {"a","b","c"}
std::vector<std::string> split_list(const std::string& text);

}  // namespace fipd::bench
