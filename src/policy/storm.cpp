// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/policy/storm.hpp"

#include <cstdio>

namespace fipd::policy {

void StormGuard::expire(TimePoint now) {
  while (!window_.empty() && now - window_.front().at > o_.window) {
    gone_ -= window_.front().gone;
    count_.erase(window_.front().server);
    window_.pop_front();
  }
}

bool StormGuard::trips() const {
  return window_.size() >= o_.min_failures &&
         static_cast<double>(window_.size()) > o_.share * static_cast<double>(counted_against());
}

bool StormGuard::failed(const std::string& server, TimePoint now, size_t servers, bool known) {
  expire(now);
  servers_ = servers;
  if (count_.emplace(server, 1).second) {
    window_.push_back({now, server, !known});
    gone_ += !known;
  }
  if (active_ || !trips()) return false;
  active_ = true;
  return true;
}

bool StormGuard::active(TimePoint now) {
  expire(now);
  if (active_ && !trips()) {
    active_ = false;
    ended_ = true;
  }
  return active_;
}

bool StormGuard::ended() {
  bool e = ended_;
  ended_ = false;
  return e;
}

std::optional<TimePoint> StormGuard::first() const {
  if (window_.empty()) return std::nullopt;
  return window_.front().at;
}

std::optional<TimePoint> StormGuard::last() const {
  if (window_.empty()) return std::nullopt;
  return window_.back().at;
}

std::string describe(const StormGuard& g) {
  double span = 0;
  if (g.first()) span = std::chrono::duration<double>(*g.last() - *g.first()).count();
  char within[32];
  std::snprintf(within, sizeof within, span < 10 ? "%.3f s" : "%.0f s", span);
  return std::to_string(g.failures()) + " of " + std::to_string(g.counted_against()) + " servers failed within " +
         within;
}

}  // namespace fipd::policy
