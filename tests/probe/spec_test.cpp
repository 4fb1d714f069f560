// SPDX-License-Identifier: GPL-2.0-or-later
// Parsing durations and validating probe specs: every error names the server,
// the probe and the field, and quotes the value.
#include <gtest/gtest.h>

#include "src/probe/duration.hpp"
#include "src/probe/health.hpp"
#include "src/probe/spec.hpp"

namespace fipd::probe {
namespace {

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(*parse_duration("2ms"), 2ms);
  EXPECT_EQ(*parse_duration("500ms"), 500ms);
  EXPECT_EQ(*parse_duration("1s"), 1s);
  EXPECT_EQ(*parse_duration("250us"), 250us);
  EXPECT_EQ(*parse_duration("250\u00b5s"), 250us);
  EXPECT_EQ(*parse_duration("5m"), std::chrono::minutes(5));
  EXPECT_EQ(*parse_duration("1h"), std::chrono::hours(1));
  EXPECT_EQ(*parse_duration("10ns"), 10ns);
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("0.25ms"), 250us);
  EXPECT_EQ(*parse_duration("1m30s"), 90s);
  EXPECT_EQ(*parse_duration("0ms"), 0ms);
  EXPECT_EQ(*parse_duration("-5ms"), -5ms);
}

TEST(Duration, RefusesWhatIsNotADuration) {
  for (const char* bad : {"", "5", "ms", "5 ms", "5parsecs", "1.s.", "--5ms", "99999999999999999999h", "1e3ms"}) {
    auto d = parse_duration(bad);
    ASSERT_FALSE(d.has_value()) << bad;
    EXPECT_EQ(d.error().code, EINVAL);
    EXPECT_NE(d.error().context.find(std::string("'") + bad + "'"), std::string::npos) << d.error().context;
  }
  EXPECT_NE(parse_duration("5parsecs").error().context.find("unknown unit 'parsecs'"), std::string::npos);
}

// Issue 14.8: exact integer arithmetic, and a maximum no sum can overflow.
TEST(Duration, ParsesWithCheckedIntegerArithmetic) {
  EXPECT_EQ(*parse_duration("0.999999999m"), 59'999'999'940ns) << "not 4s659ms";
  EXPECT_EQ(*parse_duration("0.99999999h"), 3'599'999'964'000ns);
  EXPECT_EQ(*parse_duration("720h"), kMaxDuration);
  for (const char* big : {"2562047h", "721h", "719h60m1s", "9223372036854775807ns"}) {
    auto d = parse_duration(big);
    ASSERT_FALSE(d.has_value()) << big;
    EXPECT_NE(d.error().context.find("longer than the longest duration fipd takes, 720h"), std::string::npos)
        << d.error().context;
    EXPECT_EQ(d.error().context.find('-'), std::string::npos) << "no negative number: " << d.error().context;
  }
}

TEST(Duration, FormatsToWhatItParses) {
  for (Duration d : {Duration(2ms), Duration(1s), Duration(90s), Duration(1500ms), Duration(250us), Duration(7ns),
                     Duration(std::chrono::hours(3)), Duration(-20ms)}) {
    auto back = parse_duration(format_duration(d));
    ASSERT_TRUE(back.has_value()) << format_duration(d);
    EXPECT_EQ(*back, d) << format_duration(d);
  }
  EXPECT_EQ(format_duration(0ms), "0ms");
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(2ms), "2ms");
}

ServerSpec web(ProbeSpec p) {
  return ServerSpec{.id = "web-1", .address = *IpAddress::parse("10.0.1.2"), .probes = {std::move(p)}};
}

std::string error_of(const ServerSpec& s) {
  auto r = validate(s);
  return r ? std::string("(valid)") : r.error().context;
}

TEST(Spec, ValidSpecsPass) {
  EXPECT_TRUE(validate(web({.kind = ProbeKind::tcp, .port = 80})));
  EXPECT_TRUE(validate(web({.kind = ProbeKind::icmp})));
  EXPECT_TRUE(validate(web({.kind = ProbeKind::http, .port = 80, .http_path = "/health", .http_status = {200, 204}})));
  // A timeout longer than the interval is allowed: probes overlap.
  EXPECT_TRUE(validate(web({.kind = ProbeKind::udp, .port = 53, .interval = 2ms, .timeout = 20ms})));
}

// Issue 14, item 18: the message for an HTTP probe path with a NUL was cut
// at the NUL; it quotes the path escaped.
TEST(Spec, PathsWithControlCharactersAreQuotedEscaped) {
  using namespace std::string_literals;
  EXPECT_EQ(error_of(web({.kind = ProbeKind::http, .port = 80, .http_path = "/ok\0junk"s})),
            "server web-1: probe 0: http path: '/ok\\x00junk' has spaces or control characters");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::http, .port = 80, .http_path = "/\033[2J"})),
            "server web-1: probe 0: http path: '/\\x1b[2J' has spaces or control characters");
}

