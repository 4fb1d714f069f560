// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/plan.hpp"

#include <sstream>

namespace fipd::bench {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string item; std::getline(s, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

Result<Plan> make_plan(const PlanChoices& c) {
  Plan p{.mode = c.quick ? "quick" : "full", .trials = c.trials > 0 ? c.trials : (c.quick ? 3 : 10)};
  std::vector<std::string> systems = c.systems;
  if (systems.empty()) {
    if (c.quick) {
      systems = {"fipd-nat-fast", "fipd-stateless-nat-fast", "fipd-route-fast", "shell-loop", "keepalived-fast"};
    } else {
      for (const auto& s : all_systems()) systems.push_back(s.id);
    }
  } else {
    p.mode = "custom";
  }
  for (const auto& id : systems) {
    const SystemSpec* s = find_system(id);
    if (!s) {
      std::string known;
      for (const auto& k : all_systems()) known += (known.empty() ? "" : ", ") + k.id;
      return fail(EINVAL, "unknown system '" + id + "' (known: " + known + ")");
    }
    p.systems.push_back(s);
  }
  std::vector<std::string> failures = c.failures;
  if (failures.empty()) {
    failures = c.quick ? std::vector<std::string>{"refused", "host-down"}
                       : std::vector<std::string>{"refused", "link-down", "blackhole", "slow", "host-down"};
  } else {
    p.mode = "custom";
  }
  std::vector<int> sizes = c.fips;
  if (sizes.empty()) {
    sizes = c.quick ? std::vector<int>{100} : std::vector<int>{1, 100, 10000};
  } else {
    p.mode = "custom";
  }
  for (const auto& name : failures) {
    auto kind = parse_failure(name);
    if (!kind) return fail(EINVAL, "unknown failure '" + name + "' (refused, link-down, blackhole, slow, host-down)");
    if (*kind != FailureKind::host_down) {
      p.scenarios.push_back({.kind = *kind, .fips = 1});
      continue;
    }
    for (int n : sizes) {
      if (n < 1 || n > 100000) return fail(EINVAL, "--fips " + std::to_string(n) + ": from 1 to 100000");
      p.scenarios.push_back({.kind = *kind, .fips = n});
    }
  }
  return p;
}

}  // namespace fipd::bench
