#include "src/config/duration.hpp"

#include <charconv>
#include <cmath>

namespace fipd {

Result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return nl::fail(EINVAL, "'" + std::string(text) + "' is not a duration: " + why);
  };
  size_t unit_at = text.find_first_not_of("0123456789.");
  if (unit_at == 0 || text.empty()) return bad("expected a number and a unit, as in 500ms or 2s");
  if (unit_at == std::string_view::npos) return bad("a unit is missing (us, ms, s, m or h)");
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + unit_at, value);
  if (ec != std::errc() || end != text.data() + unit_at) return bad("the number is malformed");
  std::string_view unit = text.substr(unit_at);
  double scale;
  if (unit == "us") {
    scale = 1e3;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "s") {
    scale = 1e9;
  } else if (unit == "m") {
    scale = 60e9;
  } else if (unit == "h") {
    scale = 3600e9;
  } else {
    return bad("unknown unit '" + std::string(unit) + "' (use us, ms, s, m or h)");
  }
  double ns = value * scale;
  if (ns < 1e3) return bad("must be at least 1us");
  if (ns > 86400e9) return bad("must be at most 24h");
  return std::chrono::nanoseconds(static_cast<int64_t>(std::llround(ns)));
}

std::string format_duration(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  struct Unit {
    int64_t size;
    const char* name;
  };
  for (Unit u : {Unit{3600'000'000'000, "h"}, {60'000'000'000, "m"}, {1'000'000'000, "s"},
                 {1'000'000, "ms"}, {1'000, "us"}})
    if (ns != 0 && ns % u.size == 0) return std::to_string(ns / u.size) + u.name;
  return std::to_string(ns) + "ns";
}

}  // namespace fipd
