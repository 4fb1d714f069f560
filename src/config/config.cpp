// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/config/config.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "base/fd.hpp"
#include "src/config/addresses.hpp"
#include "base/printable.hpp"
#include "src/probe/duration.hpp"
#include "src/state/reply_source.hpp"

namespace fipd::config {
namespace {


Position pos(const toml::source_region& r) { return {r.begin.line, r.begin.column}; }

using state::valid_name;

// A number as the file wrote it, near enough: 2, 1.5.
std::string toml_text(const toml::node& n) {
  std::ostringstream out;
  if (auto* i = n.as_integer()) out << i->get();
  else if (auto* f = n.as_floating_point()) out << f->get();
  return out.str();
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "a date or time";
  }
}

// Reads typed fields out of TOML tables, recording every error with its
// position. Each getter returns nullopt both when the key is absent and when
// it is wrong; in the second case an error has been recorded.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}
  std::vector<ConfigError> errors;

  void error(Position at, std::string msg) { errors.push_back({file_, at, std::move(msg)}); }

  void check_keys(const toml::table& t, std::initializer_list<std::string_view> allowed,
                  const std::string& where) {
    for (auto&& [key, node] : t) {
      if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      error(pos(key.source()), where + ": unknown key '" + std::string(key.str()) + "' (known: " + list + ")");
    }
  }

  const toml::node* get(const toml::table& t, std::string_view key) { return t.get(key); }

  std::optional<std::string> str(const toml::table& t, std::string_view key, const std::string& where) {
    const toml::node* n = get(t, key);
    if (!n) return std::nullopt;
    if (auto* v = n->as_string()) return v->get();
    wrong(*n, where, key, "a string");
    return std::nullopt;
  }

  // A string that becomes a file name: a NUL would cut it short in open(),
  // so it is refused, and the message shows it escaped.
  std::optional<std::string> path(const toml::table& t, std::string_view key, const std::string& where) {
    auto v = str(t, key, where);
    if (v && v->find('\0') != std::string::npos) {
      error(pos(t.get(key)->source()), where + ": " + std::string(key) + ": '" + printable(*v) +
                                           "' holds a NUL character, which no path may");
      return std::nullopt;
    }
    return v;
  }

  std::optional<int64_t> integer(const toml::table& t, std::string_view key, const std::string& where,
                                 int64_t min, int64_t max) {
    const toml::node* n = get(t, key);
    if (!n) return std::nullopt;
    auto* v = n->as_integer();
    if (!v || v->get() < min || v->get() > max) {
      std::string expected = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
      if (v) {
        error(pos(n->source()), where + ": " + std::string(key) + ": expected " + expected + ", got " +
                                    std::to_string(v->get()));
      } else {
        wrong(*n, where, key, expected);
      }
      return std::nullopt;
    }
    return v->get();
  }

  std::optional<bool> boolean(const toml::table& t, std::string_view key, const std::string& where) {
    const toml::node* n = get(t, key);
    if (!n) return std::nullopt;
    if (auto* v = n->as_boolean()) return v->get();
    wrong(*n, where, key, "true or false");
    return std::nullopt;
  }

  std::optional<nanoseconds> duration(const toml::table& t, std::string_view key, const std::string& where) {
    const toml::node* n = get(t, key);
    if (!n) return std::nullopt;
    auto* v = n->as_string();
    if (!v) {
      wrong(*n, where, key, "a duration string with a unit, as in \"500ms\"");
      return std::nullopt;
    }
    auto d = probe::parse_duration(v->get());
    std::string why;
    if (!d) why = d.error().context;
    else if (d->count() <= 0) why = "'" + v->get() + "' must be greater than 0";
    else if (*d > std::chrono::hours(24)) why = "'" + v->get() + "' must be at most 24h";
    if (!why.empty()) {
      error(pos(n->source()), where + ": " + std::string(key) + ": " + why);
      return std::nullopt;
    }
    return std::chrono::duration_cast<nanoseconds>(*d);
  }

