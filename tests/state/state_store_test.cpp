// SPDX-License-Identifier: GPL-2.0-or-later
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "src/state/store.hpp"
#include "testbed/temp_dir.hpp"

namespace fipd::state {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

RuntimeState sample() {
  RuntimeState s;
  s.assignments[ip("203.0.113.10")] = {.server = "spare-1", .configured_server = "web-1", .pin = ""};
  s.assignments[ip("2001:db8:f::10")] = {.server = "web-2", .configured_server = "web-2", .pin = "web-2"};
  s.servers["web-1"] = {.maintenance = Maintenance::failed, .draining = false};
  s.servers["web-3"] = {.maintenance = Maintenance::none, .draining = true};
  s.added_servers["web-4"] = {.name = "web-4", .address = ip("10.0.0.14"), .address6 = ip("fd00::14"),
                              .spare = false, .standby = "", .replaces = "web-1"};
  probe::ProbeSpec http{.kind = probe::ProbeKind::http, .port = 8080, .interval = std::chrono::milliseconds(2),
                        .timeout = std::chrono::microseconds(1500), .fastinter = std::chrono::milliseconds(1),
                        .detect_time = std::chrono::milliseconds(4),
                        .rise = 3, .fall = 4, .http_path = "/healthz", .http_host = "web",
                        .http_status = {200, 204}, .source = ip("10.0.0.1"), .device = "eth1", .mark = 7};
  probe::ProbeSpec udp{.kind = probe::ProbeKind::udp, .port = 53, .send = std::string("\0\x01q", 3), .expect = "a"};
  s.added_servers["web-5"] = {.name = "web-5", .address = ip("10.0.0.15"), .probes = {http, udp}};
  s.removed_servers = {"old-1"};
  s.added_fips[ip("203.0.113.44")] = {.address = ip("203.0.113.44"), .server = "web-4",
                                      .mode = FipMode::stateless_nat, .lockout_ports = {22, 3389}};
  s.removed_fips = {ip("203.0.113.99")};
  s.extra = R"({"rebuilds":[{"id":"r1"}]})";
  return s;
}

// The file store in a folder of its own.
class StateStore : public testing::Test {
 protected:
  testbed::TempDir tmp_{"state"};
  const std::string dir = tmp_.path();
};

TEST(RuntimeState, RoundTripsThroughJson) {
  RuntimeState s = sample();
  auto back = from_json(to_json(s), "state.json");
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(*back, s);
}

TEST(RuntimeState, BadFieldsAreNamedByPath) {
  struct Case {
    const char* text;
    const char* want;
  } cases[] = {
      {"[]", "state.json: not a JSON object"},
      {"{", "state.json: not a JSON object"},
      {R"({"version": 7})", "version: expected 1"},
      {R"({"version":1,"assignments":{"203.0.113.10":{"server":3,"configured_server":"a"}}})",
       "assignments.203.0.113.10.server: expected a string"},
      {R"({"version":1,"assignments":{"nonsense":{"server":"a","configured_server":"a"}}})",
       "assignments.nonsense: 'nonsense' is not an IPv4 or IPv6 address"},
      {R"({"version":1,"added_servers":[{"name":"a","address":"10.0.0.1","spare":false,"probes":[{"kind":"smoke"}]}]})",
       "added_servers[0].probes[0].kind: unknown probe kind 'smoke'"},
      {R"({"version":1,"added_servers":[{"name":"a","address":"10.0.0.1","spare":false,"probes":[{"kind":"tcp","port":80,"interval":"soon"}]}]})",
       "added_servers[0].probes[0].interval: "},
      {R"({"version":1,"servers":{"a":{"maintenance":"lunch","draining":false}}})",
       "servers.a.maintenance: unknown value 'lunch'"},
      {R"({"version":1,"added_floating_ips":[{"address":"203.0.113.1","server":"a","mode":"nat","lockout_ports":[0]}]})",
       "lockout_ports: expected ports from 1 to 65535"},
      {R"({"version":1,"added_servers":[{"name":"a","address":"10.0.0.1"},{"name":"a","address":"10.0.0.2"}]})",
       "added_servers[1].name: 'a' is added twice"},
  };
  for (const auto& c : cases) {
    auto r = from_json(c.text, "state.json");
    ASSERT_FALSE(r) << c.text;
    EXPECT_NE(r.error().context.find(c.want), std::string::npos) << r.error().context;
  }
}

// Issue 15, item 3: probes are written with the file's keys (path, expect,
// interface, ...); a file written before, in ProbeSpec's own names, still reads.
TEST(RuntimeState, ProbesInTheSpellingBeforeTheFilesKeysAreRead) {
  const char* before = R"({"version":1,"added_servers":[{"name":"web-5","address":"10.0.0.15","spare":false,"probes":[)"
                       R"({"kind":"http","port":8080,"interval":"2ms","timeout":"1500us","fastinter":"1ms","downinter":"0ms",)"
                       R"("detect_time":"4ms","rise":3,"fall":4,"spread_percent":10,"send":"","expect":"","http_path":"/healthz",)"
                       R"("http_host":"web","http_status":[200,204],"device":"eth1","mark":7,"source":"10.0.0.1"},)"
                       R"({"kind":"icmp","port":0,"interval":"1s","timeout":"500ms","fastinter":"0ms","downinter":"0ms",)"
                       R"("rise":2,"fall":3,"spread_percent":10,"send":"","expect":"","http_path":"/","http_host":"",)"
                       R"("http_status":[],"device":"","mark":0}]}]})";
  auto r = from_json(before, "state.json");
  ASSERT_TRUE(r) << r.error().message();
  const auto& probes = r->added_servers.at("web-5").probes;
  ASSERT_EQ(probes.size(), 2u);
  EXPECT_EQ(probes[0], sample().added_servers.at("web-5").probes[0]);
  EXPECT_EQ(probes[1], (probe::ProbeSpec{.kind = probe::ProbeKind::icmp}));
  const std::string now = to_json(*r);
  EXPECT_NE(now.find(R"("path": "/healthz")"), std::string::npos) << now;
  EXPECT_EQ(now.find("http_path"), std::string::npos) << now;
}

// Found by the fuzzer: a probe that lost its port was kept with port 0,
// written so, and refused when the file was read next. It is refused at once.
TEST(RuntimeState, AProbeWithoutItsPortIsRefusedInEitherSpelling) {
  const std::string server = R"({"version":1,"added_servers":[{"name":"web-5","address":"10.0.0.15","spare":false,"probes":[)";
  for (const char* probe : {R"({"kind":"http","interval":"2ms","timeout":"1ms","rise":3,"fall":4,"http_path":"/"})",
                            R"({"kind":"tcp","interval":"2ms","timeout":"1ms","rise":3,"fall":4})"}) {
    auto r = from_json(server + probe + "]}]}", "state.json");
    ASSERT_FALSE(r) << probe;
    EXPECT_NE(r.error().context.find("added_servers[0].probes[0].port: missing"), std::string::npos)
        << r.error().message();
  }
  auto icmp = from_json(server + R"({"kind":"icmp","interval":"1s","timeout":"500ms","rise":2,"fall":3})" + "]}]}",
                        "state.json");
  EXPECT_TRUE(icmp) << icmp.error().message();
}

// One change: the old-N removal replaced by old-(N+1).
Delta next_removal(int i) {
  Delta d;
  d.removed_servers["old-" + std::to_string(i)] = false;
  d.removed_servers["old-" + std::to_string(i + 1)] = true;
  return d;
}

TEST_F(StateStore, SavesEveryChangeDurablyAndLoadsThem) {
  FileStore store(dir + "/state.json");
  auto none = store.load();
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->state.has_value()) << "no file yet is not an error";
  RuntimeState s = sample();
  store.save(diff({}, s));
  for (int i = 1; i < 100; ++i) {
    Delta d = next_removal(i);
    apply(s, d);
    store.save(std::move(d));
  }
  ASSERT_TRUE(store.flush());
  auto loaded = store.load();
  ASSERT_TRUE(loaded && loaded->state.has_value());
  EXPECT_EQ(*loaded->state, s) << "every change, in order";
  EXPECT_TRUE(loaded->warnings.empty());
  EXPECT_FALSE(std::filesystem::exists(dir + "/state.json.tmp"));
}

