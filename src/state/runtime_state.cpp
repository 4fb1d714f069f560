// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/state/runtime_state.hpp"

#include <nlohmann/json.hpp>

#include "netlink/printable.hpp"
#include "src/json/bounded.hpp"
#include "src/probe/duration.hpp"

namespace fipd::state {
namespace {

using nlohmann::json;

constexpr int kVersion = 1;

std::optional<Maintenance> maintenance_from(std::string_view s) {
  for (Maintenance m : {Maintenance::none, Maintenance::manual, Maintenance::failed, Maintenance::rebuild})
    if (to_string(m) == s) return m;
  return std::nullopt;
}

std::optional<FipMode> mode_from(std::string_view s) {
  for (FipMode m : {FipMode::nat, FipMode::stateless_nat, FipMode::route})
    if (to_string(m) == s) return m;
  return std::nullopt;
}

const bounded_json::Limits kLimits{.max_depth = kMaxStateDepth, .max_bytes = kMaxStateBytes, .line_and_column = true};

// Reads fields with their path, so an error says exactly what is wrong.
// Parsing uses nlohmann's non-throwing calls only.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}
  std::optional<nl::Error> error;

  // Paths hold keys from the file, and `what` may quote its values: escaped.
  bool fail(const std::string& path, const std::string& what) {
    if (!error) error = nl::Error{EINVAL, file_ + ": " + nl::printable(path) + ": " + nl::printable(what)};
    return false;
  }
  // A name, checked by the same rule as the configuration's; optional ones
  // may be absent or empty.
  bool name(const json& j, const char* key, const std::string& path, std::string& out, bool required = true,
            bool may_be_empty = false) {
    if (!str(j, key, path, out, required)) return false;
    if (out.empty() && (!required || may_be_empty)) return true;
    return check_name(path + "." + key, out);
  }
  bool check_name(const std::string& path, const std::string& name) {
    if (valid_name(name)) return true;
    std::string shown = name.size() > 80 ? name.substr(0, 80) + "..." : name;
    return fail(path, "'" + shown + "' is not a name (" + std::string(kNameRule) + ")");
  }
  bool str(const json& j, const char* key, const std::string& path, std::string& out, bool required = true) {
    auto it = j.find(key);
    if (it == j.end()) return required ? fail(path + "." + key, "missing") : true;
    if (!it->is_string()) return fail(path + "." + key, "expected a string");
    out = it->get<std::string>();
    return true;
  }
  bool address(const json& j, const char* key, const std::string& path, IpAddress& out) {
    std::string s;
    if (!str(j, key, path, s)) return false;
    auto a = IpAddress::parse(s);
    if (!a) return fail(path + "." + key, a.error().context);
    out = *a;
    return true;
  }
  bool boolean(const json& j, const char* key, const std::string& path, bool& out) {
    auto it = j.find(key);
    if (it == j.end()) return true;
    if (!it->is_boolean()) return fail(path + "." + key, "expected true or false");
    out = it->get<bool>();
    return true;
  }
  const json* array(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) return nullptr;
    if (!it->is_array()) {
      fail(key, "expected an array");
      return nullptr;
    }
    return &*it;
  }
  const json* object(const json& j, const char* key) {
    auto it = j.find(key);
    if (it == j.end()) return nullptr;
    if (!it->is_object()) {
      fail(key, "expected an object");
      return nullptr;
    }
    return &*it;
  }

 private:
  std::string file_;
};

json ports_json(const std::vector<uint16_t>& ports) { return json(ports); }

json probe_json(const probe::ProbeSpec& p) {
  json e = {{"kind", probe::kind_name(p.kind)},
            {"port", p.port},
            {"interval", probe::format_duration(p.interval)},
            {"timeout", probe::format_duration(p.timeout)},
            {"fastinter", probe::format_duration(p.fastinter)},
            {"downinter", probe::format_duration(p.downinter)},
            {"rise", p.rise},
            {"fall", p.fall},
            {"spread_percent", p.spread_percent},
            {"send", p.send},
            {"expect", p.expect},
            {"http_path", p.http_path},
            {"http_host", p.http_host},
            {"http_status", ports_json(p.http_status)},
            {"device", p.device},
            {"mark", p.mark}};
  if (p.source) e["source"] = p.source->str();
  return e;
}