  std::optional<IpAddress> address(const toml::node& n, const std::string& where, std::string_view key) {
    auto* v = n.as_string();
    if (!v) {
      wrong(n, where, key, "an IPv4 or IPv6 address string");
      return std::nullopt;
    }
    auto a = IpAddress::parse(v->get());
    if (!a) {
      error(pos(n.source()), where + ": " + std::string(key) + ": " + a.error().context);
      return std::nullopt;
    }
    return *a;
  }

  std::optional<std::vector<uint16_t>> numbers(const toml::table& t, std::string_view key,
                                               const std::string& where, int64_t min, int64_t max) {
    const toml::node* n = get(t, key);
    if (!n) return std::nullopt;
    auto* arr = n->as_array();
    if (!arr) {
      wrong(*n, where, key, "an array of integers");
      return std::nullopt;
    }
    std::vector<uint16_t> out;
    bool ok = true;
    for (auto& el : *arr) {
      auto* v = el.as_integer();
      if (!v || v->get() < min || v->get() > max) {
        error(pos(el.source()), where + ": " + std::string(key) + ": expected integers from " +
                                    std::to_string(min) + " to " + std::to_string(max));
        ok = false;
        continue;
      }
      out.push_back(static_cast<uint16_t>(v->get()));
    }
    return ok ? std::optional(out) : std::nullopt;
  }

  // A share: a number (an integer is one too: `1` is as good as `1.0`)
  // above 0 (from 0, with `zero`) and at most 1.
  std::optional<double> share(const toml::node& n, const std::string& where, std::string_view key, bool zero) {
    std::optional<double> v;
    if (auto* f = n.as_floating_point()) v = f->get();
    else if (auto* i = n.as_integer()) v = static_cast<double>(i->get());
    if (v && (zero ? *v >= 0 : *v > 0) && *v <= 1) return v;
    std::string got = v ? toml_text(n) : type_name(n);
    error(pos(n.source()), where + ": " + std::string(key) + ": expected a number " +
                               (zero ? "from 0 to 1" : "above 0 and at most 1") + ", as in 0.3, got " + got);
    return std::nullopt;
  }

  void wrong(const toml::node& n, const std::string& where, std::string_view key, const std::string& expected) {
    error(pos(n.source()), where + ": " + std::string(key) + ": expected " + expected + ", got " + type_name(n));
  }

 private:
  std::string file_;
};

// The first `len` bits of `a`, the rest cleared.
IpAddress prefix_of(const IpAddress& a, unsigned len) {
  uint8_t bytes[16] = {};
  std::memcpy(bytes, a.data(), a.size());
  for (unsigned bit = len; bit < a.max_prefix(); ++bit) bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  return *IpAddress::from_bytes(bytes, a.size());
}
std::string prefix_bits(const IpAddress& a, unsigned len) { return prefix_of(a, len).str(); }

bool overlap(const Prefix& a, const Prefix& b) {
  if (a.address.family() != b.address.family()) return false;
  unsigned len = std::min(a.length, b.length);
  return prefix_of(a.address, len) == prefix_of(b.address, len);
}

std::optional<Prefix> parse_prefix(Reader& r, const toml::node& n, const std::string& where) {
  auto* v = n.as_string();
  if (!v) {
    r.wrong(n, where, "management_prefixes", "prefix strings such as \"10.255.0.0/16\"");
    return std::nullopt;
  }
  std::string_view text = v->get();
  size_t slash = text.find('/');
  auto a = IpAddress::parse(text.substr(0, slash));
  unsigned len = 0;
  bool ok = a.has_value();
  if (ok) {
    len = a->max_prefix();
    if (slash != std::string_view::npos) {
      std::string_view l = text.substr(slash + 1);
      auto [end, ec] = std::from_chars(l.data(), l.data() + l.size(), len);
      ok = ec == std::errc() && end == l.data() + l.size() && !l.empty() && len <= a->max_prefix();
    }
  }
  if (!ok) {
    r.error(pos(n.source()), where + ": management_prefixes: '" + std::string(text) + "' is not a prefix");
    return std::nullopt;
  }
  Prefix p{*a, static_cast<uint8_t>(len)};
  if (prefix_bits(p.address, a->max_prefix()) != prefix_bits(p.address, len)) {
    r.error(pos(n.source()), where + ": management_prefixes: '" + std::string(text) + "' has host bits set (" +
                                 prefix_of(*a, len).str() + " is the prefix)");
    return std::nullopt;
  }
  return p;
}

