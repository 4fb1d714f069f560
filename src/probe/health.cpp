// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/probe/health.hpp"

#include <algorithm>
#include <cstring>

namespace fipd::probe {

const char* health_name(Health h) {
  switch (h) {
    case Health::unknown: return "unknown";
    case Health::up: return "up";
    case Health::suspect: return "suspect";
    case Health::down: return "down";
  }
  return "?";
}

const char* cause_name(Cause c) {
  switch (c) {
    case Cause::ok: return "ok";
    case Cause::timeout: return "timeout";
    case Cause::silent: return "silent";
    case Cause::refused: return "refused";
    case Cause::reset: return "reset";
    case Cause::closed: return "closed";
    case Cause::unreachable: return "unreachable";
    case Cause::bad_status: return "bad status";
    case Cause::reply_mismatch: return "reply mismatch";
    case Cause::bad_reply: return "bad reply";
    case Cause::local_error: return "local error";
    case Cause::neighbour_failed: return "neighbour failed";
    case Cause::carrier_lost: return "carrier lost";
    case Cause::kernel_rst: return "kernel rst";
    case Cause::manual: return "manual";
  }
  return "?";
}

std::string describe(Cause c, int detail) {
  std::string s = cause_name(c);
  if (detail == 0) return s;
  if (c == Cause::bad_status) return s + " " + std::to_string(detail);
  if (c == Cause::local_error || c == Cause::unreachable) {
    const char* name = strerrorname_np(detail);
    return s + " " + (name ? name : std::to_string(detail));
  }
  return s;
}

Health Hysteresis::apply(bool success) {
  if (success) {
    failures_ = 0;
    ++successes_;
    // A suspect server that was up: one success clears the doubt. From
    // unknown or down (or suspect before it was ever up) it takes `rise` in a row.
    if ((state_ == Health::suspect && suspect_was_up_) || (state_ != Health::up && successes_ >= rise_))
      state_ = Health::up;
  } else {
    successes_ = 0;
    ++failures_;
    if (failures_ >= fall_)
      state_ = Health::down;
    else if (state_ == Health::up)
      enter_suspect();
  }
  return state_;
}

Health Hysteresis::suspect() {
  if (state_ == Health::up || state_ == Health::unknown) enter_suspect();
  return state_;
}

Health Hysteresis::silent() {
  successes_ = 0;
  failures_ = std::max(failures_, fall_);
  state_ = Health::down;
  return state_;
}

void Hysteresis::enter_suspect() {
  suspect_was_up_ = state_ == Health::up;
  state_ = Health::suspect;
}

bool Hysteresis::transitioning() const {
  switch (state_) {
    case Health::unknown:
    case Health::suspect: return true;
    case Health::down: return successes_ > 0;
    case Health::up: return false;
  }
  return false;
}

}  // namespace fipd::probe
