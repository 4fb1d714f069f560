// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the control protocol's request parser, fed any bytes as
// one request line. It must never crash, throw or leak, and whatever it
// answers must itself be one valid JSON line: the error messages quote the
// input, so the JSON writer's escaping is fuzzed along with the parser.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include "src/control/json_out.hpp"
#include "src/control/protocol.hpp"
#include "src/probe/spec_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fipd::control;
  std::string_view line(reinterpret_cast<const char*>(data), size);
  static const fipd::probe::ProbeSpec defaults = fipd::probe::written_defaults();
  auto r = parse_request(line, defaults);
  std::string answer = r ? ok_response(r->id, "{}") : error_response(r.error().id, r.error().code, r.error().message);
  if (answer.empty() || answer.back() != '\n' || answer.find('\n') != answer.size() - 1) std::abort();
  auto j = nlohmann::json::parse(answer, nullptr, false);
  if (j.is_discarded() || !j.is_object()) std::abort();
  // Any bytes at all, escaped, parse back as a string.
  std::string out;
  JsonWriter w(&out);
  w.begin_array().value(line).end_array();
  auto back = nlohmann::json::parse(out, nullptr, false);
  if (back.is_discarded() || !back[0].is_string()) std::abort();
  return 0;
}