void parse_engine(Reader& r, const toml::table& t, EngineConfig& e) {
  const std::string w = "[engine]";
  r.check_keys(t, {"control_socket", "control_group", "state_file", "health_listen", "nft_table", "route_table",
                   "management_prefixes", "auto_maintenance", "conntrack_mark", "min_move_interval", "max_moves", "flap_window",
                   "audit_interval", "timeline_history", "max_reload_removal_share", "storm_share",
                   "storm_min_failures", "storm_window"},
               w);
  if (auto v = r.path(t, "control_socket", w)) {
    if (v->empty() || v->size() >= sizeof(sockaddr_un::sun_path))
      r.error(pos(t.get("control_socket")->source()),
              w + ": control_socket: '" + printable(*v) + "' must be a path of 1 to " +
                  std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes (a Unix socket's limit)");
    else
      e.control_socket = *v;
  }
  if (auto v = r.str(t, "control_group", w)) e.control_group = *v;
  if (auto v = r.path(t, "state_file", w)) {
    if (v->empty())
      r.error(pos(t.get("state_file")->source()), w + ": state_file: must be a path");
    else
      e.state_file = *v;
  }
  if (auto v = r.str(t, "health_listen", w)) {
    if (auto l = v->empty() ? Result<std::pair<IpAddress, uint16_t>>() : parse_listen(*v); !l)
      r.error(pos(t.get("health_listen")->source()), w + ": " + l.error().context);
    else
      e.health_listen = *v;
  }
  if (auto v = r.str(t, "nft_table", w)) {
    if (!valid_name(*v) || v->size() > 31)
      r.error(pos(t.get("nft_table")->source()),
              w + ": nft_table: '" + *v + "' must be 1 to 31 letters, digits, '-', '_' or '.'");
    else
      e.nft_table = *v;
  }
  if (auto v = r.integer(t, "route_table", w, 1, 0xFFFFFFFF)) e.route_table = static_cast<uint32_t>(*v);
  if (const toml::node* n = t.get("management_prefixes")) {
    if (auto* arr = n->as_array()) {
      for (auto& el : *arr) {
        auto p = parse_prefix(r, el, w);
        if (!p) continue;
        for (const auto& q : e.management_prefixes)
          if (overlap(*p, q))
            r.error(pos(el.source()), w + ": management_prefixes: " + p->str() + " overlaps " + q.str());
        e.management_prefixes.push_back(*p);
      }
    } else {
      r.wrong(*n, w, "management_prefixes", "an array of prefix strings");
    }
  }
  if (auto v = r.boolean(t, "auto_maintenance", w)) e.auto_maintenance = *v;
  if (auto v = r.boolean(t, "conntrack_mark", w)) e.conntrack_mark = *v;
  if (auto v = r.duration(t, "min_move_interval", w)) e.min_move_interval = *v;
  if (auto v = r.integer(t, "max_moves", w, 1, 1000)) e.max_moves = static_cast<unsigned>(*v);
  if (auto v = r.duration(t, "flap_window", w)) e.flap_window = *v;
  if (auto v = r.duration(t, "audit_interval", w)) e.audit_interval = *v;
  if (const toml::node* n = t.get("max_reload_removal_share")) {
    if (auto f = r.share(*n, w, "max_reload_removal_share", true)) e.max_reload_removal_share = *f;
  }
  if (auto v = r.integer(t, "timeline_history", w, 1, 10000)) e.timeline_history = static_cast<unsigned>(*v);
}

bool valid_url(std::string_view u) {
  return (u.starts_with("http://") || u.starts_with("https://")) && u.find_first_of(" \r\n") == std::string_view::npos &&
         u.size() > 8;
}

// The storm guard's keys, from [engine] or (as earlier versions read them) [rebuild].
void parse_storm(Reader& r, const toml::table& t, const std::string& w, EngineConfig& e) {
  if (const toml::node* n = t.get("storm_share"))
    if (auto f = r.share(*n, w, "storm_share", false)) e.storm_share = *f;
  if (auto v = r.integer(t, "storm_min_failures", w, 1, 100000)) e.storm_min_failures = static_cast<unsigned>(*v);
  if (auto v = r.duration(t, "storm_window", w)) e.storm_window = *v;
}

void parse_rebuild(Reader& r, const toml::table& t, RebuildConfig& rb) {
  const std::string w = "[rebuild]";
  r.check_keys(t, {"hook", "webhook", "environment", "automatic", "timeout", "healthy_timeout", "retries", "backoff",
                   "max_concurrent", "storm_share", "storm_min_failures", "storm_window", "notify_hook",
                   "notify_webhook", "settle"},
               w);
  auto path = [&](const char* key, std::string& out) {
    if (auto v = r.path(t, key, w)) {
      if (v->empty() || (*v)[0] != '/') r.error(pos(t.get(key)->source()), w + ": " + key + ": '" + *v + "' must be an absolute path");
      else out = *v;
    }
  };
  auto url = [&](const char* key, std::string& out) {
    if (auto v = r.str(t, key, w)) {
      if (!valid_url(*v)) r.error(pos(t.get(key)->source()), w + ": " + key + ": '" + *v + "' is not an http:// or https:// URL");
      else out = *v;
    }
  };
  path("hook", rb.hook);
  url("webhook", rb.webhook);
  path("notify_hook", rb.notify_hook);
  url("notify_webhook", rb.notify_webhook);
  if (!rb.hook.empty() && !rb.webhook.empty())
    r.error(pos(t.source()), w + ": give either hook or webhook, not both");
  if (const toml::node* n = t.get("environment")) {
    if (auto* env = n->as_table()) {
      for (auto&& [k, v] : *env) {
        if (auto* sv = v.as_string()) rb.environment.emplace_back(std::string(k.str()), sv->get());
        else r.wrong(v, w, "environment." + std::string(k.str()), "a string");
      }
    } else {
      r.wrong(*n, w, "environment", "a table of strings, as in { REGION = \"fra1\" }");
    }
  }
  if (auto v = r.boolean(t, "automatic", w)) rb.automatic = *v;
  if (auto v = r.duration(t, "timeout", w)) rb.timeout = *v;
  if (auto v = r.duration(t, "healthy_timeout", w)) rb.healthy_timeout = *v;
  if (auto v = r.integer(t, "retries", w, 0, 100)) rb.retries = static_cast<unsigned>(*v);
  if (auto v = r.duration(t, "backoff", w)) rb.backoff = *v;
  if (auto v = r.integer(t, "max_concurrent", w, 1, 1000)) rb.max_concurrent = static_cast<unsigned>(*v);
  if (auto v = r.duration(t, "settle", w)) rb.settle = *v;
}

// A probe's table, for the one rule set of spec_io.hpp: errors at the
// key's position, prefixed with `where` ("server 'web-1': probes[0]").
class TomlFields final : public probe::FieldSource {
 public:
  TomlFields(Reader& r, const toml::table& t, std::string where) : r_(r), t_(t), where_(std::move(where)) {}

  void check_keys(std::span<const std::string_view> known) override {
    for (auto&& [key, node] : t_) {
      if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      r_.error(pos(key.source()), where_ + ": unknown key '" + std::string(key.str()) + "' (known: " + list + ")");
    }
  }
  std::optional<std::string> str(std::string_view key, std::string_view expected) override {
    const toml::node* n = t_.get(key);
    if (!n) return std::nullopt;
    if (auto* v = n->as_string()) return v->get();
    r_.wrong(*n, where_, key, std::string(expected));
    return std::nullopt;
  }
  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max) override {
    return r_.integer(t_, key, where_, min, max);
  }
  std::optional<std::vector<int64_t>> integers(std::string_view key, int64_t min, int64_t max) override {
    auto v = r_.numbers(t_, key, where_, min, max);
    if (!v) return std::nullopt;
    return std::vector<int64_t>(v->begin(), v->end());
  }
  void fail(std::string_view key, const std::string& why) override {
    const toml::node* n = key.empty() ? nullptr : t_.get(key);
    r_.error(pos(n ? n->source() : t_.source()), where_ + ": " + (key.empty() ? "" : std::string(key) + ": ") + why);
  }

 private:
  Reader& r_;
  const toml::table& t_;
  std::string where_;
};

// Fields of `t` override `base`, as written (spec_io.hpp).
probe::ProbeSpec parse_probe(Reader& r, const toml::table& t, const probe::ProbeSpec& base, const std::string& w) {
  TomlFields fields(r, t, w);
  return probe::read_probe(fields, base);
}
probe::ProbeSpec parse_server_probe(Reader& r, const toml::table& t, const probe::ProbeSpec& base,
                                    const std::string& w) {
  return probe::normalised(parse_probe(r, t, base, w));
}

std::vector<IpAddress> parse_addresses(Reader& r, const toml::node& n, const std::string& w) {
  std::vector<IpAddress> out;
  auto add = [&](const toml::node& el) {
    auto a = r.address(el, w, "address");
    if (!a) return;
    if (std::string why = server_address_problem(*a, {}, false); !why.empty())
      r.error(pos(el.source()), w + ": address: " + why);
    out.push_back(*a);
  };
  if (auto* arr = n.as_array()) {
    for (auto& el : *arr) add(el);
    if (out.size() > 2 || (out.size() == 2 && out[0].family() == out[1].family()))
      r.error(pos(n.source()), w + ": address: at most one IPv4 and one IPv6 address");
    if (arr->empty()) r.error(pos(n.source()), w + ": address: the list is empty");
  } else {
    add(n);
  }
  return out;
}

void parse_server(Reader& r, const toml::table& t, const probe::ProbeSpec& defaults, Config& c) {
  std::string w = "[[server]]";
  auto name = r.str(t, "name", w);
  if (name) {
    if (valid_name(*name)) w = "server '" + *name + "'";
    else r.error(pos(t.get("name")->source()), w + ": name: '" + *name + "' must be " + std::string(state::kNameRule));
  } else if (!t.get("name")) {
    r.error(pos(t.source()), w + ": name is missing");
  }
  r.check_keys(t, {"name", "address", "spare", "standby", "probe", "probes"}, w);
  ServerConfig s{.name = name.value_or(""), .at = pos(t.source())};
  if (const toml::node* n = t.get("address")) {
    auto list = parse_addresses(r, *n, w);
    if (!list.empty()) s.address = list[0];
    if (list.size() == 2) s.address6 = list[1];
  } else {
    r.error(s.at, w + ": address is missing");
  }
  if (auto v = r.boolean(t, "spare", w)) s.spare = *v;
  if (auto v = r.str(t, "standby", w)) s.standby = *v;
  const toml::node* one = t.get("probe");
  const toml::node* many = t.get("probes");
  if (one && many) r.error(pos(many->source()), w + ": give either probe or probes, not both");
  if (one) {
    if (auto* pt = one->as_table()) s.probes.push_back(parse_server_probe(r, *pt, defaults, w + ": probe"));
    else r.wrong(*one, w, "probe", "a table such as { kind = \"tcp\", port = 80 }");
  } else if (many) {
    if (auto* arr = many->as_array()) {
      int i = 0;
      for (auto& el : *arr) {
        if (auto* pt = el.as_table()) s.probes.push_back(parse_server_probe(r, *pt, defaults, w + ": probes[" + std::to_string(i) + "]"));
        else r.wrong(el, w, "probes", "tables");
        ++i;
      }
    } else {
      r.wrong(*many, w, "probes", "an array of tables");
    }
  } else {
    s.probes.push_back(probe::normalised(defaults));
  }
  c.servers.push_back(std::move(s));
}

void parse_fip(Reader& r, const toml::table& t, Config& c) {
  std::string w = "[[floating_ip]]";
  FloatingIpConfig f{.at = pos(t.source())};
  bool have_address = false;
  if (const toml::node* n = t.get("address")) {
    if (auto a = r.address(*n, w, "address")) {
      f.address = *a;
      have_address = true;
      w = "floating_ip " + a->str();
    }
  } else {
    r.error(f.at, w + ": address is missing");
  }
  r.check_keys(t, {"address", "server", "mode", "lockout_ports", "pin"}, w);
  if (auto v = r.str(t, "server", w)) {
    if (v->empty()) r.error(pos(t.get("server")->source()), w + ": server: must name a server (it is empty)");
    f.server = *v;
  } else if (!t.get("server")) {
    r.error(f.at, w + ": server is missing");
  }
  if (auto v = r.str(t, "mode", w)) {
    if (*v == "nat") f.mode = state::FipMode::nat;
    else if (*v == "stateless-nat") f.mode = state::FipMode::stateless_nat;
    else if (*v == "route") f.mode = state::FipMode::route;
    else r.error(pos(t.get("mode")->source()), w + ": mode: unknown mode '" + *v + "' (nat, stateless-nat or route)");
  }
  if (auto v = r.numbers(t, "lockout_ports", w, 1, 65535)) f.lockout_ports = *v;
  if (auto v = r.boolean(t, "pin", w); v && *v) f.pin = f.server;
  if (have_address) c.floating_ips.push_back(std::move(f));
}

// Checks that need the whole file: names, addresses, references, families.
void cross_check(Reader& r, Config& c) {
  std::map<std::string, const ServerConfig*> names;
  std::map<IpAddress, const ServerConfig*> addresses;
  for (const auto& s : c.servers) {
    if (s.name.empty()) continue;
    if (auto [it, fresh] = names.emplace(s.name, &s); !fresh)
      r.error(s.at, "server '" + s.name + "': the name is already used by the server at line " +
                        std::to_string(it->second->at.line));
    for (const auto* a : {&s.address, s.address6 ? &*s.address6 : nullptr}) {
      if (!a) continue;
      if (auto [it, fresh] = addresses.emplace(*a, &s); !fresh)
        r.error(s.at, "server '" + s.name + "': address " + a->str() + " is already server '" + it->second->name + "'");
    }
  }
  for (const auto& s : c.servers) {
    if (s.standby.empty()) continue;
    if (s.standby == s.name) r.error(s.at, "server '" + s.name + "': standby: a server cannot be its own standby");
    else if (!names.contains(s.standby)) r.error(s.at, "server '" + s.name + "': standby: unknown server '" + s.standby + "'");
  }
  size_t probes = 0;
  for (const auto& s : c.servers) {
    probes += s.probes.size();
    if (s.name.empty()) continue;
    // The probe engine's own rules (ranges, families, sizes), so that the
    // file, `server add` and the state file are held to the same ones.
    probe::ServerSpec spec{.id = s.name, .address = s.address, .probes = s.probes};
    if (auto v = probe::validate(spec); !v) r.error(s.at, v.error().context);
  }
  if (probes > probe::kMaxProbes)
    r.error({}, std::to_string(probes) + " probes in all: at most " + std::to_string(probe::kMaxProbes));
  std::map<IpAddress, const FloatingIpConfig*> fips;
  for (const auto& f : c.floating_ips) {
    std::string w = "floating_ip " + f.address.str();
    if (std::string why = fip_address_problem(f.address, {}); !why.empty()) r.error(f.at, w + ": address: " + why);
    if (auto [it, fresh] = fips.emplace(f.address, &f); !fresh)
      r.error(f.at, w + ": duplicate floating IP (first at line " + std::to_string(it->second->at.line) + ")");
    if (addresses.contains(f.address)) r.error(f.at, w + ": the address is also a server's address");
    if (f.server.empty()) continue;
    auto it = names.find(f.server);
    if (it == names.end()) {
      r.error(f.at, w + ": server: unknown server '" + f.server + "'");
      continue;
    }
    if (!it->second->address_of(f.address.family()))
      r.error(f.at, w + ": an " + family_name(f.address.family()) + " floating IP needs an " +
                        family_name(f.address.family()) + " address on server '" + f.server + "', which has " +
                        it->second->address.str());
  }
  // One reply source per server address (src/state/reply_source.hpp).
  std::map<std::pair<std::string, bool>, const FloatingIpConfig*> first_on;  // (server, v4)
  for (const auto& f : c.floating_ips) {
    if (f.server.empty() || f.mode == state::FipMode::route) continue;
    auto [it, fresh] = first_on.emplace(std::pair{f.server, f.address.is_v4()}, &f);
    if (!fresh && !state::can_share_server(it->second->mode, f.mode))
      r.error(f.at, "floating_ip " + f.address.str() + ": server '" + f.server + "' already holds " +
                        std::string(state::to_string(it->second->mode)) + " floating IP " +
                        it->second->address.str() + "; a stateless-nat floating IP cannot share a server with " +
                        "another that is not in route mode (its replies would leave from the other address)");
  }
}

}  // namespace