// Saves are numbered; written() names the last one whose write finished,
// and since the newest text wins, that covers every save before it. The
// engine answers and reports from that, without waiting for the write.
TEST_F(StateStore, NumbersItsSavesAndSaysWhichIsWritten) {
  FileStore store(dir + "/state.json");
  EXPECT_EQ(store.written().seq, 0u) << "nothing written yet";
  SaveSeq last = 0;
  for (int i = 0; i < 50; ++i) {
    SaveSeq seq = store.save(next_removal(i));
    EXPECT_GT(seq, last);
    last = seq;
  }
  ASSERT_TRUE(store.flush());
  Written w = store.written();
  EXPECT_EQ(w.seq, last) << "the newest save is the one on disk";
  EXPECT_FALSE(w.error);
  pollfd p{.fd = store.result_fd(), .events = POLLIN, .revents = 0};
  EXPECT_EQ(poll(&p, 1, 0), 1) << "every finished write wakes the loop";

  FileStore broken(dir + "/missing/state.json");
  SaveSeq seq = broken.save(diff({}, sample()));
  ASSERT_FALSE(broken.flush());
  EXPECT_EQ(broken.written().seq, seq);
  ASSERT_TRUE(broken.written().error);
  EXPECT_EQ(broken.written().error->code, ENOENT);
}

