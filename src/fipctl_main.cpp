// SPDX-License-Identifier: GPL-2.0-or-later
// fipctl: operators' command line for fipd's control socket.
//
// Exit codes: 0 done; 1 fipd refused (its message is printed); 2 usage
// error; 3 fipd is not reachable (the message names the socket and why).
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <expected>
#include <vector>

#include "base/printable.hpp"
#include "src/control/client.hpp"
#include "src/control/format.hpp"
#include "src/json/bounded.hpp"

#ifndef FIPD_VERSION
#define FIPD_VERSION "0.0.0"
#endif

using fipd::control::ControlClient;
using fipd::printable;
namespace bounded_json = fipd::bounded_json;
using nlohmann::json;

namespace {

constexpr int kOk = 0, kRefused = 1, kUsage = 2, kUnreachable = 3;

struct Help {
  const char* usage;
  const char* text;
};

// Every command's help, shown by `fipctl COMMAND --help` and `fipctl help COMMAND`.
const std::map<std::string, Help> kHelp = {
    {"status", {"status", "Shows the engine, every server with its health and probes, every floating IP with its\n"
                          "target, mode, pin and last failover, and the timelines of the last failovers."}},
    {"watch", {"watch", "Follows events live, one line each with a timestamp: health changes, failovers with\n"
                        "their timelines, drift repairs, alarms, maintenance, inventory and rebuild progress.\n"
                        "Runs until interrupted. With --json, prints each event's JSON line."}},
    {"metrics", {"metrics", "Prints the Prometheus text exposition, as GET /metrics on health_listen serves it."}},
    {"move", {"move FIP SERVER", "Repoints floating IP FIP to SERVER now. SERVER must be up and not in maintenance.\n"
                                 "A pinned floating IP stays pinned, to its new server."}},
    {"pin", {"pin FIP [SERVER]", "Pins FIP to SERVER (default: where it points now): failover never moves it."}},
    {"unpin", {"unpin FIP", "Removes FIP's pin; if its server must be evacuated, it moves at once."}},
    {"server", {"server add NAME ADDRESS [ADDRESS6] [--spare] [--standby NAME] [--probe PROBE]...\n"
                "       fipctl server remove NAME\n"
                "       fipctl server drain NAME [on|off]",
                "add: registers a server at runtime (kept across restarts in the state file).\n"
                "  PROBE is KIND[:PORT] (tcp:80, http:8080, udp:53, icmp) or a JSON object with the\n"
                "  keys of the configuration file's probe tables, e.g. '{\"kind\":\"http\",\"port\":80,\"path\":\"/ok\"}'.\n"
                "  Without --probe the running [probe_defaults] apply.\n"
                "remove: forgets a server; it must serve no floating IP.\n"
                "drain: on (the default) moves its floating IPs away and gives it no new ones; off ends it."}},
    {"maintenance", {"maintenance on|off SERVER",
                     "on: moves SERVER's floating IPs away and locks its customers out; off: ends it."}},
    {"fip", {"fip add ADDRESS SERVER [--mode nat|stateless-nat|route] [--lockout-ports PORT,...]\n"
             "       fipctl fip remove ADDRESS",
             "add: a new floating IP pointing at SERVER (default mode nat).\n"
             "remove: deletes the floating IP and its kernel state."}},
    {"rebuild", {"rebuild SERVER", "Starts the rebuild of a failed server (not available until the rebuild module lands)."}},
    {"reload", {"reload [--allow-removals]",
                "Reloads fipd's configuration file, as SIGHUP does; a broken file changes nothing. A file that\n"
                "removes more than [engine] max_reload_removal_share of the floating IPs is refused, saying\n"
                "which; --allow-removals applies it."}},
    {"version", {"version", "Prints fipctl's version, and fipd's version, protocol and whether you may change state."}},
    {"raw", {"raw JSON", "Sends one request line as it is and prints the answer, for scripts and debugging."}},
};

void print_usage(FILE* f) {
  std::fprintf(f,
               "usage: fipctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n\n"
               "Commands:\n");
  for (const auto& [name, h] : kHelp) std::fprintf(f, "  %s\n", h.usage);
  std::fprintf(f,
               "\nOptions:\n"
               "  --socket PATH     fipd's control socket (default /run/fipd/fipd.sock, or $FIPD_SOCKET)\n"
               "  --json            print fipd's answers as JSON, for jq\n"
               "  --timeout SECONDS how long to wait for an answer (default 30; 0: forever)\n"
               "  --help            this text; COMMAND --help explains one command\n"
               "  --version         fipctl's version\n\n"
               "Exit status: 0 done, 1 fipd refused, 2 usage error, 3 fipd not reachable.\n"
               "Colour only on a terminal, never with NO_COLOR set.\n");
}

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "fipctl: %s\nTry 'fipctl --help'.\n", msg.c_str());
  return kUsage;
}

