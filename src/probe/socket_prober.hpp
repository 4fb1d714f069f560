// SPDX-License-Identifier: GPL-2.0-or-later
// The real prober: each attempt is a non-blocking socket on the loop (tcp,
// http, udp) or an echo on the shared ICMP sockets; no thread, no sleep.
//
//   tcp   connect; optionally send bytes and require a reply prefix.
//   http  connect, send a GET with a Host header, require a complete status
//         line with an expected status. Only the status line is read.
//   udp   send a datagram on a connected socket, require a reply (prefix);
//         an ICMP port unreachable arrives as ECONNREFUSED: refused at once.
//   icmp  echo request/reply through IcmpPinger.
//
// TCP probes close with SO_LINGER 0 (an RST): 100,000 probes a second would
// otherwise leave millions of TIME_WAIT sockets behind. Outcomes are decided
// as soon as the bytes allow: a refused connect, a first byte that cannot
// begin the expected reply, a garbage status line all fail at once; the
// engine's timeout covers whatever never completes.
//
// Owns: the attempts' sockets and the IcmpPinger. Thread: the loop's.
// Failures: socket-level errors become ProbeResults (local_error with the
// errno), never exceptions or logs.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/fd.hpp"
#include "src/loop/loop.hpp"
#include "src/probe/icmp_pinger.hpp"
#include "src/probe/prober.hpp"

namespace fipd::probe {

class SocketProber final : public Prober {
 public:
  explicit SocketProber(loop::Loop& loop);
  ~SocketProber() override;
  SocketProber(const SocketProber&) = delete;
  SocketProber& operator=(const SocketProber&) = delete;

  std::expected<uint64_t, ProbeResult> start(const ProbeSpec& spec, const IpAddress& address,
                                             uint64_t token) override;
  void cancel(uint64_t handle) override;
  size_t active() const { return active_; }

 private:
  enum class Phase : uint8_t { connecting, sending, reading };
  struct Attempt {
    uint32_t generation = 1;
    bool active = false;
    Phase phase = Phase::connecting;
    const ProbeSpec* spec = nullptr;
    uint64_t token = 0;
    Fd fd;
    loop::SourceId io = loop::kNoSource;
    uint32_t icmp_id = 0;
    bool icmp = false;
    std::string out;  // bytes still to send
    std::string in;   // bytes received so far
  };

  std::expected<uint32_t, ProbeResult> open_stream(uint32_t index, const IpAddress& address);
  void on_event(uint32_t index, uint32_t events);
  void on_connected(uint32_t index);
  void on_writable(uint32_t index);
  void on_readable(uint32_t index);
  // The outcome of the bytes so far, or nullopt while more are needed.
  std::optional<ProbeResult> judge(const Attempt& a, bool eof) const;
  void finish(uint32_t index, ProbeResult result);
  void release(uint32_t index);
  std::string http_request(const ProbeSpec& spec, const IpAddress& address) const;

  loop::Loop& loop_;
  IcmpPinger icmp_;
  std::vector<std::unique_ptr<Attempt>> attempts_;
  std::vector<uint32_t> free_;
  size_t active_ = 0;
};

}  // namespace fipd::probe
