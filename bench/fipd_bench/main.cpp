// SPDX-License-Identifier: GPL-2.0-or-later
// fipd-bench: how long a failover really takes, from the customer's side,
// with fipd and with what operators would otherwise run, side by side.
//
// It builds its own network (client, edge router, two servers) in anonymous
// namespaces after moving itself out of the machine's namespace, runs each
// system under test on it, drives client traffic, kills servers in five
// ways, and reports the client-visible gap and fipd's own timeline. Nothing
// it creates survives it: the namespaces die with the process, every program
// it starts dies with it, and optional names (--netns-prefix) are removed on
// every exit path short of SIGKILL.
#include <signal.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "bench/fipd_bench/fipd_system.hpp"
#include "bench/fipd_bench/netns_names.hpp"
#include "bench/fipd_bench/plan.hpp"
#include "bench/fipd_bench/report.hpp"
#include "bench/fipd_bench/runner.hpp"
#include "bench/fipd_bench/svg.hpp"
#include "testbed/netns.hpp"

#ifndef FIPD_BENCH_FIPD
#define FIPD_BENCH_FIPD ""
#endif

namespace po = boost::program_options;
using namespace fipd::bench;

namespace {

// Exit codes: 0 all measured, 1 a scenario failed, 2 usage, 3 refused to run, 130 interrupted.
constexpr int kExitFailed = 1, kExitUsage = 2, kExitRefused = 3, kExitInterrupted = 130;

struct Args {
  PlanChoices plan;
  std::string json_path, svg_path, fipd, netns_prefix, fipd_probe;
  unsigned rate_hz = 1000;
  int deadline_ms = 100, slow_delay_ms = 1000;
  bool list = false, verbose = false, keep_workdir = false;
};

void on_signal(int) {
  if (interrupted()) {
    // A second signal: the user wants out now. Names are the only thing the
    // kernel would not clean up for us.
    remove_all_names_for_signal();
    _exit(kExitInterrupted);
  }
  set_interrupted();
  const char msg[] = "\nfipd-bench: interrupted; cleaning up (again to quit at once)\n";
  [[maybe_unused]] auto n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
}

void install_signals() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

std::string default_fipd() {
  if (access(FIPD_BENCH_FIPD, X_OK) == 0) return FIPD_BENCH_FIPD;
  for (const char* p : {"/usr/sbin/fipd", "/usr/local/sbin/fipd", "/usr/bin/fipd"})
    if (access(p, X_OK) == 0) return p;
  return "fipd";
}

// Parses the command line; exits on --help and on errors.
Args parse(int argc, char** argv) {
  Args a;
  std::string systems, failures, fips, probe;
  po::options_description o(
      "fipd-bench: failover latency from the client's side, fipd side by side with the alternatives.\n"
      "Needs root; builds everything in its own network namespaces.\n\nOptions");
  o.add_options()("help,h", "show this help")("quick", po::bool_switch(&a.plan.quick),
                                              "short plan, under a minute: fastest settings, refused and host-down x100")(
      "trials", po::value(&a.plan.trials), "trials per system and scenario (quick 3, full 10)")(
      "systems", po::value(&systems), "comma-separated system ids (see --list)")(
      "failures", po::value(&failures), "refused,link-down,blackhole,slow,host-down")(
      "fips", po::value(&fips), "floating IPs on the host that dies, e.g. 1,100,10000")(
      "json", po::value(&a.json_path), "write the results as JSON to PATH ('-': stdout)")(
      "svg", po::value(&a.svg_path), "write the gap picture to PATH")(
      "fipd", po::value(&a.fipd)->default_value(default_fipd()), "the fipd binary")(
      "fipd-probe", po::value(&probe),
      "fipd's probe settings for every fipd system, KEY=VALUE,... as in fipd.toml's [probe_defaults] "
      "(e.g. interval=1ms,detect_time=5ms; default: the -fast or -default system's)")(
      "rate", po::value(&a.rate_hz)->default_value(1000), "probes per second, per flow")(
      "deadline", po::value(&a.deadline_ms)->default_value(100), "ms: later answers count as lost")(
      "slow-delay", po::value(&a.slow_delay_ms)->default_value(1000), "ms: how late the slow server answers")(
      "netns-prefix", po::value(&a.netns_prefix), "name the namespaces PREFIXclient, ... (must start with fipdb-)")(
      "keep-workdir", po::bool_switch(&a.keep_workdir), "keep configurations and logs")(
      "list", po::bool_switch(&a.list), "print the plan and exit")("verbose,v", po::bool_switch(&a.verbose),
                                                                   "print each step");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, o), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "fipd-bench: %s\nTry 'fipd-bench --help'.\n", e.what());
    std::exit(kExitUsage);
  }
  if (vm.count("help")) {
    std::cout << o;
    std::exit(0);
  }
  if (!probe.empty()) {
    auto lines = probe_settings(probe);
    if (!lines) {
      std::fprintf(stderr, "fipd-bench: %s\n", lines.error().message().c_str());
      std::exit(kExitUsage);
    }
    a.fipd_probe = *lines;
  }
  a.plan.systems = split_list(systems);
  a.plan.failures = split_list(failures);
  for (const auto& n : split_list(fips)) a.plan.fips.push_back(std::atoi(n.c_str()));
  if (a.rate_hz < 1 || a.rate_hz > 10000 || a.deadline_ms < 1 || a.slow_delay_ms < 1) {
    std::fprintf(stderr, "fipd-bench: --rate from 1 to 10000, --deadline and --slow-delay at least 1\n");
    std::exit(kExitUsage);
  }
  return a;
}

