// SPDX-License-Identifier: GPL-2.0-or-later
// The rebuild module with real hook processes and a real HTTP server on
// loopback (inside the test's own namespace); the engine's side is a fake
// host that records what it is asked to do.
#include "src/rebuild/rebuild.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "src/probe/spec_io.hpp"
#include "testbed/netns.hpp"
#include "testbed/temp_dir.hpp"

namespace fipd::rebuild {
namespace {

using namespace std::chrono_literals;

class FakeHost : public RebuildHost {
 public:
  explicit FakeHost(loop::Loop& l) : loop_(l) {
    inv.add_server({.name = "web-1", .address = *IpAddress::parse("10.0.0.11")});
    inv.add_server({.name = "web-2", .address = *IpAddress::parse("10.0.0.12")});
    inv.add_fip({.address = *IpAddress::parse("203.0.113.10"), .server = "web-1"});
    for (auto& [n, s] : inv.servers()) s.health = state::Health::up;
  }
  loop::Loop& rebuild_loop() override { return loop_; }
  const state::Inventory& rebuild_inventory() const override { return inv; }
  void hold_for_rebuild(const std::string& s) override { held.push_back(s); }
  Status register_replacement(const std::string& failed, const Replacement& r) override {
    registered.push_back(failed + "->" + r.name + "@" + r.address.str());
    inv.add_server({.name = r.name, .address = r.address});
    (void)manager->on_registered(failed, r.name);
    return {};
  }
  void drop_replacement(const std::string& name) override { dropped.push_back(name); inv.remove_server(name); }
  void hand_over(const std::string& failed, const std::vector<IpAddress>& fips,
                 const std::string& replacement) override {
    handed_over.push_back(failed + "->" + replacement);
    for (const auto& a : fips) {
      const state::FloatingIp* f = inv.fip(a);
      if (!f || f->server == replacement) continue;
      if (f->server != failed && !inv.server(f->server)->spare) continue;
      const std::string from = f->server;
      inv.set_target(a, replacement);
      manager->on_moved(from, replacement);
    }
  }
  std::vector<IpAddress> fips_displaced_from(const std::string& server) const override {
    auto it = displaced.find(server);
    return it == displaced.end() ? std::vector<IpAddress>{} : it->second;
  }
  void retire(const std::string& failed) override { retired.push_back(failed); }
  void give_up(const std::string& failed) override { gave_up.push_back(failed); }
  void rebuild_event(const std::string& text, std::vector<std::pair<std::string, std::string>>, bool) override {
    events.push_back(text);
  }
  void rebuild_alarm(const std::string& key, const std::string& text, bool raised) override {
    if (raised) alarms[key] = text;
    else alarms.erase(key);
  }
  void rebuild_changed() override { ++changes; }
  void rebuild_durable(std::function<void()> then) override {
    ++durable;
    then();
  }
  std::string control_socket() const override { return "/run/fipd/fipd.sock"; }
  bool rebuild_storm_possible() const override { return storm_possible; }
  const probe::ProbeSpec& rebuild_probe_defaults() const override { return probe_defaults; }
  probe::ProbeSpec probe_defaults = probe::written_defaults();

  bool saw(const std::string& text) const {
    for (const auto& e : events)
      if (e.find(text) != std::string::npos) return true;
    return false;
  }

  loop::Loop& loop_;
  state::Inventory inv;
  RebuildManager* manager = nullptr;
  std::vector<std::string> held, registered, dropped, handed_over, retired, gave_up, events;
  std::map<std::string, std::string> alarms;
  std::map<std::string, std::vector<IpAddress>> displaced;  // what fips_displaced_from() says
  int changes = 0, durable = 0;
  bool storm_possible = true;
};

class RebuildTest : public testing::Test {
 protected:
  void SetUp() override {
    loop = std::move(*loop::Loop::create());
    host = std::make_unique<FakeHost>(*loop);
  }
  void TearDown() override { manager.reset(); }
  std::string hook(const std::string& body) {
    std::string path = dir + "/hook" + std::to_string(++hooks);
    std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
    chmod(path.c_str(), 0755);
    return path;
  }
  void make(config::RebuildConfig cfg) {
    cfg.backoff = cfg.backoff == std::chrono::seconds(30) ? 20ms : cfg.backoff;
    cfg.settle = cfg.settle == std::chrono::seconds(5) ? 0s : cfg.settle;  // at once, unless a test asks
    manager = std::move(*RebuildManager::create(*host, cfg));
    host->manager = manager.get();
  }
  // Runs the loop until pred() or the time is up.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      (void)loop->run_once(10ms);
    }
    return true;
  }
  testbed::TempDir tmp_{"rebuild"};
  const std::string dir = tmp_.path();
  int hooks = 0;
  std::unique_ptr<loop::Loop> loop;
  std::unique_ptr<FakeHost> host;
  std::unique_ptr<RebuildManager> manager;
};

