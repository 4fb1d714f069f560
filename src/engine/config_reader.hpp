// SPDX-License-Identifier: GPL-2.0-or-later
// Reads and checks a configuration file off the loop, for a reload: a file
// of 50,000 servers takes seconds to parse, and the loop must keep probing
// meanwhile. config::load_config() (the file read, the parse, the group
// lookup, the netlink dump of the router's addresses) runs on a thread of
// its own, one per read; the result comes back to the loop through an
// eventfd the loop watches, as the metrics walk wakes itself, and `done`
// runs on the loop.
//
// Owns: the thread (joined once its result is taken, or by the destructor)
// and the eventfd. Thread: read() and the callback on the loop's. Failures:
// create() returns the eventfd's or the loop's error; a file's problems are
// the result handed to `done`.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/fd.hpp"
#include "src/config/addresses.hpp"
#include "src/config/config.hpp"
#include "src/loop/loop.hpp"

namespace fipd::engine {

struct ReadConfig {
  config::ConfigResult config;
  Result<config::LocalAddresses> local_addresses;
};

class ConfigReader {
 public:
  using Done = std::function<void(ReadConfig)>;

  static Result<std::unique_ptr<ConfigReader>> create(loop::Loop& loop);
  ~ConfigReader();
  ConfigReader(const ConfigReader&) = delete;
  ConfigReader& operator=(const ConfigReader&) = delete;

  // False (and nothing started) while a read is in progress.
  bool read(std::string path, Done done);
  bool busy() const { return worker_.joinable(); }

 private:
  explicit ConfigReader(loop::Loop& loop) : loop_(loop) {}
  void on_ready();

  loop::Loop& loop_;
  Fd wake_;
  loop::SourceId source_ = loop::kNoSource;
  std::thread worker_;
  std::mutex mu_;
  std::optional<ReadConfig> result_;  // guarded by mu_
  Done done_;
};

}  // namespace fipd::engine
