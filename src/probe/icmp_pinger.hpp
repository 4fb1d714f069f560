// SPDX-License-Identifier: GPL-2.0-or-later
// ICMP echo for the icmp probe kind: one raw socket per family (and per
// distinct device/mark/source), shared by every ICMP probe, with replies
// demultiplexed by identifier and sequence number. A raw socket sees every
// ICMP message of the namespace, so a kernel filter keeps only echo replies
// and destination-unreachable errors, and a reply counts only when its
// identifier, sequence and source all match what was sent.
//
// Owns: the raw sockets (CAP_NET_RAW; opened lazily on the first ping of a
// kind, so a prober without ICMP probes needs no privilege) and the table of
// outstanding echoes. Thread: the loop's. Failures: a socket that cannot be
// opened, or a send that fails at once, is an immediate ProbeResult
// (local_error with the errno, or unreachable); everything else is reported
// through the Done callback, exactly once per ping unless cancelled.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/fd.hpp"
#include "src/loop/loop.hpp"
#include "src/probe/health.hpp"
#include "src/probe/spec.hpp"

namespace fipd::probe {

class IcmpPinger {
 public:
  using Done = std::function<void(uint64_t cookie, ProbeResult result)>;

  IcmpPinger(loop::Loop& loop, Done done);
  ~IcmpPinger();
  IcmpPinger(const IcmpPinger&) = delete;
  IcmpPinger& operator=(const IcmpPinger&) = delete;

  // Sends one echo request; returns an id for cancel(), or the result when
  // known at once.
  std::expected<uint32_t, ProbeResult> ping(const ProbeSpec& spec, const IpAddress& address, uint64_t cookie);
  void cancel(uint32_t id);
  size_t outstanding() const;

 private:
  struct Pending {
    uint64_t cookie;
    IpAddress address;
  };
  struct Socket {
    int family = 0;
    std::string device;
    uint32_t mark = 0;
    std::optional<IpAddress> source;
    Fd fd;
    loop::SourceId io = loop::kNoSource;
    uint16_t ident = 0;
    uint16_t next_seq = 0;
    std::unordered_map<uint16_t, Pending> pending;
  };

  Result<size_t> socket_for(const ProbeSpec& spec, int family);
  void on_readable(size_t index);
  void on_packet(size_t index, const uint8_t* data, size_t len, const IpAddress& from);
  void complete(size_t index, uint16_t seq, const IpAddress& from, ProbeResult result);

  loop::Loop& loop_;
  Done done_;
  std::vector<std::unique_ptr<Socket>> sockets_;
};

}  // namespace fipd::probe
