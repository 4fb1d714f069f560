// SPDX-License-Identifier: GPL-2.0-or-later
// keepalived as the system under test: both servers run Debian's keepalived
// and share the floating IPs as VRRP virtual addresses on one segment behind
// the router. As a careful user would, each also tracks its service with a
// check script (a UDP question through socat, every second: keepalived's
// script interval is whole seconds). server0 has the higher priority and
// takes the addresses back when it recovers (preemption, the default).
// Adverts are multicast on the servers' eth0 only, which reaches nothing
// but the router's bridge: VRRP never leaves the benchmark's namespaces.
//
// notify_master on server1 stamps the moment it took over: reported as t3.
#include <signal.h>

#include <sstream>

#include "bench/fipd_bench/system.hpp"

namespace fipd::bench {
namespace {

std::string keepalived_conf(int server, bool fast, int fips, const std::string& check, const std::string& notify) {
  std::ostringstream s;
  s << "global_defs {\n  router_id fipdb_server" << server << "\n  script_user root\n}\n"
    << "vrrp_script service {\n  script \"" << check << "\"\n  interval 1\n  timeout 1\n}\n"
    << "vrrp_instance fip {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n"
    << "  priority " << (server == 0 ? 150 : 100) << "\n";
  // VRRPv2 counts adverts in whole seconds; VRRPv3 in centiseconds, 10 ms the least.
  if (fast) {
    s << "  version 3\n  advert_int 0.01\n";
  } else {
    s << "  advert_int 1\n";
  }
  s << "  virtual_ipaddress {\n";
  for (int i = 0; i < fips; ++i) s << "    " << floating_ip(i).str() << "/32 dev eth0\n";
  s << "  }\n  track_script {\n    service\n  }\n  notify_master \"" << notify << " master\"\n}\n";
  return s.str();
}

class KeepalivedSystem : public SystemUnderTest {
 public:
  explicit KeepalivedSystem(SystemSpec spec) : spec_(std::move(spec)) {}
  ~KeepalivedSystem() override { teardown(); }

  Status setup(const SystemContext& c) override {
    ctx_ = c;
    auto& t = *c.topology;
    const std::string check = "#!/bin/bash\nreply=$(printf health | socat -T 0.5 -t 0.5 - UDP:127.0.0.1:" +
                              std::to_string(c.port) + " 2>/dev/null)\n[[ $reply == ok* ]]\n";
    if (!write_file(path("check.sh"), check, 0755)) return fail(EIO, "write " + path("check.sh"));
    for (int i = 0; i < 2; ++i) {
      std::string n = std::to_string(i);
      std::string notify = "#!/bin/bash\necho \"$1 $EPOCHREALTIME\" >> " + path("events" + n) + "\n";
      if (!write_file(path("notify" + n + ".sh"), notify, 0755) ||
          !write_file(path("keepalived" + n + ".conf"),
                      keepalived_conf(i, spec_.fast, c.scenario.fips, path("check.sh"), path("notify" + n + ".sh"))))
        return fail(EIO, "write keepalived's files in " + c.workdir);
      auto child = spawn_contained(t.servers[static_cast<size_t>(i)].ns,
                                   {"keepalived", "--dont-fork", "--log-console", "--vrrp", "--no-syslog", "-f",
                                    path("keepalived" + n + ".conf"), "-p", path("keepalived" + n + ".pid"), "-r",
                                    path("vrrp" + n + ".pid")},
                                   path("keepalived" + n + ".log"));
      if (!child) return std::unexpected(child.error());
      daemons_[i] = std::move(*child);
      pid_t wrapper = daemons_[i].pid();
      t.servers[static_cast<size_t>(i)].host_processes = [wrapper] { return descendants(wrapper); };
    }
    return {};
  }

  Status begin_trial(int) override {
    write_file(path("events1"), "");
    // server0 takes the addresses back by preemption once it is healthy.
    if (!wait_until([&] { return holds(0) && !holds(1); }, std::chrono::seconds(20)))
      return fail(ETIMEDOUT, "keepalived: server0 did not become master; see " + path("keepalived0.log"));
    return {};
  }

  SystemTimeline timeline(int64_t t0_us) override {
    SystemTimeline out{.source = "notify"};
    wait_until([&] { return !event_times(path("events1"), "master").empty(); }, std::chrono::milliseconds(1000));
    for (int64_t t : event_times(path("events1"), "master"))
      if (t >= t0_us) {
        out.committed_us = t;
        break;
      }
    return out;
  }

  void teardown() override {
    for (auto& d : daemons_)
      if (d.running()) {
        d.signal(SIGKILL);
        d.wait();
      }
  }

 private:
  std::string path(const std::string& name) const { return ctx_.workdir + "/" + name; }
  bool holds(int server) const {
    auto r = ctx_.topology->servers[static_cast<size_t>(server)].ns.exec({"ip", "-4", "-o", "addr", "show", "dev", "eth0"});
    return r.out.find(" " + floating_ip(0).str() + "/32") != std::string::npos;
  }

  SystemSpec spec_;
  SystemContext ctx_;
  testbed::Child daemons_[2];
};

}  // namespace

std::unique_ptr<SystemUnderTest> make_keepalived_system(const SystemSpec& spec) {
  return std::make_unique<KeepalivedSystem>(spec);
}

}  // namespace fipd::bench
