// SPDX-License-Identifier: GPL-2.0-or-later
// Shared by the control and HTTP tests: the standard two-server topology
// with fipd on its router (its configuration, and the fixture that starts
// it), running fipctl (optionally as another user), and a small HTTP client
// inside a namespace. Every wait is bounded.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "testbed/daemon.hpp"
#include "testbed/netns.hpp"
#include "testbed/reachable_copy.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {

inline constexpr uint16_t kEchoPort = 7000;
inline constexpr uint16_t kHealthPort = 9473;

// web-1 on server 0, spare-1 on server 1; floating IPs 203.0.113.10 and .11
// on web-1, both nat (a stateless-nat one could not share web-1). Probes every 20 ms, rise and fall 2.
inline std::string two_server_config(const Topology& t, const std::string& engine_extra = "",
                                     const std::string& tail = "") {
  return "[engine]\nhealth_listen = \"127.0.0.1:" + std::to_string(kHealthPort) +
         "\"\nmin_move_interval = \"10ms\"\n" + engine_extra + R"(
[probe_defaults]
kind = "tcp"
port = 7000
interval = "20ms"
timeout = "50ms"
rise = 2
fall = 2

[[server]]
name = "web-1"
address = [")" + t.servers[0].v4.str() + R"(", ")" + t.servers[0].v6.str() + R"("]

[[server]]
name = "spare-1"
address = [")" + t.servers[1].v4.str() + R"(", ")" + t.servers[1].v6.str() + R"("]
spare = true

[[floating_ip]]
address = ")" + Topology::floating_v4(0).str() + R"("
server = "web-1"

[[floating_ip]]
address = ")" + Topology::floating_v4(1).str() + R"("
server = "web-1"
)" + tail;
}

// Runs argv without a shell in a fixed environment (`env` only), as `as`
// when given, and kills it after `timeout`. As another user it runs a copy
// of argv[0] that user can reach.
inline CommandResult run_program(std::vector<std::string> argv, std::optional<Credentials> as = {},
                                 std::vector<std::string> env = {},
                                 std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  std::optional<ReachableCopy> copy;
  if (as) {
    auto c = ReachableCopy::make({argv[0]});
    if (!c) return {127, {}, c.error().message()};
    copy.emplace(std::move(*c));
    argv[0] = copy->path(argv[0]);
  }
  return run({.argv = std::move(argv), .as = as, .env = std::move(env)}, timeout);
}

#ifdef FIPD_BINARY
inline std::string fipctl_binary() { return (std::filesystem::path(FIPD_BINARY).parent_path() / "fipctl").string(); }

inline CommandResult fipctl(const std::string& socket, std::vector<std::string> args,
                            std::optional<Credentials> as = {}, std::vector<std::string> env = {"NO_COLOR=1"}) {
  args.insert(args.begin(), {fipctl_binary(), "--socket", socket});
  return run_program(std::move(args), as, std::move(env));
}

// fipd on the router of two_server_config()'s topology, with an echo
// service on each server: the fixture of the control, fipctl and HTTP
// endpoint tests.
class TwoServerDaemon : public testing::Test {
 protected:
  // Builds it and starts fipd, waiting for its servers to be up;
  // `spare_up` false leaves spare-1's service down (start_echo(1) later).
  void start(const std::string& engine_extra = "", bool spare_up = true) {
    auto t = Topology::create({.servers = 2});
    ASSERT_TRUE(t) << t.error().message();
    topo.emplace(std::move(*t));
    start_echo(0);
    if (spare_up) start_echo(1);
    fipd.write_config(two_server_config(*topo, engine_extra));
    ASSERT_TRUE(fipd.start(topo->router)) << fipd.log();
    ASSERT_TRUE(fipd.wait_for_log("server web-1 unknown -> up", std::chrono::seconds(5))) << fipd.log();
    if (spare_up) {
      ASSERT_TRUE(fipd.wait_for_log("server spare-1 unknown -> up", std::chrono::seconds(5))) << fipd.log();
    }
  }
  // Server i's echo service, answering "A" or "B".
  void start_echo(int i) {
    auto e = EchoServer::start(topo->servers[i].ns, kEchoPort, i == 0 ? "A" : "B");
    ASSERT_TRUE(e) << e.error().message();
    echo[i] = std::move(*e);
  }

  std::optional<Topology> topo;
  std::unique_ptr<EchoServer> echo[2];
  Daemon fipd{FIPD_BINARY};
  const std::string fip0 = Topology::floating_v4(0).str();
  const std::string fip1 = Topology::floating_v4(1).str();
};
#endif

struct HttpAnswer {
  int status = 0;
  std::string head, body;
  bool closed = false;  // the server closed after answering
};

// One request on a fresh connection from inside `ns`; the raw request text
// is sent as given, then the answer is read (Content-Length, or to EOF).
inline Result<HttpAnswer> http_raw(const Netns& ns, uint16_t port, const std::string& request,
                                   std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  Fd fd;
  ns.enter([&] { fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); });
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return fail(errno, "connect");
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
    return fail(errno, "send");
  std::string in;
  HttpAnswer a;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    size_t end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      a.head = in.substr(0, end);
      a.status = std::atoi(a.head.substr(9, 3).c_str());
      size_t cl = a.head.find("Content-Length: ");
      size_t len = cl == std::string::npos ? 0 : std::stoul(a.head.substr(cl + 16));
      if (in.size() >= end + 4 + len && request.rfind("HEAD", 0) != 0) {
        a.body = in.substr(end + 4, len);
        return a;
      }
      if (request.rfind("HEAD", 0) == 0) return a;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return fail(ETIMEDOUT, "no complete answer; got: " + in);
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[65536];
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n <= 0) return fail(ECONNRESET, "closed before a complete answer; got: " + in);
    in.append(buf, static_cast<size_t>(n));
  }
}

inline Result<HttpAnswer> http_get(const Netns& ns, const std::string& path, uint16_t port = kHealthPort) {
  return http_raw(ns, port, "GET " + path + " HTTP/1.1\r\nHost: fipd\r\nConnection: close\r\n\r\n");
}

}  // namespace fipd::testbed
