// SPDX-License-Identifier: GPL-2.0-or-later
#include "testbed/daemon.hpp"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace fipd::testbed {

bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (fn()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Daemon::Daemon(std::string binary) : binary_(std::move(binary)) {}

Daemon::~Daemon() { kill(); }

void Daemon::write_config(const std::string& toml) const {
  std::ofstream(config_path()) << toml;
}

Status Daemon::start(const Netns& ns, std::chrono::milliseconds timeout) {
  ++starts_;
  // Each start logs to a fresh file; the previous run's log is kept in
  // log_path() for failure messages.
  {
    std::ifstream prev(log_path() + ".new");
    if (prev) std::ofstream(log_path(), std::ios::app) << prev.rdbuf();
  }
  // Removed here, not truncated by the child: otherwise the wait below could
  // read the previous run's "fipd running" before the child opens the file.
  std::filesystem::remove(log_path() + ".new");
  auto c = ns.spawn({binary_, "--config", config_path(), "--state", state_path(), "--socket", socket_path(),
                     "--log-level", "debug"},
                    "/dev/null", log_path() + ".new");
  if (!c) return std::unexpected(c.error());
  child_ = std::move(*c);
  bool ok = eventually(
      [&] {
        std::ifstream in(log_path() + ".new");
        std::string text((std::istreambuf_iterator<char>(in)), {});
        return text.find("fipd running") != std::string::npos || child_.wait_for(0) != -1;
      },
      timeout);
  std::ifstream in(log_path() + ".new");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  if (!ok || text.find("fipd running") == std::string::npos)
    return fail(ETIMEDOUT, "fipd did not start; its log:\n" + text);
  return {};
}

void Daemon::kill() {
  if (child_.running()) {
    child_.signal(SIGKILL);
    child_.wait();
  }
}

int Daemon::stop() {
  if (!child_.running()) return -1;
  child_.signal(SIGTERM);
  int ws = child_.wait_for(10000);
  if (ws == -1) {
    kill();
    return -1;
  }
  return ws;
}

std::string Daemon::log() const {
  std::ifstream in(log_path() + ".new");
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

bool Daemon::wait_for_log(const std::string& text, std::chrono::milliseconds timeout, int count) const {
  return eventually(
      [&] {
        std::string l = log();
        int n = 0;
        for (size_t at = l.find(text); at != std::string::npos; at = l.find(text, at + 1)) ++n;
        return n >= count;
      },
      timeout);
}

}  // namespace fipd::testbed
