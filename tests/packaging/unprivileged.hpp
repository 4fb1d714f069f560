// SPDX-License-Identifier: GPL-2.0-or-later
// Starts a program the way the packaged unit starts fipd: as an unprivileged
// user whose only capabilities are ambient CAP_NET_ADMIN and CAP_NET_RAW
// (AmbientCapabilities= and CapabilityBoundingSet= of fipd.service), with
// no_new_privs (NoNewPrivileges=yes), no supplementary groups, in a network
// namespace of the test.
//
// The child drops, in order: every other capability from its bounding set
// (needs CAP_SETPCAP, so while still root), its groups and ids (keeping its
// capabilities across setuid with PR_SET_KEEPCAPS), then sets exactly the two
// capabilities as permitted, effective and inheritable, raises them ambient
// (so they survive execve of a file without file capabilities), and sets
// no_new_privs. Only system calls run between fork and exec.
//
// Header-only: tests/CMakeLists.txt builds each *_test.cpp on its own.
#pragma once

#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/netns.hpp"

namespace fipd::testbed {

struct UnprivilegedOptions {
  uid_t uid = 65534;  // nobody
  gid_t gid = 65534;  // nogroup
  std::string cwd;    // the child's working folder
  std::string stdout_path, stderr_path;
  uint64_t capabilities = (1ULL << CAP_NET_ADMIN) | (1ULL << CAP_NET_RAW);  // a subset of these two
};

// A process running `argv` (argv[0] a path) in `ns` as described above;
// SIGKILLed when the test process dies. A step that fails in the child
// exits it with 120 + the step's number, its errno on stderr.
inline Result<Child> spawn_unprivileged(const Netns& ns, const std::vector<std::string>& argv,
                                        const UnprivilegedOptions& o) {
  int last_cap = 40;
  std::ifstream("/proc/sys/kernel/cap_last_cap") >> last_cap;
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // A clean environment, as systemd gives, but for the sanitizers' options
  // of a sanitizer build.
  std::vector<std::string> env_text = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
    if (const char* v = getenv(name)) env_text.push_back(std::string(name) + "=" + v);
  std::vector<char*> env;
  for (auto& e : env_text) env.push_back(e.data());
  env.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return nl::fail(errno, "fork");
  if (pid > 0) return Child(pid);

  auto die = [](int step) {
    const char* e = strerrorname_np(errno);
    [[maybe_unused]] auto n = ::write(2, e, strlen(e));
    _exit(120 + step);
  };
  auto redirect = [&](const std::string& path, int target) {
    if (path.empty()) return;
    int f = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f < 0 || dup2(f, target) < 0) die(0);
  };
  redirect(o.stdout_path, 1);
  redirect(o.stderr_path, 2);
  if (int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC); in >= 0) dup2(in, 0);
  if (setns(ns.fd(), CLONE_NEWNET) != 0) die(1);
  for (int c = 0; c <= last_cap; ++c)
    if (c != CAP_NET_ADMIN && c != CAP_NET_RAW && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) die(2);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) die(3);
  if (setgroups(0, nullptr) != 0 || setresgid(o.gid, o.gid, o.gid) != 0) die(4);
  if (setresuid(o.uid, o.uid, o.uid) != 0) die(5);
  __user_cap_header_struct header{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  __user_cap_data_struct data[2]{};
  data[0].effective = data[0].permitted = data[0].inheritable = static_cast<uint32_t>(o.capabilities);
  if (syscall(SYS_capset, &header, data) != 0) die(6);
  for (int c : {CAP_NET_ADMIN, CAP_NET_RAW})
    if ((o.capabilities >> c & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0) die(7);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(8);
  // Set after the change of ids, which clears it.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!o.cwd.empty() && chdir(o.cwd.c_str()) != 0) die(9);
  execve(args[0], args.data(), env.data());
  die(10);
  return nl::fail(0, "unreachable");
}

// A line of /proc/PID/status without its name: "CapEff", "CapBnd", "Uid",
// "NoNewPrivs"...; empty when absent.
inline std::string proc_status_field(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(field + ":")) {
      std::string v = line.substr(field.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  return {};
}

}  // namespace fipd::testbed
