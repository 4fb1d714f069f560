// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/state/state_json.hpp"

#include "base/printable.hpp"
#include "src/probe/duration.hpp"
#include "src/probe/spec_io.hpp"

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

// A probe as files before one spelling wrote it (ProbeSpec's own field
// names, every field present): the same probe in today's keys. The files
// of that spelling are told by their http_path, which they always held.
json respelled(const json& e) {
  json out = json::object();
  auto copy = [&](const char* from, const char* to) {
    if (auto it = e.find(from); it != e.end()) out[to] = *it;
  };
  auto unless = [&](const char* from, const char* to, const json& unset) {
    if (auto it = e.find(from); it != e.end() && *it != unset) out[to] = *it;
  };
  for (const char* k : {"kind", "interval", "timeout", "rise", "fall", "source"}) copy(k, k);
  // What read as "not set" then is left out now: the rules refuse 0 and "".
  unless("port", "port", 0);
  for (const char* k : {"fastinter", "downinter", "detect_time"})
    if (auto it = e.find(k); it != e.end() && !(it->is_string() && probe::parse_duration(it->get<std::string>()) ==
                                                                     Duration::zero()))
      out[k] = *it;
  unless("send", "send", "");
  unless("expect", "expect_prefix", "");
  copy("http_path", "path");
  unless("http_host", "host", "");
  unless("http_status", "expect", json::array());
  unless("device", "interface", "");
  unless("mark", "fwmark", 0);
  return out;  // spread_percent, never set from outside, is the default
}

// One probe as probe_json() wrote it (or as the files before it did). The
// keys it always writes are required, so that a file that lost one is
// reported rather than probed with a guess.
std::optional<probe::ProbeSpec> read_probe(Reader& r, const json& written, const std::string& path) {
  if (!written.is_object()) {
    r.fail(path, "expected an object");
    return std::nullopt;
  }
  const json e = written.contains("http_path") ? respelled(written) : written;
  probe::JsonFields fields(e);
  probe::ProbeSpec p = probe::normalised(probe::read_probe(fields, probe::ProbeSpec{}));
  if (fields.error) {
    r.fail(fields.error->key.empty() ? path : path + "." + fields.error->key, fields.error->why);
    return std::nullopt;
  }
  for (const char* key : {"kind", "interval", "timeout", "rise", "fall"})
    if (!e.contains(key)) {
      r.fail(path + "." + key, "missing");
      return std::nullopt;
    }
  // Written for every kind but icmp (and never 0): without it, the probe
  // would be kept with no port and refused the next time the file is read.
  if (p.kind != probe::ProbeKind::icmp && p.port == 0) {
    r.fail(path + ".port", "missing");
    return std::nullopt;
  }
  return p;
}

bool object_or_fail(Reader& r, const json& e, const std::string& path) {
  return e.is_object() || r.fail(path, "expected an object");
}

}  // namespace

bool Reader::fail(const std::string& path, const std::string& what) {
  if (!error) error = Error{EINVAL, where_ + ": " + printable(path) + ": " + printable(what)};
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
    for (const auto& p : x.probes) probes.push_back(probe::probe_json(p));
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
