// SPDX-License-Identifier: GPL-2.0-or-later
// fipctl's output for people: durations, aligned tables with and without
// colour, and the status and events from the protocol's JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/control/client.hpp"
#include "src/control/format.hpp"

namespace fipd::control {
namespace {

using nlohmann::json;

TEST(FormatTest, Durations) {
  EXPECT_EQ(format_us(0), "0us");
  EXPECT_EQ(format_us(999), "999us");
  EXPECT_EQ(format_us(1500), "1.5ms");
  EXPECT_EQ(format_us(2'500'000), "2.5s");
  EXPECT_EQ(format_us(192'000'000), "3m12s");
  EXPECT_EQ(format_us(int64_t{4} * 3600 * 1'000'000 + 5 * 60'000'000), "4h05m");
  EXPECT_EQ(format_us(int64_t{2} * 86400 * 1'000'000 + int64_t{3} * 3600 * 1'000'000), "2d3h");
  EXPECT_EQ(format_us(-5), "0us");
}

TEST(FormatTest, TablesAlignIgnoringColour) {
  std::string t = format_table({"NAME", "HEALTH", "X"}, {{"web-1", "\033[32mup\033[0m", "1"}, {"spare-10", "down", "2"}});
  EXPECT_EQ(t,
            "NAME      HEALTH  X\n"
            "web-1     \033[32mup\033[0m      1\n"
            "spare-10  down    2\n");
}

TEST(FormatTest, StatusAndEvents) {
  json st = json::parse(R"({"engine":{"version":"0.1.0","pid":7,"uptime_us":61000000,"now_mono_us":100000000,
    "table":"fipd","kernel_in_sync":false,"alarms":["no eligible target"],"counters":{"failovers":1},
    "loop_lag_us":{"p99":40,"max":120},"probe_delay_us":{"p99":30,"max":90}},
   "servers":[{"name":"web-1","address":"10.0.0.11","address6":null,"spare":false,"health":"down",
     "since_us_ago":1200000,"cause":"refused","maintenance":"failed","draining":false,"fips":0,
     "probes":[{"kind":"tcp","port":80,"state":"down","sent":42,"failed":3}]}],
   "floating_ips":[{"address":"203.0.113.10","server":"spare-1","mode":"nat","pin":"","failing_static":false}],
   "failovers":[{"id":1,"fips":["203.0.113.10"],"from":"web-1","to":"spare-1","cause":"server web-1 down: refused",
     "manual":false,"detected_mono_us":98000000,"decided_mono_us":98000010,"committed_mono_us":98000200,
     "flushed_mono_us":98000250,"conntrack_deleted":2,"error":""}]})");
  std::string out = format_status(st, false);
  EXPECT_NE(out.find("fipd 0.1.0 (pid 7), up 1m01s, table fipd, kernel NOT IN SYNC, 1 failovers"), std::string::npos)
      << out;
  EXPECT_NE(out.find("ALARMS (1)\n  no eligible target"), std::string::npos) << out;
  EXPECT_NE(out.find("web-1  10.0.0.11  down    1.2s   refused  maintenance (failed)  0     tcp/80 down 3/42 failed"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("203.0.113.10  spare-1  nat   -    web-1 -> spare-1, 2.0s ago  200us"), std::string::npos) << out;
  EXPECT_NE(out.find("#1 2.0s ago: web-1 -> spare-1 [203.0.113.10] server web-1 down: refused; detect->decide 10us, "
                     "decide->commit 190us, commit->flush 50us (2 conntrack entries)"),
            std::string::npos)
      << out;
  EXPECT_EQ(out.find('\033'), std::string::npos);
  EXPECT_NE(format_status(st, true).find("\033[31mdown\033[0m"), std::string::npos);
  // Garbage prints as "?" rather than failing.
  EXPECT_NE(format_status(json::parse(R"({"engine":5,"servers":[{"name":1}]})"), false).find("?"), std::string::npos);

  json ev = json::parse(R"j({"event":"health","at_mono_us":5,"text":"server web-1 up -> down (refused)","to":"down"})j");
  EXPECT_EQ(format_event(ev, "2026-01-01 00:00:00.000", false),
            "2026-01-01 00:00:00.000  health      server web-1 up -> down (refused)\n");
}

// fipctl reads fipd's answers with the bounded reader: a hostile answer on
// the socket (another process at its path) is an error, never a crash.
TEST(FormatTest, HostileAnswersAreErrorsForFipctl) {
  using namespace std::string_literals;
  auto r = parse_answer(std::string(200000, '['));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().context.find("nested deeper than 32 levels"), std::string::npos) << r.error().context;
  EXPECT_FALSE(parse_answer("{\"ok\":true}\0junk"s));
  EXPECT_FALSE(parse_answer(R"({"ok":false,"ok":true})"));
  EXPECT_TRUE(parse_answer(R"({"ok":true,"result":{}})"));
}

