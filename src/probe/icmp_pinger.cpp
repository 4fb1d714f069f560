// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/probe/icmp_pinger.hpp"

#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/epoll.h>

#include <cstring>
#include <random>

#include "src/probe/probe_socket.hpp"

namespace fipd::probe {
namespace {

constexpr uint8_t kEchoRequest4 = 8, kEchoReply4 = 0, kUnreachable4 = 3;
constexpr size_t kEchoLen = 8 + 16;  // header and a small payload

uint16_t checksum(const uint8_t* data, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(data[i] << 8 | data[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(data[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

}  // namespace

IcmpPinger::IcmpPinger(loop::Loop& loop, Done done) : loop_(loop), done_(std::move(done)) {}

IcmpPinger::~IcmpPinger() {
  for (auto& s : sockets_) loop_.remove(s->io);
}

size_t IcmpPinger::outstanding() const {
  size_t n = 0;
  for (auto& s : sockets_) n += s->pending.size();
  return n;
}

Result<size_t> IcmpPinger::socket_for(const ProbeSpec& spec, int family) {
  for (size_t i = 0; i < sockets_.size(); ++i) {
    const Socket& s = *sockets_[i];
    if (s.family == family && s.device == spec.device && s.mark == spec.mark && s.source == spec.source) return i;
  }
  if (sockets_.size() >= 0xffff) return fail(EMFILE, "too many ICMP socket kinds");
  const int proto = family == AF_INET ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6};
  auto fd = open_probe_socket(family, SOCK_RAW, proto, spec);
  if (!fd) return std::unexpected(fd.error());
  // Only echo replies and unreachable errors reach us: a busy router's other
  // ICMP traffic never wakes the loop.
  if (family == AF_INET) {
    icmp_filter filter{.data = ~((1u << kEchoReply4) | (1u << kUnreachable4))};
    setsockopt(fd->get(), SOL_RAW, ICMP_FILTER, &filter, sizeof(filter));
  } else {
    icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filter);
    ICMP6_FILTER_SETPASS(ICMP6_DST_UNREACH, &filter);
    setsockopt(fd->get(), IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter));
  }
  // Thousands of replies can arrive between two turns of a busy loop; the
  // default buffer holds a few hundred, and a dropped reply is a false timeout.
  int bytes = 4 << 20;
  if (setsockopt(fd->get(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0)
    setsockopt(fd->get(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
  auto s = std::make_unique<Socket>();
  s->family = family;
  s->device = spec.device;
  s->mark = spec.mark;
  s->source = spec.source;
  s->fd = std::move(*fd);
  s->ident = static_cast<uint16_t>(std::random_device{}());
  const size_t index = sockets_.size();
  auto io = loop_.add_io(s->fd.get(), EPOLLIN, [this, index](uint32_t) { on_readable(index); });
  if (!io) return std::unexpected(io.error());
  s->io = *io;
  sockets_.push_back(std::move(s));
  return index;
}

std::expected<uint32_t, ProbeResult> IcmpPinger::ping(const ProbeSpec& spec, const IpAddress& address,
                                                      uint64_t cookie) {
  auto index = socket_for(spec, address.af());
  if (!index) return std::unexpected(ProbeResult{.cause = Cause::local_error, .detail = index.error().code});
  Socket& s = *sockets_[*index];
  if (s.pending.size() >= 0xffff) return std::unexpected(ProbeResult{.cause = Cause::local_error, .detail = ENOBUFS});
  uint16_t seq = s.next_seq++;
  while (s.pending.count(seq)) seq = s.next_seq++;
  uint8_t pkt[kEchoLen] = {};
  pkt[0] = address.is_v4() ? kEchoRequest4 : ICMP6_ECHO_REQUEST;
  pkt[4] = static_cast<uint8_t>(s.ident >> 8);
  pkt[5] = static_cast<uint8_t>(s.ident);
  pkt[6] = static_cast<uint8_t>(seq >> 8);
  pkt[7] = static_cast<uint8_t>(seq);
  std::memcpy(pkt + 8, "fipd health echo", 16);
  // The kernel fills in the ICMPv6 checksum (it covers a pseudo-header); ICMPv4 is ours.
  if (address.is_v4()) {
    const uint16_t sum = checksum(pkt, sizeof(pkt));
    std::memcpy(pkt + 2, &sum, 2);
  }
  SockAddr dst = SockAddr::of(address, 0);
  if (::sendto(s.fd.get(), pkt, sizeof(pkt), 0, dst.get(), dst.len) < 0) return std::unexpected(result_of_errno(errno));
  s.pending.emplace(seq, Pending{cookie, address});
  return static_cast<uint32_t>(*index << 16 | seq);
}

void IcmpPinger::cancel(uint32_t id) {
  const size_t index = id >> 16;
  if (index < sockets_.size()) sockets_[index]->pending.erase(static_cast<uint16_t>(id));
}

void IcmpPinger::on_readable(size_t index) {
  uint8_t buf[1500];
  // Bounded: a flood of ICMP cannot keep the loop here.
  for (int i = 0; i < 256; ++i) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    ssize_t n = ::recvfrom(sockets_[index]->fd.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) return;
    auto addr = address_of(from);
    if (addr) on_packet(index, buf, static_cast<size_t>(n), *addr);
  }
}

void IcmpPinger::on_packet(size_t index, const uint8_t* p, size_t len, const IpAddress& from) {
  const Socket& s = *sockets_[index];
  const bool v4 = s.family == AF_INET;
  if (v4) {  // IPv4 raw sockets see the IP header too
    if (len < 20) return;
    const size_t ihl = static_cast<size_t>(p[0] & 0x0f) * 4;
    if (len < ihl + 8) return;
    p += ihl;
    len -= ihl;
  }
  if (len < 8) return;
  const uint8_t type = p[0];
  if (type == (v4 ? kEchoReply4 : ICMP6_ECHO_REPLY)) {
    if (get16(p + 4) == s.ident) complete(index, get16(p + 6), from, ProbeResult{});
    return;
  }
  if (type != (v4 ? kUnreachable4 : ICMP6_DST_UNREACH)) return;
  // The error quotes our request: its IP header, then the echo header.
  const uint8_t* inner = p + 8;
  size_t inner_len = len - 8;
  size_t inner_ip = v4 ? static_cast<size_t>(inner_len ? (inner[0] & 0x0f) * 4 : 0) : 40;
  if (inner_len < inner_ip + 8) return;
  const uint8_t* echo = inner + inner_ip;
  if (echo[0] != (v4 ? kEchoRequest4 : ICMP6_ECHO_REQUEST) || get16(echo + 4) != s.ident) return;
  auto dst = IpAddress::from_bytes(inner + (v4 ? 16 : 24), v4 ? 4 : 16);
  if (!dst) return;
  complete(index, get16(echo + 6), *dst, ProbeResult{.cause = Cause::unreachable, .detail = EHOSTUNREACH});
}

void IcmpPinger::complete(size_t index, uint16_t seq, const IpAddress& peer, ProbeResult result) {
  auto& pending = sockets_[index]->pending;
  auto it = pending.find(seq);
  // A reply from another address with our sequence number is not ours.
  if (it == pending.end() || it->second.address != peer) return;
  const uint64_t cookie = it->second.cookie;
  pending.erase(it);
  done_(cookie, result);
}

}  // namespace fipd::probe
