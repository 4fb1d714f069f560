// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/control/protocol.hpp"

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "base/printable.hpp"
#include "src/control/json_out.hpp"
#include "src/json/bounded.hpp"
#include "src/probe/spec_io.hpp"

namespace fipd::control {
namespace {

using nlohmann::json;
using Fail = std::unexpected<ProtocolError>;

struct CommandInfo {
  Command cmd;
  const char* name;
  bool changes;
};

constexpr CommandInfo kCommands[] = {
    {Command::status, "status", false},         {Command::watch, "watch", false},
    {Command::metrics, "metrics", false},       {Command::move, "move", true},
    {Command::pin, "pin", true},                {Command::unpin, "unpin", true},
    {Command::server_add, "server.add", true},  {Command::server_remove, "server.remove", true},
    {Command::server_drain, "server.drain", true}, {Command::maintenance, "maintenance", true},
    {Command::fip_add, "fip.add", true},        {Command::fip_remove, "fip.remove", true},
    {Command::rebuild, "rebuild", true},        {Command::reload, "reload", true},
};

using bounded_json::type_name;

using state::valid_name;

// Reads the arguments of one request (or of one probe object), recording
// the first error; later reads are no-ops once one failed.
class Args {
 public:
  Args(const json& obj, std::string where) : obj_(obj), where_(std::move(where)) {}
  std::optional<ProtocolError> error;

  void fail(int code, std::string msg) {
    if (!error) error = ProtocolError{code, where_ + msg, {}};
  }

  void only(std::initializer_list<std::string_view> allowed) {
    for (auto it = obj_.begin(); it != obj_.end() && !error; ++it) {
      bool known = false;
      for (auto a : allowed) known |= it.key() == a;
      if (known) continue;
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      fail(EINVAL, "unknown argument '" + it.key() + "' (known: " + list + ")");
    }
  }

  const json* get(const char* key, bool required) {
    auto it = obj_.find(key);
    if (it == obj_.end()) {
      if (required) fail(EINVAL, std::string("missing argument '") + key + "'");
      return nullptr;
    }
    return &*it;
  }

  void wrong(const char* key, const json& v, const char* expected) {
    fail(EINVAL, std::string(key) + ": expected " + expected + ", got " + type_name(v));
  }

  std::optional<std::string> str(const char* key, bool required = true) {
    const json* v = get(key, required);
    if (!v || error) return std::nullopt;
    if (!v->is_string()) {
      wrong(key, *v, "a string");
      return std::nullopt;
    }
    const auto& s = v->get_ref<const std::string&>();
    if (s.find('\0') != std::string::npos) {
      fail(EINVAL, std::string(key) + ": a NUL character is not allowed");
      return std::nullopt;
    }
    return s;
  }

  std::optional<std::string> name(const char* key, bool required = true) {
    auto s = str(key, required);
    if (s && !valid_name(*s)) {
      fail(EINVAL, std::string(key) + ": '" + printable(*s) + "' is not a name (" + std::string(state::kNameRule) + ")");
      return std::nullopt;
    }
    return s;
  }

  std::optional<IpAddress> address(const char* key, bool required = true) {
    auto s = str(key, required);
    if (!s) return std::nullopt;
    auto a = IpAddress::parse(*s);
    if (!a) {
      fail(EINVAL, std::string(key) + ": " + a.error().context);
      return std::nullopt;
    }
    return *a;
  }

  std::optional<bool> boolean(const char* key, bool required = true) {
    const json* v = get(key, required);
    if (!v || error) return std::nullopt;
    if (!v->is_boolean()) {
      wrong(key, *v, "true or false");
      return std::nullopt;
    }
    return v->get<bool>();
  }

  std::optional<int64_t> integer(const json& v, const char* key, int64_t min, int64_t max) {
    auto n = bounded_json::integer(v, min, max);
    if (!n) fail(EINVAL, std::string(key) + ": " + n.error());
    return n ? std::optional(*n) : std::nullopt;
  }

  std::optional<int64_t> integer(const char* key, int64_t min, int64_t max) {
    const json* v = get(key, false);
    if (!v || error) return std::nullopt;
    return integer(*v, key, min, max);
  }

