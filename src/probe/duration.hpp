// SPDX-License-Identifier: GPL-2.0-or-later
// Durations written with units, as in the configuration: "2ms", "500ms",
// "1s", "250us", "5m", also "1.5s" and "1m30s". A parser with no I/O, shared
// by the TOML configuration and probe spec validation.
#pragma once

#include <string>
#include <string_view>

#include "base/error.hpp"
#include "base/clock.hpp"

namespace fipd::probe {


// The longest duration any text may spell: 30 days. Every setting has its
// own, tighter range on top (probe intervals and timeouts: spec.hpp).
inline constexpr Duration kMaxDuration = std::chrono::hours(24 * 30);

// Accepts one or more <number><unit> terms (number: digits with an optional
// fraction), units ns, us (or µs), ms, s, m, h, and an optional leading '-'
// so that validation can say "must be > 0" rather than "bad syntax". The
// arithmetic is exact integer arithmetic (fractions are taken to the
// nanosecond, never through floating point); past kMaxDuration is an error,
// so no sum built from a parsed duration can overflow. Errors
// (EINVAL) quote the text: "'5 parsecs': unknown unit 'parsecs' (use ns, us, ms, s, m, h)".
Result<Duration> parse_duration(std::string_view text);

// The shortest exact spelling: 2ms, 1s, 1m30s, 250us, 0ms.
std::string format_duration(Duration d);

}  // namespace fipd::probe
