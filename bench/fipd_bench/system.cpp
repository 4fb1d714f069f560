// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/system.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/fipd_bench/clock.hpp"

namespace fipd::bench {

// Defined beside each system.
std::unique_ptr<SystemUnderTest> make_fipd_system(const SystemSpec& spec);
std::unique_ptr<SystemUnderTest> make_shell_system(const SystemSpec& spec);
std::unique_ptr<SystemUnderTest> make_keepalived_system(const SystemSpec& spec);

namespace {

std::atomic<bool> g_interrupted{false};

bool on_path(const std::string& program) {
  const char* path = getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  return false;
}

}  // namespace

const std::vector<SystemSpec>& all_systems() {
  static const std::vector<SystemSpec> systems = [] {
    std::vector<SystemSpec> v;
    for (bool fast : {true, false})
      for (const char* mode : {"nat", "stateless-nat", "route"})
        v.push_back({.id = std::string("fipd-") + mode + (fast ? "-fast" : "-default"),
                     .label = std::string("fipd ") + mode + (fast ? ", 1ms probes, 5ms deadline" : ", defaults 1s/500ms fall 3"),
                     .family = SystemFamily::fipd, .mode = mode, .fast = fast});
    v.push_back({.id = "shell-loop", .label = "bash + socat + nft -f + conntrack -D, 20ms fall 3",
                 .family = SystemFamily::shell, .mode = "nat", .fast = true});
    v.push_back({.id = "keepalived-default", .label = "keepalived VRRPv2, advert 1s, check script 1s",
                 .family = SystemFamily::keepalived, .fast = false});
    v.push_back({.id = "keepalived-fast", .label = "keepalived VRRPv3, advert 10ms, check script 1s",
                 .family = SystemFamily::keepalived, .fast = true});
    return v;
  }();
  return systems;
}

const SystemSpec* find_system(const std::string& id) {
  for (const auto& s : all_systems())
    if (s.id == id) return &s;
  return nullptr;
}

std::string Scenario::id() const {
  std::string s(failure_name(kind));
  if (kind == FailureKind::host_down) s += " x" + std::to_string(fips);
  return s;
}

IpAddress floating_ip(int i) {
  if (i < 200) return *IpAddress::parse("203.0.113." + std::to_string(10 + i));
  char buf[64];
  std::snprintf(buf, sizeof(buf), "2001:db8:f::%x:%x", i >> 16, i & 0xffff);
  return *IpAddress::parse(buf);
}

std::unique_ptr<SystemUnderTest> make_system(const SystemSpec& spec) {
  switch (spec.family) {
    case SystemFamily::fipd: return make_fipd_system(spec);
    case SystemFamily::shell: return make_shell_system(spec);
    case SystemFamily::keepalived: return make_keepalived_system(spec);
  }
  return nullptr;
}

std::string not_applicable(const SystemSpec& spec, const Scenario& scenario) {
  if (spec.family != SystemFamily::keepalived) return {};
  if (scenario.kind == FailureKind::blackhole)
    return "VRRP adverts leave the server and its check script asks the service locally: "
           "neither sees packets dropped on their way in";
  if (scenario.fips > 100)
    return "a VRRP instance of more than 100 virtual IPs would need addresses beyond the IPv4 "
           "documentation ranges this harness may use";
  return {};
}

std::string unavailable(const SystemSpec& spec, const std::string& fipd_binary) {
  std::vector<std::string> needed;
  switch (spec.family) {
    case SystemFamily::fipd:
      if (access(fipd_binary.c_str(), X_OK) != 0) return "no fipd binary at " + fipd_binary + " (use --fipd PATH)";
      needed = {"conntrack", "unshare"};
      break;
    case SystemFamily::shell: needed = {"bash", "socat", "nft", "conntrack", "unshare"}; break;
    case SystemFamily::keepalived: needed = {"keepalived", "bash", "socat", "unshare"}; break;
  }
  for (const auto& p : needed)
    if (!on_path(p))
      return p + " is not installed" + (p == "keepalived" ? " (Debian: apt-get install keepalived)" : "");
  return {};
}

bool interrupted() { return g_interrupted.load(); }
void set_interrupted() { g_interrupted.store(true); }

bool wait_until(const std::function<bool()>& fn, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (fn()) return true;
    if (interrupted() || std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Result<testbed::Child> spawn_contained(const testbed::Netns& ns, const std::vector<std::string>& argv,
                                       const std::string& log_path) {
  // unshare is started with PR_SET_PDEATHSIG by the testbed; --kill-child
  // passes the same to the program, PID 1 of a new PID namespace, and when
  // that dies the kernel kills everything else in the namespace.
  std::vector<std::string> full = {"unshare", "--pid", "--fork", "--kill-child", "--mount-proc"};
  full.insert(full.end(), argv.begin(), argv.end());
  return ns.spawn(full, log_path, log_path);
}

std::vector<pid_t> descendants(pid_t pid) {
  std::vector<pid_t> out;
  std::vector<pid_t> todo = {pid};
  while (!todo.empty()) {
    pid_t p = todo.back();
    todo.pop_back();
    std::string dir = "/proc/" + std::to_string(p) + "/task";
    DIR* d = opendir(dir.c_str());
    if (!d) continue;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream in(dir + "/" + e->d_name + "/children");
      pid_t c;
      while (in >> c) {
        out.push_back(c);
        todo.push_back(c);
      }
    }
    closedir(d);
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

bool write_file(const std::string& path, const std::string& text, int mode) {
  {
    std::ofstream out(path, std::ios::trunc);
    if (!(out << text)) return false;
  }
  return chmod(path.c_str(), static_cast<mode_t>(mode)) == 0;
}

std::vector<int64_t> event_times(const std::string& path, const std::string& word) {
  std::vector<int64_t> out;
  std::istringstream lines(read_file(path));
  std::string line;
  const int64_t offset = realtime_offset_us();
  while (std::getline(lines, line)) {
    std::istringstream w(line);
    std::string first, stamp;
    if (!(w >> first >> stamp) || first != word) continue;
    // $EPOCHREALTIME: seconds.microseconds (the decimal point may be a comma in some locales).
    size_t dot = stamp.find_first_of(".,");
    if (dot == std::string::npos) continue;
    std::string frac = (stamp.substr(dot + 1) + "000000").substr(0, 6);
    int64_t us = std::strtoll(stamp.c_str(), nullptr, 10) * 1000000 + std::strtoll(frac.c_str(), nullptr, 10);
    out.push_back(us - offset);
  }
  return out;
}

}  // namespace fipd::bench
