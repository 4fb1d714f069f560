// SPDX-License-Identifier: GPL-2.0-or-later
// A fresh folder for one test, benchmark or daemon, removed with everything
// in it when the object dies. Every temporary folder of the tests, the
// benchmarks and fipd-bench comes from here.
#pragma once

#include <string>
#include <string_view>

namespace fipd::testbed {

class TempDir {
 public:
  // <base>/fipd-<tag>-XXXXXX, mode 0700. /tmp is a tmpfs on most machines;
  // a benchmark that measures fsync asks for /var/tmp. Throws
  // std::system_error naming the folder when it cannot be made: a test
  // without its folder cannot run, and GoogleTest reports the exception as
  // the test's failure.
  explicit TempDir(std::string_view tag, std::string_view base = "/tmp");
  TempDir(TempDir&& o) noexcept;
  TempDir& operator=(TempDir&& o) noexcept;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  const std::string& path() const { return path_; }
  // path()/name
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Writes `text` to file(name), replacing it; its path.
  std::string write(std::string_view name, std::string_view text) const;

 private:
  std::string path_;
};

}  // namespace fipd::testbed