TEST_F(RebuildTest, HookBuildsAReplacementThatTakesOverWhenHealthy) {
  make({.hook = hook("read doc; echo \"$doc\" > " + dir + "/doc; echo copying data; echo building web-1b >&2\n"
                     "echo '{\"replacement\":{\"name\":\"web-1b\",\"address\":\"10.0.0.21\"}}'")});
  manager->on_server_failed("web-1", "refused", {});
  EXPECT_EQ(host->held, std::vector<std::string>{"web-1"});
  ASSERT_TRUE(run_until([&] { return !host->registered.empty(); })) << testing::PrintToString(host->events);
  EXPECT_EQ(host->registered[0], "web-1->web-1b@10.0.0.21");
  EXPECT_TRUE(host->saw("copying data"));
  std::ifstream in(dir + "/doc");
  std::string doc((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(doc.find("\"rebuild_id\":\"web-1-"), std::string::npos) << doc;
  EXPECT_NE(doc.find("\"floating_ips\":[\"203.0.113.10\"]"), std::string::npos) << doc;
  EXPECT_EQ(manager->records().at("web-1").stage, Stage::registered);

  // The replacement passes its probes: the floating IP is handed over.
  host->inv.server("web-1b")->health = state::Health::up;
  manager->on_health("web-1b", state::Health::up);
  EXPECT_EQ(host->handed_over, std::vector<std::string>{"web-1->web-1b"});
  EXPECT_EQ(host->inv.fip(*IpAddress::parse("203.0.113.10"))->server, "web-1b");
  EXPECT_TRUE(manager->records().empty());
  ASSERT_EQ(manager->finished().size(), 1u);
  EXPECT_EQ(manager->finished()[0].stage, Stage::done);
  EXPECT_EQ(host->retired, std::vector<std::string>{"web-1"});
  EXPECT_TRUE(host->saw("repointed (203.0.113.10 now on web-1b; lockout released)"));
}

// A spare stood in for the failed server: the rebuild still knows the
// customer's floating IPs, and the replacement takes them from the spare,
// which returns to the pool.
TEST_F(RebuildTest, TheReplacementTakesTheFloatingIpsBackFromTheSpareThatStoodIn) {
  const auto fip = *IpAddress::parse("203.0.113.10");
  host->inv.add_server({.name = "spare-1", .address = *IpAddress::parse("10.0.0.13"), .spare = true});
  host->inv.server("spare-1")->health = state::Health::up;
  host->inv.set_target(fip, "spare-1");  // the failover happened first
  make({.hook = hook("read doc; echo \"$doc\" > " + dir + "/doc\n"
                     "echo '{\"replacement\":{\"name\":\"web-1b\",\"address\":\"10.0.0.21\"}}'")});
  manager->on_server_failed("web-1", "refused", {fip});
  EXPECT_EQ(manager->records().at("web-1").fips, std::vector<IpAddress>{fip});
  ASSERT_TRUE(run_until([&] { return !host->registered.empty(); })) << testing::PrintToString(host->events);
  std::ifstream in(dir + "/doc");
  std::string doc((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(doc.find("\"floating_ips\":[\"203.0.113.10\"]"), std::string::npos) << doc;

  host->inv.server("web-1b")->health = state::Health::up;
  manager->on_health("web-1b", state::Health::up);
  EXPECT_EQ(host->inv.fip(fip)->server, "web-1b");
  ASSERT_EQ(manager->finished().size(), 1u);
  EXPECT_EQ(manager->finished()[0].stage, Stage::done);
  EXPECT_TRUE(host->saw("repointed (203.0.113.10 now on web-1b; lockout released)"));
}

// The storm guard held the automatic rebuild back; an operator starts it
// later, when the spare holds the customer's floating IP: the replacement
// still takes it back.
TEST_F(RebuildTest, AManualRebuildAlsoHandsBackWhatTheSpareHolds) {
  const auto fip = *IpAddress::parse("203.0.113.10");
  host->inv.add_server({.name = "spare-1", .address = *IpAddress::parse("10.0.0.13"), .spare = true});
  host->inv.server("spare-1")->health = state::Health::up;
  host->inv.set_target(fip, "spare-1");
  host->displaced["web-1"] = {fip};
  make({.hook = hook("cat > /dev/null; echo '{\"replacement\":{\"name\":\"web-1b\",\"address\":\"10.0.0.21\"}}'")});
  ASSERT_TRUE(manager->start_manual("web-1").has_value());
  EXPECT_EQ(manager->records().at("web-1").fips, std::vector<IpAddress>{fip});
  ASSERT_TRUE(run_until([&] { return !host->registered.empty(); })) << testing::PrintToString(host->events);
  host->inv.server("web-1b")->health = state::Health::up;
  manager->on_health("web-1b", state::Health::up);
  EXPECT_EQ(host->inv.fip(fip)->server, "web-1b");
  ASSERT_EQ(manager->finished().size(), 1u);
  EXPECT_EQ(manager->finished()[0].stage, Stage::done);
}

TEST_F(RebuildTest, FailingHookIsRetriedWithBackoffThenGivenUp) {
  make({.hook = hook("echo broken; exit 3"), .retries = 2});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] { return !host->gave_up.empty(); }));
  EXPECT_EQ(manager->finished().back().stage, Stage::failed);
  EXPECT_EQ(manager->finished().back().attempt, 3u);
  EXPECT_EQ(manager->finished().back().error, "hook exited 3");
  EXPECT_TRUE(host->alarms.contains("rebuild:web-1"));
  EXPECT_TRUE(host->saw("retry 1 of 2"));
}

TEST_F(RebuildTest, HangingHookIsKilledWithItsChildrenAtTheTimeout) {
  std::string pidfile = dir + "/child.pid";
  make({.hook = hook("sleep 300 & echo $! > " + pidfile + "; sleep 300"), .timeout = 300ms, .retries = 0});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] { return !host->gave_up.empty(); }));
  EXPECT_EQ(manager->finished().back().error, "hook timed out (process group killed)");
  std::ifstream in(pidfile);
  pid_t child = 0;
  in >> child;
  ASSERT_GT(child, 0);
  // The background child was in the hook's process group: gone too (reaped by init or a zombie at worst).
  bool gone = run_until([&] {
    std::ifstream st("/proc/" + std::to_string(child) + "/stat");
    std::string s((std::istreambuf_iterator<char>(st)), {});
    return s.empty() || s.find(") Z") != std::string::npos;
  }, 3s);
  EXPECT_TRUE(gone);
}

