// SPDX-License-Identifier: GPL-2.0-or-later
// The stream server both listeners share, alone on a loop with a fake
// clock: the accept burst, the pause when out of descriptors, closing and
// destroying from inside callbacks, the loop-time budget and the read
// bound. The servers' own bounds are tested through them (limits_test,
// health_test); these are the ones they get from here, which no client
// can reach as directly.
#include "src/control/stream_server.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "testbed/temp_dir.hpp"
#include "tests/support/kernel_test.hpp"

namespace fipd::control {
namespace {

using namespace std::chrono_literals;

struct Conn {
  uint64_t id = 0;
  Fd fd;
  loop::SourceId source = loop::kNoSource;
  uint32_t events = 0;
  bool dead = false;
};

sockaddr_un address(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  return sa;
}

Fd connect_to(const std::string& path) {
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un sa = address(path);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return Fd();
  return fd;
}

// A loop on a fake clock and a server on a socket of its own; accepted
// connections are added, events go to on_io.
struct Rig {
  FakeClock clock;
  std::unique_ptr<loop::Loop> loop;
  testbed::TempDir dir{"stream"};
  std::string path = dir.file("s.sock");
  std::unique_ptr<StreamServer<Conn>> server;
  std::function<void(Conn&, uint32_t)> on_io = [](Conn&, uint32_t) {};
  size_t accepted = 0, counted = 0;

