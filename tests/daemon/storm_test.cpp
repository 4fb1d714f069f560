// SPDX-License-Identifier: GPL-2.0-or-later
// A storm, on the real kernel: 200 servers behind one bridge lose their link
// at once (testbed/rack.hpp). 100 of them have a standby of their own;
// the other 100 have nowhere to go.
//
//   client ── router (fipd) ── rack ══ uplink ── br0 ── web-0 .. web-199   "R"
//                           │          └ the link that goes down
//                           └─ spr ─── spares: spare-0 .. spare-99          "S"  (spare-i stands by for web-i)
//
// What must hold (issue "Storms"):
// (a) the floating IPs of the servers with a standby all end on it, batched:
//     one kernel transaction and one durable write per group of detections
//     (a slice of the loop apart; committed_mono_us in the timeline, the
//     nftables generations of fipd's), and new flows reach the standby;
// (b) the others stay where they are (fail static), in the kernel too;
// (c) status answers while the storm is processed;
// (d) nobody is locked out: a storm is the network's fault more likely than
//     200 servers', so the storm guard suspends automatic maintenance (no
//     server in maintenance, no lockout element);
// (e) a restart right after changes nothing: the same table, routes and
//     assignments, and servers found down at start (never seen up) do not
//     enter maintenance either.
// The storm guard's defaults (storm_share 0.3, storm_min_failures 3,
// storm_window 60 s) trip on 200 of 300 servers: the file sets none of them,
// so it reads the same wherever those keys live.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <chrono>
#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "tests/control/control_support.hpp"
#include "testbed/daemon.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/rack.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr int kServers = 200;
constexpr int kWithStandby = 100;  // web-0 .. web-99; spare-i stands by for web-i
constexpr uint16_t kPort = 7000;

std::string web(int i) { return "web-" + std::to_string(i); }
std::string spare(int i) { return "spare-" + std::to_string(i); }
// Every 20th server also has a route-mode floating IP, so that routes are
// part of what a restart must leave alone.
bool has_route_fip(int i) { return i % 20 == 0; }
IpAddress route_fip(int i) { return *IpAddress::parse("2001:db8:e::" + std::to_string(10 + i)); }

// web-i's floating IPs: 203.0.113.(10+i) and 2001:db8:f::(10+i), nat, and a
// route-mode one for every 20th.
std::vector<IpAddress> fips_of(int i) {
  std::vector<IpAddress> v{Topology::floating_v4(i), Topology::floating_v6(i)};
  if (has_route_fip(i)) v.push_back(route_fip(i));
  return v;
}

std::string server_entry(const std::string& name, const RackHost& h, const std::string& extra = "") {
  return "\n[[server]]\nname = \"" + name + "\"\naddress = [\"" + h.v4.str() + "\", \"" + h.v6.str() + "\"]\n" +
         extra;
}

std::string fip_entry(const IpAddress& a, const std::string& server, const std::string& mode) {
  return "\n[[floating_ip]]\naddress = \"" + a.str() + "\"\nserver = \"" + server + "\"\nmode = \"" + mode +
         "\"\nlockout_ports = [22]\n";
}

// ICMP probes every 100 ms: the kernel answers for the addresses, so the
// servers run nothing. Standbys are not `spare = true`: a spare pool would
// take the floating IPs of the servers that are meant to have nowhere to go.
std::string storm_config(const Rack& r) {
  std::string c = R"([engine]
health_listen = ""
min_move_interval = "10ms"
timeline_history = 1000

[probe_defaults]
kind = "icmp"
interval = "100ms"
timeout = "100ms"
rise = 2
fall = 2
)";
  for (int i = 0; i < kServers; ++i)
    c += server_entry(web(i), r.servers[i], i < kWithStandby ? "standby = \"" + spare(i) + "\"\n" : "");
  for (int i = 0; i < kWithStandby; ++i) c += server_entry(spare(i), r.spares[i]);
  for (int i = 0; i < kServers; ++i) {
    c += fip_entry(Topology::floating_v4(i), web(i), "nat") + fip_entry(Topology::floating_v6(i), web(i), "nat");
    if (has_route_fip(i)) c += fip_entry(route_fip(i), web(i), "route");
  }
  return c;
}