TEST_F(RebuildTest, CrashingHookAndGarbageAreFailuresWithTheirReason) {
  make({.hook = hook("kill -SEGV $$"), .retries = 0});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] { return !host->gave_up.empty(); }));
  EXPECT_NE(manager->finished().back().error.find("killed by signal 11"), std::string::npos);

  make({.hook = hook("echo 'not json at all'; echo '{\"replacement\": {\"name\": \"x\", \"address\": \"nope\"}}'"),
        .retries = 0});
  manager->on_server_failed("web-2", "refused", {});
  ASSERT_TRUE(run_until([&] { return host->gave_up.size() == 2; }));
  EXPECT_NE(manager->finished().back().error.find("the hook's replacement: address: 'nope'"), std::string::npos)
      << manager->finished().back().error;
  EXPECT_TRUE(host->saw("not json at all")) << "garbage lines are progress, not a crash";
}

// Issue 13, item 1: a hook printing invalid UTF-8 made to_json() (the state
// file's rebuilds part) throw type_error.316, and fipd crash-looped.
TEST_F(RebuildTest, InvalidUtf8FromAHookNeverThrows) {
  make({.hook = hook("printf 'x \\377\\n'; sleep 300")});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] { return host->saw("x \xff"); }));
  std::string saved;
  EXPECT_NO_THROW(saved = manager->to_json());
  EXPECT_NE(saved.find("x \xEF\xBF\xBD"), std::string::npos) << "replaced, not thrown: " << saved;
}

