// SPDX-License-Identifier: GPL-2.0-or-later
// Optional names for the harness's anonymous namespaces, so that an operator
// can look inside during a run (`ip netns exec fipdb-router nft list ruleset`).
//
// A name is a bind mount of the namespace at /run/netns/<name>, as `ip netns`
// makes them; names always start with "fipdb-". Unlike the anonymous
// namespaces, a mount outlives a process killed by SIGKILL, so names are
// opt-in, removed on every other exit path (destructors, and
// remove_all_for_signal() from a signal handler), and a name already taken
// (by another run, or left by a killed one) is refused, never reused.
//
// Owns: one mount and its mount point. Thread: any; the registry of live
// names is lock-free so that a signal handler can read it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "testbed/netns.hpp"

namespace fipd::bench {


inline constexpr std::string_view kNetnsPrefix = "fipdb-";

// The prefix must start with "fipdb-" and be a plain file name.
Status check_prefix(const std::string& prefix);
// An error naming the first of prefix+role that exists, with how to remove it.
Status check_names_free(const std::string& prefix, const std::vector<std::string>& roles);

class NetnsName {
 public:
  static Result<NetnsName> bind(const testbed::Netns& ns, const std::string& name);
  NetnsName() = default;
  NetnsName(NetnsName&& o) noexcept;
  NetnsName& operator=(NetnsName&& o) noexcept;
  ~NetnsName();
  const std::string& path() const { return path_; }

 private:
  void remove();
  std::string path_;
  int slot_ = -1;
};

// Unmounts and unlinks every live name; async-signal-safe.
void remove_all_names_for_signal();

}  // namespace fipd::bench
