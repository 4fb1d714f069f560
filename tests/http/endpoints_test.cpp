// SPDX-License-Identifier: GPL-2.0-or-later
// The health responder of the real daemon, asked over HTTP inside the
// router namespace (127.0.0.1:9473 there): /healthz, a floating IP's
// endpoint through a failover (200 -> 503 failing static -> 200), /metrics
// read by a strict Prometheus parser, bad requests and slow clients.
//
//   client ── router (fipd, health on 127.0.0.1:9473) ── server0 web-1
//                                                     └─ server1 spare-1
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/control/control_support.hpp"
#include "tests/http/prometheus_parser.hpp"
#include "testbed/daemon.hpp"
#include "tests/support/kernel_test.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class HealthTest : public TwoServerDaemon {
 protected:
  // Starts fipd with web-1 serving; spare-1's service runs only if asked.
  void start(bool spare_up) { TwoServerDaemon::start("", spare_up); }
  void start_spare() { start_echo(1); }
  HttpAnswer get(const std::string& path) {
    auto r = http_get(topo->router, path);
    EXPECT_TRUE(r) << path << ": " << (r ? "" : r.error().message());
    return r ? *r : HttpAnswer{};
  }
  // Polls an endpoint until it answers `status`.
  bool becomes(const std::string& path, int status, HttpAnswer* last = nullptr) {
    return eventually(
        [&] {
          auto r = http_get(topo->router, path);
          if (r && last) *last = *r;
          return r && r->status == status;
        },
        5s);
  }
};

TEST_F(HealthTest, HealthzAndItsNeighbours) {
  FIPD_REQUIRE_NETNS();
  start(true);
  HttpAnswer r = get("/healthz");
  EXPECT_EQ(r.status, 200) << r.head << r.body;
  EXPECT_NE(r.head.find("Content-Type: application/json"), std::string::npos);
  json j = json::parse(r.body, nullptr, false);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["kernel_in_sync"], true);
  EXPECT_TRUE(j["loop_lag_p99_us"].is_number_integer());

  auto head = http_raw(topo->router, kHealthPort, "HEAD /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");

  EXPECT_EQ(get("/nothing").status, 404);
  EXPECT_EQ(get("/healthz/fip/not-an-address").status, 400);
  EXPECT_EQ(get("/healthz/fip/203.0.113.99").status, 404);
  // Issue 14, item 18: a %00 cut the address short and answered 200.
  EXPECT_EQ(get("/healthz/fip/" + fip0 + "%00junk").status, 400);
  EXPECT_EQ(get("/healthz/fip/%1b%5b2J").status, 400);
  EXPECT_EQ(get("/healthz?verbose=1").status, 200);
  auto post = http_raw(topo->router, kHealthPort, "POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_NE(post->head.find("Allow: GET, HEAD"), std::string::npos);
  auto body = http_raw(topo->router, kHealthPort, "GET /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(body);
  EXPECT_EQ(body->status, 400);
  auto garbage = http_raw(topo->router, kHealthPort, "\x01\x02 nonsense\r\n\r\n");
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 400);
  auto huge = http_raw(topo->router, kHealthPort, "GET /healthz HTTP/1.1\r\nX: " + std::string(9000, 'a') + "\r\n\r\n");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 431);
  // Keep-alive: two requests, two answers, one connection; HTTP/1.0 closes.
  auto two = http_raw(topo->router, kHealthPort,
                      "GET /healthz HTTP/1.1\r\n\r\nGET /healthz/fip/" + fip0 + " HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(two);
  EXPECT_EQ(two->status, 200);
}

TEST_F(HealthTest, FloatingIpEndpointThroughAFailover) {
  FIPD_REQUIRE_NETNS();
  start(false);  // no spare up: web-1's death has nowhere to go
  ASSERT_TRUE(fipd.wait_for_log("server spare-1 unknown -> down", 5s)) << fipd.log();
  HttpAnswer r;
  ASSERT_TRUE(becomes("/healthz/fip/" + fip0, 200, &r)) << r.head << r.body;
  json j = json::parse(r.body, nullptr, false);
  EXPECT_EQ(j["server"], "web-1");
  EXPECT_EQ(j["health"], "up");

  echo[0]->stop();  // web-1 dies; spare-1 is down: fail static
  ASSERT_TRUE(becomes("/healthz/fip/" + fip0, 503, &r)) << fipd.log();
  j = json::parse(r.body, nullptr, false);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["server"], "web-1");
  EXPECT_TRUE(eventually(
      [&] {
        auto a = http_get(topo->router, "/healthz/fip/" + fip0);
        return a && a->body.find("failing static") != std::string::npos;
      },
      5s))
      << r.body;

  start_spare();  // a spare comes up and takes it
  ASSERT_TRUE(becomes("/healthz/fip/" + fip0, 200, &r)) << fipd.log();
  j = json::parse(r.body, nullptr, false);
  EXPECT_EQ(j["server"], "spare-1");

  // The failover is in the metrics, by cause, with its duration.
  HttpAnswer m;
  ASSERT_TRUE(eventually(
      [&] {
        auto a = http_get(topo->router, "/metrics");
        if (!a) return false;
        m = *a;
        return parse_prometheus(a->body).value("fipd_failovers_total", {{"cause", "down"}, {"reason", "refused"}}) ==
               1;
      },
      5s))
      << m.body;
  PromParse p = parse_prometheus(m.body);
  ASSERT_EQ(p.error, "") << m.body;
  EXPECT_EQ(p.value("fipd_failover_duration_seconds_count"), 1);
  EXPECT_EQ(p.value("fipd_failover_floating_ips_total"), 2);
}

