// Durations as operators write them: "2ms", "500ms", "1s", "250us", "5m",
// "1h", also "1.5s". A bare number is refused: "interval = 2" is ambiguous,
// and a wrong guess is a thousandfold error.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "netlink/error.hpp"

namespace fipd {

using nl::Result;

// A duration of at least 1 µs and at most a day. Errors quote the text.
Result<std::chrono::nanoseconds> parse_duration(std::string_view text);

// The shortest exact rendering: 2000000ns -> "2ms", 1500ms -> "1500ms".
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace fipd