  Rig() {
    auto l = loop::Loop::create({.clock = &clock});
    EXPECT_TRUE(l.has_value());
    loop = std::move(*l);
    server = std::make_unique<StreamServer<Conn>>(
        *loop, "test stream", 1ms,
        StreamServer<Conn>::Handlers{.accept =
                                         [this](Fd fd) {
                                           ++accepted;
                                           EXPECT_TRUE(server->add(std::make_unique<Conn>(), std::move(fd), EPOLLIN));
                                         },
                                     .io = [this](Conn& c, uint32_t ev) { on_io(c, ev); },
                                     .count = [this](size_t n) { counted = n; }});
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un sa = address(path);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    EXPECT_EQ(::listen(fd.get(), 512), 0);
    EXPECT_TRUE(server->listen(std::move(fd)));
  }
  ~Rig() { server.reset(); }
  void turn() { ASSERT_TRUE(loop->run_once(0ms)); }
};

TEST(StreamServer, AcceptsInBursts) {
  Rig rig;
  std::vector<Fd> clients;
  for (int i = 0; i < 100; ++i) clients.push_back(connect_to(rig.path));
  ASSERT_TRUE(clients.back());
  rig.turn();
  EXPECT_EQ(rig.accepted, size_t(kAcceptBurst));  // one burst per readiness
  rig.turn();
  EXPECT_EQ(rig.accepted, 100u);
  EXPECT_EQ(rig.server->live(), 100u);
  EXPECT_EQ(rig.counted, 100u);
}

// Out of descriptors, the connection waits in the backlog and the listener
// is not watched until the pause ends: the loop does not spin on it.
TEST(StreamServer, PausesWhenOutOfDescriptors) {
  Rig rig;
  Fd client = connect_to(rig.path);
  ASSERT_TRUE(client);
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  std::vector<Fd> filler;
  rlimit low = saved;
  low.rlim_cur = static_cast<rlim_t>(::fcntl(client.get(), F_DUPFD_CLOEXEC, 0));  // the lowest free slot
  ::close(static_cast<int>(low.rlim_cur));
  low.rlim_cur += 16;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  for (;;) {
    Fd f(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    if (!f) break;
    filler.push_back(std::move(f));
  }
  const uint64_t before = rig.loop->stats().io_dispatched;
  rig.turn();
  EXPECT_EQ(rig.loop->stats().io_dispatched, before + 1);  // accept4: EMFILE
  for (int i = 0; i < 5; ++i) rig.turn();
  EXPECT_EQ(rig.loop->stats().io_dispatched, before + 1);  // paused, though still readable
  EXPECT_EQ(rig.accepted, 0u);

  filler.clear();
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  rig.turn();
  EXPECT_EQ(rig.accepted, 0u);  // the pause is not over
  rig.clock.advance(kAcceptPause + 1ms);  // past the deadline, which the wheel rounds up
  rig.turn();  // the pause timer watches the listener again
  rig.turn();
  EXPECT_EQ(rig.accepted, 1u);
}

// Closed inside its own callback, a connection stays valid to the end of
// that callback; then it is erased, and its socket was shut at once.
TEST(StreamServer, CloseInsideItsCallback) {
  Rig rig;
  Fd client = connect_to(rig.path);
  rig.turn();
  ASSERT_EQ(rig.server->live(), 1u);
  uint64_t id = rig.server->conns().begin()->first;
  bool checked = false;
  rig.on_io = [&](Conn& c, uint32_t) {
    rig.server->close(c);
    rig.server->close(c);  // twice is once
    EXPECT_TRUE(c.dead);
    EXPECT_FALSE(c.fd);
    EXPECT_EQ(rig.server->conns().size(), 1u);  // still there for callers up the stack
    EXPECT_EQ(rig.server->find(id), nullptr);   // but no longer found
    checked = true;
  };
  ASSERT_EQ(::write(client.get(), "x", 1), 1);
  rig.turn();
  EXPECT_TRUE(checked);
  EXPECT_EQ(rig.server->conns().size(), 0u);
  EXPECT_EQ(rig.server->live(), 0u);
  EXPECT_EQ(rig.counted, 0u);
  char b;
  ssize_t n = ::read(client.get(), &b, 1);  // the peer sees the close: EOF, or a reset for the unread "x"
  EXPECT_TRUE(n == 0 || (n < 0 && errno == ECONNRESET)) << n << " " << strerror(errno);
}

// The server destroyed inside a connection's callback, with a close
// deferred and a callback of the owner's holding alive(): neither runs.
TEST(StreamServer, DestroyedInsideACallback) {
  Rig rig;
  Fd a = connect_to(rig.path), b = connect_to(rig.path);
  rig.turn();
  ASSERT_EQ(rig.server->live(), 2u);
  bool late = false;
  rig.on_io = [&](Conn& c, uint32_t) {
    rig.server->close(c);
    rig.loop->defer([&late, alive = rig.server->alive()] { late = *alive; });
    rig.server.reset();
  };
  ASSERT_EQ(::write(a.get(), "x", 1), 1);
  ASSERT_EQ(::write(b.get(), "x", 1), 1);
  rig.turn();
  rig.turn();
  EXPECT_EQ(rig.server, nullptr);
  EXPECT_FALSE(late);
}

TEST(SliceBudget, StartsAfreshEachIteration) {
  auto l = loop::Loop::create();
  ASSERT_TRUE(l.has_value());
  loop::Loop& loop = **l;
  SliceBudget b(loop, 1ms);
  EXPECT_TRUE(b.left());
  b.spent() += 600us;
  EXPECT_TRUE(b.left());
  EXPECT_EQ(b.remaining(), 400us);
  b.timed([] { ::usleep(1000); });
  EXPECT_FALSE(b.left());
  ASSERT_TRUE(loop.run_once(0ms));
  EXPECT_TRUE(b.left());
  EXPECT_EQ(b.remaining(), 1ms);
}

TEST(StreamIo, ReadStopsPastItsBound) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  Fd r(sv[0]), w(sv[1]);
  std::string data(40000, 'a');
  ASSERT_EQ(::send(w.get(), data.data(), data.size(), 0), ssize_t(data.size()));
  std::string in;
  auto got = read_some(r.get(), in, {.chunk = 8192, .reads = 4, .stop_past = 10000});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->bytes, 16384u);  // two reads: the second took it past 10,000
  EXPECT_FALSE(got->eof);
  got = read_some(r.get(), in, {.chunk = 16384, .reads = 4, .stop_past = 1 << 20});
  ASSERT_TRUE(got);
  EXPECT_EQ(in.size(), data.size());  // the rest, then "would block"
  w.reset();
  got = read_some(r.get(), in, {.chunk = 16384, .reads = 4, .stop_past = 1 << 20});
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->eof);
  EXPECT_EQ(got->bytes, 0u);
}

TEST(StreamIo, SendTakesWhatFits) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  Fd r(sv[0]), w(sv[1]);
  std::string data(1 << 22, 'a');
  auto n = send_some(w.get(), data);
  ASSERT_TRUE(n);
  EXPECT_GT(*n, 0u);
  EXPECT_LT(*n, data.size());  // the socket is full, not an error
  auto again = send_some(w.get(), data);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0u);
  r.reset();
  auto broken = send_some(w.get(), data);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, EPIPE);
}

}  // namespace
}  // namespace fipd::control
