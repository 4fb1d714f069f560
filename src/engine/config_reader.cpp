// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/engine/config_reader.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace fipd::engine {

Result<std::unique_ptr<ConfigReader>> ConfigReader::create(loop::Loop& loop) {
  std::unique_ptr<ConfigReader> r(new ConfigReader(loop));
  r->wake_ = Fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!r->wake_) return fail(errno, "eventfd for configuration reads");
  auto src = loop.add_io(r->wake_.get(), EPOLLIN, [p = r.get()](uint32_t) { p->on_ready(); });
  if (!src) return std::unexpected(src.error());
  r->source_ = *src;
  return r;
}

ConfigReader::~ConfigReader() {
  if (worker_.joinable()) worker_.join();
  loop_.remove(source_);
}

bool ConfigReader::read(std::string path, Done done) {
  if (worker_.joinable()) return false;
  done_ = std::move(done);
  // The thread inherits the loop thread's signal mask, so the signals the
  // loop takes through its signalfd stay blocked on it too.
  worker_ = std::thread([this, path = std::move(path)] {
    ReadConfig r{.config = config::load_config(path), .local_addresses = config::read_local_addresses()};
    {
      std::lock_guard lock(mu_);
      result_ = std::move(r);
    }
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof(one));
  });
  return true;
}

void ConfigReader::on_ready() {
  uint64_t n;
  [[maybe_unused]] ssize_t r = ::read(wake_.get(), &n, sizeof(n));
  std::optional<ReadConfig> result;
  {
    std::lock_guard lock(mu_);
    result.swap(result_);
  }
  if (!result) return;
  worker_.join();  // it has written its result: only its return is left
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(*result));
}

}  // namespace fipd::engine