TEST_F(StateStore, WritesPendingStateWhenDestroyed) {
  RuntimeState s = sample();
  {
    FileStore store(dir + "/state.json");
    store.save(diff({}, s));
  }
  FileStore again(dir + "/state.json");
  auto loaded = again.load();
  ASSERT_TRUE(loaded && loaded->state.has_value());
  EXPECT_EQ(*loaded->state, s);
}

TEST_F(StateStore, WriteFailureIsReportedAndTheOldFileKept) {
  std::string path = dir + "/state.json";
  ASSERT_TRUE(write_file_atomically(path, "old"));
  FileStore store(dir + "/missing/state.json");
  store.save(diff({}, sample()));
  auto r = store.flush();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ENOENT);
  EXPECT_EQ(store.write_errors(), 1u);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "old");
}

TEST_F(StateStore, AFailedWriteIsRetriedUntilItLandsAndSaysSoMeanwhile) {
  std::string folder = dir + "/later";
  FileStore store(folder + "/state.json");
  ASSERT_GE(store.result_fd(), 0);
  EXPECT_FALSE(store.durability_error());
  store.save(diff({}, sample()));
  ASSERT_FALSE(store.flush());
  auto e = store.durability_error();
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, ENOENT);
  pollfd p{.fd = store.result_fd(), .events = POLLIN, .revents = 0};
  EXPECT_EQ(poll(&p, 1, 0), 1) << "the loop is told";
  store.drain_result();
  std::filesystem::create_directory(folder);  // room again: no new save needed
  // Each result wakes the fd: a retry may still have failed just before.
  for (int i = 0; i < 5 && store.durability_error(); ++i) {
    p.revents = 0;
    ASSERT_EQ(poll(&p, 1, 10'000), 1) << "every retry says how it went";
    store.drain_result();
  }
  EXPECT_FALSE(store.durability_error());
  EXPECT_GE(store.write_retries(), 1u);
  EXPECT_EQ(store.write_errors(), 1u) << "one batch failed, however often it was retried";
  auto loaded = store.load();
  ASSERT_TRUE(loaded && loaded->state.has_value());
  EXPECT_EQ(*loaded->state, sample());
}

TEST_F(StateStore, CorruptFileIsAnErrorNotAnEmptyState) {
  std::string path = dir + "/state.json";
  ASSERT_TRUE(write_file_atomically(path, "{\"version\":1,\"assignments\":[]}"));
  FileStore store(path);
  auto r = store.load();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("assignments: expected an object"), std::string::npos) << r.error().context;
}

std::string load_error(const std::string& text) {
  auto r = from_json(text, "state.json");
  EXPECT_FALSE(r) << text.substr(0, 200);
  return r ? std::string() : r.error().context;
}

// Issue 14, item 2: 100,000 levels crashed fipd at start (SIGSEGV).
TEST(RuntimeState, DeepNestingIsRefusedNotACrash) {
  std::string deep = R"({"version":1,"extra":)" + std::string(100000, '[') + std::string(100000, ']') + "}";
  std::string e = load_error(deep);
  EXPECT_NE(e.find("state.json: not a JSON object: nested deeper than 32 levels at byte 52 (line 1, column 53)"),
            std::string::npos)
      << e;
}

