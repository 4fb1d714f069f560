// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/rebuild/replacement.hpp"

#include <nlohmann/json.hpp>

#include "base/printable.hpp"
#include "src/json/bounded.hpp"
#include "src/probe/spec_io.hpp"
#include "src/state/model.hpp"

namespace fipd::rebuild {

using nlohmann::json;

Result<Replacement> parse_replacement(std::string_view line, const probe::ProbeSpec& probe_defaults) {
  auto bad = [](const std::string& why) { return fail(EINVAL, "the hook's replacement: " + why); };
  auto parsed = bounded_json::parse(line, {.max_depth = 8, .max_bytes = 64 * 1024});
  if (!parsed) return bad("not a JSON object: " + parsed.error().context);
  const json& j = *parsed;
  if (!j.is_object()) return bad("not a JSON object");
  auto it = j.find("replacement");
  if (it == j.end() || !it->is_object()) return bad("no \"replacement\" object");
  const json& r = *it;
  Replacement rep;
  auto name = r.find("name");
  if (name == r.end() || !name->is_string()) return bad("name: expected a name (" + std::string(state::kNameRule) + ")");
  rep.name = name->get<std::string>();
  if (!state::valid_name(rep.name))
    return bad("name: '" + printable(rep.name) + "' is not a name (" + std::string(state::kNameRule) + ")");
  auto addr = r.find("address");
  if (addr == r.end() || !addr->is_string()) return bad("address: expected an address string");
  auto a = IpAddress::parse(addr->get<std::string>());
  if (!a) return bad("address: " + a.error().context);
  rep.address = *a;
  if (auto a6 = r.find("address6"); a6 != r.end() && !a6->is_null()) {
    auto b = a6->is_string() ? IpAddress::parse(a6->get<std::string>()) : fail(EINVAL, "not a string");
    if (!b) return bad("address6: " + b.error().context);
    rep.address6 = *b;
  }
  if (auto sp = r.find("spare"); sp != r.end()) {
    if (!sp->is_boolean()) return bad("spare: expected true or false");
    rep.spare = sp->get<bool>();
  }
  if (auto p = r.find("probe"); p != r.end()) {
    if (!p->is_object()) return bad("probe: expected an object");
    // Over [probe_defaults], as `server add` and the file read theirs.
    probe::JsonFields fields(*p);
    probe::ProbeSpec spec = probe::normalised(probe::read_probe(fields, probe_defaults));
    if (fields.error) return bad("probe: " + fields.error->str());
    rep.probes.push_back(std::move(spec));
  }
  return rep;
}

}  // namespace fipd::rebuild