std::string ConfigError::str() const {
  return file + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " + message;
}

std::string Prefix::str() const { return address.str() + "/" + std::to_string(length); }

const IpAddress* ServerConfig::address_of(Family f) const {
  if (address.family() == f) return &address;
  if (address6 && address6->family() == f) return &*address6;
  return nullptr;
}

namespace {

// The entry of `items` whose key (by `key_of`) is `key`, through `index`,
// rebuilt whenever `items` moved or changed size.
template <class Index, class Item, class Key, class KeyOf>
const Item* find_indexed(Index& index, const std::vector<Item>& items, const Key& key, KeyOf key_of) {
  if (index.data != items.data() || index.size != items.size()) {
    index.by_key.clear();
    for (size_t i = 0; i < items.size(); ++i) index.by_key.emplace(key_of(items[i]), i);
    index.data = items.data();
    index.size = items.size();
  }
  auto it = index.by_key.find(key);
  if (it == index.by_key.end()) return nullptr;
  const Item& item = items[it->second];
  return key_of(item) == key ? &item : nullptr;
}

}  // namespace

const ServerConfig* Config::server(const std::string& name) const {
  return find_indexed(index_, servers, name, [](const ServerConfig& s) -> const std::string& { return s.name; });
}

const FloatingIpConfig* Config::floating_ip(const IpAddress& address) const {
  return find_indexed(fip_index_, floating_ips, address,
                      [](const FloatingIpConfig& f) -> const IpAddress& { return f.address; });
}

