// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the parser of the {"replacement": {...}} line a rebuild
// hook prints, fed any bytes as that line. It must never crash, throw or
// recurse without bound, and what it accepts must be what the engine can
// register: a name of the allowed characters and probes that validate()
// judges (not crashes on).
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "src/probe/spec_io.hpp"
#include "src/rebuild/replacement.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view line(reinterpret_cast<const char*>(data), size);
  auto r = fipd::rebuild::parse_replacement(line, fipd::probe::written_defaults());
  if (!r) {
    if (r.error().context.empty()) std::abort();
    return 0;
  }
  if (r->name.empty() || r->name.size() > 63) std::abort();
  for (char c : r->name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) std::abort();
  if (r->probes.size() > 1) std::abort();
  for (const auto& p : r->probes) {
    fipd::probe::ServerSpec server{.id = r->name, .address = r->address, .probes = {p}};
    (void)fipd::probe::validate(server);
  }
  return 0;
}
