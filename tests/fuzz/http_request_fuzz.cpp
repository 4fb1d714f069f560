// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the health responder's HTTP request head parser. It must
// never crash or read past the buffer, and what it reports must fit it; and
// the path decoder, which must never let a control character through.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "src/http/http.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fipd::http;
  std::string_view buf(reinterpret_cast<const char*>(data), size);
  ParseResult r = parse_request_head(buf, 1024);
  if (r.status == ParseStatus::complete) {
    if (r.consumed == 0 || r.consumed > buf.size() || r.consumed > 1024) std::abort();
    auto inside = [&](std::string_view v) { return v.data() >= buf.data() && v.data() + v.size() <= buf.data() + buf.size(); };
    if (!inside(r.request.method) || !inside(r.request.target) || r.request.method.empty()) std::abort();
    // A decoded target never holds a control character (a NUL would cut it).
    if (auto d = percent_decode(r.request.target))
      for (char c : *d)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
  }
  return 0;
}