ConfigResult parse_config(std::string_view text, const std::string& file) {
  Reader r(file);
  toml::table root;
  try {
    root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    r.error(pos(e.source()), std::string(e.description()));
    return std::unexpected(r.errors);
  }
  Config c;
  c.file = file;
  r.check_keys(root, {"engine", "probe_defaults", "server", "floating_ip", "rebuild"}, "top level");
  auto section = [&](std::string_view key, const char* expected) -> const toml::node* {
    const toml::node* n = root.get(key);
    if (n && !(std::string_view(expected) == "table" ? n->is_table() : n->is_array_of_tables())) {
      r.error(pos(n->source()), std::string(key) + ": expected " +
                                    (std::string_view(expected) == "table" ? "a [" + std::string(key) + "] table"
                                                                           : "[[" + std::string(key) + "]] entries"));
      return nullptr;
    }
    return n;
  };
  if (auto* n = section("engine", "table")) parse_engine(r, *n->as_table(), c.engine);
  if (auto* n = section("rebuild", "table")) parse_rebuild(r, *n->as_table(), c.rebuild);
  for (const char* key : {"storm_share", "storm_min_failures", "storm_window"}) {
    const toml::node* in_engine = root.at_path(std::string("engine.") + key).node();
    const toml::node* in_rebuild = root.at_path(std::string("rebuild.") + key).node();
    if (in_engine && in_rebuild)
      r.error(pos(in_rebuild->source()), std::string("[rebuild]: ") + key +
                                             ": also given in [engine], where it belongs now; give it once");
  }
  for (const char* table : {"engine", "rebuild"})
    if (const toml::table* t = root.at_path(table).as_table()) parse_storm(r, *t, "[" + std::string(table) + "]", c.engine);
  if (auto* n = section("probe_defaults", "table")) c.probe_defaults = parse_probe(r, *n->as_table(), c.probe_defaults, "[probe_defaults]");
  if (auto* n = section("server", "array"))
    for (auto& el : *n->as_array()) parse_server(r, *el.as_table(), c.probe_defaults, c);
  if (auto* n = section("floating_ip", "array"))
    for (auto& el : *n->as_array()) parse_fip(r, *el.as_table(), c);
  cross_check(r, c);
  if (!r.errors.empty()) return std::unexpected(r.errors);
  return c;
}