// A replacement line read over the defaults a fipd.toml without [probe_defaults] has.
Result<Replacement> parse_line(std::string_view line) { return parse_replacement(line, probe::written_defaults()); }

// Issue 14, items 1 and 19, for a hook's replacement line.
TEST(ReplacementLine, DeepDuplicateAndTrailingAreRefused) {
  using namespace std::string_literals;
  std::string deep = R"({"replacement":{"name":"x","address":"10.0.0.21","probe":)" + std::string(30000, '[') +
                     std::string(30000, ']') + "}}";
  auto r = parse_line(deep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("nested deeper than"), std::string::npos) << r.error().context;
  r = parse_line(R"({"replacement":{"name":"x","address":"10.0.0.21","address":"10.0.0.22"}})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("duplicate key \"address\""), std::string::npos) << r.error().context;
  r = parse_line("{\"replacement\":{\"name\":\"x\",\"address\":\"10.0.0.21\"}}\0junk"s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("NUL byte"), std::string::npos) << r.error().context;
  r = parse_line(R"({"replacement":{"name":"x","address":"10.0.0.21\u0000junk"}})");
  ASSERT_FALSE(r) << "a NUL must not cut the address short";
  EXPECT_TRUE(parse_line(R"({"replacement":{"name":"x","address":"10.0.0.21"}})"));
}

// Numbers past 32 bits were cut down before the range check: port
// 4294967376 became 80, and status 65736 became 200.
TEST(ReplacementLine, OversizedNumbersAreRefusedNotTruncated) {
  auto r = parse_line(R"({"replacement":{"name":"x","address":"10.0.0.21","probe":{"port":4294967376}}})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("port"), std::string::npos) << r.error().context;
  r = parse_line(R"({"replacement":{"name":"x","address":"10.0.0.21","probe":{"kind":"http","expect":[65736]}}})");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("expect"), std::string::npos) << r.error().context;
  r = parse_line(R"({"replacement":{"name":"x","address":"10.0.0.21","probe":{"port":8080,"expect":[204]}}})");
  ASSERT_TRUE(r) << r.error().context;
  EXPECT_EQ(r->probes.at(0).port, 8080);
}

// Issue 15, item 3: the replacement's probe was read with rules of its own
// (a bad path or a non-numeric status ignored, port 0 when unset). It is
// read over [probe_defaults] with the file's rules.
TEST(ReplacementLine, AProbeIsReadOverTheDefaultsWithTheFilesRules) {
  probe::ProbeSpec defaults = probe::written_defaults();
  defaults.interval = std::chrono::milliseconds(50);
  auto r = parse_replacement(R"({"replacement":{"name":"x","address":"10.0.0.21","probe":{"kind":"http"}}})", defaults);
  ASSERT_TRUE(r) << r.error().context;
  const probe::ProbeSpec& p = r->probes.at(0);
  EXPECT_EQ(p.port, 80) << "the defaults' port, not 0";
  EXPECT_EQ(p.interval, std::chrono::milliseconds(50));
  EXPECT_EQ(p.http_status, std::vector<uint16_t>{200});
  EXPECT_TRUE(probe::validate({.id = "x", .address = r->address, .probes = r->probes}));
  for (auto [probe, says] : {std::pair{R"({"kind":"http","path":"no-slash"})", "probe: path: 'no-slash' must start with '/'"},
                             {R"({"kind":"http","expect":["200"]})", "probe: expect: expected an integer from 100 to 599, got a string"},
                             {R"({"kind":"udp"})", "probe: send: a udp probe needs a payload"},
                             {R"({"intervall":"1s"})", "probe: unknown key 'intervall'"}}) {
    auto bad = parse_line(std::string(R"({"replacement":{"name":"x","address":"10.0.0.21","probe":)") + probe + "}}");
    ASSERT_FALSE(bad) << probe;
    EXPECT_NE(bad.error().context.find(says), std::string::npos) << bad.error().context;
  }
}

