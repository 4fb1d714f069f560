// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/probe/duration.hpp"

#include <cerrno>
#include <cstdint>
#include <limits>

namespace fipd::probe {
namespace {

struct Unit {
  std::string_view name;
  int64_t ns;
};
constexpr Unit kUnits[] = {{"ns", 1},           {"us", 1'000},           {"\u00b5s", 1'000},
                           {"ms", 1'000'000},   {"s", 1'000'000'000},    {"m", 60'000'000'000},
                           {"h", 3'600'000'000'000}};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::unexpected<Error> bad(std::string_view text, const std::string& why) {
  return fail(EINVAL, "'" + std::string(text) + "': " + why);
}

std::unexpected<Error> too_large(std::string_view text) {
  return bad(text, "longer than the longest duration fipd takes, " + format_duration(kMaxDuration));
}

}  // namespace

Result<Duration> parse_duration(std::string_view text) {
  std::string_view s = text;
  if (s.empty()) return bad(text, "empty duration (write e.g. 500ms)");
  bool negative = false;
  if (s.front() == '-' || s.front() == '+') {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  // Integers only, and 128 bits wherever a product could pass 2^63: a
  // fraction of an hour is 10^9 * 3.6 * 10^12 before it is divided, and
  // floating point would round "0.999999999m" to something else.
  const int64_t max = kMaxDuration.count();
  int64_t total = 0;
  while (!s.empty()) {
    int64_t whole = 0, frac = 0, frac_scale = 1;
    size_t i = 0;
    for (; i < s.size() && is_digit(s[i]); ++i) {
      if (whole > (max - 9) / 10) return too_large(text);
      whole = whole * 10 + (s[i] - '0');
    }
    size_t digits = i;
    if (i < s.size() && s[i] == '.') {
      for (++i; i < s.size() && is_digit(s[i]); ++i) {
        if (frac_scale < 1'000'000'000) {  // finer than 1 ns of a second counts for nothing
          frac = frac * 10 + (s[i] - '0');
          frac_scale *= 10;
        }
        ++digits;
      }
    }
    if (digits == 0) return bad(text, "expected a number");
    size_t u = i;
    while (u < s.size() && !is_digit(s[u]) && s[u] != '.') ++u;
    std::string_view unit = s.substr(i, u - i);
    if (unit.empty()) return bad(text, "missing unit (use ns, us, ms, s, m, h)");
    const Unit* found = nullptr;
    for (const Unit& candidate : kUnits)
      if (candidate.name == unit) found = &candidate;
    if (!found) return bad(text, "unknown unit '" + std::string(unit) + "' (use ns, us, ms, s, m, h)");
    using Wide = unsigned __int128;
    const Wide term = Wide(static_cast<uint64_t>(whole)) * static_cast<uint64_t>(found->ns) +
                      Wide(static_cast<uint64_t>(frac)) * static_cast<uint64_t>(found->ns) /
                          static_cast<uint64_t>(frac_scale);
    if (term > Wide(static_cast<uint64_t>(max - total))) return too_large(text);
    total += static_cast<int64_t>(term);
    s.remove_prefix(u);
  }
  return Duration(negative ? -total : total);
}

std::string format_duration(Duration d) {
  int64_t ns = d.count();
  if (ns == 0) return "0ms";
  std::string out = ns < 0 ? "-" : "";
  uint64_t left = ns < 0 ? static_cast<uint64_t>(-(ns + 1)) + 1 : static_cast<uint64_t>(ns);
  // Each non-zero component, largest first: 1m30s, 1s500ms, 2ms. The parser
  // reads every such spelling back to the same value.
  for (const Unit& u : {kUnits[6], kUnits[5], kUnits[4], kUnits[3], kUnits[1], kUnits[0]}) {
    const uint64_t unit = static_cast<uint64_t>(u.ns);
    if (left >= unit) {
      out += std::to_string(left / unit) + std::string(u.name);
      left %= unit;
    }
  }
  return out;
}

}  // namespace fipd::probe
