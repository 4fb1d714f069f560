// SPDX-License-Identifier: GPL-2.0-or-later
#include "testbed/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace fipd::testbed {
namespace {

bool g_isolated = false;

Fd open_current_netns() {
  return Fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
}

}  // namespace

bool isolate_process() {
  if (unshare(CLONE_NEWNET) != 0) return false;
  // lo starts down in a new namespace; tests rely on loopback working.
  if (std::system("ip link set lo up") != 0) return false;
  g_isolated = true;
  return true;
}

bool isolated() { return g_isolated; }

Result<Netns> Netns::create(std::string name) {
  Fd home = open_current_netns();
  if (!home) return fail(errno, "open current network namespace");
  if (unshare(CLONE_NEWNET) != 0) return fail(errno, "unshare network namespace " + name);
  Fd fd = open_current_netns();
  int saved = errno;
  // Back home before anything else can fail, so the caller's thread never
  // stays in the new namespace.
  if (setns(home.get(), CLONE_NEWNET) != 0) std::abort();
  if (!fd) return fail(saved, "open network namespace " + name);
  Netns ns(std::move(name), std::move(fd));
  if (auto r = ns.run({"ip", "link", "set", "lo", "up"}); !r) return std::unexpected(r.error());
  return ns;
}

std::string Netns::path() const {
  return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd_.get());
}

void Netns::enter(const std::function<void()>& fn) const {
  Fd home = open_current_netns();
  if (!home || setns(fd_.get(), CLONE_NEWNET) != 0) std::abort();
  fn();
  if (setns(home.get(), CLONE_NEWNET) != 0) std::abort();
}

CommandResult Netns::exec(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) const {
  return testbed::run({.argv = argv, .netns = fd()}, timeout);
}

Result<std::string> Netns::run(const std::vector<std::string>& argv) const {
  auto r = exec(argv);
  if (r.status != 0)
    return fail(ECHILD, "in " + name_ + ": '" + command_line(argv) + "' exited " +
                                std::to_string(r.status) + ": " + r.err);
  return r.out;
}

Result<std::string> Netns::sh(const std::string& script) const { return run({"sh", "-c", script}); }

Result<Child> Netns::spawn(const std::vector<std::string>& argv, const std::string& stdout_path,
                           const std::string& stderr_path) const {
  return testbed::spawn({.argv = argv, .netns = fd(), .stdout_path = stdout_path, .stderr_path = stderr_path});
}

Status Netns::sysctl(const std::string& key, const std::string& value) const {
  if (auto r = run({"sysctl", "-qw", key + "=" + value}); !r) return std::unexpected(r.error());
  return {};
}

Status link_veth(const Netns& a, const std::string& a_if, const Netns& b, const std::string& b_if) {
  if (auto r = a.run({"ip", "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns",
                      b.path()});
      !r)
    return std::unexpected(r.error());
  if (auto r = a.run({"ip", "link", "set", a_if, "up"}); !r) return std::unexpected(r.error());
  if (auto r = b.run({"ip", "link", "set", b_if, "up"}); !r) return std::unexpected(r.error());
  return {};
}

}  // namespace fipd::testbed
