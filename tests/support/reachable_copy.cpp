// SPDX-License-Identifier: GPL-2.0-or-later
#include "tests/support/reachable_copy.hpp"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <utility>

namespace fipd::testbed {

namespace fs = std::filesystem;

nl::Result<ReachableCopy> ReachableCopy::make(const std::vector<std::string>& files, std::optional<Owner> owner) {
  char tmpl[] = "/tmp/fipd-reachable-XXXXXX";
  if (!mkdtemp(tmpl)) return nl::fail(errno, "mkdtemp /tmp/fipd-reachable-XXXXXX");
  ReachableCopy copy{std::string(tmpl)};
  // mkdtemp makes it 0700, and the umask must not decide either mode.
  if (::chmod(tmpl, 0755) != 0) return nl::fail(errno, "chmod " + copy.dir_);
  for (const auto& file : files) {
    std::error_code ec;
    const std::string to = copy.path(file);
    fs::copy_file(file, to, ec);
    if (ec) return nl::fail(ec.value(), "copy " + file + " to " + copy.dir_);
    struct stat st{};
    if (::stat(file.c_str(), &st) != 0) return nl::fail(errno, "stat " + file);
    if (::chmod(to.c_str(), (st.st_mode & S_IXUSR) ? 0755 : 0644) != 0) return nl::fail(errno, "chmod " + to);
  }
  if (owner && ::chown(tmpl, owner->uid, owner->gid) != 0) return nl::fail(errno, "chown " + copy.dir_);
  return copy;
}

ReachableCopy::ReachableCopy(ReachableCopy&& o) noexcept : dir_(std::exchange(o.dir_, {})) {}

ReachableCopy& ReachableCopy::operator=(ReachableCopy&& o) noexcept {
  if (this != &o) {
    ReachableCopy gone(std::move(*this));
    dir_ = std::exchange(o.dir_, {});
  }
  return *this;
}

ReachableCopy::~ReachableCopy() {
  if (dir_.empty()) return;
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string ReachableCopy::path(const std::string& file) const {
  return dir_ + "/" + fs::path(file).filename().string();
}

}  // namespace fipd::testbed