std::string at(const std::map<std::string, std::string>& m, const IpAddress& key) {
  auto it = m.find(key.str());
  return it == m.end() ? "(none)" : it->second;
}

// Removes every "handle" (they number objects, not what they mean).
void strip_handles(json& j) {
  if (j.is_object()) {
    j.erase("handle");
    for (auto& [k, v] : j.items()) strip_handles(v);
  } else if (j.is_array()) {
    for (auto& v : j) strip_handles(v);
  }
}

class StormTest : public testing::Test {
 protected:
  void build() {
    auto r = Rack::create({.servers = kServers, .spares = kWithStandby});
    ASSERT_TRUE(r) << r.error().message();
    rack.emplace(std::move(*r));
    for (auto [ns, tag] : {std::pair{&rack->rack, "R"}, {&rack->spares_ns, "S"}}) {
      auto e = EchoServer::start(*ns, kPort, tag);
      ASSERT_TRUE(e) << e.error().message();
      echo.push_back(std::move(*e));
    }
    fipd.write_config(storm_config(*rack));
  }

  const Netns& router() const { return rack->base.router; }
  const Netns& client() const { return rack->base.client; }

  // `fipctl --json status`, or null when it did not answer (why: in `why`).
  json status(std::string* why = nullptr) {
    auto r = fipctl(fipd.socket_path(), {"--json", "--timeout", "10", "status"});
    json j = json::parse(r.out, nullptr, false);
    if (r.status == 0 && j.is_object() && j.value("ok", false)) return j["result"];
    if (why) *why = "exit " + std::to_string(r.status) + ": " + r.err + r.out.substr(0, 200);
    return nullptr;
  }

  // Asks status until `done` holds for an answer (which is returned), at
  // most for `timeout`; null when it never did.
  json status_until(const std::function<bool(const json&)>& done, std::chrono::milliseconds timeout) {
    json last;
    bool ok = eventually(
        [&] {
          last = status();
          if (!last.is_null() && done(last)) return true;
          std::this_thread::sleep_for(50ms);
          return false;
        },
        timeout);
    return ok ? last : json();
  }

  static std::map<std::string, std::string> health(const json& st) {
    std::map<std::string, std::string> m;
    for (const auto& s : st["servers"]) m[s["name"]] = s["health"];
    return m;
  }
  static std::map<std::string, std::string> assignments(const json& st) {
    std::map<std::string, std::string> m;
    for (const auto& f : st["floating_ips"]) m[f["address"]] = f["server"];
    return m;
  }
  static const json* fip(const json& st, const IpAddress& a) {
    for (const auto& f : st["floating_ips"])
      if (f["address"] == a.str()) return &f;
    return nullptr;
  }
  // Every server has been decided: the spares up, the rack as `rack_health`.
  static bool settled(const json& st, const std::string& rack_health) {
    auto h = health(st);
    for (int i = 0; i < kServers; ++i)
      if (h[web(i)] != rack_health) return false;
    for (int i = 0; i < kWithStandby; ++i)
      if (h[spare(i)] != "up") return false;
    return true;
  }
  // The rack servers are all down, the moves of their floating IPs all in
  // the timeline (where a failover enters once its state is durable), the
  // floating IPs of the servers without a standby failing static, and the
  // storm alarm raised: what fipd decides, not only what its probes saw (a
  // status asked between a server's confirmation and its decision shows it
  // down and not yet decided). The alarms count too: status is written in
  // slices, each part as it stands when written (src/control/status.hpp),
  // and its head, with the alarms, can predate the floating IPs that
  // follow it by the very decision pass that raised the no-target alarms.
  static bool storm_processed(const json& st) {
    if (!settled(st, "down") || storm_failovers(st).size() < static_cast<size_t>(kWithStandby) ||
        storm_alarm(st).empty() || !has_alarm(st, "no-target: 90 more like these"))
      return false;
    for (const auto& f : st["floating_ips"])
      if (const auto& on = f["server"].get<std::string>(); on.starts_with("web-") && f["failing_static"] != true)
        return false;
    return true;
  }
  static bool has_alarm(const json& st, const std::string& prefix) {
    for (const auto& a : st["engine"]["alarms"])
      if (a.get<std::string>().starts_with(prefix)) return true;
    return false;
  }
  // The storm guard's alarm, if raised: it names how many failed, of how
  // many, and within what window.
  static std::string storm_alarm(const json& st) {
    for (const auto& a : st["engine"]["alarms"])
      if (a.get<std::string>().starts_with("storm guard: ")) return a.get<std::string>();
    return "";
  }
  // The timeline's failovers away from the rack servers.
  static std::vector<json> storm_failovers(const json& st) {
    std::vector<json> v;
    for (const auto& f : st["failovers"])
      if (f["from"].get<std::string>().starts_with("web-")) v.push_back(f);
    return v;
  }