TEST_F(HealthTest, MetricsAreStrictPrometheusText) {
  FIPD_REQUIRE_NETNS();
  start(true);
  ASSERT_TRUE(fipd.wait_for_log("server spare-1 unknown -> up", 5s));
  HttpAnswer r;
  // Once the inventory walk has run: both servers up, both floating IPs serving.
  ASSERT_TRUE(eventually(
      [&] {
        auto a = http_get(topo->router, "/metrics");
        if (!a) return false;
        r = *a;
        return parse_prometheus(a->body).value("fipd_servers", {{"health", "up"}}) == 2;
      },
      5s))
      << r.body;
  EXPECT_NE(r.head.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  PromParse p = parse_prometheus(r.body);
  ASSERT_EQ(p.error, "") << r.body;
  for (const char* family : {"fipd_failovers_total", "fipd_failover_duration_seconds", "fipd_probes_sent_total",
                             "fipd_probes_failed_total", "fipd_servers", "fipd_floating_ips",
                             "fipd_netlink_errors_total", "fipd_drift_repairs_total", "fipd_control_requests_total",
                             "fipd_loop_timer_lag_seconds", "fipd_probe_schedule_delay_seconds",
                             "fipd_kernel_in_sync"})
    EXPECT_TRUE(p.families.contains(family)) << family;
  EXPECT_EQ(p.families["fipd_failover_duration_seconds"].type, "histogram");
  EXPECT_EQ(p.families["fipd_loop_timer_lag_seconds"].type, "summary");
  EXPECT_EQ(p.value("fipd_floating_ips", {{"state", "serving"}}), 2);
  EXPECT_EQ(p.value("fipd_kernel_in_sync"), 1);
  EXPECT_GT(p.value("fipd_probes_sent_total"), 0);
  EXPECT_GT(p.value("fipd_loop_timer_lag_seconds_count"), 0);
  // The same text through the control socket.
  auto ctl = fipctl(fipd.socket_path(), {"metrics"});
  ASSERT_EQ(ctl.status, 0);
  EXPECT_EQ(parse_prometheus(ctl.out).error, "");
}

TEST_F(HealthTest, SlowClientsAreTimedOut) {
  FIPD_REQUIRE_NETNS();
  start(true);
  // Slowloris: a head that never ends. fipd closes it after its header
  // timeout, while answering others meanwhile.
  Fd fd;
  topo->router.enter([&] { fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); });
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(kHealthPort);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  ASSERT_GT(::send(fd.get(), "GET /healthz HTTP/1.1\r\nX-Slow: ", 31, MSG_NOSIGNAL), 0);
  EXPECT_EQ(get("/healthz").status, 200);
  bool closed = eventually(
      [&] {
        (void)::send(fd.get(), "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);  // a byte now and then does not help
        char buf[16];
        ssize_t n = ::recv(fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN);
      },
      15s);
  EXPECT_TRUE(closed);
  auto m = get("/metrics");
  EXPECT_EQ(parse_prometheus(m.body).value("fipd_http_timeouts_total"), 1) << m.body;
}

// 256 idle keep-alive connections (the bound), and more coming: a load
// balancer's probe is still answered 200, never 503 "too many
// connections"; the idlest connections make room.
TEST_F(HealthTest, IdleKeepAliveConnectionsDoNotLockOutHealthz) {
  FIPD_REQUIRE_NETNS();
  start(true);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(kHealthPort);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: fipd\r\n\r\n";
  std::vector<Fd> idle;
  for (int i = 0; i < 300; ++i) {
    Fd fd;
    topo->router.enter([&] { fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); });
    ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0) << i;
    // Most ask once and keep the connection; some never ask anything.
    if (i % 4 != 0) {
      ASSERT_EQ(::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
      pollfd p{fd.get(), POLLIN, 0};
      ASSERT_EQ(::poll(&p, 1, 5000), 1) << i;
      char buf[4096];
      ASSERT_GT(::recv(fd.get(), buf, sizeof(buf), 0), 0) << i;
      ASSERT_EQ(std::string_view(buf, 12), "HTTP/1.1 200") << i;
    }
    idle.push_back(std::move(fd));
  }
  for (int i = 0; i < 20; ++i) {
    HttpAnswer r = get("/healthz");
    EXPECT_EQ(r.status, 200) << i << ": " << r.head << r.body;
  }
  // The answers came from fipd, which stayed healthy, and closed only
  // idle connections to make room.
  auto m = get("/metrics");
  EXPECT_EQ(parse_prometheus(m.body).value("fipd_http_connections"), 256) << m.body;
}

}  // namespace
}  // namespace fipd::testbed