TEST_F(RebuildTest, ReplacementThatNeverComesUpIsDroppedAndRetried) {
  make({.hook = hook("echo '{\"replacement\":{\"name\":\"web-1b\",\"address\":\"10.0.0.21\"}}'"),
        .healthy_timeout = 200ms, .retries = 1});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] { return !host->gave_up.empty(); }));
  EXPECT_EQ(host->dropped, (std::vector<std::string>{"web-1b", "web-1b"}));
  EXPECT_NE(manager->finished().back().error.find("did not become healthy"), std::string::npos);
}

TEST_F(RebuildTest, NothingIsStartedTwiceForOneFailure) {
  make({.hook = hook("sleep 300")});
  manager->on_server_failed("web-1", "refused", {});
  manager->on_server_failed("web-1", "refused", {});
  auto again = manager->start_manual("web-1");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, EALREADY);
  EXPECT_EQ(host->held.size(), 1u);
}

TEST_F(RebuildTest, StormGuardStopsAutomaticRebuildsUntilAnOperatorActs) {
  make({.hook = hook("sleep 300")});
  for (int i = 0; i < 8; ++i)
    host->inv.add_server({.name = "s" + std::to_string(i), .address = *IpAddress::parse(("10.0.1." + std::to_string(i + 1)).c_str())});
  manager->on_server_failed("s0", "timeout", {});
  manager->hold_for_storm("4 of 10 servers failed within 0.002 s");
  EXPECT_TRUE(manager->storm());
  EXPECT_NE(host->alarms["rebuild-storm"].find("4 of 10 servers failed within 0.002 s"), std::string::npos);
  EXPECT_EQ(manager->records().size(), 1u) << "s0 had started: it goes on";
  manager->on_server_failed("s4", "timeout", {});
  EXPECT_FALSE(manager->records().contains("s4"));
  ASSERT_TRUE(manager->start_manual("s4"));
  EXPECT_FALSE(manager->storm());
  EXPECT_FALSE(host->alarms.contains("rebuild-storm"));
}

TEST_F(RebuildTest, ARestartIssuesTheRebuildAgainWithTheSameId) {
  std::string log = dir + "/calls";
  make({.hook = hook("echo \"$FIPD_REBUILD_ID $FIPD_ATTEMPT\" >> " + log + "; sleep 300")});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] { return std::filesystem::exists(log); }));
  std::string saved = manager->to_json();
  std::string id = manager->records().at("web-1").id;
  manager.reset();  // fipd dies; its hook dies with it (here: destroyed)

  make({.hook = hook("echo \"$FIPD_REBUILD_ID $FIPD_ATTEMPT\" >> " + log +
                     "; echo '{\"replacement\":{\"name\":\"web-1b\",\"address\":\"10.0.0.21\"}}'")});
  manager->restore(saved);
  ASSERT_TRUE(run_until([&] { return !host->registered.empty(); }));
  std::ifstream in(log);
  std::string calls((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(calls, id + " 1\n" + id + " 1\n") << "the same rebuild, the same attempt";
}

// Gone, or a zombie nobody reaped yet.
bool gone(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(st)), {});
  return s.empty() || s.find(") Z") != std::string::npos;
}

pid_t read_pid(const std::string& file) {
  pid_t pid = 0;
  std::ifstream(file) >> pid;
  return pid;
}

