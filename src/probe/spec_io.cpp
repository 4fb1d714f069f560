// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/probe/spec_io.hpp"

#include <array>

#include "base/printable.hpp"
#include "src/json/bounded.hpp"
#include "src/probe/duration.hpp"

namespace fipd::probe {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 17> kKeys = {
    "kind", "port", "interval", "timeout", "fastinter", "downinter", "detect_time", "rise", "fall",
    "path", "host", "expect", "send", "expect_prefix", "source", "interface", "fwmark"};

constexpr std::string_view kDurationText = "a duration string with a unit, as in \"500ms\"";

// A duration key: text with a unit, above 0 and at most a day.
std::optional<Duration> duration(FieldSource& s, std::string_view key) {
  auto text = s.str(key, kDurationText);
  if (!text) return std::nullopt;
  auto d = parse_duration(*text);
  std::string why;
  if (!d) why = d.error().context;
  else if (d->count() <= 0) why = "'" + printable(*text) + "' must be greater than 0";
  else if (*d > std::chrono::hours(24)) why = "'" + printable(*text) + "' must be at most 24h";
  if (!why.empty()) {
    s.fail(key, why);
    return std::nullopt;
  }
  return *d;
}

}  // namespace

ProbeSpec written_defaults() {
  ProbeSpec p;
  p.port = 80;
  p.http_status = {200};
  return p;
}

ProbeSpec normalised(ProbeSpec p) {
  if (p.kind == ProbeKind::icmp) {
    p.port = 0;
    p.send.clear();
    p.expect.clear();
  }
  if (p.kind != ProbeKind::http) {
    p.http_path = "/";
    p.http_host.clear();
    p.http_status.clear();
  }
  return p;
}

ProbeSpec read_probe(FieldSource& s, const ProbeSpec& base) {
  s.check_keys(kKeys);
  ProbeSpec p = base;
  if (auto v = s.str("kind", "a string")) {
    if (auto k = parse_probe_kind(*v)) p.kind = *k;
    else s.fail("kind", "unknown probe kind '" + printable(*v) + "' (tcp, http, udp or icmp)");
  }
  if (auto v = s.integer("port", 1, 65535)) p.port = static_cast<uint16_t>(*v);
  for (auto [key, out] : {std::pair{"interval", &p.interval}, {"timeout", &p.timeout}, {"fastinter", &p.fastinter},
                          {"downinter", &p.downinter}, {"detect_time", &p.detect_time}})
    if (auto d = duration(s, key)) *out = *d;
  if (auto v = s.integer("rise", 1, 100)) p.rise = static_cast<unsigned>(*v);
  if (auto v = s.integer("fall", 1, 100)) p.fall = static_cast<unsigned>(*v);
  if (auto v = s.str("path", "a string")) {
    if (v->find('\0') != std::string::npos)
      s.fail("path", "'" + printable(*v) + "' holds a NUL character, which no path may");
    else if (v->empty() || (*v)[0] != '/' || v->find_first_of(" \r\n") != std::string::npos)
      s.fail("path", "'" + printable(*v) + "' must start with '/' and contain no spaces");
    else
      p.http_path = *v;
  }
  if (auto v = s.str("host", "a string")) p.http_host = *v;
  if (auto v = s.integers("expect", 100, 599)) {
    if (v->empty()) s.fail("expect", "list at least one status code");
    else p.http_status.assign(v->begin(), v->end());
  }
  if (auto v = s.str("send", "a string")) p.send = *v;
  if (auto v = s.str("expect_prefix", "a string")) p.expect = *v;
  if (auto v = s.str("source", "an IPv4 or IPv6 address string")) {
    if (auto a = IpAddress::parse(*v)) p.source = *a;
    else s.fail("source", a.error().context);
  }
  if (auto v = s.str("interface", "a string")) {
    if (v->empty() || v->size() >= 16 || v->find('\0') != std::string::npos)
      s.fail("interface", "'" + printable(*v) + "' is not an interface name");
    else
      p.device = *v;
  }
  if (auto v = s.integer("fwmark", 0, 0xFFFFFFFF)) p.mark = static_cast<uint32_t>(*v);
  if (p.kind == ProbeKind::udp && p.send.empty()) s.fail("", "send: a udp probe needs a payload to send");
  return p;
}

void JsonFields::check_keys(std::span<const std::string_view> known) {
  for (auto it = obj_.begin(); it != obj_.end(); ++it) {
    bool ok = false;
    for (auto k : known) ok |= it.key() == k;
    if (ok) continue;
    std::string list;
    for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    fail("", "unknown key '" + printable(it.key()) + "' (known: " + list + ")");
  }
}

std::optional<std::string> JsonFields::str(std::string_view key, std::string_view expected) {
  auto it = obj_.find(key);
  if (it == obj_.end()) return std::nullopt;
  if (!it->is_string()) {
    fail(key, "expected " + std::string(expected) + ", got " + bounded_json::type_name(*it));
    return std::nullopt;
  }
  // A NUL is the rule set's to judge: a payload may hold one, a path not.
  return it->get<std::string>();
}

std::optional<int64_t> JsonFields::number(const json& v, std::string_view key, int64_t min, int64_t max) {
  auto n = bounded_json::integer(v, min, max);
  if (!n) fail(key, n.error());
  return n ? std::optional(*n) : std::nullopt;
}

std::optional<int64_t> JsonFields::integer(std::string_view key, int64_t min, int64_t max) {
  auto it = obj_.find(key);
  if (it == obj_.end()) return std::nullopt;
  return number(*it, key, min, max);
}

std::optional<std::vector<int64_t>> JsonFields::integers(std::string_view key, int64_t min, int64_t max) {
  auto it = obj_.find(key);
  if (it == obj_.end()) return std::nullopt;
  if (!it->is_array()) {
    fail(key, std::string("expected an array of integers, got ") + bounded_json::type_name(*it));
    return std::nullopt;
  }
  std::vector<int64_t> out;
  for (const auto& el : *it) {
    auto n = number(el, key, min, max);
    if (!n) return std::nullopt;
    out.push_back(*n);
  }
  return out;
}

void JsonFields::fail(std::string_view key, const std::string& why) {
  if (!error) error = Failure{std::string(key), why};
}

json probe_json(const ProbeSpec& p) {
  json e = {{"kind", kind_name(p.kind)},
            {"interval", format_duration(p.interval)},
            {"timeout", format_duration(p.timeout)},
            {"rise", p.rise},
            {"fall", p.fall}};
  if (p.kind != ProbeKind::icmp) e["port"] = p.port;
  for (auto [key, d] : {std::pair{"fastinter", p.fastinter}, {"downinter", p.downinter}, {"detect_time", p.detect_time}})
    if (d.count() > 0) e[key] = format_duration(d);
  if (p.kind == ProbeKind::http) {
    e["path"] = p.http_path;
    if (!p.http_host.empty()) e["host"] = p.http_host;
    // No codes means any 2xx or 3xx, which no written list can say: left out.
    if (!p.http_status.empty()) e["expect"] = p.http_status;
  }
  if (!p.send.empty()) e["send"] = p.send;
  if (!p.expect.empty()) e["expect_prefix"] = p.expect;
  if (p.source) e["source"] = p.source->str();
  if (!p.device.empty()) e["interface"] = p.device;
  if (p.mark != 0) e["fwmark"] = p.mark;
  return e;
}

}  // namespace fipd::probe
