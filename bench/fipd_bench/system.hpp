// SPDX-License-Identifier: GPL-2.0-or-later
// The systems the benchmark compares, behind one interface.
//
//   fipd-<mode>-fast|default  the real fipd binary on the router, in nat,
//                             stateless-nat or route mode, at its fastest
//                             settings or its defaults
//   shell-loop                the glue a user would write: bash on the
//                             router, probing with socat, swapping the map
//                             element with `nft -f`, then `conntrack -D`
//   keepalived-default|fast   Debian's keepalived on the two servers, VRRP
//                             on a shared segment, at the default advert
//                             interval (1 s) and at the smallest it accepts
//
// A system is set up once per scenario and brought back to its initial state
// (floating IPs served by server0, healthy, nothing remembered) before every
// trial; the harness restores the failed server first. Each system reports
// the parts of the timeline t1..t4 it records itself.
//
// Thread: the harness's main thread (processes are started from it, so they
// die with it). Errors: values; a system that cannot run says why.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bench/fipd_bench/faults.hpp"
#include "bench/fipd_bench/topology.hpp"
#include "base/ip_address.hpp"

namespace fipd::bench {

enum class SystemFamily : uint8_t { fipd, shell, keepalived };

struct SystemSpec {
  std::string id;     // "fipd-nat-fast"
  std::string label;  // for the report
  SystemFamily family = SystemFamily::fipd;
  std::string mode;   // fipd: "nat", "stateless-nat", "route"
  bool fast = false;
  Layout layout() const { return family == SystemFamily::keepalived ? Layout::shared_l2 : Layout::routed; }
};

// Every system the harness knows, in report order.
const std::vector<SystemSpec>& all_systems();
const SystemSpec* find_system(const std::string& id);

struct Scenario {
  FailureKind kind = FailureKind::refused;
  int fips = 1;  // floating IPs on the failing server
  std::string id() const;  // "refused", "host-down x100"
};

// Floating IP number i of a scenario: 203.0.113.(10+i) for the first 200,
// then 2001:db8:f::<i> (there are not 10,000 documentation IPv4 addresses).
// Traffic always goes to number 0.
IpAddress floating_ip(int i);

// t1..t4 as the system recorded them, CLOCK_MONOTONIC us; -1: not recorded.
struct SystemTimeline {
  int64_t detected_us = -1, decided_us = -1, committed_us = -1, flushed_us = -1;
  std::string source;  // "socket", "log", "script", "notify", or empty
};

struct SystemContext {
  BenchTopology* topology = nullptr;
  Scenario scenario;
  std::string fipd_binary;
  std::string fipd_probe;  // probe_settings() lines for every fipd system; empty: its own
  std::string workdir;  // a private folder for configuration and logs
  uint16_t port = 7000;
};

class SystemUnderTest {
 public:
  virtual ~SystemUnderTest() = default;
  // Once per scenario, in a fresh topology.
  virtual Status setup(const SystemContext& context) = 0;
  // Before each trial, with every server healthy: back to the initial state,
  // returning once the system is watching server0 again.
  virtual Status begin_trial(int trial) = 0;
  // After the trial: the system's own record of the failover after t0.
  virtual SystemTimeline timeline(int64_t t0_us) = 0;
  virtual void teardown() = 0;
};

std::unique_ptr<SystemUnderTest> make_system(const SystemSpec& spec);
// Why `spec` does not apply to `scenario`; empty when it does.
std::string not_applicable(const SystemSpec& spec, const Scenario& scenario);
// Why this machine cannot run `spec` (a missing program); empty when it can.
std::string unavailable(const SystemSpec& spec, const std::string& fipd_binary);

// Helpers shared by the systems.
// Waits (polling) until fn() holds; false on timeout or interruption.
bool wait_until(const std::function<bool()>& fn, std::chrono::milliseconds timeout);
// Set by the harness's SIGINT/SIGTERM handler; every wait gives up on it.
bool interrupted();
void set_interrupted();
// Starts argv in `ns` inside its own PID namespace whose init dies with the
// harness, so no grandchild (keepalived forks) can outlive it.
Result<testbed::Child> spawn_contained(const testbed::Netns& ns, const std::vector<std::string>& argv,
                                       const std::string& log_path);
// Every process below `pid` (its children, theirs, ...).
std::vector<pid_t> descendants(pid_t pid);
// Reads a whole file; empty when missing.
std::string read_file(const std::string& path);
bool write_file(const std::string& path, const std::string& text, int mode = 0644);
// Lines "<word> <EPOCHREALTIME>" of an events file, as monotonic us, for `word`.
std::vector<int64_t> event_times(const std::string& path, const std::string& word);

}  // namespace fipd::bench
