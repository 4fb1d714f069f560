// SPDX-License-Identifier: GPL-2.0-or-later
// Programs copied where another user can run them.
//
// A test that runs a program as another user (nobody) cannot run it from the
// build tree: in a checkout under /root (mode 0700), or below any folder that
// user may not enter, execve fails with EACCES and the child exits 127. So
// every such test runs a copy: the program, and whatever else it needs from
// the tree, go into a fresh folder under /tmp that the user can enter (mode
// 0755; owned by the user when it must also write there), removed with this
// object. Every test that runs something as another user goes through here.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "testbed/temp_dir.hpp"

namespace fipd::testbed {

class ReachableCopy {
 public:
  struct Owner {
    uid_t uid;
    gid_t gid;
  };

  // Copies each of `files` under its own name into a new folder
  // /tmp/fipd-reachable-XXXXXX: executables with mode 0755, other files 0644.
  // The folder is 0755, root's unless `owner` is given.
  static Result<ReachableCopy> make(const std::vector<std::string>& files, std::optional<Owner> owner = {});

  const std::string& dir() const { return dir_.path(); }
  // The copy of `file`: a path given to make(), or its bare name.
  std::string path(const std::string& file) const;

 private:
  explicit ReachableCopy(TempDir dir) : dir_(std::move(dir)) {}
  TempDir dir_;
};

}  // namespace fipd::testbed
