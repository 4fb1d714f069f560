// SPDX-License-Identifier: GPL-2.0-or-later
// For the harness's teardown tests: is a network namespace still alive?
// A namespace lives while a process is in it (any thread), a descriptor
// holds it, or a mount names it; none of those left means the kernel has
// deleted it, with everything in it.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <string>
#include <vector>

namespace fipd::bench::testing {

inline std::string link_of(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf) - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

inline std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    closedir(d);
  }
  return out;
}

// Who still holds `id` ("net:[4026532...]"): a description, or empty.
inline std::string holder_of(const std::string& id) {
  std::string inode = id.substr(id.find('[') + 1);
  inode.pop_back();
  {
    std::ifstream mounts("/proc/self/mountinfo");
    for (std::string line; std::getline(mounts, line);)
      if (line.find(id) != std::string::npos || line.find("net:[" + inode + "]") != std::string::npos)
        return "mount: " + line;
  }
  for (const auto& pid : entries("/proc")) {
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string base = "/proc/" + pid;
    for (const auto& tid : entries(base + "/task"))
      if (link_of(base + "/task/" + tid + "/ns/net") == id) return "process " + pid + " (thread " + tid + ")";
    for (const auto& fd : entries(base + "/fd"))
      if (link_of(base + "/fd/" + fd) == id) return "descriptor " + fd + " of process " + pid;
  }
  return {};
}

}  // namespace fipd::bench::testing