int show_help(const std::string& cmd) {
  auto it = kHelp.find(cmd);
  if (it == kHelp.end()) return usage_error("unknown command '" + cmd + "'");
  std::printf("usage: fipctl %s\n\n%s\n", it->second.usage, it->second.text);
  return kOk;
}

struct Global {
  std::string socket;
  bool json = false;
  int timeout_s = 30;
};

// "tcp:80", "icmp", or a JSON object.
std::optional<json> parse_probe_arg(const std::string& text) {
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

std::optional<bool> on_off(const std::string& s) {
  if (s == "on") return true;
  if (s == "off") return false;
  return std::nullopt;
}

// Builds the request for a command line; a usage error message otherwise.
std::expected<json, std::string> build_request(const std::string& cmd, std::vector<std::string> a) {
  auto want = [&](size_t min, size_t max) -> std::optional<std::string> {
    if (a.size() < min || a.size() > max) return "usage: fipctl " + std::string(kHelp.at(cmd).usage);
    return std::nullopt;
  };
  json r = json::object();
  if (cmd == "reload") {
    if (auto e = want(0, 1)) return std::unexpected(std::string(*e));
    if (!a.empty() && a[0] != "--allow-removals") return std::unexpected("usage: fipctl " + std::string(kHelp.at(cmd).usage));
    r["cmd"] = cmd;
    if (!a.empty()) r["allow_removals"] = true;
  } else if (cmd == "status" || cmd == "watch" || cmd == "metrics") {
    if (auto e = want(0, 0)) return std::unexpected(std::string(*e));
    r["cmd"] = cmd;
  } else if (cmd == "move") {
    if (auto e = want(2, 2)) return std::unexpected(std::string(*e));
    r = {{"cmd", "move"}, {"fip", a[0]}, {"server", a[1]}};
  } else if (cmd == "pin") {
    if (auto e = want(1, 2)) return std::unexpected(std::string(*e));
    r = {{"cmd", "pin"}, {"fip", a[0]}};
    if (a.size() == 2) r["server"] = a[1];
  } else if (cmd == "unpin") {
    if (auto e = want(1, 1)) return std::unexpected(std::string(*e));
    r = {{"cmd", "unpin"}, {"fip", a[0]}};
  } else if (cmd == "rebuild") {
    if (auto e = want(1, 1)) return std::unexpected(std::string(*e));
    r = {{"cmd", "rebuild"}, {"server", a[0]}};
  } else if (cmd == "maintenance") {
    if (auto e = want(2, 2)) return std::unexpected(std::string(*e));
    auto on = on_off(a[0]);
    if (!on) return std::unexpected(std::string("maintenance: say on or off, then the server"));
    r = {{"cmd", "maintenance"}, {"server", a[1]}, {"on", *on}};
  } else if (cmd == "server" || cmd == "fip") {
    if (a.empty()) return std::unexpected(std::string("usage: fipctl " + std::string(kHelp.at(cmd).usage)));
    std::string sub = a[0];
    a.erase(a.begin());
    std::vector<std::string> pos;
    json probes = json::array();
    r["cmd"] = cmd + "." + sub;
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string& s = a[i];
      auto value = [&]() -> std::optional<std::string> {
        if (i + 1 >= a.size()) return std::nullopt;
        return a[++i];
      };
      if (cmd == "server" && sub == "add" && s == "--spare") {
        r["spare"] = true;
      } else if (cmd == "server" && sub == "add" && (s == "--standby" || s == "--probe")) {
        auto v = value();
        if (!v) return std::unexpected(std::string(s + " needs a value"));
        if (s == "--standby") {
          r["standby"] = *v;
        } else {
          auto p = parse_probe_arg(*v);
          if (!p)
            return std::unexpected(std::string("--probe '" + printable(*v) + "': expected KIND[:PORT] or a JSON object"));
          probes.push_back(*p);
        }
      } else if (cmd == "fip" && sub == "add" && (s == "--mode" || s == "--lockout-ports")) {
        auto v = value();
        if (!v) return std::unexpected(std::string(s + " needs a value"));
        if (s == "--mode") {
          r["mode"] = *v;
        } else {
          json ports = json::array();
          for (size_t at = 0; at <= v->size();) {
            size_t comma = v->find(',', at);
            std::string p = v->substr(at, comma == std::string::npos ? std::string::npos : comma - at);
            char* end = nullptr;
            long n = std::strtol(p.c_str(), &end, 10);
            if (p.empty() || *end != '\0' || n < 1 || n > 65535) return std::unexpected(std::string("--lockout-ports: '" + p + "' is not a port"));
            ports.push_back(n);
            if (comma == std::string::npos) break;
            at = comma + 1;
          }
          r["lockout_ports"] = ports;
        }
      } else if (s.starts_with("--")) {
        return std::unexpected(std::string("unknown option " + s + " for " + cmd + " " + sub));
      } else {
        pos.push_back(s);
      }
    }
    auto need = [&](size_t min, size_t max) -> std::optional<std::string> {
      if (pos.size() < min || pos.size() > max) return "usage: fipctl " + std::string(kHelp.at(cmd).usage);
      return std::nullopt;
    };
    if (r["cmd"] == "server.add") {
      if (auto e = need(2, 3)) return std::unexpected(std::string(*e));
      r["name"] = pos[0];
      r["address"] = pos[1];
      if (pos.size() == 3) r["address6"] = pos[2];
      if (!probes.empty()) r["probe"] = probes;
    } else if (r["cmd"] == "server.remove") {
      if (auto e = need(1, 1)) return std::unexpected(std::string(*e));
      r["name"] = pos[0];
    } else if (r["cmd"] == "server.drain") {
      if (auto e = need(1, 2)) return std::unexpected(std::string(*e));
      r["name"] = pos[0];
      auto on = pos.size() == 2 ? on_off(pos[1]) : std::optional<bool>(true);
      if (!on) return std::unexpected(std::string("server drain: say on or off"));
      r["on"] = *on;
    } else if (r["cmd"] == "fip.add") {
      if (auto e = need(2, 2)) return std::unexpected(std::string(*e));
      r["address"] = pos[0];
      r["server"] = pos[1];
    } else if (r["cmd"] == "fip.remove") {
      if (auto e = need(1, 1)) return std::unexpected(std::string(*e));
      r["address"] = pos[0];
    } else {
      return std::unexpected(std::string("unknown subcommand '" + sub + "' of " + cmd));
    }
  } else {
    return std::unexpected(std::string("unknown command '" + cmd + "'"));
  }
  return r;
}

