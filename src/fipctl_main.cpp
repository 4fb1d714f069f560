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
#include <optional>
#include <string>
#include <expected>
#include <vector>

#include "base/printable.hpp"
#include "src/control/cli.hpp"
#include "src/control/client.hpp"
#include "src/control/format.hpp"
#include "src/json/bounded.hpp"

#ifndef FIPD_VERSION
#define FIPD_VERSION "0.0.0"
#endif

using fipd::control::ControlClient;
namespace cli = fipd::control::cli;
using fipd::printable;
namespace bounded_json = fipd::bounded_json;
using nlohmann::json;

namespace {

constexpr int kOk = 0, kRefused = 1, kUsage = 2, kUnreachable = 3;

void print_usage(FILE* f) {
  std::fprintf(f,
               "usage: fipctl [--socket PATH] [--json] [--timeout SECONDS] COMMAND [ARGS]\n\n"
               "Commands:\n");
  for (const auto& c : cli::commands()) std::fprintf(f, "  %.*s\n", static_cast<int>(c.usage.size()), c.usage.data());
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
  std::string text = cli::help(cmd);
  if (text.empty()) return usage_error("unknown command '" + printable(cmd) + "'");
  std::fputs(text.c_str(), stdout);
  return kOk;
}

struct Global {
  std::string socket;
  bool json = false;
  int timeout_s = 30;
};

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

int run(const Global& g, const cli::CommandLine& command) {
  std::string cmd(command.spec->words.substr(0, command.spec->words.find(' ')));
  std::string raw = cmd == "raw"                  ? command.args[0]
                    : command.request.is_null() ? ""
                                                : bounded_json::dump(command.request);
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
  auto line = cli::parse(rest);
  if (!line) return usage_error(line.error());
  return run(g, *line);
}
