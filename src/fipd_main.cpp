// SPDX-License-Identifier: GPL-2.0-or-later
// fipd: the failover engine daemon. Runs in the foreground and logs to
// stderr; systemd supervises it (Type=notify, watchdog).
#include <signal.h>
#include <sys/resource.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <map>

#include "src/config/config.hpp"
#include "src/control/server.hpp"
#include "src/engine/compose.hpp"
#include "src/engine/engine.hpp"
#include "base/log.hpp"
#include "src/http/server.hpp"
#include "src/metrics/metrics.hpp"
#include "src/probe/socket_prober.hpp"

#ifndef FIPD_VERSION
#define FIPD_VERSION "0.0.0"
#endif

namespace po = boost::program_options;
using namespace fipd;

namespace {

// Every problem in the file, each with its position, then a summary: the
// answer an operator wants before a reload, like `nginx -t`.
int check_config(const std::string& path) {
  // load_config() makes every check start-up and reload make.
  auto c = config::load_config(path);
  std::vector<std::string> errors;
  if (!c)
    for (const auto& e : c.error()) errors.push_back(e.str());
  for (const auto& e : errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (!errors.empty()) {
    std::fprintf(stderr, "%s: %zu error%s\n", path.c_str(), errors.size(), errors.size() == 1 ? "" : "s");
    return 1;
  }
  std::map<state::FipMode, int> modes;
  int spares = 0;
  for (const auto& f : c->floating_ips) ++modes[f.mode];
  for (const auto& s : c->servers) spares += s.spare;
  std::printf("%s: ok: %zu servers (%d spare), %zu floating IPs (%d nat, %d stateless-nat, %d route), "
              "table %s\n",
              path.c_str(), c->servers.size(), spares, c->floating_ips.size(), modes[state::FipMode::nat],
              modes[state::FipMode::stateless_nat], modes[state::FipMode::route], c->engine.nft_table.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description opts("fipd: floating IP failover engine\n\nOptions");
  std::string config_path, state_path, socket_path, level_text;
  opts.add_options()("help,h", "show this help and exit")("version", "print the version and exit")(
      "config,c", po::value(&config_path)->default_value("/etc/fipd/fipd.toml"), "configuration file")(
      "state", po::value(&state_path), "state file (default: [engine] state_file)")(
      "socket", po::value(&socket_path), "control socket (default: [engine] control_socket)")(
      "log-level", po::value(&level_text)->default_value("info"), "error, warning, notice, info or debug")(
      "check-config", "check the configuration, print every error or a summary, exit 0 or 1");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "fipd: %s\nTry 'fipd --help'.\n", e.what());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\nSignals: SIGHUP reloads the configuration, SIGTERM stops (the kernel keeps the\n"
                         "floating IPs where they are).\n";
    return 0;
  }
  if (vm.count("version")) {
    std::printf("fipd %s\n", FIPD_VERSION);
    return 0;
  }
  if (vm.count("check-config")) return check_config(config_path);
  log::Level level;
  if (!log::parse_level(level_text, level)) {
    std::fprintf(stderr, "fipd: --log-level: '%s' is not one of error, warning, notice, info, debug\n",
                 level_text.c_str());
    return 2;
  }
  log::set_level(level);

  // The loop takes these signals through a signalfd; every thread, including
  // the state writer started below, must have them blocked.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto cfg = config::load_config(config_path);
  if (!cfg) {
    for (const auto& e : cfg.error()) log::error(e.str());
    log::error("fipd: the configuration has errors; not starting");
    return 1;
  }
  engine::EngineOptions eo{.config_path = config_path, .state_path = state_path, .socket_path = socket_path,
                           .make_prober = [](loop::Loop& l) -> std::unique_ptr<probe::Prober> {
                             return std::make_unique<probe::SocketProber>(l);
                           }};
  auto engine = engine::Engine::create(std::move(*cfg), std::move(eo));
  if (!engine) {
    log::error("fipd: " + engine.error().message());
    return 1;
  }
  // Up to the hard limit of descriptors: a thousand control clients and
  // thousands of probe sockets do not fit the customary soft 1024.
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  // The control socket and the health listener are bound before the engine
  // touches the kernel: a second fipd started by mistake stops here, with a
  // message naming the socket another fipd answers on, before it could
  // fight the first over the table.
  const auto& ec = (*engine)->config().engine;
  metrics::Metrics metrics(**engine, {.version = FIPD_VERSION});
  auto output_budget = std::make_shared<control::OutputBudget>();  // one for both listeners
  auto control = control::ControlServer::create(**engine, metrics,
                                                {.path = ec.control_socket, .group = ec.control_group,
                                                 .version = FIPD_VERSION, .output_budget = output_budget});
  if (!control) {
    log::error("fipd: " + control.error().message());
    return 1;
  }
  std::unique_ptr<http::HealthServer> health;
  if (!ec.health_listen.empty()) {
    auto h = http::HealthServer::create(**engine, metrics,
                                          {.listen = ec.health_listen, .output_budget = output_budget});
    if (!h) {
      log::error("fipd: " + h.error().message());
      return 1;
    }
    health = std::move(*h);
  }
  if (auto r = (*engine)->start(); !r) {
    log::error("fipd: cannot start: " + r.error().message());
    return 1;
  }
  if (auto r = (*engine)->run(); !r) {
    log::error("fipd: " + r.error().message());
    return 1;
  }
  return 0;
}
