// SPDX-License-Identifier: GPL-2.0-or-later
// One probe spelling and one rule set for every source (issue 15, item 3).
#include "src/probe/spec_io.hpp"

#include <gtest/gtest.h>

namespace fipd::probe {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// `text` read over `base` as a server's probe; the first error, or "".
std::string error_of(const std::string& text, const ProbeSpec& base = written_defaults()) {
  json j = json::parse(text);
  JsonFields f(j);
  (void)read_probe(f, base);
  return f.error ? f.error->str() : "";
}

ProbeSpec read(const json& j, const ProbeSpec& base) {
  JsonFields f(j);
  ProbeSpec p = normalised(read_probe(f, base));
  EXPECT_FALSE(f.error) << j.dump() << ": " << f.error->str();
  return p;
}

TEST(ProbeSpelling, WhatIsWrittenReadsBackTheSame) {
  ProbeSpec http{.kind = ProbeKind::http, .port = 8080, .interval = 2ms, .timeout = 1500us, .fastinter = 1ms,
                 .downinter = 5ms, .detect_time = 10ms, .rise = 3, .fall = 4, .http_path = "/healthz",
                 .http_host = "web", .http_status = {200, 204}, .source = *IpAddress::parse("10.0.0.1"),
                 .device = "eth1", .mark = 7};
  ProbeSpec tcp{.kind = ProbeKind::tcp, .port = 25, .send = "EHLO x\r\n", .expect = "250"};
  ProbeSpec udp{.kind = ProbeKind::udp, .port = 7, .interval = 1ms, .detect_time = 5ms, .send = "ping", .expect = "ping"};
  ProbeSpec icmp{.kind = ProbeKind::icmp, .interval = 100ms, .timeout = 50ms};
  ProbeSpec any_2xx{.kind = ProbeKind::http, .port = 80};  // no codes: any 2xx or 3xx
  for (const ProbeSpec& p : {http, tcp, udp, icmp, any_2xx}) {
    const json j = probe_json(p);
    EXPECT_EQ(read(j, ProbeSpec{}), p) << j.dump();
    EXPECT_TRUE(validate({.id = "web-1", .address = *IpAddress::parse("10.0.0.11"), .probes = {p}})) << j.dump();
  }
  // The file's keys, not the struct's.
  const json j = probe_json(http);
  for (const char* key : {"path", "host", "expect", "interface", "fwmark", "detect_time"})
    EXPECT_TRUE(j.contains(key)) << key << " in " << j.dump();
  for (const char* key : {"http_path", "http_status", "device", "mark", "spread_percent"})
    EXPECT_FALSE(j.contains(key)) << key << " in " << j.dump();
  EXPECT_FALSE(probe_json(icmp).contains("port"));
  EXPECT_FALSE(probe_json(icmp).contains("fastinter")) << "unset is left out";
}

TEST(ProbeSpelling, OneRuleSetNamesTheKey) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (auto [text, says] : std::initializer_list<Case>{
           {R"({"kind":"gopher"})", "kind: unknown probe kind 'gopher' (tcp, http, udp or icmp)"},
           {R"({"kind":7})", "kind: expected a string, got an integer"},
           {R"({"port":0})", "port: expected an integer from 1 to 65535, got 0"},
           {R"({"port":4294967376})", "port: expected an integer from 1 to 65535, got 4294967376"},
           {R"({"interval":"0ms"})", "interval: '0ms' must be greater than 0"},
           {R"({"timeout":"25h"})", "timeout: '25h' must be at most 24h"},
           {R"({"fastinter":2})", "fastinter: expected a duration string with a unit, as in \"500ms\", got an integer"},
           {R"({"rise":0})", "rise: expected an integer from 1 to 100, got 0"},
           {R"({"kind":"http","path":"x y"})", "path: 'x y' must start with '/' and contain no spaces"},
           {R"({"kind":"http","expect":[]})", "expect: list at least one status code"},
           {R"({"kind":"http","expect":[65736]})", "expect: expected an integer from 100 to 599, got 65736"},
           {R"({"source":"10.0.0.300"})", "source: "},
           {R"({"interface":""})", "interface: '' is not an interface name"},
           {R"({"fwmark":-1})", "fwmark: expected an integer from 0 to 4294967295, got -1"},
           {R"({"kind":"udp"})", "send: a udp probe needs a payload to send"},
           {R"({"intervall":"1s"})", "unknown key 'intervall' (known: kind, port, interval,"},
       }) {
    std::string e = error_of(text);
    EXPECT_NE(e.find(says), std::string::npos) << text << "\n  said: " << e;
  }
  EXPECT_EQ(error_of(R"({"kind":"http","path":"/ok","expect":[200,301],"interval":"1m30s"})"), "");
}

// A server's probe inherits what it does not say from the base; what its
// kind ignores is dropped, so validate() accepts it and reloads compare it.
TEST(ProbeSpelling, ABaseIsInheritedAndWhatTheKindIgnoresDropped) {
  ProbeSpec base = written_defaults();
  base.interval = 50ms;
  base.http_path = "/health";
  base.send = "hello";  // meant for tcp probes
  ProbeSpec icmp = read(json::parse(R"({"kind":"icmp"})"), base);
  EXPECT_EQ(icmp.port, 0);
  EXPECT_EQ(icmp.send, "");
  EXPECT_EQ(icmp.http_path, "/");
  EXPECT_EQ(icmp.interval, 50ms);
  ProbeSpec http = read(json::parse(R"({"kind":"http"})"), base);
  EXPECT_EQ(http.http_path, "/health") << "the defaults' path, although they are tcp";
  EXPECT_EQ(http.http_status, std::vector<uint16_t>{200});
  EXPECT_EQ(http.port, 80);
  ProbeSpec tcp = read(json::parse(R"({"port":22})"), base);
  EXPECT_EQ(tcp.http_status, std::vector<uint16_t>{});
  for (const ProbeSpec& p : {icmp, http, tcp})
    EXPECT_TRUE(validate({.id = "a", .address = *IpAddress::parse("10.0.0.1"), .probes = {p}}));
}

}  // namespace
}  // namespace fipd::probe
