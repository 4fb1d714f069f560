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

#include "testbed/netns.hpp"

namespace fipd::testbed {

struct UnprivilegedOptions {
  uid_t uid = 65534;  // nobody
  gid_t gid = 65534;  // nogroup
  std::string cwd;    // the child's working folder
  std::string stdout_path, stderr_path;
  uint64_t capabilities = (1ULL << CAP_NET_ADMIN) | (1ULL << CAP_NET_RAW);  // a subset of these two
};

// A process running `argv` (argv[0] a path) in `ns` as described above
// (testbed/process.hpp starts it: a failed step exits it with 120 + 10 +
// the step's number, its errno on stderr).
inline Result<Child> spawn_unprivileged(const Netns& ns, const std::vector<std::string>& argv,
                                        const UnprivilegedOptions& o) {
  int last_cap = 40;
  std::ifstream("/proc/sys/kernel/cap_last_cap") >> last_cap;
  // A clean environment, as systemd gives, but for the sanitizers' options
  // of a sanitizer build.
  std::vector<std::string> env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"};
  for (const char* name : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"})
    if (const char* v = getenv(name)) env.push_back(std::string(name) + "=" + v);
  // The bounding set can be dropped only while root, so the ids change here
  // and not through Launch::as.
  auto drop = [last_cap, o]() -> int {
    for (int c = 0; c <= last_cap; ++c)
      if (c != CAP_NET_ADMIN && c != CAP_NET_RAW && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) return 1;
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return 2;
    if (setgroups(0, nullptr) != 0 || setresgid(o.gid, o.gid, o.gid) != 0) return 3;
    if (setresuid(o.uid, o.uid, o.uid) != 0) return 4;
    __user_cap_header_struct header{.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    __user_cap_data_struct data[2]{};
    data[0].effective = data[0].permitted = data[0].inheritable = static_cast<uint32_t>(o.capabilities);
    if (syscall(SYS_capset, &header, data) != 0) return 5;
    for (int c : {CAP_NET_ADMIN, CAP_NET_RAW})
      if ((o.capabilities >> c & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0) return 6;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 7;
    return 0;
  };
  return spawn({.argv = argv, .netns = ns.fd(), .env = env, .cwd = o.cwd, .stdout_path = o.stdout_path,
                .stderr_path = o.stderr_path, .before_exec = drop});
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