// Issue 13, item 2: megabytes of progress in tiny lines reach the log and
// watch as a few lines a second and a count, and the replacement line that
// follows them is still found.
TEST_F(RebuildTest, AChattyHooksProgressIsSummarisedAndItsReplacementStillFound) {
  make({.hook = hook("cat > /dev/null; yes ab | head -n 2000000\n"
                     "echo '{\"replacement\":{\"name\":\"web-1b\",\"address\":\"10.0.0.21\"}}'"),
        .retries = 0});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] { return !host->registered.empty() || !host->gave_up.empty(); }, 30s))
      << testing::PrintToString(host->events.size());
  ASSERT_EQ(host->registered.size(), 1u) << manager->finished().back().error;
  size_t progress = 0;
  for (const auto& e : host->events) progress += e.ends_with(": ab");
  EXPECT_GE(progress, 1u);
  EXPECT_LE(progress, 100u) << "2,000,000 lines of progress (6 MB), rate-limited";
  EXPECT_TRUE(host->saw(" more lines")) << testing::PrintToString(host->events);
}

// A replacement line past the line bound is refused with that reason, not
// cut into pieces that fail to parse.
TEST_F(RebuildTest, AReplacementLineTooLongIsRefusedAsSuch) {
  make({.hook = hook("cat > /dev/null; pad=$(head -c 70000 /dev/zero | tr '\\0' a)\n"
                     "echo '{\"replacement\":{\"name\":\"web-1b\",\"address\":\"10.0.0.21\",\"pad\":\"'$pad'\"}}'"),
        .retries = 0});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] { return !host->gave_up.empty(); }));
  EXPECT_NE(manager->finished().back().error.find("replacement line is longer than 64 KiB"), std::string::npos)
      << manager->finished().back().error;
}

// Issue 13, item 3: what a hook leaves behind when it exits dies with it,
// in its process group or out of it (setsid).
TEST_F(RebuildTest, AHooksChildrenEndWhenTheHookEnds) {
  make({.hook = hook("cat > /dev/null; sleep 1000 & echo $! > " + dir + "/child.pid\n"
                     "setsid sleep 1000 & echo $! > " + dir + "/escaped.pid\n"
                     "echo '{\"replacement\":{\"name\":\"web-1b\",\"address\":\"10.0.0.21\"}}'")});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] { return !host->registered.empty(); })) << testing::PrintToString(host->events);
  const pid_t child = read_pid(dir + "/child.pid"), escaped = read_pid(dir + "/escaped.pid");
  ASSERT_GT(child, 0);
  ASSERT_GT(escaped, 0);
  EXPECT_TRUE(run_until([&] { return gone(child); }, 5s)) << "the hook's background child " << child;
  EXPECT_TRUE(run_until([&] { return gone(escaped); }, 5s)) << "the child that left the group " << escaped;
}

// Issue 13, item 10: servers failing together are all held back by the
// storm guard, the first ones too, because automatic rebuilds settle first.
TEST_F(RebuildTest, TheSettleTimeLetsTheStormGuardHoldTheFirstRebuildsToo) {
  const std::string started = dir + "/started";
  make({.hook = hook("echo x >> " + started + "; sleep 300"), .settle = 200ms});
  host->inv.add_server({.name = "web-3", .address = *IpAddress::parse("10.0.0.13")});
  manager->on_server_failed("web-1", "timeout", {});
  manager->on_server_failed("web-2", "timeout", {});
  EXPECT_EQ(manager->records().at("web-1").stage, Stage::settling);
  manager->hold_for_storm("3 of 3 servers failed within 0.001 s");
  manager->on_server_failed("web-3", "timeout", {});
  EXPECT_TRUE(manager->storm());
  EXPECT_TRUE(manager->records().empty()) << "none of the three starts";
  EXPECT_TRUE(host->held.empty());
  auto end = std::chrono::steady_clock::now() + 400ms;  // past the settle time
  while (std::chrono::steady_clock::now() < end) (void)loop->run_once(10ms);
  EXPECT_FALSE(std::filesystem::exists(started));
}

TEST_F(RebuildTest, WithoutAStormTheRebuildStartsOnceSettled) {
  make({.hook = hook("cat > /dev/null; echo '{\"replacement\":{\"name\":\"web-1b\",\"address\":\"10.0.0.21\"}}'"),
        .settle = 50ms});
  host->inv.server("web-1")->health = state::Health::down;
  manager->on_server_failed("web-1", "refused", {});
  EXPECT_EQ(manager->records().at("web-1").stage, Stage::settling);
  EXPECT_TRUE(host->held.empty()) << "held only once it starts";
  ASSERT_TRUE(run_until([&] { return !host->registered.empty(); })) << testing::PrintToString(host->events);
  EXPECT_EQ(host->held, std::vector<std::string>{"web-1"});
  EXPECT_GE(host->durable, 1) << "the record is durable before the hook runs";
}

