// SPDX-License-Identifier: GPL-2.0-or-later
// Throwaway network namespaces for tests and benchmarks.
//
// Safety first: isolate_process() moves the whole test process into a fresh
// anonymous namespace before anything else runs, so even a buggy test cannot
// add an address, route or rule to the machine's root namespace. Every
// namespace here is anonymous (unshare(CLONE_NEWNET)) and held only by a file
// descriptor of this process: when the process exits, however it exits, the
// kernel destroys the namespaces and everything in them. Processes started
// inside them die with the test too (testbed/process.hpp).
//
// Tools (ip, nft, conntrack, nsenter) reach a namespace through path(),
// /proc/<pid>/fd/<fd>, which `ip ... netns PATH` and `nsenter --net=PATH` accept.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "testbed/process.hpp"

namespace fipd::testbed {


// Moves this process into a new network namespace with lo up. Returns false
// (and leaves the process where it is) when not permitted, e.g. not root.
bool isolate_process();
// True once isolate_process() succeeded: kernel tests skip otherwise.
bool isolated();

class Netns {
 public:
  // A new anonymous namespace with lo up; `name` only labels messages.
  static Result<Netns> create(std::string name);

  const std::string& name() const { return name_; }
  int fd() const { return fd_.get(); }
  std::string path() const;

  // Runs fn with the calling thread inside this namespace, then returns the
  // thread to where it was. Sockets created inside stay in this namespace.
  void enter(const std::function<void()>& fn) const;

  // Runs a command inside and waits, at most `timeout` (testbed/process.hpp).
  CommandResult exec(const std::vector<std::string>& argv,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Runs a command; an Error quoting its stderr if it exits non-zero.
  Result<std::string> run(const std::vector<std::string>& argv) const;
  // Runs `sh -c script` inside; an Error if it exits non-zero.
  Result<std::string> sh(const std::string& script) const;
  // Starts a process inside and returns at once. stdout/stderr go to the
  // given files when set, else are inherited. Anything else: spawn() with
  // Launch::netns = fd().
  Result<Child> spawn(const std::vector<std::string>& argv, const std::string& stdout_path = {},
                      const std::string& stderr_path = {}) const;

  // Writes a sysctl of this namespace, e.g. ("net.ipv4.ip_forward", "1").
  Status sysctl(const std::string& key, const std::string& value) const;

 private:
  Netns(std::string name, Fd fd) : name_(std::move(name)), fd_(std::move(fd)) {}
  std::string name_;
  Fd fd_;
};

// A veth pair with one end in each namespace, both up.
Status link_veth(const Netns& a, const std::string& a_if, const Netns& b, const std::string& b_if);

}  // namespace fipd::testbed
