// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/rebuild/replacement.hpp"

#include <cctype>
#include <nlohmann/json.hpp>

#include "src/json/bounded.hpp"

namespace fipd::rebuild {

using nlohmann::json;

nl::Result<Replacement> parse_replacement(std::string_view line) {
  auto bad = [](const std::string& why) { return nl::fail(EINVAL, "the hook's replacement: " + why); };
  auto parsed = bounded_json::parse(line, {.max_depth = 8, .max_bytes = 64 * 1024});
  if (!parsed) return bad("not a JSON object: " + parsed.error().context);
  const json& j = *parsed;
  if (!j.is_object()) return bad("not a JSON object");
  auto it = j.find("replacement");
  if (it == j.end() || !it->is_object()) return bad("no \"replacement\" object");
  const json& r = *it;
  Replacement rep;
  auto name = r.find("name");
  if (name == r.end() || !name->is_string() || name->get<std::string>().empty() || name->get<std::string>().size() > 63)
    return bad("name: expected a name of 1 to 63 characters");
  rep.name = name->get<std::string>();
  for (char c : rep.name)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return bad("name: '" + rep.name + "' may hold only letters, digits, '-', '_' and '.'");
  auto addr = r.find("address");
  if (addr == r.end() || !addr->is_string()) return bad("address: expected an address string");
  auto a = nl::IpAddress::parse(addr->get<std::string>());
  if (!a) return bad("address: " + a.error().context);
  rep.address = *a;
  if (auto a6 = r.find("address6"); a6 != r.end() && !a6->is_null()) {
    auto b = a6->is_string() ? nl::IpAddress::parse(a6->get<std::string>()) : nl::fail(EINVAL, "not a string");
    if (!b) return bad("address6: " + b.error().context);
    rep.address6 = *b;
  }
  if (auto sp = r.find("spare"); sp != r.end()) {
    if (!sp->is_boolean()) return bad("spare: expected true or false");
    rep.spare = sp->get<bool>();
  }
  if (auto p = r.find("probe"); p != r.end()) {
    if (!p->is_object()) return bad("probe: expected an object");
    probe::ProbeSpec spec;
    if (auto k = p->find("kind"); k != p->end()) {
      auto kind = k->is_string() ? probe::parse_probe_kind(k->get<std::string>()) : nl::fail(EINVAL, "not a string");
      if (!kind) return bad("probe: kind: " + kind.error().context);
      spec.kind = *kind;
    }
    if (auto port = p->find("port"); port != p->end()) {
      // As uint64_t: get<unsigned>() would cut 4294967376 down to 80 and accept it.
      if (!port->is_number_unsigned() || port->get<uint64_t>() == 0 || port->get<uint64_t>() > 65535)
        return bad("probe: port: expected 1 to 65535");
      spec.port = static_cast<uint16_t>(port->get<unsigned>());
    }
    if (auto path = p->find("path"); path != p->end() && path->is_string()) spec.http_path = path->get<std::string>();
    if (auto ex = p->find("expect"); ex != p->end() && ex->is_array())
      for (const auto& code : *ex)
        if (code.is_number_unsigned()) {
          // Cut to 16 bits, 65736 would pass validate() as 200.
          if (code.get<uint64_t>() > 65535) return bad("probe: expect: " + code.dump() + " is not a status code");
          spec.http_status.push_back(static_cast<uint16_t>(code.get<uint64_t>()));
        }
    rep.probes.push_back(spec);
  }
  return rep;
}

}  // namespace fipd::rebuild
