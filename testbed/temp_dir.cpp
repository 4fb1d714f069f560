// SPDX-License-Identifier: GPL-2.0-or-later
#include "testbed/temp_dir.hpp"

#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <utility>

namespace fipd::testbed {

TempDir::TempDir(std::string_view tag, std::string_view base) {
  std::string tmpl = std::string(base) + "/fipd-" + std::string(tag) + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::system_error(errno, std::generic_category(), "mkdtemp " + tmpl);
  path_ = std::move(tmpl);
}

TempDir::TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}

TempDir& TempDir::operator=(TempDir&& o) noexcept {
  if (this != &o) {
    TempDir gone(std::move(*this));
    path_ = std::exchange(o.path_, {});
  }
  return *this;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::write(std::string_view name, std::string_view text) const {
  std::string path = file(name);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

}  // namespace fipd::testbed
