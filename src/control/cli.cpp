// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/control/cli.hpp"

#include <cstdlib>

#include "base/printable.hpp"
#include "src/json/bounded.hpp"

namespace fipd::control::cli {
namespace {

using nlohmann::json;
using Args = std::vector<std::string>;

std::optional<bool> on_off(const std::string& s) {
  if (s == "on") return true;
  if (s == "off") return false;
  return std::nullopt;
}

// "tcp:80", "icmp", or a JSON object with the configuration file's probe
// keys; the daemon checks what the keys say.
std::optional<json> probe_arg(const std::string& text) {
  if (!text.empty() && text[0] == '{') {
    auto j = bounded_json::parse(text, {});
    if (!j || !j->is_object()) return std::nullopt;
    return std::move(*j);
  }
  json j = json::object();
  size_t colon = text.find(':');
  j["kind"] = text.substr(0, colon);
  if (colon != std::string::npos) {
    char* end = nullptr;
    long port = std::strtol(text.c_str() + colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) return std::nullopt;
    j["port"] = port;
  }
  return j;
}

// "22,2222"
std::optional<json> port_list(const std::string& text) {
  json ports = json::array();
  for (size_t at = 0;;) {
    size_t comma = text.find(',', at);
    std::string p = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    char* end = nullptr;
    long n = std::strtol(p.c_str(), &end, 10);
    if (p.empty() || *end != '\0' || n < 1 || n > 65535) return std::nullopt;
    ports.push_back(n);
    if (comma == std::string::npos) return ports;
    at = comma + 1;
  }
}

Refusal none(json&, const Args&) { return std::nullopt; }

const Option kServerAdd[] = {
    {"--spare", false, [](json& r, const std::string&) -> Refusal {
       r["spare"] = true;
       return std::nullopt;
     }},
    {"--standby", true, [](json& r, const std::string& v) -> Refusal {
       r["standby"] = v;
       return std::nullopt;
     }},
    {"--replaces", true, [](json& r, const std::string& v) -> Refusal {
       r["replaces"] = v;
       return std::nullopt;
     }},
    {"--probe", true, [](json& r, const std::string& v) -> Refusal {
       auto p = probe_arg(v);
       if (!p) return "--probe '" + printable(v) + "': expected KIND[:PORT] or a JSON object";
       r["probe"].push_back(std::move(*p));
       return std::nullopt;
     }},
};

const Option kFipAdd[] = {
    {"--mode", true, [](json& r, const std::string& v) -> Refusal {
       r["mode"] = v;
       return std::nullopt;
     }},
    {"--lockout-ports", true, [](json& r, const std::string& v) -> Refusal {
       auto ports = port_list(v);
       if (!ports) return "--lockout-ports '" + printable(v) + "': expected ports from 1 to 65535, comma-separated";
       r["lockout_ports"] = std::move(*ports);
       return std::nullopt;
     }},
};

const Option kReload[] = {
    {"--allow-removals", false, [](json& r, const std::string&) -> Refusal {
       r["allow_removals"] = true;
       return std::nullopt;
     }},
};

const CommandSpec kCommands[] = {
    {.words = "status",
     .usage = "status",
     .help = "Shows the engine, every server with its health and probes, every floating IP with its\n"
             "target, mode, pin and last failover, and the timelines of the last failovers.",
     .fill = none},
    {.words = "watch",
     .usage = "watch",
     .help = "Follows events live, one line each with a timestamp: health changes, failovers with\n"
             "their timelines, drift repairs, alarms, maintenance, inventory and rebuild progress.\n"
             "Runs until interrupted. With --json, prints each event's JSON line.",
     .fill = none},
    {.words = "metrics",
     .usage = "metrics",
     .help = "Prints the Prometheus text exposition, as GET /metrics on health_listen serves it.",
     .fill = none},
    {.words = "move",
     .usage = "move FIP SERVER",
     .help = "Repoints floating IP FIP to SERVER now. SERVER must be up and not in maintenance.\n"
             "A pinned floating IP stays pinned, to its new server.",
     .min_args = 2,
     .max_args = 2,
     .fill = [](json& r, const Args& a) -> Refusal {
       r["fip"] = a[0];
       r["server"] = a[1];
       return std::nullopt;
     }},
    {.words = "pin",
     .usage = "pin FIP [SERVER]",
     .help = "Pins FIP to SERVER (default: where it points now): failover never moves it.",
     .min_args = 1,
     .max_args = 2,
     .fill = [](json& r, const Args& a) -> Refusal {
       r["fip"] = a[0];
       if (a.size() == 2) r["server"] = a[1];
       return std::nullopt;
     }},
    {.words = "unpin",
     .usage = "unpin FIP",
     .help = "Removes FIP's pin; if its server must be evacuated, it moves at once.",
     .min_args = 1,
     .max_args = 1,
     .fill = [](json& r, const Args& a) -> Refusal {
       r["fip"] = a[0];
       return std::nullopt;
     }},
    {.words = "server add",
     .usage = "server add NAME ADDRESS [ADDRESS6] [--spare] [--standby NAME] [--replaces FAILED] [--probe PROBE]...",
     .help = "registers a server at runtime (kept across restarts in the state file).\n"
             "  PROBE is KIND[:PORT] (tcp:80, http:8080, udp:53, icmp) or a JSON object with the\n"
             "  keys of the configuration file's probe tables, e.g. '{\"kind\":\"http\",\"port\":80,\"path\":\"/ok\"}'.\n"
             "  Without --probe the running [probe_defaults] apply. --replaces names the failed server\n"
             "  this one replaces, as a rebuild's provisioning system registers its replacement.",
     .min_args = 2,
     .max_args = 3,
     .options = kServerAdd,
     .fill = [](json& r, const Args& a) -> Refusal {
       r["name"] = a[0];
       r["address"] = a[1];
       if (a.size() == 3) r["address6"] = a[2];
       return std::nullopt;
     }},
    {.words = "server remove",
     .usage = "server remove NAME",
     .help = "forgets a server; it must serve no floating IP.",
     .min_args = 1,
     .max_args = 1,
     .fill = [](json& r, const Args& a) -> Refusal {
       r["name"] = a[0];
       return std::nullopt;
     }},
    {.words = "server drain",
     .usage = "server drain NAME [on|off]",
     .help = "on (the default) moves its floating IPs away and gives it no new ones; off ends it.",
     .min_args = 1,
     .max_args = 2,
     .fill = [](json& r, const Args& a) -> Refusal {
       auto on = a.size() == 2 ? on_off(a[1]) : std::optional<bool>(true);
       if (!on) return "server drain: say on or off";
       r["name"] = a[0];
       r["on"] = *on;
       return std::nullopt;
     }},
    {.words = "maintenance",
     .usage = "maintenance on|off SERVER",
     .help = "on: moves SERVER's floating IPs away and locks its customers out; off: ends it.",
     .min_args = 2,
     .max_args = 2,
     .fill = [](json& r, const Args& a) -> Refusal {
       auto on = on_off(a[0]);
       if (!on) return "maintenance: say on or off, then the server";
       r["server"] = a[1];
       r["on"] = *on;
       return std::nullopt;
     }},
    {.words = "fip add",
     .usage = "fip add ADDRESS SERVER [--mode nat|stateless-nat|route] [--lockout-ports PORT,...]",
     .help = "a new floating IP pointing at SERVER (default mode nat).",
     .min_args = 2,
     .max_args = 2,
     .options = kFipAdd,
     .fill = [](json& r, const Args& a) -> Refusal {
       r["address"] = a[0];
       r["server"] = a[1];
       return std::nullopt;
     }},
    {.words = "fip remove",
     .usage = "fip remove ADDRESS",
     .help = "deletes the floating IP and its kernel state.",
     .min_args = 1,
     .max_args = 1,
     .fill = [](json& r, const Args& a) -> Refusal {
       r["address"] = a[0];
       return std::nullopt;
     }},
    {.words = "rebuild",
     .usage = "rebuild SERVER",
     .help = "Starts the rebuild of a failed server through the configured [rebuild] hook or webhook.",
     .min_args = 1,
     .max_args = 1,
     .fill = [](json& r, const Args& a) -> Refusal {
       r["server"] = a[0];
       return std::nullopt;
     }},
    {.words = "reload",
     .usage = "reload [--allow-removals]",
     .help = "Reloads fipd's configuration file, as SIGHUP does; a broken file changes nothing. A file that\n"
             "removes more than [engine] max_reload_removal_share of the floating IPs is refused, saying\n"
             "which; --allow-removals applies it.",
     .options = kReload,
     .fill = none},
    {.words = "version",
     .usage = "version",
     .help = "Prints fipctl's version, and fipd's version, protocol and whether you may change state."},
    {.words = "raw",
     .usage = "raw JSON",
     .help = "Sends one request line as it is and prints the answer, for scripts and debugging.",
     .min_args = 1,
     .max_args = 1},
};

std::string_view first_word(std::string_view words) { return words.substr(0, words.find(' ')); }

std::string usage_lines(const std::vector<const CommandSpec*>& specs) {
  std::string s;
  for (const CommandSpec* c : specs) s += std::string(s.empty() ? "usage: " : "\n       ") + "fipctl " + std::string(c->usage);
  return s;
}

}  // namespace

std::string CommandSpec::wire() const {
  std::string w(words);
  for (char& ch : w)
    if (ch == ' ') ch = '.';
  return w;
}

std::span<const CommandSpec> commands() { return kCommands; }

std::vector<const CommandSpec*> find(std::string_view word) {
  std::vector<const CommandSpec*> out;
  for (const CommandSpec& c : kCommands)
    if (first_word(c.words) == word) out.push_back(&c);
  return out;
}

std::string help(std::string_view word) {
  auto specs = find(word);
  if (specs.empty()) return {};
  std::string s = usage_lines(specs) + "\n\n";
  for (const CommandSpec* c : specs) {
    // A group's entries say which subcommand each paragraph is about.
    if (c->words.size() > word.size()) s += std::string(c->words.substr(word.size() + 1)) + ": ";
    s += std::string(c->help) + "\n";
  }
  return s;
}

std::expected<CommandLine, std::string> parse(const std::vector<std::string>& line) {
  using Fail = std::unexpected<std::string>;
  if (line.empty()) return Fail("no command");
  auto specs = find(line[0]);
  if (specs.empty()) return Fail("unknown command '" + printable(line[0]) + "'");
  const CommandSpec* spec = specs.front();
  size_t at = 1;
  if (spec->words.find(' ') != std::string_view::npos) {
    // A group (server, fip): the second word picks the entry.
    if (line.size() < 2) return Fail(usage_lines(specs));
    spec = nullptr;
    for (const CommandSpec* c : specs)
      if (c->words.substr(line[0].size() + 1) == line[1]) spec = c;
    if (!spec) return Fail("unknown subcommand '" + printable(line[1]) + "' of " + line[0]);
    at = 2;
  }
  CommandLine out{.spec = spec};
  json request = json::object();
  for (size_t i = at; i < line.size(); ++i) {
    const std::string& word = line[i];
    if (!word.starts_with("--")) {
      out.args.push_back(word);
      continue;
    }
    size_t eq = word.find('=');
    std::string name = word.substr(0, eq);
    const Option* opt = nullptr;
    for (const Option& o : spec->options)
      if (o.name == name) opt = &o;
    if (!opt) return Fail("unknown option " + printable(name) + " for " + std::string(spec->words));
    std::string value;
    if (opt->takes_value && eq != std::string::npos) value = word.substr(eq + 1);
    else if (opt->takes_value && i + 1 < line.size()) value = line[++i];
    else if (opt->takes_value) return Fail(name + " needs a value");
    else if (eq != std::string::npos) return Fail(name + " takes no value");
    if (auto refused = opt->apply(request, value)) return Fail(*refused);
  }
  if (out.args.size() < spec->min_args || out.args.size() > spec->max_args)
    return Fail("usage: fipctl " + std::string(spec->usage));
  if (!spec->fill) return out;
  if (auto refused = spec->fill(request, out.args)) return Fail(*refused);
  request["cmd"] = spec->wire();
  out.request = std::move(request);
  return out;
}

}  // namespace fipd::control::cli
