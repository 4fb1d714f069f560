// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/state/state_json.hpp"

#include "netlink/printable.hpp"
#include "src/probe/duration.hpp"

namespace fipd::state::state_json {
namespace {

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

json ports_json(const std::vector<uint16_t>& ports) { return json(ports); }

json probe_json(const probe::ProbeSpec& p) {
  json e = {{"kind", probe::kind_name(p.kind)},
            {"port", p.port},
            {"interval", probe::format_duration(p.interval)},
            {"timeout", probe::format_duration(p.timeout)},
            {"fastinter", probe::format_duration(p.fastinter)},
            {"downinter", probe::format_duration(p.downinter)},
            {"detect_time", probe::format_duration(p.detect_time)},
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

// One probe as probe_json() wrote it; every field is required (detect_time
// only since it came), so a file that lost one is reported rather than
// probed with a guess.
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
  // Written since deadline detection came; a file from before it means off.
  if (e.contains("detect_time") && !duration("detect_time", p.detect_time)) return std::nullopt;
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

bool object_or_fail(Reader& r, const json& e, const std::string& path) {
  return e.is_object() || r.fail(path, "expected an object");
}

}  // namespace

bool Reader::fail(const std::string& path, const std::string& what) {
  if (!error) error = nl::Error{EINVAL, where_ + ": " + nl::printable(path) + ": " + nl::printable(what)};
  return false;
}

bool Reader::name(const json& j, const char* key, const std::string& path, std::string& out, bool required,
                  bool may_be_empty) {
  if (!str(j, key, path, out, required)) return false;
  if (out.empty() && (!required || may_be_empty)) return true;
  return check_name(path + "." + key, out);
}

bool Reader::check_name(const std::string& path, const std::string& name) {
  if (valid_name(name)) return true;
  std::string shown = name.size() > 80 ? name.substr(0, 80) + "..." : name;
  return fail(path, "'" + shown + "' is not a name (" + std::string(kNameRule) + ")");
}

bool Reader::str(const json& j, const char* key, const std::string& path, std::string& out, bool required) {
  auto it = j.find(key);
  if (it == j.end()) return required ? fail(path + "." + key, "missing") : true;
  if (!it->is_string()) return fail(path + "." + key, "expected a string");
  out = it->get<std::string>();
  return true;
}

bool Reader::address(const json& j, const char* key, const std::string& path, IpAddress& out) {
  std::string s;
  if (!str(j, key, path, s)) return false;
  return address_key(path + "." + key, s, out);
}

bool Reader::address_key(const std::string& path, const std::string& text, IpAddress& out) {
  auto a = IpAddress::parse(text);
  if (!a) return fail(path, a.error().context);
  out = *a;
  return true;
}

bool Reader::boolean(const json& j, const char* key, const std::string& path, bool& out) {
  auto it = j.find(key);
  if (it == j.end()) return true;
  if (!it->is_boolean()) return fail(path + "." + key, "expected true or false");
  out = it->get<bool>();
  return true;
}

const json* Reader::member(const json& j, const char* key, bool (json::*is)() const noexcept, const char* what) {
  auto it = j.find(key);
  if (it == j.end()) return nullptr;
  if (!((*it).*is)()) {
    fail(key, what);
    return nullptr;
  }
  return &*it;
}

json entry_json(const Assignment& a) {
  json e = {{"server", a.server}, {"configured_server", a.configured_server}};
  if (!a.pin.empty()) e["pin"] = a.pin;
  return e;
}

json entry_json(const ServerRuntime& s) {
  return {{"maintenance", to_string(s.maintenance)}, {"draining", s.draining}};
}

json entry_json(const AddedServer& x) {
  json e = {{"address", x.address.str()}, {"spare", x.spare}};
  if (x.address6) e["address6"] = x.address6->str();
  if (!x.standby.empty()) e["standby"] = x.standby;
  if (!x.replaces.empty()) e["replaces"] = x.replaces;
  if (!x.probes.empty()) {
    json& probes = e["probes"] = json::array();
    for (const auto& p : x.probes) probes.push_back(probe_json(p));
  }
  return e;
}

json entry_json(const AddedFip& x) {
  return {{"server", x.server}, {"mode", to_string(x.mode)}, {"lockout_ports", ports_json(x.lockout_ports)}};
}

std::optional<json> extra_json(const std::string& extra) {
  if (extra.empty()) return std::nullopt;
  auto parsed = bounded_json::parse(extra, kLimits);
  if (!parsed) return std::nullopt;
  return std::move(*parsed);
}

std::string extra_text(const json& j) { return bounded_json::dump(j); }

bool read_entry(Reader& r, const json& e, const std::string& path, Assignment& out) {
  return object_or_fail(r, e, path) && r.name(e, "server", path, out.server) &&
         r.name(e, "configured_server", path, out.configured_server, true, true) &&
         r.name(e, "pin", path, out.pin, false);
}

bool read_entry(Reader& r, const json& e, const std::string& path, ServerRuntime& out) {
  std::string m;
  if (!object_or_fail(r, e, path) || !r.str(e, "maintenance", path, m) || !r.boolean(e, "draining", path, out.draining))
    return false;
  auto mm = maintenance_from(m);
  if (!mm) return r.fail(path + ".maintenance", "unknown value '" + m + "'");
  out.maintenance = *mm;
  return true;
}

bool read_entry(Reader& r, const json& e, const std::string& path, AddedServer& x) {
  if (!object_or_fail(r, e, path) || !r.address(e, "address", path, x.address) ||
      !r.boolean(e, "spare", path, x.spare) || !r.name(e, "standby", path, x.standby, false) ||
      !r.name(e, "replaces", path, x.replaces, false))
    return false;
  if (e.contains("address6")) {
    IpAddress a6;
    if (!r.address(e, "address6", path, a6)) return false;
    x.address6 = a6;
  }
  if (auto ps = e.find("probes"); ps != e.end()) {
    if (!ps->is_array()) return r.fail(path + ".probes", "expected an array");
    for (const auto& pe : *ps) {
      auto p = read_probe(r, pe, path + ".probes[" + std::to_string(x.probes.size()) + "]");
      if (!p) return false;
      x.probes.push_back(std::move(*p));
    }
  }
  return true;
}

bool read_entry(Reader& r, const json& e, const std::string& path, AddedFip& x) {
  std::string mode;
  if (!object_or_fail(r, e, path) || !r.name(e, "server", path, x.server) || !r.str(e, "mode", path, mode))
    return false;
  auto m = mode_from(mode);
  if (!m) return r.fail(path + ".mode", "unknown value '" + mode + "'");
  x.mode = *m;
  if (auto p = e.find("lockout_ports"); p != e.end()) {
    if (!p->is_array()) return r.fail(path + ".lockout_ports", "expected an array");
    for (const auto& port : *p) {
      if (!port.is_number_unsigned() || port.get<unsigned>() < 1 || port.get<unsigned>() > 65535)
        return r.fail(path + ".lockout_ports", "expected ports from 1 to 65535");
      x.lockout_ports.push_back(static_cast<uint16_t>(port.get<unsigned>()));
    }
  }
  return true;
}

}  // namespace fipd::state::state_json
