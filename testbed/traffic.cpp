// SPDX-License-Identifier: GPL-2.0-or-later
#include "testbed/traffic.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace fipd::testbed {
namespace {

bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

}  // namespace

Result<Fd> dual_stack_socket(int type, uint16_t port, int backlog) {
  Fd fd(socket(AF_INET6, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail(errno, "socket");
  int zero = 0, one = 1;
  setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // UDP answers must leave from the address the question was sent to: in
  // route mode that is the floating IP the server holds, not the address
  // routing would pick. (For IPv4 on this dual-stack socket the kernel maps
  // the address, both ways.)
  if (type == SOCK_DGRAM) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(port);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return fail(errno, "bind [::]:" + std::to_string(port));
  if (type == SOCK_STREAM && listen(fd.get(), backlog) != 0) return fail(errno, "listen");
  return fd;
}

Result<std::unique_ptr<EchoServer>> EchoServer::start(const Netns& ns, uint16_t port, std::string tag) {
  std::unique_ptr<EchoServer> s(new EchoServer());
  s->tag_ = std::move(tag);
  Status status;
  ns.enter([&] {
    auto udp = dual_stack_socket(SOCK_DGRAM, port);
    if (!udp) {
      status = std::unexpected(udp.error());
      return;
    }
    auto tcp = dual_stack_socket(SOCK_STREAM, port);
    if (!tcp) {
      status = std::unexpected(tcp.error());
      return;
    }
    s->udp_ = std::move(*udp);
    s->tcp_ = std::move(*tcp);
  });
  if (!status) return std::unexpected(status.error());
  s->wake_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

EchoServer::~EchoServer() { stop(); }

void EchoServer::stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  [[maybe_unused]] auto n = write(wake_.get(), &one, sizeof(one));
  thread_.join();
  udp_.reset();
  tcp_.reset();
}

void EchoServer::run() {
  pollfd p[3] = {{udp_.get(), POLLIN, 0}, {tcp_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
  char buf[2048];
  for (;;) {
    if (poll(p, 3, 1000) < 0 && errno != EINTR) return;
    if (p[2].revents) return;
    if (p[0].revents & POLLIN) {
      for (;;) {
        sockaddr_storage peer{};
        iovec iov{buf, sizeof(buf)};
        alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))];
        msghdr msg{};
        msg.msg_name = &peer;
        msg.msg_namelen = sizeof(peer);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        if (recvmsg(udp_.get(), &msg, 0) < 0) break;
        // Answer with the same pktinfo, minus the interface: from the
        // address that was asked.
        iovec out{const_cast<char*>(tag_.data()), tag_.size()};
        msg.msg_iov = &out;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
          if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)
            reinterpret_cast<in6_pktinfo*>(CMSG_DATA(c))->ipi6_ifindex = 0;
        sendmsg(udp_.get(), &msg, 0);
        ++udp_answered_;
      }
    }
    if (p[1].revents & POLLIN) {
      for (;;) {
        int c = accept4(tcp_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) break;
        [[maybe_unused]] auto n = send(c, tag_.data(), tag_.size(), MSG_NOSIGNAL);
        close(c);
        ++tcp_answered_;
      }
    }
  }
}

Result<UdpClient> UdpClient::open(const Netns& ns, const IpAddress& dst, uint16_t port,
                                  uint16_t source_port) {
  UdpClient c;
  Status status;
  ns.enter([&] {
    c.fd_ = Fd(socket(dst.af(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!c.fd_) {
      status = fail(errno, "udp socket");
      return;
    }
    if (source_port) {
      auto any = dst.is_v4() ? *IpAddress::parse("0.0.0.0") : *IpAddress::parse("::");
      auto sa = SockAddr::of(any, source_port);
      if (bind(c.fd_.get(), sa.get(), sa.len) != 0) {
        status = fail(errno, "bind udp source port " + std::to_string(source_port));
        return;
      }
    }
    auto sa = SockAddr::of(dst, port);
    if (connect(c.fd_.get(), sa.get(), sa.len) != 0)
      status = fail(errno, "connect udp to " + dst.str());
  });
  if (!status) return std::unexpected(status.error());
  return c;
}

Result<std::string> UdpClient::ask(std::chrono::milliseconds timeout) {
  // Drop answers to earlier, timed-out questions so they are not taken for
  // the answer to this one.
  char buf[2048];
  while (recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT) >= 0) {
  }
  if (send(fd_.get(), "ping", 4, 0) < 0) return fail(errno, "udp send");
  if (!wait_readable(fd_.get(), timeout)) return fail(ETIMEDOUT, "udp answer");
  ssize_t n = recv(fd_.get(), buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0) return fail(errno, "udp answer");
  return std::string(buf, static_cast<size_t>(n));
}

Result<std::unique_ptr<SteadyUdpFlow>> SteadyUdpFlow::start(const Netns& ns, const IpAddress& dst, Options o) {
  auto c = UdpClient::open(ns, dst, o.port, o.source_port);
  if (!c) return std::unexpected(c.error());
  std::unique_ptr<SteadyUdpFlow> f(new SteadyUdpFlow(std::move(*c), std::move(o)));
  f->thread_ = std::thread([p = f.get()] {
    const auto end = std::chrono::steady_clock::now() + p->o_.limit;
    auto next = std::chrono::steady_clock::now();
    while (!p->stop_ && std::chrono::steady_clock::now() < end) {
      auto r = p->client_.ask(p->o_.answer_timeout);
      ++p->sent_;
      if (!r) ++p->lost_;
      else if (*r != p->o_.expect) ++p->wrong_;
      next += std::chrono::milliseconds(1);
      std::this_thread::sleep_until(next);
    }
  });
  return f;
}

void SteadyUdpFlow::wait() {
  if (thread_.joinable()) thread_.join();
}

void SteadyUdpFlow::finish() {
  stop_ = true;
  wait();
}

Result<std::string> tcp_ask(const Netns& ns, const IpAddress& dst, uint16_t port,
                            std::chrono::milliseconds timeout, std::optional<IpAddress> source) {
  Fd fd;
  ns.enter([&] { fd = Fd(socket(dst.af(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)); });
  if (!fd) return fail(errno, "tcp socket");
  if (source) {
    auto sa = SockAddr::of(*source, 0);
    if (bind(fd.get(), sa.get(), sa.len) != 0)
      return fail(errno, "bind tcp source " + source->str());
  }
  auto sa = SockAddr::of(dst, port);
  if (connect(fd.get(), sa.get(), sa.len) != 0 && errno != EINPROGRESS)
    return fail(errno, "tcp connect to " + dst.str());
  std::string got;
  char buf[256];
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(fd.get(), left)) return fail(ETIMEDOUT, "tcp answer from " + dst.str());
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n > 0) {
      got.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return got;
    if (errno != EAGAIN && errno != EINTR) return fail(errno, "tcp connect to " + dst.str());
  }
}

}  // namespace fipd::testbed