bool use_color() {
  const char* nc = std::getenv("NO_COLOR");
  return isatty(STDOUT_FILENO) && !(nc && *nc);
}

// Local wall time of a CLOCK_MONOTONIC instant in µs, as "2024-05-01 12:00:00.123".
std::string wall_time(int64_t mono_us) {
  timespec rt{}, mt{};
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &mt);
  int64_t now_rt = int64_t{rt.tv_sec} * 1'000'000 + rt.tv_nsec / 1000;
  int64_t now_mt = int64_t{mt.tv_sec} * 1'000'000 + mt.tv_nsec / 1000;
  int64_t at = now_rt - (now_mt - mono_us);
  time_t secs = static_cast<time_t>(at / 1'000'000);
  tm local{};
  localtime_r(&secs, &local);
  char buf[64];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &local);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03d", static_cast<int>(at % 1'000'000 / 1000));
  return buf;
}

std::string error_text(const json& resp) {
  auto s = [&](const char* k) {
    auto it = resp.find(k);
    return it != resp.end() && it->is_string() ? printable(it->get<std::string>()) : std::string("?");
  };
  return s("error") + " (" + s("code") + ")";
}

// What a changing request did, in one line.
std::string done_text(const std::string& cmd, const json& result) {
  auto s = [&](const json& j, const char* k) {
    auto it = j.is_object() ? j.find(k) : j.end();
    return j.is_object() && it != j.end() && it->is_string() ? printable(it->get<std::string>()) : std::string();
  };
  auto member = [](const json& j, const char* k) -> const json* {
    if (!j.is_object()) return nullptr;
    auto it = j.find(k);
    return it == j.end() ? nullptr : &*it;
  };
  if (cmd == "move") {
    const json* fip = member(result, "fip");
    std::string t = "moved " + s(fip ? *fip : result, "address") + " to " + s(fip ? *fip : result, "server");
    if (const json* f = member(result, "failover")) {
      const json* t3 = member(*f, "committed_mono_us");
      const json* t1 = member(*f, "detected_mono_us");
      if (t3 && t1 && t3->is_number_integer() && t1->is_number_integer())
        t += " (detect->commit " + fipd::control::format_us(t3->get<int64_t>() - t1->get<int64_t>()) + ")";
    }
    return t;
  }
  if (cmd == "pin" || cmd == "unpin")
    return s(result, "address") + " points to " + s(result, "server") +
           (s(result, "pin").empty() ? ", not pinned" : ", pinned");
  if (cmd == "reload") return "configuration reloaded";
  return "ok";
}