// Issue 13, item 9: which floating IPs a spare took from a failed server is
// in the state, so a rebuild started after a restart still hands them back.
TEST_F(RebuildTest, WhatASpareTookIsRememberedAcrossARestart) {
  const auto fip = *IpAddress::parse("203.0.113.10");
  host->inv.add_server({.name = "spare-1", .address = *IpAddress::parse("10.0.0.13"), .spare = true});
  host->inv.server("spare-1")->health = state::Health::up;
  host->inv.set_target(fip, "spare-1");
  make({.hook = hook("sleep 300"), .automatic = false});
  manager->on_server_failed("web-1", "refused", {fip});  // no automatic rebuild
  std::string saved = manager->to_json();
  manager.reset();  // restart: the failover timeline is gone

  make({.hook = hook("sleep 300"), .automatic = false});
  manager->restore(saved);
  ASSERT_TRUE(manager->start_manual("web-1"));
  EXPECT_EQ(manager->records().at("web-1").fips, std::vector<IpAddress>{fip});
}

// A tiny HTTP server on loopback inside the test's namespace.
struct HttpServer {
  HttpServer(int status) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_LOOPBACK)}};
    bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
    socklen_t len = sizeof(sa);
    getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
    port = ntohs(sa.sin_port);
    listen(fd, 4);
    thread = std::thread([this, status] {
      int c = accept(fd, nullptr, nullptr);
      if (c < 0) return;
      char buf[65536];
      std::string req;
      timeval tv{2, 0};
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      while (req.find("\r\n\r\n") == std::string::npos || req.find('}') == std::string::npos) {
        ssize_t n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      request = req;
      std::string resp = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      close(c);
    });
  }
  ~HttpServer() {
    shutdown(fd, SHUT_RDWR);
    close(fd);
    thread.join();
  }
  int fd;
  uint16_t port;
  std::thread thread;
  std::string request;
};

TEST_F(RebuildTest, WebhookIsPostedAndTheReplacementRegisteredLater) {
  if (!testbed::isolated()) GTEST_SKIP() << "needs its own namespace for loopback traffic";
  HttpServer http(202);
  make({.webhook = "http://127.0.0.1:" + std::to_string(http.port) + "/rebuild"});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] {
    return !manager->records().empty() && manager->records().at("web-1").stage == Stage::awaiting_registration;
  })) << testing::PrintToString(host->events);
  http.thread.join();
  http.thread = std::thread([] {});
  EXPECT_NE(http.request.find("POST /rebuild HTTP/1.1"), std::string::npos) << http.request;
  EXPECT_NE(http.request.find("application/json"), std::string::npos);
  EXPECT_NE(http.request.find("\"server\":{\"address\":\"10.0.0.11\""), std::string::npos) << http.request;
  // The provisioning system registers the replacement through the control socket.
  host->inv.add_server({.name = "web-1b", .address = *IpAddress::parse("10.0.0.21")});
  ASSERT_TRUE(manager->on_registered("web-1", "web-1b"));
  EXPECT_EQ(manager->records().at("web-1").stage, Stage::registered);
}

TEST_F(RebuildTest, WebhookErrorIsRetried) {
  if (!testbed::isolated()) GTEST_SKIP() << "needs its own namespace for loopback traffic";
  HttpServer http(500);
  make({.webhook = "http://127.0.0.1:" + std::to_string(http.port) + "/rebuild", .retries = 0});
  manager->on_server_failed("web-1", "refused", {});
  ASSERT_TRUE(run_until([&] { return !host->gave_up.empty(); }));
  EXPECT_NE(manager->finished().back().error.find("HTTP 500"), std::string::npos) << manager->finished().back().error;
}

}  // namespace
}  // namespace fipd::rebuild
