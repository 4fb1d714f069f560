// SPDX-License-Identifier: GPL-2.0-or-later
// How a stream connection lives on the loop, for both listeners: the
// control socket (server.hpp) and the health responder (health/server.hpp).
// What they serve differs; accepting, finding, closing and bounding their
// connections does not.
//
// Bounds, each with what happens past it:
//   - accepting: kAcceptBurst connections per readiness, so a connect storm
//     shares the loop with the probes. Out of descriptors or memory (EMFILE,
//     ENFILE, ENOBUFS, ENOMEM) the connection stays in the backlog and the
//     listener readable: it is unwatched for kAcceptPause rather than spin
//     the loop, with a warning at most every 10 s;
//   - loop time: budget(), spent by the owner serving connections in one
//     loop iteration. Past it a ready socket stays ready (level-triggered)
//     and is served at the next iteration, after the timers due;
//   - reads: a few chunks, none once the buffer is past the owner's bound.
//
// Connections are found by id, never by a pointer kept across callbacks.
// close() shuts the socket at once but frees the Conn after the current
// callback, which callers up the stack may still be in. The deferred erase,
// and what the owner defers holding alive(), do nothing once the server is
// gone. Not here, because the two differ: what a Conn holds (it has `id`,
// `fd`, `source`, `events`, `dead`), when one is dropped for not reading,
// and the output budget (output_budget.hpp).
//
// Owns: the listening socket, every Conn and its io source. Thread: the
// loop's. Failures: values, each for one connection, which the owner then
// closes; listen() returns the loop's Error.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/log.hpp"
#include "src/loop/loop.hpp"

namespace fipd::control {

using namespace std::chrono_literals;

inline constexpr int kAcceptBurst = 64;
inline constexpr Duration kAcceptPause = 100ms;

// Loop time spent in one loop iteration; the next starts afresh.
class SliceBudget {
 public:
  SliceBudget(const loop::Loop& loop, Duration limit) : loop_(loop), limit_(limit) {}
  bool left() { return remaining() > Duration(0); }
  Duration remaining();
  Duration& spent() { return spent_; }  // for work timed by hand (commands.cpp)
  template <class F>
  decltype(auto) timed(F&& f) {
    struct Add {
      Duration& to;
      TimePoint t0 = RealClock::read();
      ~Add() { to += RealClock::read() - t0; }
    } add{spent_};
    return f();
  }

 private:
  const loop::Loop& loop_;
  Duration limit_, spent_{0};
  uint64_t iteration_ = 0;
};

struct ReadLimits {
  size_t chunk = 16384;  // bytes per read(), at most 16 KiB
  int reads = 1;
  size_t stop_past = 0;  // no further read once the buffer holds more
};
struct ReadResult {
  size_t bytes = 0;
  bool eof = false;
};
// Appends to `in` what the socket holds, within `limits`.
Result<ReadResult> read_some(int fd, std::string& in, ReadLimits limits);
// What the socket took of `bytes`; 0 when it is full.
Result<size_t> send_some(int fd, std::string_view bytes);

template <class Conn>
class StreamServer {
 public:
  using Map = std::unordered_map<uint64_t, std::unique_ptr<Conn>>;
  struct Handlers {
    std::function<void(Fd)> accept;       // add() it, or let it close
    std::function<void(Conn&, uint32_t)> io;  // events of a live connection
    std::function<void(size_t)> count;        // conns().size() changed
  };
  // `name` opens the warning: "control socket: accept: EMFILE: ...".
  StreamServer(loop::Loop& loop, std::string name, Duration slice_budget, Handlers h)
      : loop_(loop), name_(std::move(name)), h_(std::move(h)), budget_(loop, slice_budget) {}
  ~StreamServer() {
    *alive_ = false;
    for (auto& [id, c] : conns_) loop_.remove(c->source);
    loop_.remove(listen_source_);
    loop_.remove(pause_timer_);
  }
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  Status listen(Fd fd) {
    auto src = loop_.add_io(fd.get(), EPOLLIN, [this](uint32_t) { accept_some(); });
    if (!src) return std::unexpected(src.error());
    listen_fd_ = std::move(fd);
    listen_source_ = *src;
    pause_timer_ = loop_.add_timer(loop_.now() + 24h, [this](TimePoint) {
      (void)loop_.set_io_events(listen_source_, EPOLLIN);
    });
    return {};
  }
  // Gives `c` an id and `fd`, watched for `events`.
  Result<Conn*> add(std::unique_ptr<Conn> c, Fd fd, uint32_t events) {
    auto src = loop_.add_io(fd.get(), events, [this, id = next_id_](uint32_t ev) {
      if (Conn* live = find(id)) h_.io(*live, ev);
    });
    if (!src) return std::unexpected(src.error());
    c->id = next_id_++;
    c->fd = std::move(fd);
    c->source = *src;
    c->events = events;
    ++live_;
    Conn* p = conns_.emplace(c->id, std::move(c)).first->second.get();
    h_.count(conns_.size());
    return p;
  }
  Conn* find(uint64_t id) {
    auto it = conns_.find(id);
    return it == conns_.end() || it->second->dead ? nullptr : it->second.get();
  }
  void set_events(Conn& c, uint32_t events) {
    if (events != c.events) (void)loop_.set_io_events(c.source, c.events = events);
  }
  void close(Conn& c) {
    if (c.dead) return;
    c.dead = true;
    --live_;
    loop_.remove(c.source);
    c.fd.reset();
    loop_.defer([this, alive = alive_, id = c.id] {
      if (!*alive) return;
      conns_.erase(id);
      h_.count(conns_.size());
    });
  }

  Map& conns() { return conns_; }  // closed ones too, until their erase
  size_t live() const { return live_; }
  SliceBudget& budget() { return budget_; }
  // False once the server is destroyed: for callbacks that outlive a turn.
  const std::shared_ptr<bool>& alive() const { return alive_; }

 private:
  void accept_some() {
    for (int i = 0; i < kAcceptBurst; ++i) {
      int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        h_.accept(Fd(fd));
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS && errno != ENOMEM) return;
      // The connection stays in the backlog and the socket readable:
      // watching it now would spin the loop.
      if (loop_.now() - last_log_ > 10s) {
        last_log_ = loop_.now();
        log::warning(name_ + ": accept: " + strerrorname_np(errno) + ": pausing new connections for 100ms",
                     {{"clients", std::to_string(live_)}});
      }
      (void)loop_.set_io_events(listen_source_, 0);
      loop_.rearm_timer(pause_timer_, loop_.now() + kAcceptPause);
      return;
    }
  }

  loop::Loop& loop_;
  std::string name_;
  Handlers h_;
  SliceBudget budget_;
  Fd listen_fd_;
  loop::SourceId listen_source_ = loop::kNoSource, pause_timer_ = loop::kNoSource;
  TimePoint last_log_{};
  Map conns_;
  uint64_t next_id_ = 1;
  size_t live_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fipd::control