void print_plan(const Plan& p, const std::string& fipd) {
  std::printf("%s plan, %d trials each:\n", p.mode.c_str(), p.trials);
  for (const auto& sc : p.scenarios)
    for (const SystemSpec* s : p.systems) {
      std::string why = not_applicable(*s, sc);
      if (why.empty()) why = unavailable(*s, fipd);
      std::printf("  %-16s %-24s %s\n", sc.id().c_str(), s->id.c_str(), why.empty() ? "runs" : ("skipped: " + why).c_str());
    }
}

// Every check that can refuse, before anything is created.
bool may_run(const Args& a) {
  if (geteuid() != 0) {
    std::fprintf(stderr,
                 "fipd-bench: needs root: it builds its own network namespaces, veth links and nft tables "
                 "(never in the machine's own namespace). Run it as root, e.g. sudo fipd-bench\n");
    return false;
  }
  if (!a.netns_prefix.empty()) {
    auto s = check_prefix(a.netns_prefix);
    if (s) s = check_names_free(a.netns_prefix, BenchTopology::roles());
    if (!s) {
      std::fprintf(stderr, "fipd-bench: %s\n", s.error().message().c_str());
      return false;
    }
  }
  // From here on nothing this process does can reach the machine's network.
  if (!fipd::testbed::isolate_process()) {
    std::fprintf(stderr, "fipd-bench: cannot create a network namespace (%s): refusing to run\n", std::strerror(errno));
    return false;
  }
  return true;
}

std::string utc_now() {
  char buf[32];
  time_t t = time(nullptr);
  tm u{};
  gmtime_r(&t, &u);
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &u);
  return buf;
}

auto progress_printer(bool tty) {
  return [tty](const std::string& line) {
    if (tty) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
    std::fflush(stderr);
  };
}

bool write_out(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return true;
  }
  std::ofstream out(path, std::ios::trunc);
  return static_cast<bool>(out << text);
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parse(argc, argv);
  auto plan = make_plan(a.plan);
  if (!plan) {
    std::fprintf(stderr, "fipd-bench: %s\n", plan.error().context.c_str());
    return kExitUsage;
  }
  if (a.list) {
    print_plan(*plan, a.fipd);
    return 0;
  }
  if (!may_run(a)) return kExitRefused;
  install_signals();

  char tmpl[] = "/tmp/fipd-bench-XXXXXX";
  if (!mkdtemp(tmpl)) {
    std::perror("fipd-bench: mkdtemp");
    return kExitFailed;
  }
  const bool tty = isatty(STDERR_FILENO);
  RunReport report{.machine = describe_machine(a.fipd), .mode = plan->mode, .trials = plan->trials,
                   .rate_hz = a.rate_hz, .answer_deadline_us = a.deadline_ms * 1000LL, .started_utc = utc_now()};
  std::fprintf(stderr, "fipd-bench: %s run on %s\n", plan->mode.c_str(), report.machine.str().c_str());
  auto started = std::chrono::steady_clock::now();
  report.cells = run_benchmark({.systems = plan->systems, .scenarios = plan->scenarios, .trials = plan->trials,
                                .rate_hz = a.rate_hz, .answer_deadline_us = a.deadline_ms * 1000LL,
                                .faults = {.slow_delay = std::chrono::milliseconds(a.slow_delay_ms)},
                                .fipd_binary = a.fipd, .fipd_probe = a.fipd_probe, .netns_prefix = a.netns_prefix, .workdir = tmpl,
                                .verbose = a.verbose, .progress = progress_printer(tty && !a.verbose)});
  report.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report.interrupted = interrupted();
  if (tty) std::fprintf(stderr, "\r\033[K");

  std::string table = render_table(report);
  std::fwrite(table.data(), 1, table.size(), a.json_path == "-" ? stderr : stdout);
  bool ok = true;
  if (!a.json_path.empty()) ok &= write_out(a.json_path, to_json(report).dump(1) + "\n");
  if (!a.svg_path.empty()) ok &= write_out(a.svg_path, render_svg(report));
  if (!ok) std::fprintf(stderr, "fipd-bench: could not write %s\n", (a.json_path + " " + a.svg_path).c_str());
  if (a.keep_workdir) {
    std::fprintf(stderr, "fipd-bench: configurations and logs kept in %s\n", tmpl);
  } else {
    std::error_code ec;
    std::filesystem::remove_all(tmpl, ec);
  }
  if (report.interrupted) return kExitInterrupted;
  for (const auto& c : report.cells)
    if (c.status == CellStatus::failed) return kExitFailed;
  return ok ? 0 : kExitFailed;
}