// Issue 13, item 12 and issue 14's messages: where the text stops.
TEST(RuntimeState, CutEmptyOrMalformedFilesSayWhere) {
  std::string full = to_json(sample());
  std::string cut = full.substr(0, full.size() / 2);
  std::string e = load_error(cut);
  EXPECT_NE(e.find("truncated at byte " + std::to_string(cut.size()) + " (line "), std::string::npos) << e;
  EXPECT_EQ(load_error(""), "state.json: empty file, not a JSON object");
  EXPECT_NE(load_error("{\n \"version\": 1,\n \"servers\": {,}}").find("at byte 30 (line 3, column 14)"),
            std::string::npos)
      << load_error("{\n \"version\": 1,\n \"servers\": {,}}");
  EXPECT_NE(load_error("[]").find("not a JSON object (the whole file is array)"), std::string::npos);
  EXPECT_NE(load_error(R"({"version":1,"version":1})").find("duplicate key \"version\""), std::string::npos);
}

// Issue 14, item 17: the configuration's name rule, in the state file too.
TEST(RuntimeState, NamesFollowTheConfigurationsRule) {
  std::string long_name(200, 'a');
  for (const std::string& bad : {long_name, std::string("../../etc/x"), std::string("a b"), std::string("")}) {
    RuntimeState s;
    s.added_servers[bad] = {.name = bad, .address = ip("10.0.0.14")};
    EXPECT_NE(load_error(to_json(s)).find("added_servers[0].name: '"), std::string::npos) << bad;
    RuntimeState r;
    r.removed_servers = {bad};
    EXPECT_NE(load_error(to_json(r)).find("is not a name"), std::string::npos) << bad;
    RuntimeState a;
    a.assignments[ip("203.0.113.10")] = {.server = bad, .configured_server = "web-1"};
    EXPECT_NE(load_error(to_json(a)).find("assignments.203.0.113.10.server"), std::string::npos) << bad;
  }
  RuntimeState m;
  m.servers["../x"] = {};
  EXPECT_NE(load_error(to_json(m)).find("servers.../x: '../x' is not a name"), std::string::npos);
  RuntimeState f;
  f.added_fips[ip("203.0.113.44")] = {.address = ip("203.0.113.44"), .server = "../../etc/x"};
  EXPECT_NE(load_error(to_json(f)).find("is not a name"), std::string::npos);
}

// Issue 14, item 18: "127.0.0.11\u0000junk" was read as 127.0.0.11.
TEST(RuntimeState, NulInsideAnAddressIsRefused) {
  std::string e = load_error(
      R"({"version":1,"added_servers":[{"name":"a","address":"127.0.0.11\u0000junk","spare":false}]})");
  EXPECT_NE(e.find("'127.0.0.11\\x00junk' is not an IPv4 or IPv6 address"), std::string::npos) << e;
}

// Issue 13, item 1: text that is not UTF-8 (a hook's progress in the
// rebuilds' part) must not make writing the state throw.
TEST(RuntimeState, InvalidUtf8NeverThrows) {
  RuntimeState s = sample();
  s.added_servers.at("web-5").probes[1].send = "x \xff";
  std::string text;
  EXPECT_NO_THROW(text = to_json(s));
  EXPECT_TRUE(from_json(text, "state.json"));
}

TEST_F(StateStore, DirectoryFifoAndHugeFilesSayWhatTheyAre) {
  std::string path = dir + "/state.json";
  ASSERT_EQ(mkdir(path.c_str(), 0700), 0);
  auto r = FileStore(path).load();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().context, path + ": is a directory, not a state file");
  std::string fifo = dir + "/fifo.json";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  r = FileStore(fifo).load();  // must not hang waiting for a writer
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("not a regular file"), std::string::npos);
  std::string empty = dir + "/empty.json";
  ASSERT_TRUE(write_file_atomically(empty, ""));
  r = FileStore(empty).load();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("empty file"), std::string::npos);
}

// Issue 14, item 6: a symlink planted as state.json.tmp was followed and
// its target overwritten.
TEST_F(StateStore, PlantedTemporarySymlinkIsNotFollowed) {
  std::string target = dir + "/precious";
  ASSERT_TRUE(write_file_atomically(target, "precious\n"));
  std::string path = dir + "/state.json";
  ASSERT_EQ(symlink(target.c_str(), (path + ".tmp").c_str()), 0);
  FileStore store(path);
  store.save(diff({}, sample()));
  ASSERT_TRUE(store.flush());
  std::ifstream in(target);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "precious\n") << "the link's target is untouched";
  struct stat st {};
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  auto loaded = store.load();
  ASSERT_TRUE(loaded && loaded->state.has_value());
  EXPECT_EQ(*loaded->state, sample());
}

}  // namespace
}  // namespace fipd::state
