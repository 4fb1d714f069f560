// SPDX-License-Identifier: GPL-2.0-or-later
// The engine, its metrics and its control server in this process, on a
// loop thread of their own inside a throwaway namespace, so a test can set
// the server's bounds (clients, queued output, stall timeout) to sizes it
// can reach quickly. The test talks to it only through the socket, as any
// client would; nothing is shared across threads but the stop flag.
//
//   router (the engine's thread) ── server0 web-1   (echo on 7000)
//                                └─ server1 spare-1 (echo on 7000)
//   floating IPs 203.0.113.x, 198.51.100.x, then 2001:db8:f::x, all on web-1
//   (the standard Topology; servers must not be the router's own addresses:
//   their traffic would be translated to their floating IPs)
#pragma once

#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <fstream>
#include <thread>

#include "src/config/config.hpp"
#include "src/control/server.hpp"
#include "src/engine/engine.hpp"
#include "base/log.hpp"
#include "src/metrics/metrics.hpp"
#include "src/probe/socket_prober.hpp"
#include "src/state/store.hpp"
#include "testbed/daemon.hpp"
#include "testbed/netns.hpp"
#include "testbed/temp_dir.hpp"
#include "testbed/topology.hpp"
#include "testbed/traffic.hpp"

namespace fipd::testbed {

// A configuration with two servers and `fips` floating IPs on web-1.
inline std::string rig_config(const Topology& t, int fips, const std::string& table) {
  std::string s = "[engine]\nhealth_listen = \"\"\nnft_table = \"" + table + R"("
audit_interval = "1h"
[probe_defaults]
kind = "tcp"
port = 7000
interval = "10ms"
timeout = "50ms"
rise = 2
fall = 3
[[server]]
name = "web-1"
address = [")" + t.servers[0].v4.str() + "\", \"" + t.servers[0].v6.str() + R"("]
[[server]]
name = "spare-1"
address = [")" + t.servers[1].v4.str() + "\", \"" + t.servers[1].v6.str() + R"("]
spare = true
)";
  for (int i = 0; i < fips; ++i) {
    char a[64];
    if (i < 256) std::snprintf(a, sizeof(a), "203.0.113.%d", i);
    else if (i < 512) std::snprintf(a, sizeof(a), "198.51.100.%d", i - 256);
    else std::snprintf(a, sizeof(a), "2001:db8:f::%x", i);
    s += "[[floating_ip]]\naddress = \"" + std::string(a) + "\"\nserver = \"web-1\"\nmode = \"nat\"\n";
  }
  return s;
}

// A state store whose writes land only when the test says so: saves are
// only counted, and written() stays at the last save released. So a test
// can hold durability back and see who waits for it.
class HeldStore final : public state::Store {
 public:
  HeldStore() : notify_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  Result<state::Loaded> load() override { return state::Loaded{}; }
  state::SaveSeq save(state::Delta) override {
    std::lock_guard lock(mu_);
    ++saved_;
    if (!held_) wake();
    return saved_;
  }
  state::Written written() const override {
    std::lock_guard lock(mu_);
    return {.seq = held_ ? released_ : saved_};
  }
  Status flush() override { return {}; }
  int result_fd() const override { return notify_.get(); }
  void drain_result() override {
    uint64_t n = 0;
    (void)!::read(notify_.get(), &n, sizeof(n));
  }
  // From the test's thread.
  void hold() {
    std::lock_guard lock(mu_);
    held_ = true;
    released_ = saved_;
  }
  void release() {
    std::lock_guard lock(mu_);
    held_ = false;
    wake();
  }

 private:
  void wake() {
    uint64_t one = 1;
    (void)!::write(notify_.get(), &one, sizeof(one));
  }
  Fd notify_;
  mutable std::mutex mu_;
  state::SaveSeq saved_ = 0, released_ = 0;
  bool held_ = false;
};

class EngineRig {
 public:
  // `store`: kept by the test as well; null for the real state file.
  EngineRig(int fips, control::ControlOptions options, std::shared_ptr<HeldStore> store = nullptr)
      : store_(std::move(store)) {
    if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    log::set_level(log::Level::warning);  // thousands of requests, each logged at notice
    socket_ = dir_.file("fipd.sock");
    auto t = Topology::create({.servers = 2});
    if (!t) {
      error_ = t.error().message();
      return;
    }
    topo_.emplace(std::move(*t));
    for (int i = 0; i < 2; ++i) {
      auto echo = EchoServer::start(topo_->servers[i].ns, 7000, "S" + std::to_string(i));
      if (!echo) {
        error_ = echo.error().message();
        return;
      }
      echo_[i] = std::move(*echo);
    }
    std::string toml = rig_config(*topo_, fips, "fipdrig");
    dir_.write("fipd.toml", toml);
    Netns* ns_ = &topo_->router;
    options.path = socket_;
    options.version = "test";
    // Threads inherit the namespace of the thread that starts them.
    ns_->enter([&] { thread_ = std::thread([this, toml, options] { body(toml, options); }); });
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(20), [this] { return ready_ || !error_.empty(); });
    if (!ready_ && error_.empty()) error_ = "the rig did not start";
  }
  ~EngineRig() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  const std::string& error() const { return error_; }
  const std::string& socket() const { return socket_; }
  const std::string& dir() const { return dir_.path(); }  // the state file is dir()/state.json

 private:
  void body(const std::string& toml, const control::ControlOptions& options) {
    auto fail = [this](const std::string& e) {
      std::lock_guard lock(mu_);
      error_ = e;
      cv_.notify_all();
    };
    auto cfg = config::parse_config(toml, dir_.file("fipd.toml"));
    if (!cfg) return fail(cfg.error().front().str());
    engine::EngineOptions eo{.config_path = dir_.file("fipd.toml"), .state_path = dir_.file("state.json"),
                             .make_prober = [](loop::Loop& l) -> std::unique_ptr<probe::Prober> {
                               return std::make_unique<probe::SocketProber>(l);
                             }};
    if (store_)
      eo.make_store = [store = store_](const std::string&) -> std::unique_ptr<state::Store> {
        return std::make_unique<SharedStore>(store);
      };
    auto e = engine::Engine::create(std::move(*cfg), std::move(eo));
    if (!e) return fail(e.error().message());
    {
      metrics::Metrics m(**e, {.version = "test"});
      auto cs = control::ControlServer::create(**e, m, options);
      if (!cs) return fail(cs.error().message());
      if (auto r = (*e)->start(); !r) return fail(r.error().message());
      {
        std::lock_guard lock(mu_);
        ready_ = true;
        cv_.notify_all();
      }
      while (!stop_) (void)(*e)->loop().run_once(std::chrono::milliseconds(5));
    }
  }

  // The engine owns its store; the test keeps the HeldStore too.
  class SharedStore final : public state::Store {
   public:
    explicit SharedStore(std::shared_ptr<HeldStore> s) : s_(std::move(s)) {}
    Result<state::Loaded> load() override { return s_->load(); }
    state::SaveSeq save(state::Delta d) override { return s_->save(std::move(d)); }
    state::Written written() const override { return s_->written(); }
    Status flush() override { return s_->flush(); }
    int result_fd() const override { return s_->result_fd(); }
    void drain_result() override { s_->drain_result(); }

   private:
    std::shared_ptr<HeldStore> s_;
  };

  std::shared_ptr<HeldStore> store_;
  TempDir dir_{"rig"};
  std::string socket_, error_;
  std::optional<Topology> topo_;
  std::unique_ptr<EchoServer> echo_[2];
  std::thread thread_;
  std::atomic<bool> stop_{false};
  bool ready_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace fipd::testbed