// Issue 13, item 4: text fipd did not write (hook progress, names from the
// state file, probe reasons) reached the terminal with its escape sequences.
TEST(FormatTest, ControlCharactersFromOutsideAreEscaped) {
  json ev = {{"event", "rebuild"}, {"text", "rebuild r1 of web-1: \033[2J\033]0;owned\007 \xc2\x9b" "31m x"}};
  std::string line = format_event(ev, "T", true);
  EXPECT_EQ(line.find("\033[2J"), std::string::npos) << line;
  EXPECT_EQ(line.find('\007'), std::string::npos) << line;
  EXPECT_NE(line.find("rebuild r1 of web-1: \\x1b[2J\\x1b]0;owned\\x07 \\u009b31m x\n"), std::string::npos) << line;

  json st = {{"engine", {{"alarms", {"alarm \033[31m"}}}},
             {"servers", {{{"name", "web\033[8m"}, {"health", "up"}, {"cause", "bad\r\nreply"}}}},
             {"floating_ips", json::array()},
             {"rebuilds", {{"records", {{{"server", "web-1"}, {"stage", "rebuilding"}, {"progress", "p\033[1A"}}}}}}};
  std::string out = format_status(st, false);
  EXPECT_EQ(out.find('\033'), std::string::npos) << out;
  EXPECT_EQ(out.find('\r'), std::string::npos) << out;
  EXPECT_NE(out.find("web\\x1b[8m"), std::string::npos) << out;
  EXPECT_NE(out.find("bad\\r\\nreply"), std::string::npos) << out;
  EXPECT_NE(out.find("p\\x1b[1A"), std::string::npos) << out;
  EXPECT_NE(out.find("alarm \\x1b[31m"), std::string::npos) << out;
}

// A host with thousands of floating IPs fails over in one line a person can
// read; rebuilds get their own table.
TEST(FormatTest, LongFailoversAreSummarizedAndRebuildsListed) {
  json fips = json::array();
  for (int i = 0; i < 10000; ++i) fips.push_back("203.0." + std::to_string(113 + i / 250) + "." + std::to_string(i % 250));
  json st = {{"engine", {{"now_mono_us", 100000000}}},
             {"servers", json::array()},
             {"floating_ips", json::array()},
             {"rebuilds",
              {{"configured", true},
               {"storm", false},
               {"records", json::array({{{"id", "web-1-1-1"},
                                         {"server", "web-1"},
                                         {"stage", "rebuilding"},
                                         {"attempt", 2},
                                         {"manual", false},
                                         {"replacement", ""},
                                         {"progress", "copying data"},
                                         {"error", ""},
                                         {"started_unix_ms", 1},
                                         {"finished_unix_ms", 0}}})}}},
             {"failovers", json::array({{{"id", 3},
                                          {"fips", fips},
                                          {"from", "web-1"},
                                          {"to", "spare-1"},
                                          {"cause", "host down"},
                                          {"detected_mono_us", 1},
                                          {"decided_mono_us", 2},
                                          {"committed_mono_us", 3},
                                          {"flushed_mono_us", 4}}})}};
  std::string out = format_status(st, false);
  EXPECT_NE(out.find("[203.0.113.0,203.0.113.1,203.0.113.2,203.0.113.3,203.0.113.4,203.0.113.5,203.0.113.6,"
                     "203.0.113.7,... (10000 in all)]"),
            std::string::npos)
      << out.substr(0, 2000);
  EXPECT_LT(out.size(), 4000u);
  EXPECT_NE(out.find("REBUILDS (1)"), std::string::npos) << out;
  EXPECT_NE(out.find("web-1   web-1-1-1  rebuilding  2"), std::string::npos) << out;
  EXPECT_NE(out.find("copying data"), std::string::npos) << out;
}

}  // namespace
}  // namespace fipd::control
