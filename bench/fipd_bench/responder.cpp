// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/responder.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <string>

#include "bench/fipd_bench/clock.hpp"
#include "testbed/traffic.hpp"

namespace fipd::bench {
namespace {

// Past this many held-back answers the slow service drops new questions: a
// real overloaded service would too, and memory stays bounded.
constexpr size_t kMaxPending = 20000;
constexpr uint64_t kUdpTag = 1, kTcpTag = 2, kWakeTag = 3;

}  // namespace

struct Responder::Pending {
  int64_t due_us = 0;
  int tcp_fd = -1;  // a TCP answer when >= 0, else a datagram
  sockaddr_storage peer{};
  socklen_t peer_len = 0;
  in6_pktinfo info{};
  bool has_info = false;
  std::string payload;
};

Result<std::unique_ptr<Responder>> Responder::start(const testbed::Netns& ns, uint16_t port, char tag) {
  std::unique_ptr<Responder> r(new Responder());
  r->port_ = port;
  r->tag_ = tag;
  r->wake_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  r->epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
  if (!r->wake_ || !r->epoll_) return fail(errno, "responder eventfd/epoll");
  epoll_event ev{.events = EPOLLIN, .data = {.u64 = kWakeTag}};
  epoll_ctl(r->epoll_.get(), EPOLL_CTL_ADD, r->wake_.get(), &ev);
  std::promise<Status> opened;
  auto ready = opened.get_future();
  // The thread lives in the server's namespace: every socket it opens, now
  // or after a simulated crash, belongs there.
  r->thread_ = std::thread([p = r.get(), &ns, &opened] {
    ns.enter([&] {
      opened.set_value(p->open_sockets());
      p->run();
    });
  });
  if (auto s = ready.get(); !s) return std::unexpected(s.error());
  return r;
}

Responder::~Responder() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = write(wake_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  for (size_t i = pending_head_; i < pending_.size(); ++i)
    if (pending_[i].tcp_fd >= 0) close(pending_[i].tcp_fd);
}

Status Responder::open_sockets() {
  auto udp = testbed::dual_stack_socket(SOCK_DGRAM, port_, 1024);
  if (!udp) return std::unexpected(udp.error());
  auto tcp = testbed::dual_stack_socket(SOCK_STREAM, port_, 1024);
  if (!tcp) return std::unexpected(tcp.error());
  udp_ = std::move(*udp);
  tcp_ = std::move(*tcp);
  epoll_event u{.events = EPOLLIN, .data = {.u64 = kUdpTag}}, t{.events = EPOLLIN, .data = {.u64 = kTcpTag}};
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, udp_.get(), &u);
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, tcp_.get(), &t);
  return {};
}

void Responder::call(std::function<void()> command) {
  std::promise<void> done;
  auto f = done.get_future();
  {
    std::lock_guard lock(mu_);
    commands_.push_back([&] {
      command();
      done.set_value();
    });
  }
  uint64_t one = 1;
  [[maybe_unused]] auto n = write(wake_.get(), &one, sizeof(one));
  f.wait();
}

void Responder::close_sockets() {
  call([this] {
    udp_.reset();
    tcp_.reset();
  });
}

Status Responder::reopen() {
  Status s;
  call([&] {
    if (!udp_) s = open_sockets();
  });
  return s;
}

void Responder::set_delay(std::chrono::microseconds delay) {
  call([this, delay] { delay_us_ = delay.count(); });
}

int64_t Responder::next_due_us() const {
  return pending_head_ < pending_.size() ? pending_[pending_head_].due_us : -1;
}

void Responder::run() {
  epoll_event events[16];
  for (;;) {
    int64_t due = next_due_us();
    int timeout = due < 0 ? 1000 : static_cast<int>(std::max<int64_t>(0, (due - mono_us() + 999) / 1000));
    int n = epoll_wait(epoll_.get(), events, 16, timeout);
    for (int i = 0; i < n; ++i) {
      switch (events[i].data.u64) {
        case kUdpTag: on_udp(); break;
        case kTcpTag: on_tcp(); break;
        default: {
          uint64_t v;
          [[maybe_unused]] auto r = read(wake_.get(), &v, sizeof(v));
          std::vector<std::function<void()>> cmds;
          bool quit;
          {
            std::lock_guard lock(mu_);
            cmds.swap(commands_);
            quit = quit_;
          }
          for (auto& c : cmds) c();
          if (quit) return;
        }
      }
    }
    flush_due(mono_us());
  }
}

void Responder::on_udp() {
  char buf[512];
  while (udp_) {
    Pending p;
    iovec iov{buf, sizeof(buf)};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))];
    msghdr msg{};
    msg.msg_name = &p.peer;
    msg.msg_namelen = sizeof(p.peer);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = recvmsg(udp_.get(), &msg, 0);
    if (n < 0) return;
    p.peer_len = msg.msg_namelen;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
      if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        std::memcpy(&p.info, CMSG_DATA(c), sizeof(p.info));
        p.info.ipi6_ifindex = 0;  // answer from the address asked, by any route
        p.has_info = true;
      }
    p.payload = std::string("ok ") + tag_ + " " + std::string(buf, static_cast<size_t>(std::min<ssize_t>(n, 64)));
    int64_t now = mono_us();
    p.due_us = now + delay_us_;
    if (delay_us_ == 0) {
      pending_.push_back(std::move(p));
      flush_due(now);
    } else if (pending_.size() - pending_head_ < kMaxPending) {
      pending_.push_back(std::move(p));
    }
  }
}

void Responder::on_tcp() {
  while (tcp_) {
    int c = accept4(tcp_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) return;
    if (pending_.size() - pending_head_ >= kMaxPending) {
      close(c);
      continue;
    }
    int64_t now = mono_us();
    pending_.push_back(Pending{.due_us = now + delay_us_, .tcp_fd = c});
    if (delay_us_ == 0) flush_due(now);
  }
}

void Responder::flush_due(int64_t now_us) {
  while (pending_head_ < pending_.size() && pending_[pending_head_].due_us <= now_us) {
    Pending& p = pending_[pending_head_++];
    if (p.tcp_fd >= 0) {
      std::string answer = std::string("ok ") + tag_ + "\n";
      [[maybe_unused]] auto n = send(p.tcp_fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      close(p.tcp_fd);
      ++answered_;
    } else if (udp_) {
      iovec out{p.payload.data(), p.payload.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))]{};
      msghdr msg{};
      msg.msg_name = &p.peer;
      msg.msg_namelen = p.peer_len;
      msg.msg_iov = &out;
      msg.msg_iovlen = 1;
      if (p.has_info) {
        msg.msg_control = control;
        msg.msg_controllen = sizeof(control);
        cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
        std::memcpy(CMSG_DATA(c), &p.info, sizeof(p.info));
      }
      if (sendmsg(udp_.get(), &msg, MSG_DONTWAIT) >= 0) ++answered_;
    }
  }
  // Compact the queue once it has drained, so it never grows without bound.
  if (pending_head_ == pending_.size()) {
    pending_.clear();
    pending_head_ = 0;
  } else if (pending_head_ > 4096) {
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(pending_head_));
    pending_head_ = 0;
  }
}

}  // namespace fipd::bench