Result<std::string> read_config_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) return fail(errno, "cannot read the file: " + std::string(std::strerror(errno)));
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) return fail(errno, "cannot read the file: " + std::string(std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) {
    const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a file";
    return fail(EINVAL, std::string("is ") + what + ", not a regular file");
  }
  auto too_large = [] {
    return fail(EFBIG, "is larger than " + std::to_string(kMaxFileSize >> 20) + " MiB, the most a configuration may be");
  };
  if (static_cast<uint64_t>(st.st_size) > kMaxFileSize) return too_large();
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  for (;;) {  // the file may change while it is read: read to its end, bounded
    if (got == text.size()) text.resize(std::min(text.size() + 65536, kMaxFileSize + 1));
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno, "cannot read the file: " + std::string(std::strerror(errno)));
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got > kMaxFileSize) return too_large();
  }
  text.resize(got);
  return text;
}

std::vector<ConfigError> check_on_this_host(const Config& c) {
  std::vector<ConfigError> out;
  auto error = [&](Position at, std::string msg) { out.push_back({c.file, at, std::move(msg)}); };
  if (c.servers.empty())
    error({}, "the file defines no servers: fipd would manage nothing, and would remove every floating IP "
              "the kernel holds (is the file complete?)");
  if (const std::string& g = c.engine.control_group; !g.empty()) {
    std::vector<char> buf(16384);
    group gr{};
    group* found = nullptr;
    int rc = ::getgrnam_r(g.c_str(), &gr, buf.data(), buf.size(), &found);
    if (rc != 0 || !found) error({}, "[engine]: control_group: '" + g + "' is not a group on this system");
  }
  auto own = read_local_addresses();
  if (!own) {
    error({}, "cannot read this router's addresses to check the servers' against them: " + own.error().message());
    return out;
  }
  for (const auto& s : c.servers)
    for (const auto* a : {&s.address, s.address6 ? &*s.address6 : nullptr})
      if (a)
        if (std::string why = server_address_problem(*a, *own, false); !why.empty())
          error(s.at, "server '" + s.name + "': address: " + why);
  for (const auto& f : c.floating_ips)
    if (std::string why = fip_address_problem(f.address, *own); !why.empty())
      error(f.at, "floating_ip " + f.address.str() + ": address: " + why);
  return out;
}