  // What the kernel holds, by its own tools: the table without its handles,
  // a map's elements, and the routes of the main table (route_table).
  json table() {
    auto out = router().run({"nft", "-j", "list", "table", "inet", "fipd"});
    if (!out) return nullptr;
    json j = json::parse(*out, nullptr, false);
    strip_handles(j);
    return j;
  }
  std::map<std::string, std::string> map_elements(const std::string& map) {
    std::map<std::string, std::string> m;
    auto out = router().run({"nft", "-j", "list", "map", "inet", "fipd", map});
    if (!out) return m;
    json j = json::parse(*out, nullptr, false);
    if (!j.is_object()) return m;
    for (const auto& o : j["nftables"])
      if (o.contains("map") && o["map"].contains("elem"))
        for (const auto& e : o["map"]["elem"]) m[e[0].get<std::string>()] = e[1].get<std::string>();
    return m;
  }
  size_t set_size(const std::string& set) {
    auto out = router().run({"nft", "-j", "list", "set", "inet", "fipd", set});
    if (!out) return SIZE_MAX;
    json j = json::parse(*out, nullptr, false);
    size_t n = 0;
    if (j.is_object())
      for (const auto& o : j["nftables"])
        if (o.contains("set") && o["set"].contains("elem")) n += o["set"]["elem"].size();
    return n;
  }
  std::string routes() {
    return router().exec({"ip", "-j", "-4", "route", "show", "table", "254"}).out +
           router().exec({"ip", "-j", "-6", "route", "show", "table", "254"}).out;
  }
  // The IPv6 host routes of the main table: destination -> gateway.
  std::map<std::string, std::string> gateways6() {
    std::map<std::string, std::string> m;
    json j = json::parse(router().exec({"ip", "-j", "-6", "route", "show", "table", "254"}).out, nullptr, false);
    if (j.is_array())
      for (const auto& r : j)
        if (r.contains("gateway")) m[r["dst"].get<std::string>()] = r["gateway"].get<std::string>();
    return m;
  }

  // The tag answering a new UDP flow to `a`, or why none did.
  std::string reached(const IpAddress& a) {
    auto c = UdpClient::open(client(), a, kPort);
    if (!c) return c.error().message();
    auto r = c->ask(300ms);
    return r ? *r : r.error().message();
  }

  // `nft monitor` in the router namespace, to count the transactions fipd
  // commits. Returns once the monitor demonstrably listens: it has printed
  // a marker table's creation (one made before it listened is not printed).
  void start_nft_monitor() {
    auto m = router().spawn({"nft", "monitor"}, monitor_path(), monitor_path() + ".err");
    ASSERT_TRUE(m) << m.error().message();
    nft_monitor = std::move(*m);
    ASSERT_TRUE(eventually(
        [&] {
          // Added and deleted in one transaction: each try is seen anew, and none is left behind.
          (void)router().exec({"nft", "add table inet stormtest_marker; delete table inet stormtest_marker"});
          return monitor_output().find("add table inet stormtest_marker") != std::string::npos;
        },
        5s))
        << monitor_output() << monitor_errors();
  }
  std::string monitor_path() const { return fipd.dir() + "/nft-monitor.txt"; }
  std::string monitor_output() const {
    std::ifstream in(monitor_path());
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  std::string monitor_errors() const {
    std::ifstream in(monitor_path() + ".err");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }
  // The nftables generations fipd's transactions made since the monitor
  // started, each as the monitor's line that closes it.
  std::vector<std::string> fipd_generations() const {
    std::istringstream in(monitor_output());
    std::vector<std::string> v;
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("# new generation") && line.ends_with("(fipd)")) v.push_back(line);
    return v;
  }

