// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the status line parser of HTTP probe replies, fed any
// bytes as what a server sent so far. Besides never crashing, its answer
// must not depend on how the bytes were split: every prefix that is already
// bad or complete must give the same answer as the whole, since the prober
// decides on the first prefix that is not incomplete.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "src/probe/http_status.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using fipd::probe::parse_status_line;
  using S = fipd::probe::StatusLine::State;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto whole = parse_status_line(text);
  if (whole.state == S::complete && (whole.status < 100 || whole.status > 599)) std::abort();
  if (whole.state != S::complete && whole.status != 0) std::abort();
  // Past the bound every answer is final; bounded so a run stays linear-ish.
  const size_t last = size < 1100 ? size : 1100;
  for (size_t n = 0; n < last; ++n) {
    auto part = parse_status_line(text.substr(0, n));
    if (part.state == S::incomplete) continue;
    if (part.state != whole.state || part.status != whole.status) std::abort();
    break;
  }
  return 0;
}
