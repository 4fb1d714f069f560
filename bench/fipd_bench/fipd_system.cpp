// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/fipd_system.hpp"

#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <sstream>

#include "bench/fipd_bench/clock.hpp"
#include "bench/fipd_bench/control_client.hpp"
#include "bench/fipd_bench/plan.hpp"

namespace fipd::bench {

std::string fipd_config(const FipdConfigOptions& o) {
  std::ostringstream s;
  s << "# fipd-bench: " << o.fips << " floating IP(s), mode " << o.mode << (o.fast ? ", fastest" : ", defaults")
    << "\n[engine]\nhealth_listen = \"\"\n"
    // Trials follow each other within seconds: no damping between them.
    << "min_move_interval = \"1ms\"\nmax_moves = 1000\nflap_window = \"1ms\"\n"
    << "\n[probe_defaults]\nkind = \"udp\"\nport = " << o.port << "\nsend = \"health\"\nexpect_prefix = \"ok\"\n";
  if (!o.probe.empty()) s << o.probe;
  else if (o.fast) s << kFastProbe;
  auto address = [](const std::string& v4, const std::string& v6) {
    return v6.empty() ? "\"" + v4 + "\"" : "[\"" + v4 + "\", \"" + v6 + "\"]";
  };
  s << "\n[[server]]\nname = \"web-1\"\naddress = " << address(o.server_address, o.server_address6) << "\n"
    << "\n[[server]]\nname = \"spare-1\"\naddress = " << address(o.spare_address, o.spare_address6)
    << "\nspare = true\n";
  // A stateless floating IP's replies take their source from the one snat
  // entry of its server, so a server can carry only one non-route floating IP
  // per family beside it (fipd refuses more). In stateless-nat mode the
  // measured floating IP is stateless and the others of a many-IP host are
  // route mode: the host still takes every one of them with it when it dies.
  for (int i = 0; i < o.fips; ++i)
    s << "\n[[floating_ip]]\naddress = \"" << floating_ip(i).str() << "\"\nserver = \"web-1\"\nmode = \""
      << (i > 0 && o.mode == "stateless-nat" ? "route" : o.mode) << "\"\n";
  return s.str();
}

Result<std::string> probe_settings(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return fail(EINVAL, "--fipd-probe '" + std::string(text) + "': " + why);
  };
  std::string out;
  int pairs = 0;
  for (const auto& item : split_list(std::string(text))) {
    if (++pairs > 32) return bad("more than 32 settings");
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == item.size()) return bad("'" + item + "' is not KEY=VALUE");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    for (char ch : key)
      if (!((ch >= 'a' && ch <= 'z') || ch == '_')) return bad("key '" + key + "': lower-case letters and '_' only");
    bool digits = true;
    for (unsigned char ch : value) {
      if (ch < 0x20 || ch == 0x7f || ch == '"' || ch == '\\') return bad("value of " + key + ": no quotes, backslashes or control characters");
      digits = digits && ch >= '0' && ch <= '9';
    }
    out += key + " = " + (digits ? value : "\"" + value + "\"") + "\n";
  }
  if (out.empty()) return bad("expected KEY=VALUE[,KEY=VALUE...]");
  return out;
}

namespace {

// UTC midnight of today, on CLOCK_REALTIME, in us: fipd's log stamps count from it.
int64_t utc_day_start_us() {
  time_t now = time(nullptr);
  return static_cast<int64_t>(now - now % 86400) * 1000000;
}

class FipdSystem : public SystemUnderTest {
 public:
  explicit FipdSystem(SystemSpec spec) : spec_(std::move(spec)) {}
  ~FipdSystem() override { teardown(); }

  Status setup(const SystemContext& c) override {
    ctx_ = c;
    auto& t = *c.topology;
    if (!write_file(config_path(), fipd_config({.mode = spec_.mode, .fast = spec_.fast, .fips = c.scenario.fips,
                                                 .server_address = t.servers[0].v4.str(),
                                                 .spare_address = t.servers[1].v4.str(),
                                                 .server_address6 = t.servers[0].v6,
                                                 .spare_address6 = t.servers[1].v6, .port = c.port,
                                                 .probe = c.fipd_probe})))
      return fail(EIO, "write " + config_path());
    // Route mode: the servers hold the floating IP that carries traffic.
    if (spec_.mode == "route")
      for (auto& s : t.servers)
        if (auto r = s.ns.run({"ip", "addr", "add", floating_ip(0).str() + "/32", "dev", "lo"}); !r)
          return std::unexpected(r.error());
    return {};
  }

  Status begin_trial(int trial) override {
    stop();
    trial_ = trial;
    unlink(state_path().c_str());
    unlink(socket_path().c_str());
    // A fresh start: nothing pinned by conntrack from the previous trial.
    ctx_.topology->router->exec({"conntrack", "-F"});
    control_.reset();
    auto c = ctx_.topology->router->spawn({ctx_.fipd_binary, "--config", config_path(), "--state", state_path(),
                                           "--socket", socket_path(), "--log-level", "info"},
                                          "/dev/null", log_path());
    if (!c) return std::unexpected(c.error());
    child_ = std::move(*c);
    return wait_ready();
  }