TEST(Spec, ErrorsNameServerProbeAndField) {
  EXPECT_EQ(error_of(web({.kind = ProbeKind::tcp, .port = 80, .timeout = 0ms})),
            "server web-1: probe 0: timeout: '0ms' must be > 0");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::tcp, .port = 80, .interval = -5ms})),
            "server web-1: probe 0: interval: '-5ms' must be > 0");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::tcp, .port = 0})), "server web-1: probe 0: port: 0 must be in 1..65535");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::tcp, .port = 80, .rise = 0})), "server web-1: probe 0: rise: 0 must be >= 1");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::tcp, .port = 80, .fall = 0})), "server web-1: probe 0: fall: 0 must be >= 1");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::http, .port = 80, .http_path = "health"})),
            "server web-1: probe 0: http path: 'health' must start with '/'");
  EXPECT_EQ(error_of(web({.kind = static_cast<ProbeKind>(9), .port = 80})),
            "server web-1: probe 0: kind: unknown kind 9 (use tcp, http, udp, icmp)");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::tcp, .port = 80, .spread_percent = 80})),
            "server web-1: probe 0: spread: 80% must be <= 50%");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::tcp, .port = 80, .source = *IpAddress::parse("fd00::1")})),
            "server web-1: probe 0: source: fd00::1 is not an IPv4 address like the server's 10.0.1.2");
  ServerSpec two = web({.kind = ProbeKind::tcp, .port = 80});
  two.probes.push_back({.kind = ProbeKind::http, .port = 80, .http_status = {700}});
  EXPECT_EQ(error_of(two), "server web-1: probe 1: http status: 700 is not an HTTP status (100..599)");
  EXPECT_EQ(error_of(ServerSpec{.id = "web-2", .address = {}, .probes = {}}),
            "server web-2: probes: at least one probe is needed");
}

// Issues 14.7, 14.9, 14.20: paces, timeouts and probe counts within ranges.
TEST(Spec, IntervalsTimeoutsAndProbeCountsAreBounded) {
  EXPECT_EQ(error_of(web({.kind = ProbeKind::tcp, .port = 80, .interval = 1ns})),
            "server web-1: probe 0: interval: '1ns' must be from 1ms to 1h");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::tcp, .port = 80, .timeout = 24h})),
            "server web-1: probe 0: timeout: '24h' must be from 1ms to 1m");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::tcp, .port = 80, .fastinter = 100us})),
            "server web-1: probe 0: fastinter: '100us' must be from 1ms to 1h");
  EXPECT_TRUE(validate(web({.kind = ProbeKind::tcp, .port = 80, .interval = 1ms, .timeout = 60s})));
  // A deadline shorter than two intervals fails a server for one lost
  // answer; one longer than 16 needs more attempts in flight than a probe has.
  EXPECT_EQ(error_of(web({.kind = ProbeKind::icmp, .interval = 1ms, .detect_time = 1ms})),
            "server web-1: probe 0: detect_time: '1ms' must be 2 to 16 times the interval ('1ms')");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::icmp, .interval = 1ms, .fastinter = 10ms, .detect_time = 15ms})),
            "server web-1: probe 0: detect_time: '15ms' must be 2 to 16 times the interval ('10ms')");
  EXPECT_EQ(error_of(web({.kind = ProbeKind::icmp, .interval = 1ms, .detect_time = 17ms})),
            "server web-1: probe 0: detect_time: '17ms' must be 2 to 16 times the interval ('1ms')");
  EXPECT_TRUE(validate(web({.kind = ProbeKind::icmp, .interval = 1ms, .detect_time = 5ms})));
  ServerSpec many = web({.kind = ProbeKind::icmp});
  many.probes.resize(kMaxProbesPerServer, many.probes[0]);
  EXPECT_TRUE(validate(many));
  many.probes.resize(2000, many.probes[0]);
  EXPECT_EQ(error_of(many), "server web-1: probes: 2000 probes, at most 16 per server");
}

TEST(Spec, ProbeKindParser) {
  EXPECT_EQ(*parse_probe_kind("http"), ProbeKind::http);
  auto bad = parse_probe_kind("gopher");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().context, "unknown probe kind 'gopher' (use tcp, http, udp, icmp)");
}

TEST(Hysteresis, RiseAndFall) {
  Hysteresis h(2, 3);
  EXPECT_EQ(h.state(), Health::unknown);
  EXPECT_EQ(h.apply(true), Health::unknown);
  EXPECT_EQ(h.apply(true), Health::up);
  EXPECT_EQ(h.apply(false), Health::suspect);
  EXPECT_TRUE(h.transitioning());
  EXPECT_EQ(h.apply(true), Health::up) << "one success clears the doubt of an up server";
  EXPECT_EQ(h.apply(false), Health::suspect);
  EXPECT_EQ(h.apply(false), Health::suspect);
  EXPECT_EQ(h.apply(false), Health::down);
  EXPECT_FALSE(h.transitioning());
  EXPECT_EQ(h.apply(true), Health::down);
  EXPECT_TRUE(h.transitioning());
  EXPECT_EQ(h.apply(false), Health::down);
  EXPECT_EQ(h.apply(true), Health::down);
  EXPECT_EQ(h.apply(true), Health::up);
}

TEST(Hysteresis, SignalMakesSuspectButNotFromDown) {
  Hysteresis unknown(2, 3);
  EXPECT_EQ(unknown.suspect(), Health::suspect);
  EXPECT_EQ(unknown.apply(true), Health::suspect) << "never up yet: rise successes are still needed";
  EXPECT_EQ(unknown.apply(true), Health::up);
  Hysteresis down(1, 1);
  EXPECT_EQ(down.apply(false), Health::down);
  EXPECT_EQ(down.suspect(), Health::down);
}

TEST(Cause, Describe) {
  EXPECT_EQ(describe(Cause::bad_status, 503), "bad status 503");
  EXPECT_EQ(describe(Cause::timeout, 0), "timeout");
  EXPECT_EQ(describe(Cause::local_error, ENODEV), "local error ENODEV");
}

}  // namespace
}  // namespace fipd::probe