  std::optional<std::vector<uint16_t>> numbers(const char* key, int64_t min, int64_t max) {
    const json* v = get(key, false);
    if (!v || error) return std::nullopt;
    if (!v->is_array()) {
      wrong(key, *v, "an array of integers");
      return std::nullopt;
    }
    std::vector<uint16_t> out;
    for (const auto& el : *v) {
      auto n = integer(el, key, min, max);
      if (!n) return std::nullopt;
      out.push_back(static_cast<uint16_t>(*n));
    }
    return out;
  }

 private:
  const json& obj_;
  std::string where_;
};

// One probe, as a [[server]] probe table of the file, over the defaults.
std::optional<probe::ProbeSpec> parse_probe(const json& v, const probe::ProbeSpec& base, const std::string& where,
                                            std::optional<ProtocolError>& error) {
  if (!v.is_object()) {
    error = ProtocolError{EINVAL, where + ": expected an object such as {\"kind\":\"tcp\",\"port\":80}, got " +
                                      type_name(v), {}};
    return std::nullopt;
  }
  probe::JsonFields fields(v);
  probe::ProbeSpec p = probe::normalised(probe::read_probe(fields, base));
  if (fields.error) {
    error = ProtocolError{EINVAL, where + ": " + fields.error->str(), {}};
    return std::nullopt;
  }
  return p;
}

void parse_probes(Args& a, const json& obj, const probe::ProbeSpec& defaults, Request& r) {
  auto it = obj.find("probe");
  if (it == obj.end()) return;
  std::optional<ProtocolError> error;
  if (it->is_array()) {
    if (it->empty()) a.fail(EINVAL, "probe: the list is empty");
    size_t i = 0;
    for (const auto& el : *it) {
      auto p = parse_probe(el, defaults, "probe[" + std::to_string(i++) + "]", error);
      if (!p) break;
      r.probes.push_back(std::move(*p));
    }
  } else if (auto p = parse_probe(*it, defaults, "probe", error)) {
    r.probes.push_back(std::move(*p));
  }
  if (error) a.fail(error->code, error->message);
}

void parse_args(Args& a, const json& obj, const probe::ProbeSpec& defaults, Request& r) {
  switch (r.cmd) {
    case Command::status:
    case Command::watch:
    case Command::metrics:
      a.only({"cmd", "id"});
      break;
    case Command::reload:
      a.only({"cmd", "id", "allow_removals"});
      r.allow_removals = a.boolean("allow_removals", false).value_or(false);
      break;
    case Command::move:
      a.only({"cmd", "id", "fip", "server"});
      r.fip = a.address("fip");
      r.server = a.name("server").value_or("");
      break;
    case Command::pin:
      a.only({"cmd", "id", "fip", "server"});
      r.fip = a.address("fip");
      r.server = a.name("server", false).value_or("");
      break;
    case Command::unpin:
      a.only({"cmd", "id", "fip"});
      r.fip = a.address("fip");
      break;
    case Command::server_add:
      a.only({"cmd", "id", "name", "address", "address6", "spare", "standby", "probe", "replaces"});
      r.server = a.name("name").value_or("");
      r.address = a.address("address");
      r.address6 = a.address("address6", false);
      if (!a.error && r.address6 && r.address6->family() == r.address->family())
        a.fail(EINVAL, "address6: '" + r.address6->str() + "' is of the same family as address; give one IPv4 and one IPv6 address");
      r.spare = a.boolean("spare", false).value_or(false);
      if (auto s = a.name("standby", false)) r.standby = *s;
      if (auto s = a.name("replaces", false)) r.replaces = *s;
      if (!a.error) parse_probes(a, obj, defaults, r);
      break;
    case Command::server_remove:
      a.only({"cmd", "id", "name"});
      r.server = a.name("name").value_or("");
      break;
    case Command::server_drain:
      a.only({"cmd", "id", "name", "on"});
      r.server = a.name("name").value_or("");
      r.on = a.boolean("on").value_or(false);
      break;
    case Command::maintenance:
      a.only({"cmd", "id", "server", "on"});
      r.server = a.name("server").value_or("");
      r.on = a.boolean("on").value_or(false);
      break;
    case Command::fip_add:
      a.only({"cmd", "id", "address", "server", "mode", "lockout_ports"});
      r.fip = a.address("address");
      r.server = a.name("server").value_or("");
      if (auto m = a.str("mode", false)) {
        if (*m == "nat") r.mode = state::FipMode::nat;
        else if (*m == "stateless-nat") r.mode = state::FipMode::stateless_nat;
        else if (*m == "route") r.mode = state::FipMode::route;
        else a.fail(EINVAL, "mode: unknown mode '" + *m + "' (nat, stateless-nat or route)");
      }
      if (auto p = a.numbers("lockout_ports", 1, 65535)) r.lockout_ports = *p;
      break;
    case Command::fip_remove:
      a.only({"cmd", "id", "address"});
      r.fip = a.address("address");
      break;
    case Command::rebuild:
      a.only({"cmd", "id", "server"});
      r.server = a.name("server").value_or("");
      break;
  }
}

}  // namespace

const char* command_name(Command c) {
  for (const auto& i : kCommands)
    if (i.cmd == c) return i.name;
  return "?";
}

bool changes_state(Command c) {
  for (const auto& i : kCommands)
    if (i.cmd == c) return i.changes;
  return true;
}

std::expected<Request, ProtocolError> parse_request(std::string_view line, const probe::ProbeSpec& defaults) {
  if (line.size() > kMaxLine)
    return Fail(ProtocolError{EMSGSIZE, "request line longer than " + std::to_string(kMaxLine) + " bytes", {}});
  // Bounded while parsing: nothing deeper than kMaxDepth is ever built, so
  // echoing the id below cannot recurse deeply.
  auto parsed = bounded_json::parse(line, {.max_depth = kMaxDepth, .max_bytes = kMaxLine});
  if (!parsed)
    return Fail(ProtocolError{EBADMSG, "malformed JSON: " + parsed.error().context +
                                           " (a request is one JSON object per line)", {}});
  json& j = *parsed;
  if (!j.is_object())
    return Fail(ProtocolError{EINVAL, std::string("a request is a JSON object, got ") + type_name(j), {}});
  Request r;
  if (auto it = j.find("id"); it != j.end()) {
    // Echoed as it came, at most kMaxDepth - 1 deep and kMaxLine long.
    r.id = bounded_json::dump(*it);
  }
  auto fail = [&](int code, std::string msg) { return Fail(ProtocolError{code, std::move(msg), r.id}); };
  auto cmd = j.find("cmd");
  if (cmd == j.end()) return fail(EINVAL, "missing 'cmd': which request is this?");
  if (!cmd->is_string()) return fail(EINVAL, std::string("cmd: expected a string, got ") + type_name(*cmd));
  const auto& name = cmd->get_ref<const std::string&>();
  bool found = false;
  for (const auto& i : kCommands)
    if (name == i.name) {
      r.cmd = i.cmd;
      found = true;
    }
  if (!found) {
    std::string list;
    for (const auto& i : kCommands) list += (list.empty() ? "" : ", ") + std::string(i.name);
    std::string shown = name.size() > 64 ? name.substr(0, 64) + "..." : name;
    return fail(EOPNOTSUPP, "unknown command '" + shown + "' (known: " + list + ")");
  }
  Args a(j, std::string(command_name(r.cmd)) + ": ");
  parse_args(a, j, defaults, r);
  if (a.error) {
    a.error->id = r.id;
    return Fail(std::move(*a.error));
  }
  return r;
}

std::string code_name(int code) {
  const char* n = strerrorname_np(code);
  return n ? n : "E" + std::to_string(code);
}

std::string ok_response(std::string_view id, std::string_view result_json) {
  std::string out;
  out.reserve(32 + id.size() + result_json.size());
  JsonWriter w(&out);
  w.begin_object();
  if (!id.empty()) w.key("id").raw(id);
  w.field("ok", true).key("result").raw(result_json);
  w.end_object();
  out.push_back('\n');
  return out;
}

std::string error_response(std::string_view id, int code, std::string_view message) {
  std::string out;
  JsonWriter w(&out);
  w.begin_object();
  if (!id.empty()) w.key("id").raw(id);
  w.field("ok", false).field("error", message).field("code", code_name(code));
  w.end_object();
  out.push_back('\n');
  return out;
}

std::string greeting(std::string_view version, bool can_write) {
  std::string out;
  JsonWriter w(&out);
  w.begin_object()
      .field("fipd", version)
      .field("protocol", kProtocolVersion)
      .field("can_write", can_write)
      .field("max_line", kMaxLine)
      .end_object();
  out.push_back('\n');
  return out;
}

}  // namespace fipd::control
