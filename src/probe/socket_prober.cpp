// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/probe/socket_prober.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>

#include "src/probe/http_status.hpp"
#include "src/probe/probe_socket.hpp"

namespace fipd::probe {
namespace {

constexpr size_t kMaxRead = 2048;

uint32_t index_of(uint64_t handle) { return static_cast<uint32_t>(handle); }
uint32_t generation_of(uint64_t handle) { return static_cast<uint32_t>(handle >> 32); }

}  // namespace

SocketProber::SocketProber(loop::Loop& loop)
    : loop_(loop), icmp_(loop, [this](uint64_t index, ProbeResult r) { finish(static_cast<uint32_t>(index), r); }) {}

SocketProber::~SocketProber() {
  for (uint32_t i = 0; i < attempts_.size(); ++i)
    if (attempts_[i]->active) release(i);
}

std::string SocketProber::http_request(const ProbeSpec& spec, const IpAddress& address) const {
  std::string host = spec.http_host;
  if (host.empty()) {
    host = address.is_v4() ? address.str() : "[" + address.str() + "]";
    if (spec.port != 80) host += ":" + std::to_string(spec.port);
  }
  return "GET " + spec.http_path + " HTTP/1.1\r\nHost: " + host +
         "\r\nUser-Agent: fipd-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n";
}

std::expected<uint64_t, ProbeResult> SocketProber::start(const ProbeSpec& spec, const IpAddress& address,
                                                         uint64_t token) {
  uint32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = static_cast<uint32_t>(attempts_.size());
    attempts_.push_back(std::make_unique<Attempt>());
  }
  Attempt& a = *attempts_[index];
  a.active = true;
  a.spec = &spec;
  a.token = token;
  a.in.clear();
  a.out.clear();
  a.icmp = spec.kind == ProbeKind::icmp;
  ++active_;
  const uint64_t handle = (uint64_t{a.generation} << 32) | index;
  std::expected<uint32_t, ProbeResult> r = a.icmp ? icmp_.ping(spec, address, index) : open_stream(index, address);
  if (!r) {
    release(index);
    return std::unexpected(r.error());
  }
  a.icmp_id = *r;
  return handle;
}

std::expected<uint32_t, ProbeResult> SocketProber::open_stream(uint32_t index, const IpAddress& address) {
  Attempt& a = *attempts_[index];
  const ProbeSpec& spec = *a.spec;
  const bool udp = spec.kind == ProbeKind::udp;
  auto fd = open_probe_socket(address.af(), udp ? SOCK_DGRAM : SOCK_STREAM, 0, spec);
  if (!fd) return std::unexpected(ProbeResult{.cause = Cause::local_error, .detail = fd.error().code});
  a.fd = std::move(*fd);
  if (!udp) {
    linger abort_on_close{.l_onoff = 1, .l_linger = 0};
    setsockopt(a.fd.get(), SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof(abort_on_close));
    int one = 1;
    setsockopt(a.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  if (spec.kind == ProbeKind::http)
    a.out = http_request(spec, address);
  else
    a.out = spec.send;
  SockAddr dst = SockAddr::of(address, spec.port);
  a.phase = Phase::connecting;
  if (::connect(a.fd.get(), dst.get(), dst.len) != 0 && errno != EINPROGRESS)
    return std::unexpected(result_of_errno(errno));
  // Connected or not yet, the socket turns writable: one path for both (a
  // connected UDP socket is writable at once).
  auto io = loop_.add_io(a.fd.get(), EPOLLOUT, [this, index](uint32_t events) { on_event(index, events); });
  if (!io) return std::unexpected(ProbeResult{.cause = Cause::local_error, .detail = io.error().code});
  a.io = *io;
  return 0;
}

void SocketProber::cancel(uint64_t handle) {
  const uint32_t index = index_of(handle);
  if (index >= attempts_.size()) return;
  Attempt& a = *attempts_[index];
  if (!a.active || a.generation != generation_of(handle)) return;
  release(index);
}

void SocketProber::release(uint32_t index) {
  Attempt& a = *attempts_[index];
  if (a.icmp) icmp_.cancel(a.icmp_id);
  if (a.io != loop::kNoSource) loop_.remove(a.io);
  a.io = loop::kNoSource;
  a.fd.reset();  // with SO_LINGER 0: an RST, no TIME_WAIT
  a.active = false;
  a.spec = nullptr;
  ++a.generation;
  free_.push_back(index);
  --active_;
}

void SocketProber::finish(uint32_t index, ProbeResult result) {
  const uint64_t token = attempts_[index]->token;
  // Released before the sink hears of it: the engine may start new attempts
  // (reusing this slot) from inside on_probe_result.
  release(index);
  if (sink_) sink_->on_probe_result(token, result);
}

void SocketProber::on_event(uint32_t index, uint32_t events) {
  Attempt& a = *attempts_[index];
  if (!a.active) return;
  if (a.phase == Phase::connecting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) on_connected(index);
    return;
  }
  if (a.phase == Phase::sending && (events & (EPOLLOUT | EPOLLERR))) return on_writable(index);
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) on_readable(index);
}