ConfigResult load_config(const std::string& path) {
  auto text = read_config_file(path);
  if (!text) return std::unexpected(std::vector<ConfigError>{{path, {}, text.error().context}});
  auto c = parse_config(*text, path);
  if (!c) return c;
  if (auto errors = check_on_this_host(*c); !errors.empty()) return std::unexpected(std::move(errors));
  return c;
}

Result<std::pair<IpAddress, uint16_t>> parse_listen(std::string_view text) {
  std::string_view host, port;
  if (text.starts_with("[")) {
    size_t close = text.find("]:");
    if (close == std::string_view::npos)
      return fail(EINVAL, "health_listen '" + std::string(text) + "': expected [IPv6]:PORT");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon)
      return fail(EINVAL, "health_listen '" + std::string(text) +
                                  "': expected ADDRESS:PORT, such as 127.0.0.1:9473 or [::1]:9473");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto a = IpAddress::parse(host);
  if (!a) return fail(EINVAL, "health_listen '" + std::string(text) + "': " + a.error().context);
  unsigned p = 0;
  auto r = std::from_chars(port.data(), port.data() + port.size(), p);
  if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || p > 65535)
    return fail(EINVAL, "health_listen '" + std::string(text) + "': the port must be 0 to 65535");
  return std::pair{*a, static_cast<uint16_t>(p)};
}

}  // namespace fipd::config
