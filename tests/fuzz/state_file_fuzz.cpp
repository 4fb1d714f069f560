// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the state file reader (bounded_json::parse, then every
// field checked), fed any bytes as a state file. It must never crash, throw
// or recurse without bound, and a state it accepts must write back to text
// it accepts again. printable() is fuzzed along: its output never holds
// a control character or invalid UTF-8.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/printable.hpp"
#include "src/state/runtime_state.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto s = fipd::state::from_json(text, "state.json");
  if (s) {
    auto again = fipd::state::from_json(fipd::state::to_json(*s), "state.json");
    if (!again) std::abort();
  }
  std::string shown = fipd::printable(text);
  const auto* p = reinterpret_cast<const unsigned char*>(shown.data());
  for (size_t i = 0; i < shown.size();) {
    unsigned char c = p[i];
    if (c < 0x20 || c == 0x7f) std::abort();
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = fipd::utf8_sequence_length(p + i, shown.size() - i);
    if (len == 0 || (c == 0xC2 && p[i + 1] < 0xA0)) std::abort();
    i += len;
  }
  return 0;
}
