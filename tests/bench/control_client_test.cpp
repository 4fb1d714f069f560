// SPDX-License-Identifier: GPL-2.0-or-later
// fipd's timeline as the harness reads it: the `status` answer of the
// control socket (a fake fipd here), and the log line it falls back to.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "bench/fipd_bench/control_client.hpp"

namespace fipd::bench {
namespace {

// The example of docs/control-protocol.md, cut to what the harness reads.
const char* kStatus = R"({"engine":{"kernel_in_sync":true},
  "servers":[{"name":"web-1","health":"down"}],
  "failovers":[{"id":1,"fips":["203.0.113.10"],"from":"web-1","to":"spare-1","cause":"server web-1 down: refused",
                "manual":false,"detected_mono_us":123,"decided_mono_us":130,"committed_mono_us":150,
                "flushed_mono_us":160,"conntrack_deleted":2,"error":""},
               {"id":2,"from":"x","to":"y"},
               "junk"]})";

TEST(ControlStatus, FailoversAreParsedAndMalformedOnesSkipped) {
  auto f = parse_failovers(nlohmann::json::parse(kStatus));
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].fips, std::vector<std::string>{"203.0.113.10"});
  EXPECT_EQ(f[0].from, "web-1");
  EXPECT_EQ(f[0].to, "spare-1");
  EXPECT_EQ(f[0].detected_us, 123);
  EXPECT_EQ(f[0].decided_us, 130);
  EXPECT_EQ(f[0].committed_us, 150);
  EXPECT_EQ(f[0].flushed_us, 160);
  EXPECT_TRUE(parse_failovers(nlohmann::json::object()).empty());
  EXPECT_TRUE(parse_failovers(nlohmann::json::parse(R"({"failovers":7})")).empty());
}

TEST(ControlLog, FailoverLineIsPlacedOnTheMonotonicClock) {
  const std::string line =
      "08:10:23.412 NOTE  failover 203.0.113.10,2001:db8:f::c8 web-1 -> spare-1 (server web-1 down: refused): "
      "detect->commit 76us fips=203.0.113.10,2001:db8:f::c8 from=web-1 to=spare-1 decide_us=10 commit_us=66 "
      "flush_us=7019";
  const int64_t day = 1000000000000, offset = 999000000000;
  auto f = parse_failover_log_line(line, offset, day);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->fips, (std::vector<std::string>{"203.0.113.10", "2001:db8:f::c8"}));
  EXPECT_EQ(f->from, "web-1");
  EXPECT_EQ(f->to, "spare-1");
  const int64_t logged = day + ((8 * 60 + 10) * 60 + 23) * 1000000LL + 412000 - offset;
  EXPECT_EQ(f->flushed_us, logged);
  EXPECT_EQ(f->committed_us, logged - 7019);
  EXPECT_EQ(f->decided_us, logged - 7019 - 66);
  EXPECT_EQ(f->detected_us, logged - 7019 - 66 - 10);
  EXPECT_FALSE(parse_failover_log_line("08:10:23.412 INFO  server web-1 unknown -> up", offset, day));
  EXPECT_FALSE(parse_failover_log_line("failover a b -> c decide_us=1", offset, day));
}

// A fipd that greets, ignores an event line, and answers by id.
class FakeFipd {
 public:
  explicit FakeFipd(std::string path) : path_(std::move(path)) {
    listener_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path_.c_str(), sizeof(sa.sun_path) - 1);
    unlink(path_.c_str());
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    EXPECT_EQ(listen(listener_, 1), 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeFipd() {
    thread_.join();
    close(listener_);
    unlink(path_.c_str());
  }

 private:
  void serve() {
    int c = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
    ASSERT_GE(c, 0);
    auto say = [c](const std::string& s) { ASSERT_EQ(write(c, s.data(), s.size()), static_cast<ssize_t>(s.size())); };
    say("{\"fipd\":\"0.1.0\",\"protocol\":1,\"can_write\":true}\n");
    std::string in;
    char buf[512];
    for (int answered = 0; answered < 2;) {
      ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      for (size_t nl = in.find('\n'); nl != std::string::npos; nl = in.find('\n')) {
        auto req = nlohmann::json::parse(in.substr(0, nl));
        in.erase(0, nl + 1);
        int id = req["id"];
        say("{\"event\":\"health\",\"at_mono_us\":1}\n");
        if (req["cmd"] == "status") {
          say("{\"id\":" + std::to_string(id) + ",\"ok\":true,\"result\":" + nlohmann::json::parse(kStatus).dump() + "}\n");
        } else {
          say("{\"id\":" + std::to_string(id) + ",\"ok\":false,\"error\":\"unknown command\",\"code\":\"EINVAL\"}\n");
        }
        ++answered;
      }
    }
    close(c);
  }
  std::string path_;
  int listener_ = -1;
  std::thread thread_;
};

TEST(ControlClient, StatusOverTheSocketAndRefusalsAsErrors) {
  std::string path = "/tmp/fipd-bench-test-" + std::to_string(getpid()) + ".sock";
  FakeFipd fipd(path);
  auto c = ControlClient::connect(path);
  ASSERT_TRUE(c) << c.error().message();
  EXPECT_EQ(c->greeting()["protocol"], 1);
  auto st = c->request({{"cmd", "status"}});
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(parse_failovers(*st).size(), 1u);
  auto bad = c->request({{"cmd", "dance"}});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().context.find("unknown command"), std::string::npos);
}

TEST(ControlClient, NoSocketIsAnError) {
  auto c = ControlClient::connect("/tmp/fipd-bench-test-none.sock");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ENOENT);
}

}  // namespace
}  // namespace fipd::bench