// One probe as probe_json() wrote it; every field is required, so a file
// that lost one is reported rather than probed with a guess.
std::optional<probe::ProbeSpec> read_probe(Reader& r, const json& e, const std::string& path) {
  if (!e.is_object()) {
    r.fail(path, "expected an object");
    return std::nullopt;
  }
  probe::ProbeSpec p;
  std::string kind;
  if (!r.str(e, "kind", path, kind)) return std::nullopt;
  auto k = probe::parse_probe_kind(kind);
  if (!k) {
    r.fail(path + ".kind", k.error().context);
    return std::nullopt;
  }
  p.kind = *k;
  auto number = [&](const char* key, uint64_t max, auto& out) {
    auto it = e.find(key);
    if (it == e.end() || !it->is_number_unsigned() || it->template get<uint64_t>() > max)
      return r.fail(path + "." + key, "expected a number from 0 to " + std::to_string(max));
    out = static_cast<std::remove_reference_t<decltype(out)>>(it->template get<uint64_t>());
    return true;
  };
  auto duration = [&](const char* key, probe::Duration& out) {
    std::string text;
    if (!r.str(e, key, path, text)) return false;
    auto d = probe::parse_duration(text);
    if (!d) return r.fail(path + "." + key, d.error().context);
    out = *d;
    return true;
  };
  if (!number("port", 65535, p.port) || !duration("interval", p.interval) || !duration("timeout", p.timeout) ||
      !duration("fastinter", p.fastinter) || !duration("downinter", p.downinter) ||
      !number("rise", UINT32_MAX, p.rise) || !number("fall", UINT32_MAX, p.fall) ||
      !number("spread_percent", 100, p.spread_percent) || !r.str(e, "send", path, p.send) ||
      !r.str(e, "expect", path, p.expect) || !r.str(e, "http_path", path, p.http_path) ||
      !r.str(e, "http_host", path, p.http_host) || !r.str(e, "device", path, p.device) ||
      !number("mark", UINT32_MAX, p.mark))
    return std::nullopt;
  auto st = e.find("http_status");
  if (st == e.end() || !st->is_array()) {
    r.fail(path + ".http_status", "expected an array");
    return std::nullopt;
  }
  for (const auto& code : *st) {
    if (!code.is_number_unsigned() || code.get<unsigned>() < 100 || code.get<unsigned>() > 599) {
      r.fail(path + ".http_status", "expected status codes from 100 to 599");
      return std::nullopt;
    }
    p.http_status.push_back(static_cast<uint16_t>(code.get<unsigned>()));
  }
  if (e.contains("source")) {
    IpAddress a;
    if (!r.address(e, "source", path, a)) return std::nullopt;
    p.source = a;
  }
  return p;
}

}  // namespace

std::string to_json(const RuntimeState& s) {
  json j;
  j["version"] = kVersion;
  json& a = j["assignments"] = json::object();
  for (const auto& [addr, as] : s.assignments) {
    json e = {{"server", as.server}, {"configured_server", as.configured_server}};
    if (!as.pin.empty()) e["pin"] = as.pin;
    a[addr.str()] = e;
  }
  json& sv = j["servers"] = json::object();
  for (const auto& [name, rt] : s.servers)
    sv[name] = {{"maintenance", to_string(rt.maintenance)}, {"draining", rt.draining}};
  json& added = j["added_servers"] = json::array();
  for (const auto& x : s.added_servers) {
    json e = {{"name", x.name}, {"address", x.address.str()}, {"spare", x.spare}};
    if (x.address6) e["address6"] = x.address6->str();
    if (!x.standby.empty()) e["standby"] = x.standby;
    if (!x.replaces.empty()) e["replaces"] = x.replaces;
    if (!x.probes.empty()) {
      json& probes = e["probes"] = json::array();
      for (const auto& p : x.probes) probes.push_back(probe_json(p));
    }
    added.push_back(e);
  }
  j["removed_servers"] = s.removed_servers;
  json& af = j["added_floating_ips"] = json::array();
  for (const auto& x : s.added_fips)
    af.push_back({{"address", x.address.str()}, {"server", x.server}, {"mode", to_string(x.mode)},
                  {"lockout_ports", ports_json(x.lockout_ports)}});
  json& rf = j["removed_floating_ips"] = json::array();
  for (const auto& x : s.removed_fips) rf.push_back(x.str());
  if (!s.extra.empty()) {
    auto extra = bounded_json::parse(s.extra, kLimits);
    if (extra) j["extra"] = std::move(*extra);
  }
  return bounded_json::dump(j, 1) + "\n";
}

