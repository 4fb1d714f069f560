// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/state/runtime_state.hpp"

#include "src/state/state_json.hpp"

namespace fipd::state {
namespace {

using nlohmann::json;
using state_json::entry_json;
using state_json::read_entry;
using state_json::Reader;

constexpr int kVersion = 1;

void read_assignments(Reader& r, const json& j, RuntimeState& s) {
  const json* a = r.object(j, "assignments");
  if (!a) return;
  for (const auto& [key, e] : a->items()) {
    std::string path = "assignments." + key;
    IpAddress addr;
    Assignment as;
    if (!r.address_key(path, key, addr) || !read_entry(r, e, path, as)) return;
    s.assignments[addr] = std::move(as);
  }
}

void read_servers(Reader& r, const json& j, RuntimeState& s) {
  const json* sv = r.object(j, "servers");
  if (!sv) return;
  for (const auto& [name, e] : sv->items()) {
    std::string path = "servers." + name;
    ServerRuntime rt;
    if (!r.check_name(path, name) || !read_entry(r, e, path, rt)) return;
    s.servers[name] = rt;
  }
}

// The lists of added servers and floating IPs: objects holding their key
// (`key_field`), which may come only once.
template <class K, class V>
void read_added(Reader& r, const json& j, const char* part, const char* key_field, std::map<K, V>& out) {
  const json* list = r.array(j, part);
  if (!list) return;
  for (const auto& e : *list) {
    std::string path = std::string(part) + "[" + std::to_string(out.size()) + "]";
    std::string text;
    K key;
    V x;
    if (!e.is_object()) return (void)r.fail(path, "expected an object");
    if (!r.str(e, key_field, path, text) || !state_json::read_key(r, path + "." + key_field, text, key) ||
        !read_entry(r, e, path, x))
      return;
    state_json::set_key(x, key);
    if (!out.emplace(key, std::move(x)).second) return (void)r.fail(path + "." + key_field, "'" + text + "' is added twice");
  }
}

void read_added_servers(Reader& r, const json& j, RuntimeState& s) {
  read_added(r, j, "added_servers", "name", s.added_servers);
}

void read_added_fips(Reader& r, const json& j, RuntimeState& s) {
  read_added(r, j, "added_floating_ips", "address", s.added_fips);
}

void read_removed(Reader& r, const json& j, RuntimeState& s) {
  if (const json* rs = r.array(j, "removed_servers"))
    for (const auto& e : *rs) {
      if (!e.is_string()) {
        r.fail("removed_servers[]", "expected a string");
        return;
      }
      if (!r.check_name("removed_servers[]", e.get<std::string>())) return;
      s.removed_servers.insert(e.get<std::string>());
    }
  if (const json* rf = r.array(j, "removed_floating_ips"))
    for (const auto& e : *rf) {
      IpAddress a;
      if (!e.is_string()) {
        r.fail("removed_floating_ips[]", "expected an address string");
        return;
      }
      if (!r.address_key("removed_floating_ips[]", e.get<std::string>(), a)) return;
      s.removed_fips.insert(a);
    }
}

}  // namespace

std::string to_json(const RuntimeState& s) {
  json j;
  j["version"] = kVersion;
  json& a = j["assignments"] = json::object();
  for (const auto& [addr, as] : s.assignments) a[addr.str()] = entry_json(as);
  json& sv = j["servers"] = json::object();
  for (const auto& [name, rt] : s.servers) sv[name] = entry_json(rt);
  json& added = j["added_servers"] = json::array();
  for (const auto& [name, x] : s.added_servers) {
    json e = entry_json(x);
    e["name"] = name;
    added.push_back(std::move(e));
  }
  j["removed_servers"] = s.removed_servers;
  json& af = j["added_floating_ips"] = json::array();
  for (const auto& [addr, x] : s.added_fips) {
    json e = entry_json(x);
    e["address"] = addr.str();
    af.push_back(std::move(e));
  }
  json& rf = j["removed_floating_ips"] = json::array();
  for (const auto& x : s.removed_fips) rf.push_back(x.str());
  if (auto extra = state_json::extra_json(s.extra)) j["extra"] = std::move(*extra);
  return bounded_json::dump(j, 1) + "\n";
}

Result<RuntimeState> from_json(std::string_view text, const std::string& file) {
  auto parsed = bounded_json::parse(text, state_json::kLimits);
  if (!parsed) {
    // An empty file is most likely one cut by a full disk before fipd wrote
    // it atomically; say so rather than "not a JSON object".
    if (text.empty()) return fail(EINVAL, file + ": empty file, not a JSON object");
    return fail(EINVAL, file + ": not a JSON object: " + parsed.error().context);
  }
  const json& j = *parsed;
  if (!j.is_object())
    return fail(EINVAL, file + ": not a JSON object (the whole file is " + std::string(j.type_name()) + ")");
  if (auto v = j.find("version"); v == j.end() || !v->is_number_integer() || v->get<int>() != kVersion)
    return fail(EINVAL, file + ": version: expected " + std::to_string(kVersion));
  Reader r(file);
  RuntimeState s;
  // Each part stops at its first error; the first error is the one reported.
  for (auto part : {read_assignments, read_servers, read_added_servers, read_added_fips, read_removed})
    if (!r.error) part(r, j, s);
  if (r.error) return std::unexpected(*r.error);
  if (auto x = j.find("extra"); x != j.end()) s.extra = state_json::extra_text(*x);
  return s;
}

}  // namespace fipd::state
