// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/generator.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <future>
#include <string>

#include "bench/fipd_bench/clock.hpp"

namespace fipd::bench {
namespace {

// epoll data: the flow in the top byte, the probe's sequence number below.
constexpr uint64_t kTimerData = ~0ULL;
uint64_t pack(FlowKind f, uint32_t seq) { return (static_cast<uint64_t>(f) << 56) | seq; }
FlowKind flow_of(uint64_t d) { return static_cast<FlowKind>(d >> 56); }
uint32_t seq_of(uint64_t d) { return static_cast<uint32_t>(d); }
size_t slot_index(FlowKind f) { return f == FlowKind::new_udp ? 0 : 1; }

// "ok B p 17" -> 'B' and 17; false for anything else.
bool parse_answer(const char* buf, ssize_t n, char& server, uint32_t* seq) {
  if (n < 4 || std::memcmp(buf, "ok ", 3) != 0) return false;
  server = buf[3];
  if (!seq) return true;
  std::string s(buf, static_cast<size_t>(n));
  unsigned long v = 0;
  if (std::sscanf(s.c_str(), "ok %*c %*c %lu", &v) != 1) return false;
  *seq = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

Result<std::unique_ptr<Generator>> Generator::start(const testbed::Netns& client, GeneratorOptions options) {
  std::unique_ptr<Generator> g(new Generator());
  g->o_ = options;
  if (g->o_.rate_hz == 0) g->o_.rate_hz = 1;
  g->max_probes_ = static_cast<uint32_t>(g->o_.rate_hz * (g->o_.max_duration.count() / 1000.0)) + 1;
  // One open socket per probe still within its deadline, per flow.
  size_t window = static_cast<size_t>(g->o_.rate_hz * g->o_.answer_deadline_us / 1000000) + 16;
  for (auto& s : g->slots_) s.assign(window, -1);
  for (auto& f : g->trace_.flows) f.reserve(g->max_probes_);
  for (auto& per_flow : g->last_answer_)
    for (auto& a : per_flow) a.store(-1);
  std::promise<Status> opened;
  auto ready = opened.get_future();
  g->thread_ = std::thread([p = g.get(), &client, &opened] {
    client.enter([&] {
      Status s;
      p->epoll_ = Fd(epoll_create1(EPOLL_CLOEXEC));
      p->timer_ = Fd(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
      p->pinned_ = Fd(socket(p->o_.target.af(), SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      if (!p->epoll_ || !p->timer_ || !p->pinned_) s = fail(errno, "generator sockets");
      if (s) {
        int one = 1;
        setsockopt(p->pinned_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        auto any = p->o_.target.is_v4() ? *IpAddress::parse("0.0.0.0") : *IpAddress::parse("::");
        auto src = SockAddr::of(any, p->o_.pinned_source_port);
        auto dst = SockAddr::of(p->o_.target, p->o_.port);
        if (bind(p->pinned_.get(), src.get(), src.len) != 0 || connect(p->pinned_.get(), dst.get(), dst.len) != 0)
          s = fail(errno, "pinned udp flow from port " + std::to_string(p->o_.pinned_source_port));
      }
      if (!s) {
        p->done_ = true;
        opened.set_value(s);
        return;
      }
      opened.set_value({});
      p->run();
    });
  });
  if (auto s = ready.get(); !s) return std::unexpected(s.error());
  return g;
}

Generator::~Generator() {
  stop();
  for (auto& ring : slots_)
    for (int fd : ring)
      if (fd >= 0) close(fd);
}

void Generator::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

Trace Generator::take() {
  stop();
  return std::move(trace_);
}

int64_t Generator::last_answer_us(FlowKind flow, char server) const {
  if (server != 'A' && server != 'B') return -1;
  return last_answer_[static_cast<size_t>(flow)][static_cast<size_t>(server - 'A')].load();
}

void Generator::run() {
  const long period_ns = 1000000000L / o_.rate_hz;
  itimerspec its{.it_interval = {0, period_ns}, .it_value = {0, 1}};
  timerfd_settime(timer_.get(), 0, &its, nullptr);
  epoll_event ev{.events = EPOLLIN, .data = {.u64 = kTimerData}};
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, timer_.get(), &ev);
  ev = {.events = EPOLLIN, .data = {.u64 = pack(FlowKind::pinned_udp, 0)}};
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pinned_.get(), &ev);
  trace_.started_us = mono_us();
  const int64_t deadline = trace_.started_us + o_.max_duration.count() * 1000;
  epoll_event events[64];
  while (!stop_.load(std::memory_order_relaxed)) {
    int n = epoll_wait(epoll_.get(), events, 64, 50);
    int64_t now = mono_us();
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kTimerData) {
        uint64_t expirations = 0;
        [[maybe_unused]] auto r = read(timer_.get(), &expirations, sizeof(expirations));
        // Behind schedule (a busy machine): catch up a little, not in a burst.
        for (uint64_t k = 0; k < std::min<uint64_t>(expirations, 4) && next_seq_ < max_probes_; ++k) tick(now);
      } else {
        on_event(events[i].data.u64, events[i].events, now);
      }
    }
    expire(now);
    if (now >= deadline || next_seq_ >= max_probes_) break;
  }
  trace_.ended_us = mono_us();
  done_ = true;
}

void Generator::tick(int64_t now) {
  const uint32_t seq = next_seq_++;
  char payload[32];
  int len = std::snprintf(payload, sizeof(payload), "p %u", seq);
  trace_.flows[0].push_back({.sent_us = now});
  [[maybe_unused]] auto sent = send(pinned_.get(), payload, static_cast<size_t>(len), MSG_DONTWAIT);

  const auto dst = SockAddr::of(o_.target, o_.port);
  for (FlowKind f : {FlowKind::new_udp, FlowKind::tcp_connect}) {
    trace_.flows[static_cast<size_t>(f)].push_back({.sent_us = now});
    const bool udp = f == FlowKind::new_udp;
    int fd = socket(o_.target.af(), (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    if (connect(fd, dst.get(), dst.len) != 0 && errno != EINPROGRESS) {
      close(fd);
      continue;
    }
    if (udp) {
      len = std::snprintf(payload, sizeof(payload), "n %u", seq);
      [[maybe_unused]] auto s = send(fd, payload, static_cast<size_t>(len), MSG_DONTWAIT);
    }
    epoll_event ev{.events = EPOLLIN | EPOLLRDHUP, .data = {.u64 = pack(f, seq)}};
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
    auto& ring = slots_[slot_index(f)];
    int& slot = ring[seq % ring.size()];
    if (slot >= 0) close(slot);  // cannot happen while the ring covers the deadline
    slot = fd;
  }
}

void Generator::on_event(uint64_t data, uint32_t events, int64_t now) {
  FlowKind f = flow_of(data);
  char buf[128];
  char server = 0;
  if (f == FlowKind::pinned_udp) {
    for (;;) {
      ssize_t n = recv(pinned_.get(), buf, sizeof(buf), MSG_DONTWAIT);
      if (n < 0 && errno == EAGAIN) return;
      uint32_t seq = 0;
      // ICMP errors (refused, unreachable) surface here as errors: no answer.
      if (n > 0 && parse_answer(buf, n, server, &seq)) answered(f, seq, server, now);
    }
  }
  const uint32_t seq = seq_of(data);
  auto& ring = slots_[slot_index(f)];
  int fd = ring[seq % ring.size()];
  if (fd < 0) return;
  ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
  if (n > 0 && parse_answer(buf, n, server, nullptr)) answered(f, seq, server, now);
  if (n > 0 || (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) || (n < 0 && errno != EAGAIN)) close_slot(f, seq);
}

void Generator::answered(FlowKind f, uint32_t seq, char server, int64_t now) {
  auto& probes = trace_.flows[static_cast<size_t>(f)];
  if (seq >= probes.size() || probes[seq].answered_us >= 0) return;
  probes[seq].answered_us = now;
  probes[seq].server = server;
  if ((server == 'A' || server == 'B') && now - probes[seq].sent_us <= o_.answer_deadline_us)
    last_answer_[static_cast<size_t>(f)][static_cast<size_t>(server - 'A')].store(now);
}

void Generator::close_slot(FlowKind f, uint32_t seq) {
  auto& ring = slots_[slot_index(f)];
  int& fd = ring[seq % ring.size()];
  if (fd < 0) return;
  if (f == FlowKind::tcp_connect) {
    // A reset instead of a FIN: no TIME_WAIT left behind at either end.
    linger l{.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  close(fd);  // also leaves the epoll set
  fd = -1;
}

void Generator::expire(int64_t now) {
  for (FlowKind f : {FlowKind::new_udp, FlowKind::tcp_connect}) {
    const auto& probes = trace_.flows[static_cast<size_t>(f)];
    uint32_t& oldest = oldest_[slot_index(f)];
    while (oldest < probes.size() && now - probes[oldest].sent_us > o_.answer_deadline_us) close_slot(f, oldest++);
  }
}

}  // namespace fipd::bench