  SystemTimeline timeline(int64_t t0_us) override {
    SystemTimeline out;
    // fipd records the failover once its state write is durable, a moment
    // after the traffic moved; on a busy machine (a sanitizer build beside
    // other tests) that fsync, or the status answer, can take seconds. The
    // wait ends as soon as the timeline is there, so the bound costs nothing
    // when it is.
    wait_until([&] { return fill_from_socket(t0_us, out) || fill_from_log(t0_us, out); },
               std::chrono::seconds(10));
    return out;
  }

  void teardown() override { stop(); }

 private:
  std::string config_path() const { return ctx_.workdir + "/fipd.toml"; }
  std::string state_path() const { return ctx_.workdir + "/state.json"; }
  std::string socket_path() const { return ctx_.workdir + "/fipd.sock"; }
  // One log per trial, kept for --keep-workdir.
  std::string log_path() const { return ctx_.workdir + "/fipd-" + std::to_string(trial_) + ".log"; }

  void stop() {
    if (!child_.running()) return;
    child_.signal(SIGTERM);
    if (child_.wait_for(5000) == -1) {
      child_.signal(SIGKILL);
      child_.wait();
    }
  }

  Status wait_ready() {
    std::string why = "fipd did not report both servers up";
    bool ok = wait_until(
        [&] {
          if (child_.wait_for(0) != -1) {
            why = "fipd exited";
            return true;
          }
          return socket_ready(why) || log_ready();
        },
        std::chrono::seconds(30));
    if (!child_.running() || !ok) return fail(ETIMEDOUT, why + ": " + last_log_line() + " (log: " + log_path() + ")");
    return {};
  }

  std::string last_log_line() const {
    std::string log = read_file(log_path());
    while (!log.empty() && log.back() == '\n') log.pop_back();
    size_t at = log.rfind('\n');
    return at == std::string::npos ? log : log.substr(at + 1);
  }

  bool socket_ready(std::string& why) {
    if (!control_) {
      auto c = ControlClient::connect(socket_path(), std::chrono::milliseconds(200));
      if (!c) return false;
      control_ = std::make_unique<ControlClient>(std::move(*c));
    }
    auto st = control_->request({{"cmd", "status"}}, std::chrono::milliseconds(1000));
    if (!st) {
      why = st.error().message();
      control_.reset();
      return false;
    }
    int up = 0;
    for (const auto& s : st->value("servers", nlohmann::json::array()))
      if (s.value("health", std::string()) == "up") ++up;
    bool placed = false;
    for (const auto& f : st->value("floating_ips", nlohmann::json::array()))
      if (f.value("address", std::string()) == floating_ip(0).str()) placed = f.value("server", std::string()) == "web-1";
    bool in_sync = st->value("engine", nlohmann::json::object()).value("kernel_in_sync", false);
    why = "fipd status: " + std::to_string(up) + " of 2 servers up" + (placed ? "" : ", floating IP not on web-1") +
          (in_sync ? "" : ", kernel not in sync");
    return up == 2 && placed && in_sync;
  }

  // Without a control socket: fipd logs each server's first transition.
  bool log_ready() {
    if (access(socket_path().c_str(), F_OK) == 0) return false;
    std::string log = read_file(log_path());
    return log.find("server web-1 unknown -> up") != std::string::npos &&
           log.find("server spare-1 unknown -> up") != std::string::npos;
  }

  static bool take(const FipdFailover& f, int64_t t0_us, SystemTimeline& out, const char* source) {
    if (f.detected_us < t0_us - 1000 || f.from != "web-1") return false;
    out = {.detected_us = f.detected_us, .decided_us = f.decided_us, .committed_us = f.committed_us,
           .flushed_us = f.flushed_us, .source = source};
    return true;
  }

  bool fill_from_socket(int64_t t0_us, SystemTimeline& out) {
    if (!control_) {
      auto c = ControlClient::connect(socket_path(), std::chrono::milliseconds(200));
      if (!c) return false;
      control_ = std::make_unique<ControlClient>(std::move(*c));
    }
    auto st = control_->request({{"cmd", "status"}}, std::chrono::milliseconds(1000));
    if (!st) {
      control_.reset();
      return false;
    }
    for (const auto& f : parse_failovers(*st))
      if (take(f, t0_us, out, "socket")) return true;
    return false;
  }

  bool fill_from_log(int64_t t0_us, SystemTimeline& out) {
    if (access(socket_path().c_str(), F_OK) == 0) return false;
    std::istringstream lines(read_file(log_path()));
    std::string line;
    const int64_t offset = realtime_offset_us(), day = utc_day_start_us();
    while (std::getline(lines, line))
      if (auto f = parse_failover_log_line(line, offset, day); f && take(*f, t0_us - 2000, out, "log")) return true;
    return false;
  }

  SystemSpec spec_;
  SystemContext ctx_;
  testbed::Child child_;
  std::unique_ptr<ControlClient> control_;
  int trial_ = 0;
};

}  // namespace

std::unique_ptr<SystemUnderTest> make_fipd_system(const SystemSpec& spec) {
  return std::make_unique<FipdSystem>(spec);
}

}  // namespace fipd::bench