void SocketProber::on_connected(uint32_t index) {
  Attempt& a = *attempts_[index];
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(a.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err != 0) return finish(index, result_of_errno(err));
  const ProbeSpec& spec = *a.spec;
  const bool needs_reply = spec.kind == ProbeKind::http || !spec.expect.empty() || spec.kind == ProbeKind::udp;
  if (a.out.empty() && !needs_reply) return finish(index, ProbeResult{});
  a.phase = Phase::sending;
  on_writable(index);
}

void SocketProber::on_writable(uint32_t index) {
  Attempt& a = *attempts_[index];
  if (!a.out.empty() || a.spec->kind == ProbeKind::udp) {
    ssize_t n = ::send(a.fd.get(), a.out.data(), a.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // still EPOLLOUT
      return finish(index, result_of_errno(errno));
    }
    a.out.erase(0, static_cast<size_t>(n));
    if (!a.out.empty()) return;
  }
  const ProbeSpec& spec = *a.spec;
  if (spec.kind == ProbeKind::tcp && spec.expect.empty()) return finish(index, ProbeResult{});
  a.phase = Phase::reading;
  if (auto s = loop_.set_io_events(a.io, EPOLLIN | EPOLLRDHUP); !s)
    return finish(index, ProbeResult{.cause = Cause::local_error, .detail = s.error().code});
}

void SocketProber::on_readable(uint32_t index) {
  Attempt& a = *attempts_[index];
  char buf[kMaxRead];
  const bool udp = a.spec->kind == ProbeKind::udp;
  ssize_t n = ::recv(a.fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    return finish(index, result_of_errno(errno));
  }
  a.in.append(buf, std::min(static_cast<size_t>(n), kMaxRead - std::min(a.in.size(), kMaxRead)));
  // A datagram is the whole reply; a stream ends at EOF.
  auto verdict = judge(a, udp || n == 0);
  if (verdict) return finish(index, *verdict);
}

std::optional<ProbeResult> SocketProber::judge(const Attempt& a, bool eof) const {
  const ProbeSpec& spec = *a.spec;
  if (spec.kind == ProbeKind::http) {
    StatusLine line = parse_status_line(a.in);
    if (line.state == StatusLine::State::bad) return ProbeResult{.cause = Cause::bad_reply, .detail = 0};
    if (line.state == StatusLine::State::incomplete)
      return eof ? std::optional(ProbeResult{.cause = Cause::closed, .detail = 0}) : std::nullopt;
    const bool wanted = spec.http_status.empty()
                            ? (line.status >= 200 && line.status < 400)
                            : std::find(spec.http_status.begin(), spec.http_status.end(), line.status) != spec.http_status.end();
    if (wanted) return ProbeResult{};
    return ProbeResult{.cause = Cause::bad_status, .detail = line.status};
  }
  // tcp and udp: the reply must begin with `expect`; checked byte by byte as
  // it arrives, so a wrong first byte fails at once.
  const std::string_view got(a.in);
  const std::string_view want(spec.expect);
  const size_t n = std::min(got.size(), want.size());
  if (got.substr(0, n) != want.substr(0, n)) return ProbeResult{.cause = Cause::reply_mismatch, .detail = 0};
  if (got.size() >= want.size()) return ProbeResult{};
  if (eof) return ProbeResult{.cause = spec.kind == ProbeKind::udp ? Cause::reply_mismatch : Cause::closed, .detail = 0};
  return std::nullopt;
}

}  // namespace fipd::probe