int run(const Global& g, const std::string& cmd, const std::vector<std::string>& args) {
  json req;
  std::string raw;
  if (cmd == "raw") {
    if (args.size() != 1) return usage_error("usage: fipctl raw JSON");
    raw = args[0];
  } else if (cmd != "version") {
    auto built = build_request(cmd, args);
    if (!built) return usage_error(built.error());
    req = std::move(*built);
    raw = bounded_json::dump(req);
  }
  auto c = ControlClient::connect(g.socket, std::chrono::seconds(g.timeout_s));
  if (!c) {
    std::fprintf(stderr, "fipctl: cannot reach fipd: %s\n", c.error().context.c_str());
    return kUnreachable;
  }
  if (cmd == "version") {
    if (g.json) {
      std::printf("%s\n", bounded_json::dump(c->greeting()).c_str());
      return kOk;
    }
    const json& gr = c->greeting();
    auto fipd = gr.find("fipd");
    auto protocol = gr.find("protocol");
    std::printf("fipctl %s\nfipd %s, control protocol %s, this client %s change state\n", FIPD_VERSION,
                fipd != gr.end() && fipd->is_string() ? printable(fipd->get<std::string>()).c_str() : "?",
                protocol != gr.end() ? printable(bounded_json::dump(*protocol)).c_str() : "?",
                c->can_write() ? "may" : "may not");
    return kOk;
  }
  if (auto r = c->send_raw(raw + "\n"); !r) {
    std::fprintf(stderr, "fipctl: %s\n", r.error().message().c_str());
    return kUnreachable;
  }
  auto line = c->read_line();
  if (!line) {
    std::fprintf(stderr, "fipctl: %s\n", line.error().context.c_str());
    return kUnreachable;
  }
  auto parsed = fipd::control::parse_answer(*line);
  if (!parsed || !parsed->is_object()) {
    std::fprintf(stderr, "fipctl: fipd answered with something that is not a JSON object%s\n",
                 parsed ? "" : (": " + parsed.error().context).c_str());
    return kUnreachable;
  }
  json& resp = *parsed;
  bool ok = resp.contains("ok") && resp["ok"].is_boolean() && resp["ok"].get<bool>();
  if (g.json || cmd == "raw") std::printf("%s\n", line->c_str());
  if (!ok) {
    if (!g.json && cmd != "raw") std::fprintf(stderr, "fipctl: %s: %s\n", cmd.c_str(), error_text(resp).c_str());
    return kRefused;
  }
  const json& result = resp.contains("result") ? resp["result"] : resp;
  bool color = use_color();
  if (cmd == "watch") {
    std::fflush(stdout);
    for (;;) {
      auto ev = c->read_line(std::chrono::milliseconds(0));
      if (!ev) {
        std::fprintf(stderr, "fipctl: watch ended: %s\n", ev.error().context.c_str());
        return kUnreachable;
      }
      if (g.json) {
        std::printf("%s\n", ev->c_str());
      } else {
        json j = fipd::control::parse_answer(*ev).value_or(json());
        int64_t at = j.is_object() && j.contains("at_mono_us") && j["at_mono_us"].is_number_integer()
                         ? j["at_mono_us"].get<int64_t>() : 0;
        std::fputs(fipd::control::format_event(j, wall_time(at), color).c_str(), stdout);
      }
      std::fflush(stdout);
    }
  }
  if (g.json || cmd == "raw") return kOk;
  if (cmd == "status") {
    std::fputs(fipd::control::format_status(result, color).c_str(), stdout);
  } else if (cmd == "metrics") {
    if (result.contains("text") && result["text"].is_string())
      std::fputs(printable(result["text"].get<std::string>(), /*keep_newlines=*/true).c_str(), stdout);
  } else {
    std::printf("%s\n", done_text(cmd, result).c_str());
  }
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  Global g;
  if (const char* env = std::getenv("FIPD_SOCKET"); env && *env) g.socket = env;
  if (g.socket.empty()) g.socket = "/run/fipd/fipd.sock";
  std::vector<std::string> rest;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const std::string& opt) -> std::optional<std::string> {
      if (a.size() > opt.size() && a.starts_with(opt + "=")) return a.substr(opt.size() + 1);
      if (i + 1 < argc) return std::string(argv[++i]);
      return std::nullopt;
    };
    if (a == "--socket" || a.starts_with("--socket=")) {
      auto v = value("--socket");
      if (!v || v->empty()) return usage_error("--socket needs a path");
      g.socket = *v;
    } else if (a == "--timeout" || a.starts_with("--timeout=")) {
      auto v = value("--timeout");
      char* end = nullptr;
      long t = v ? std::strtol(v->c_str(), &end, 10) : -1;
      if (!v || v->empty() || *end != '\0' || t < 0 || t > 86400) return usage_error("--timeout needs seconds, 0 to 86400");
      g.timeout_s = static_cast<int>(t);
    } else if (a == "--json" || a == "-j") {
      g.json = true;
    } else if (a == "--help" || a == "-h") {
      help = true;
    } else if (a == "--version" && rest.empty()) {
      std::printf("fipctl %s\n", FIPD_VERSION);
      return kOk;
    } else {
      rest.push_back(a);
    }
  }
  if (!rest.empty() && rest[0] == "help") {
    if (rest.size() == 1) {
      print_usage(stdout);
      return kOk;
    }
    return show_help(rest[1]);
  }
  if (help) {
    if (rest.empty()) {
      print_usage(stdout);
      return kOk;
    }
    return show_help(rest[0]);
  }
  if (rest.empty()) {
    print_usage(stderr);
    return kUsage;
  }
  std::string cmd = rest[0];
  rest.erase(rest.begin());
  if (!kHelp.contains(cmd)) return usage_error("unknown command '" + cmd + "'");
  return run(g, cmd, rest);
}