nl::Result<RuntimeState> from_json(std::string_view text, const std::string& file) {
  auto parsed = bounded_json::parse(text, kLimits);
  if (!parsed) {
    // An empty file is most likely one cut by a full disk before fipd wrote
    // it atomically; say so rather than "not a JSON object".
    if (text.empty()) return nl::fail(EINVAL, file + ": empty file, not a JSON object");
    return nl::fail(EINVAL, file + ": not a JSON object: " + parsed.error().context);
  }
  const json& j = *parsed;
  if (!j.is_object())
    return nl::fail(EINVAL, file + ": not a JSON object (the whole file is " + std::string(j.type_name()) + ")");
  Reader r(file);
  RuntimeState s;
  if (auto v = j.find("version"); v == j.end() || !v->is_number_integer() || v->get<int>() != kVersion)
    return nl::fail(EINVAL, file + ": version: expected " + std::to_string(kVersion));
  if (const json* a = r.object(j, "assignments")) {
    for (const auto& [key, e] : a->items()) {
      std::string path = "assignments." + key;
      auto addr = IpAddress::parse(key);
      if (!addr) {
        r.fail(path, addr.error().context);
        break;
      }
      Assignment as;
      if (!e.is_object()) {
        r.fail(path, "expected an object");
        break;
      }
      if (!r.name(e, "server", path, as.server) || !r.name(e, "configured_server", path, as.configured_server, true, true) ||
          !r.name(e, "pin", path, as.pin, false))
        break;
      s.assignments[*addr] = as;
    }
  }
  if (const json* sv = r.object(j, "servers")) {
    for (const auto& [name, e] : sv->items()) {
      ServerRuntime rt;
      std::string m;
      std::string path = "servers." + name;
      if (!r.check_name(path, name)) break;
      if (!e.is_object()) {
        r.fail(path, "expected an object");
        break;
      }
      if (!r.str(e, "maintenance", path, m) || !r.boolean(e, "draining", path, rt.draining)) break;
      auto mm = maintenance_from(m);
      if (!mm) {
        r.fail(path + ".maintenance", "unknown value '" + m + "'");
        break;
      }
      rt.maintenance = *mm;
      s.servers[name] = rt;
    }
  }
  if (const json* added = r.array(j, "added_servers")) {
    for (const auto& e : *added) {
      AddedServer x;
      std::string path = "added_servers[" + std::to_string(s.added_servers.size()) + "]";
      if (!e.is_object()) {
        r.fail(path, "expected an object");
        break;
      }
      if (!r.name(e, "name", path, x.name) || !r.address(e, "address", path, x.address) ||
          !r.boolean(e, "spare", path, x.spare) || !r.name(e, "standby", path, x.standby, false) ||
          !r.name(e, "replaces", path, x.replaces, false))
        break;
      if (e.contains("address6")) {
        IpAddress a6;
        if (!r.address(e, "address6", path, a6)) break;
        x.address6 = a6;
      }
      if (auto ps = e.find("probes"); ps != e.end()) {
        if (!ps->is_array()) {
          r.fail(path + ".probes", "expected an array");
          break;
        }
        for (const auto& pe : *ps) {
          auto p = read_probe(r, pe, path + ".probes[" + std::to_string(x.probes.size()) + "]");
          if (!p) break;
          x.probes.push_back(std::move(*p));
        }
        if (r.error) break;
      }
      s.added_servers.push_back(std::move(x));
    }
  }
  if (const json* rs = r.array(j, "removed_servers"))
    for (const auto& e : *rs) {
      if (!e.is_string()) {
        r.fail("removed_servers[]", "expected a string");
        break;
      }
      if (!r.check_name("removed_servers[]", e.get<std::string>())) break;
      s.removed_servers.push_back(e.get<std::string>());
    }
  if (const json* af = r.array(j, "added_floating_ips")) {
    for (const auto& e : *af) {
      AddedFip x;
      std::string path = "added_floating_ips[]", mode;
      if (!e.is_object()) {
        r.fail(path, "expected an object");
        break;
      }
      if (!r.address(e, "address", path, x.address) || !r.name(e, "server", path, x.server) ||
          !r.str(e, "mode", path, mode))
        break;
      auto m = mode_from(mode);
      if (!m) {
        r.fail(path + ".mode", "unknown value '" + mode + "'");
        break;
      }
      x.mode = *m;
      if (auto p = e.find("lockout_ports"); p != e.end()) {
        if (!p->is_array()) {
          r.fail(path + ".lockout_ports", "expected an array");
          break;
        }
        for (const auto& port : *p)
          if (port.is_number_unsigned() && port.get<unsigned>() >= 1 && port.get<unsigned>() <= 65535)
            x.lockout_ports.push_back(static_cast<uint16_t>(port.get<unsigned>()));
          else
            r.fail(path + ".lockout_ports", "expected ports from 1 to 65535");
      }
      s.added_fips.push_back(std::move(x));
    }
  }
  if (const json* rf = r.array(j, "removed_floating_ips"))
    for (const auto& e : *rf) {
      auto a = e.is_string() ? IpAddress::parse(e.get<std::string>()) : nl::fail(EINVAL, "expected an address string");
      if (!a) {
        r.fail("removed_floating_ips[]", a.error().context);
        break;
      }
      s.removed_fips.push_back(*a);
    }
  if (auto x = j.find("extra"); x != j.end()) s.extra = bounded_json::dump(*x);
  if (r.error) return std::unexpected(*r.error);
  return s;
}

}  // namespace fipd::state