  // Asks status while the storm is processed, every 20 ms, until `done`
  // holds (at most 20 s); every question must be answered. The last answer.
  json status_through_storm(const std::function<bool(const json&)>& done) {
    int asked = 0, answered = 0;
    json last;
    for (auto deadline = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < deadline;) {
      ++asked;
      std::string why;
      json st = status(&why);
      if (st.is_null()) {
        ADD_FAILURE() << "status " << asked << " went unanswered: " << why;
        continue;
      }
      ++answered;
      last = std::move(st);
      if (done(last)) break;
      std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(answered, asked);
    RecordProperty("status_answers_during_storm", answered);
    return last;
  }

  // (a): every floating IP of web-i (i < 100) on spare-i, in status and in
  // the kernel, moved by one failover each, all in one transaction.
  void expect_moved(const json& st) {
    const auto dnat4 = map_elements("dnat4"), dnat6 = map_elements("dnat6"), routes6 = gateways6();
    const auto failovers = storm_failovers(st);
    std::vector<std::string> wrong;
    for (int i = 0; i < kWithStandby; ++i) {
      for (const auto& a : fips_of(i))
        if (const json* f = fip(st, a); !f || (*f)["server"] != spare(i))
          wrong.push_back(a.str() + ": " + (f ? f->dump() : "missing"));
      const RackHost& to = rack->spares[i];
      if (at(dnat4, Topology::floating_v4(i)) != to.v4.str() || at(dnat6, Topology::floating_v6(i)) != to.v6.str() ||
          (has_route_fip(i) && at(routes6, route_fip(i)) != to.v6.str()))
        wrong.push_back("the kernel does not send " + web(i) + "'s floating IPs to " + spare(i));
      int found = 0;
      for (const auto& f : failovers) {
        if (f["from"] != web(i)) continue;
        ++found;
        if (f["to"] != spare(i) || f["error"] != "" || f["manual"] != false || f["fips"].size() != fips_of(i).size())
          wrong.push_back("failover " + f.dump());
      }
      if (found != 1) wrong.push_back(web(i) + " failed over " + std::to_string(found) + " times");
    }
    expect_none(wrong, "floating IPs of servers with a standby");
    EXPECT_EQ(failovers.size(), static_cast<size_t>(kWithStandby));
    // Failovers detected together (one kernel signal: within a few ms) are
    // one policy pass, one nftables transaction and one durable write,
    // unless the pass outgrew its slice of the loop (kDecideSlice, looked at
    // every kSliceCheck = 64 servers: a sanitizer on a loaded runner needs
    // more than 25 ms for 128 servers), which adds at most one pass per 64
    // of the 200 servers decided. A server whose confirmation took a probe
    // interval longer (an attempt already in flight when the carrier went)
    // is a later arrival, and may be a pass of its own. How many groups the
    // detections fall into is the machine's doing; that they are batched is
    // fipd's.
    std::vector<int64_t> detected;
    for (const auto& f : failovers) detected.push_back(f["detected_mono_us"].get<int64_t>());
    std::sort(detected.begin(), detected.end());
    size_t groups = 0;
    for (size_t k = 0; k < detected.size(); ++k) groups += k == 0 || detected[k] - detected[k - 1] > 5000;
    const size_t passes = groups + kServers / 64;
    std::map<int64_t, size_t> per_commit;
    for (const auto& f : failovers) ++per_commit[f["committed_mono_us"].get<int64_t>()];
    size_t largest = 0;
    for (const auto& [at, n] : per_commit) largest = std::max(largest, n);
    RecordProperty("storm_detection_groups", static_cast<int>(groups));
    RecordProperty("storm_commits", static_cast<int>(per_commit.size()));
    RecordProperty("storm_largest_commit", static_cast<int>(largest));
    std::string shown;
    for (const auto& [at, n] : per_commit) shown += "\n  committed_mono_us " + std::to_string(at) + ": " +
                                                   std::to_string(n) + " failovers";
    EXPECT_LE(per_commit.size(), passes) << groups << " groups of detections" << shown;
    const auto generations = fipd_generations();
    RecordProperty("storm_nft_generations", static_cast<int>(generations.size()));
    if (generations.empty()) ADD_FAILURE() << "nft monitor saw no transaction of fipd's:\n" << monitor_output();
    EXPECT_LE(generations.size(), passes) << "one nftables transaction per pass; " << groups
                                          << " groups of detections\n" << monitor_output().substr(0, 2000);
  }

  // (a) with traffic: new flows to the moved nat floating IPs reach the
  // spares, and conntrack says which spare answered each.
  void expect_flows_reach_the_spares() {
    std::vector<std::string> wrong;
    for (int i = 0; i < kWithStandby; ++i)
      for (const auto& a : {Topology::floating_v4(i), Topology::floating_v6(i)}) {
        std::string last;
        if (!eventually([&] { return (last = reached(a)) == "S"; }, 3s)) wrong.push_back(a.str() + ": " + last);
      }
    expect_none(wrong, "new flows to moved floating IPs");
    for (bool v6 : {false, true}) {
      wrong.clear();
      std::string ct = router().exec({"conntrack", "-L", "-f", v6 ? "ipv6" : "ipv4", "-p", "udp"}).out;
      for (int i = 0; i < kWithStandby; ++i) {
        const auto a = v6 ? Topology::floating_v6(i) : Topology::floating_v4(i);
        const auto to = v6 ? rack->spares[i].v6 : rack->spares[i].v4;
        bool seen = false;
        std::istringstream in(ct);
        for (std::string line; std::getline(in, line);)
          seen |= line.find("dst=" + a.str() + " ") != std::string::npos &&
                  line.find("dport=" + std::to_string(kPort) + " src=" + to.str() + " ") != std::string::npos;
        if (!seen) wrong.push_back(a.str() + " not answered by " + to.str());
      }
      expect_none(wrong, std::string("conntrack entries (") + (v6 ? "ipv6" : "ipv4") + ")", ct);
    }
  }

  // (b): every floating IP of web-i (i >= 100) still on web-i, waiting
  // (failing static), in status and in the kernel.
  void expect_failing_static(const json& st) {
    const auto dnat4 = map_elements("dnat4"), dnat6 = map_elements("dnat6"), routes6 = gateways6();
    std::vector<std::string> wrong;
    for (int i = kWithStandby; i < kServers; ++i) {
      for (const auto& a : fips_of(i)) {
        const json* f = fip(st, a);
        if (!f || (*f)["server"] != web(i) || (*f)["failing_static"] != true)
          wrong.push_back(a.str() + ": " + (f ? f->dump() : "missing"));
      }
      const RackHost& was = rack->servers[i];
      if (at(dnat4, Topology::floating_v4(i)) != was.v4.str() || at(dnat6, Topology::floating_v6(i)) != was.v6.str() ||
          (has_route_fip(i) && at(routes6, route_fip(i)) != was.v6.str()))
        wrong.push_back("the kernel no longer sends " + web(i) + "'s floating IPs to it");
    }
    expect_none(wrong, "floating IPs of servers without a standby");
  }

  // (d): no server in maintenance, no lockout element in the kernel.
  void expect_nobody_locked_out(const json& st, const std::string& when) {
    std::vector<std::string> wrong;
    for (const auto& s : st["servers"])
      if (s["maintenance"] != "none") wrong.push_back(s["name"].get<std::string>() + " in maintenance " +
                                                      s["maintenance"].get<std::string>());
    expect_none(wrong, "servers in maintenance " + when);
    EXPECT_EQ(set_size("lockout4"), 0u) << "lockout4 elements " << when;
    EXPECT_EQ(set_size("lockout6"), 0u) << "lockout6 elements " << when;
  }

  // One failure for a list of findings: the count and the first few.
  static void expect_none(const std::vector<std::string>& found, const std::string& what,
                          const std::string& context = "") {
    std::string shown;
    for (size_t i = 0; i < found.size() && i < 10; ++i) shown += "\n  " + found[i];
    EXPECT_TRUE(found.empty()) << what << ": " << found.size() << " wrong" << shown
                               << (found.size() > 10 ? "\n  ..." : "") << (context.empty() ? "" : "\n" + context);
  }

  std::optional<Rack> rack;
  std::vector<std::unique_ptr<EchoServer>> echo;
  Daemon fipd{FIPD_BINARY};
  Child nft_monitor;
};

TEST_F(StormTest, TwoHundredServersLoseTheirLinkAtOnce) {
  FIPD_REQUIRE_NETNS();
  build();
  FIPD_ASSERT_OK(fipd.start(router()));
  ASSERT_FALSE(status_until([](const json& s) { return settled(s, "up"); }, 15s).is_null())
      << "not every server came up\n" << status().dump().substr(0, 4000) << fipd.log();
  for (int i : {0, kWithStandby - 1, kWithStandby, kServers - 1})
    for (const auto& a : {Topology::floating_v4(i), Topology::floating_v6(i)}) ASSERT_EQ(reached(a), "R") << a.str();
  ASSERT_EQ(map_elements("dnat4").size(), static_cast<size_t>(kServers));
  ASSERT_EQ(map_elements("dnat6").size(), static_cast<size_t>(kServers));
  start_nft_monitor();
  if (HasFatalFailure()) return;

  // The storm: one command, and the kernel tells the rest. (c) Status
  // answers all along, while fipd decides and commits.
  ASSERT_TRUE(rack->cut());
  json st = status_through_storm(storm_processed);
  ASSERT_FALSE(st.is_null());
  ASSERT_TRUE(storm_processed(st)) << "the storm was not processed within 20 s\n"
                                   << st.dump().substr(0, 4000) << "\n" << fipd.log();
  nft_monitor.signal(SIGTERM);
  (void)nft_monitor.wait_for(2000);  // else killed with the fixture

  expect_moved(st);
  expect_flows_reach_the_spares();
  expect_failing_static(st);
  expect_nobody_locked_out(st, "after the storm");
  // The alarm names the storm: how many failed, of how many, and within what window.
  EXPECT_NE(storm_alarm(st).find(" of 300 servers failed within "), std::string::npos)
      << st["engine"]["alarms"].dump();
  // The 100 servers without a standby: status lists ten and counts the
  // rest, and the log tells them in a line per pass, not one per server.
  size_t listed = 0, counted = 0;
  for (const auto& a : st["engine"]["alarms"]) {
    listed += a.get<std::string>().starts_with("no eligible target for the floating IPs of web-");
    counted += a.get<std::string>().starts_with("no-target: 90 more like these (web-");
  }
  EXPECT_EQ(listed, 10u) << st["engine"]["alarms"].dump();
  EXPECT_EQ(counted, 1u) << st["engine"]["alarms"].dump();
  const std::string log = fipd.log();
  size_t grouped = 0, single = 0;
  for (size_t at = 0; (at = log.find("ALARM no-target on ", at)) != std::string::npos; ++at) ++grouped;
  for (size_t at = 0; (at = log.find("ALARM no eligible target", at)) != std::string::npos; ++at) ++single;
  EXPECT_GE(grouped, 1u) << log;
  EXPECT_LE(grouped + single, 20u) << "a few lines for 100 servers, not one each\n" << log;

  // (e) A restart right after changes nothing. The rack servers are found
  // down at start, never seen up: that puts none of them in maintenance.
  const json table_before = table();
  const std::string routes_before = routes();
  ASSERT_FALSE(table_before.is_null());
  EXPECT_EQ(fipd.stop(), 0);
  FIPD_ASSERT_OK(fipd.start(router()));
  json again = status_until([](const json& s) { return settled(s, "down"); }, 15s);
  ASSERT_FALSE(again.is_null()) << "the servers were not all decided again after the restart\n" << fipd.log();
  EXPECT_NE(fipd.log().find("adopted the kernel table"), std::string::npos) << fipd.log();
  EXPECT_NE(fipd.log().find(" changes=0"), std::string::npos) << fipd.log();
  EXPECT_EQ(assignments(again), assignments(st));
  const json table_after = table();
  EXPECT_EQ(table_after, table_before) << "what the restart changed (JSON patch):\n"
                                       << json::diff(table_before, table_after).dump().substr(0, 4000);
  EXPECT_EQ(routes(), routes_before);
  expect_nobody_locked_out(again, "after the restart");
}

}  // namespace
}  // namespace fipd::testbed
