// SPDX-License-Identifier: GPL-2.0-or-later
// Small TCP servers for probe tests, each misbehaving in one chosen way:
// an HTTP server answering a given status (at once or late), one sending
// garbage, one that accepts and never answers. Runs on its own thread inside
// the given namespace; every wait is bounded; stop() or the destructor ends it.
#pragma once

#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.hpp"
#include "testbed/netns.hpp"

namespace fipd::probe::testing {

class ScriptedServer {
 public:
  enum class Mode { http, garbage, silent };
  struct Options {
    Mode mode = Mode::http;
    int status = 200;
    std::chrono::milliseconds delay{0};  // before answering
  };

  static Result<std::unique_ptr<ScriptedServer>> start(const testbed::Netns& ns, uint16_t port, Options o) {
    std::unique_ptr<ScriptedServer> s(new ScriptedServer(o));
    int err = 0;
    ns.enter([&] {
      s->listen_ = Fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
      int zero = 0, one = 1;
      setsockopt(s->listen_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
      setsockopt(s->listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      sockaddr_in6 sa{};
      sa.sin6_family = AF_INET6;
      sa.sin6_port = htons(port);
      if (::bind(s->listen_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || ::listen(s->listen_.get(), 64) != 0)
        err = errno;
    });
    if (err) return fail(err, "scripted server on port " + std::to_string(port));
    s->wake_ = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    s->thread_ = std::thread([p = s.get()] { p->run(); });
    return s;
  }
  ~ScriptedServer() { stop(); }
  void stop() {
    if (!thread_.joinable()) return;
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_.get(), &one, sizeof(one));
    thread_.join();
    listen_.reset();
  }
  // The first lines of the requests seen, and the peers' addresses.
  std::vector<std::string> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  std::vector<std::string> peers() {
    std::lock_guard lock(mu_);
    return peers_;
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Conn {
    Fd fd;
    Clock::time_point accepted;
    std::string got;
    bool answered = false;
    bool recorded = false;
  };
  explicit ScriptedServer(Options o) : options_(o) {}

  std::string answer() const {
    if (options_.mode == Mode::garbage) return "SSH-2.0-OpenSSH_9.2\r\n";
    return "HTTP/1.1 " + std::to_string(options_.status) + " Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  }

  void run() {
    std::vector<Conn> conns;
    for (;;) {
      std::vector<pollfd> p{{wake_.get(), POLLIN, 0}, {listen_.get(), POLLIN, 0}};
      for (auto& c : conns) p.push_back({c.fd.get(), POLLIN, 0});
      if (::poll(p.data(), p.size(), 2) < 0 && errno != EINTR) return;
      if (p[0].revents) return;
      for (int fd; (fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0;) {
        sockaddr_storage peer{};
        socklen_t len = sizeof(peer);
        getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len);
        char text[INET6_ADDRSTRLEN] = {};
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, text, sizeof(text));
        {
          std::lock_guard lock(mu_);
          peers_.push_back(text);
        }
        conns.push_back({Fd(fd), Clock::now(), {}, false, false});
      }
      for (auto& c : conns) serve(c);
      std::erase_if(conns, [](const Conn& c) { return !c.fd; });
    }
  }

  void serve(Conn& c) {
    char buf[1024];
    ssize_t n = ::recv(c.fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN)) return c.fd.reset();
    if (n > 0) {
      c.got.append(buf, static_cast<size_t>(n));
      if (size_t eol = c.got.find("\r\n\r\n"); eol != std::string::npos && !c.recorded) {
        c.recorded = true;
        std::lock_guard lock(mu_);
        requests_.push_back(c.got.substr(0, eol));
      }
    }
    if (options_.mode == Mode::silent || c.answered || c.got.find("\r\n\r\n") == std::string::npos) return;
    if (Clock::now() - c.accepted < options_.delay) return;
    std::string a = answer();
    [[maybe_unused]] auto w = ::send(c.fd.get(), a.data(), a.size(), MSG_NOSIGNAL);
    c.answered = true;
  }

  Options options_;
  Fd listen_, wake_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<std::string> requests_, peers_;
};

}  // namespace fipd::probe::testing
