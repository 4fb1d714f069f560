// SPDX-License-Identifier: GPL-2.0-or-later
// Traffic for namespace tests: a tagged echo server and small clients.
//
// The server answers every UDP datagram and every TCP connection with its
// tag ("A", "B"), so a client can tell which server a floating IP reached.
// All sockets are created inside the given namespace; every wait is bounded.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "base/fd.hpp"
#include "base/ip_address.hpp"
#include "testbed/netns.hpp"

namespace fipd::testbed {

// A non-blocking socket on [::]:port that takes IPv4 too; UDP ones report the
// address each datagram was sent to (IPV6_RECVPKTINFO), so answers can leave
// from it. TCP ones listen with `backlog`.
Result<Fd> dual_stack_socket(int type, uint16_t port, int backlog = 128);

class EchoServer {
 public:
  // Listens on [::]:port (IPv4 and IPv6), UDP and TCP, inside `ns`.
  static Result<std::unique_ptr<EchoServer>> start(const Netns& ns, uint16_t port, std::string tag);
  ~EchoServer();
  // Closes the sockets: UDP then goes unanswered (ICMP port unreachable) and
  // TCP is refused, as when a service dies.
  void stop();
  uint64_t udp_answered() const { return udp_answered_.load(); }
  uint64_t tcp_answered() const { return tcp_answered_.load(); }

 private:
  EchoServer() = default;
  void run();
  std::string tag_;
  Fd udp_, tcp_, wake_;
  std::thread thread_;
  std::atomic<uint64_t> udp_answered_{0}, tcp_answered_{0};
};

// A UDP socket inside `ns` aimed at dst:port, optionally from a fixed source
// port (the flow conntrack pins).
class UdpClient {
 public:
  static Result<UdpClient> open(const Netns& ns, const IpAddress& dst, uint16_t port,
                                uint16_t source_port = 0);
  // Sends one datagram and returns the first answer's text, or an error on
  // timeout (ETIMEDOUT) or ICMP error (ECONNREFUSED, ...).
  Result<std::string> ask(std::chrono::milliseconds timeout = std::chrono::milliseconds(300));

 private:
  Fd fd_;
};

// A fixed-source-port UDP flow at about 1 kHz on its own thread: the flow
// conntrack pins, so the most sensitive to a restart. It counts questions,
// unanswered ones, and answers from another server than `expect`. Bounded:
// it ends after `limit`, or at finish().
class SteadyUdpFlow {
 public:
  struct Options {
    uint16_t port = 0;
    uint16_t source_port = 41000;
    std::string expect;  // the tag of the server that should answer
    std::chrono::milliseconds limit{5000};
    std::chrono::milliseconds answer_timeout{200};
  };
  static Result<std::unique_ptr<SteadyUdpFlow>> start(const Netns& ns, const IpAddress& dst, Options o);
  ~SteadyUdpFlow() { finish(); }
  // Until `limit` has passed.
  void wait();
  // Now.
  void finish();
  int sent() const { return sent_.load(); }
  int lost() const { return lost_.load(); }
  int wrong() const { return wrong_.load(); }

 private:
  SteadyUdpFlow(UdpClient c, Options o) : client_(std::move(c)), o_(std::move(o)) {}
  UdpClient client_;
  Options o_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> sent_{0}, lost_{0}, wrong_{0};
};

// One TCP connection from `ns` to dst:port (from `source` when given);
// returns what the server sent.
Result<std::string> tcp_ask(const Netns& ns, const IpAddress& dst, uint16_t port,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(500),
                            std::optional<IpAddress> source = std::nullopt);

}  // namespace fipd::testbed
