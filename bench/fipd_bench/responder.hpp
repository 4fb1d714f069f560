// SPDX-License-Identifier: GPL-2.0-or-later
// The service on a benchmark server: answers the generator's probes and
// fipd's health probes, tagged with the server's letter, and can be made to
// fail the way a real service fails.
//
//   UDP  "<payload>" -> "ok <tag> <payload>", from the address it was asked
//        on (route mode: the floating IP the server holds)
//   TCP  accept -> "ok <tag>\n", close
//
// Failures it plays itself: the service dies (sockets closed: UDP gets ICMP
// port unreachable, TCP a reset) and the service answers too slowly (every
// answer held back by a delay). Silent drops and dead hosts are the kernel's
// business (see faults.hpp).
//
// Owns: one thread that lives in the server's namespace for its whole life,
// its sockets, an eventfd to wake it. Commands from other threads are queued
// and run on that thread; each call returns once its command ran. Pending
// delayed answers are bounded; past the bound they are dropped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "testbed/netns.hpp"

namespace fipd::bench {


class Responder {
 public:
  static Result<std::unique_ptr<Responder>> start(const testbed::Netns& ns, uint16_t port, char tag);
  ~Responder();
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;

  // The service dies: both sockets closed.
  void close_sockets();
  // The service comes back: sockets bound again.
  Status reopen();
  // Every answer from now on leaves `delay` after its question arrived.
  void set_delay(std::chrono::microseconds delay);
  uint64_t answered() const { return answered_.load(); }

 private:
  struct Pending;
  Responder() = default;
  void run();
  Status open_sockets();
  void call(std::function<void()> command);
  void on_udp();
  void on_tcp();
  void flush_due(int64_t now_us);
  int64_t next_due_us() const;

  uint16_t port_ = 0;
  char tag_ = 'A';
  Fd udp_, tcp_, wake_, epoll_;
  std::thread thread_;
  // Commands for the thread, under mu_.
  std::mutex mu_;
  std::vector<std::function<void()>> commands_;
  bool quit_ = false;
  // The thread's own state.
  int64_t delay_us_ = 0;
  std::vector<Pending> pending_;
  size_t pending_head_ = 0;
  std::atomic<uint64_t> answered_{0};
};

}  // namespace fipd::bench
