// SPDX-License-Identifier: GPL-2.0-or-later
#include "testbed/reachable_copy.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>
#include <utility>

namespace fipd::testbed {

namespace fs = std::filesystem;

Result<ReachableCopy> ReachableCopy::make(const std::vector<std::string>& files, std::optional<Owner> owner) {
  std::optional<TempDir> dir;
  try {
    dir.emplace("reachable");
  } catch (const std::system_error& e) {
    return fail(e.code().value(), e.what());
  }
  ReachableCopy copy{std::move(*dir)};
  // mkdtemp makes it 0700, and the umask must not decide either mode.
  if (::chmod(copy.dir().c_str(), 0755) != 0) return fail(errno, "chmod " + copy.dir());
  for (const auto& file : files) {
    std::error_code ec;
    const std::string to = copy.path(file);
    fs::copy_file(file, to, ec);
    if (ec) return fail(ec.value(), "copy " + file + " to " + copy.dir());
    struct stat st{};
    if (::stat(file.c_str(), &st) != 0) return fail(errno, "stat " + file);
    if (::chmod(to.c_str(), (st.st_mode & S_IXUSR) ? 0755 : 0644) != 0) return fail(errno, "chmod " + to);
  }
  if (owner && ::chown(copy.dir().c_str(), owner->uid, owner->gid) != 0) return fail(errno, "chown " + copy.dir());
  return copy;
}

std::string ReachableCopy::path(const std::string& file) const {
  return dir_.file(fs::path(file).filename().string());
}

}  // namespace fipd::testbed
