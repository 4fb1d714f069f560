// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/netns_names.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <utility>

namespace fipd::bench {
namespace {

constexpr const char* kRunNetns = "/run/netns";
constexpr int kSlots = 32;
// Paths of live names for the signal handler: a slot is published (state 2)
// only once its path is written, and taken back before it is cleared.
char g_paths[kSlots][128];
std::atomic<int> g_state[kSlots];

int claim_slot(const std::string& path) {
  if (path.size() >= sizeof(g_paths[0])) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (g_state[i].compare_exchange_strong(expected, 1)) {
      std::memcpy(g_paths[i], path.c_str(), path.size() + 1);
      g_state[i].store(2);
      return i;
    }
  }
  return -1;
}

void release_slot(int slot) {
  if (slot >= 0) g_state[slot].store(0);
}

}  // namespace

Status check_prefix(const std::string& prefix) {
  if (prefix.rfind(kNetnsPrefix, 0) != 0)
    return fail(EINVAL, "--netns-prefix '" + prefix + "' must start with '" + std::string(kNetnsPrefix) + "'");
  if (prefix.find('/') != std::string::npos || prefix.size() > 40)
    return fail(EINVAL, "--netns-prefix '" + prefix + "' must be a short name without '/'");
  return {};
}

Status check_names_free(const std::string& prefix, const std::vector<std::string>& roles) {
  for (const auto& role : roles) {
    std::string name = prefix + role;
    struct stat st{};
    if (stat((std::string(kRunNetns) + "/" + name).c_str(), &st) == 0)
      return fail(EEXIST, "network namespace name " + name +
                                  " is taken (another fipd-bench running, or one killed by SIGKILL?); "
                                  "if no run uses it, remove it with: ip netns delete " + name);
  }
  return {};
}

Result<NetnsName> NetnsName::bind(const testbed::Netns& ns, const std::string& name) {
  mkdir(kRunNetns, 0755);
  NetnsName n;
  std::string path = std::string(kRunNetns) + "/" + name;
  // O_EXCL: two runs racing for one name cannot both have it.
  int f = open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (f < 0) {
    if (errno == EEXIST) return std::unexpected(check_names_free(name, {""}).error());
    return fail(errno, "create " + path);
  }
  close(f);
  n.path_ = path;
  if (mount(ns.path().c_str(), path.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    int e = errno;
    unlink(path.c_str());
    n.path_.clear();
    return fail(e, "bind " + ns.name() + " at " + path);
  }
  n.slot_ = claim_slot(path);
  return n;
}

NetnsName::NetnsName(NetnsName&& o) noexcept
    : path_(std::exchange(o.path_, {})), slot_(std::exchange(o.slot_, -1)) {}

NetnsName& NetnsName::operator=(NetnsName&& o) noexcept {
  if (this != &o) {
    remove();
    path_ = std::exchange(o.path_, {});
    slot_ = std::exchange(o.slot_, -1);
  }
  return *this;
}

NetnsName::~NetnsName() { remove(); }

void NetnsName::remove() {
  if (path_.empty()) return;
  release_slot(std::exchange(slot_, -1));
  umount2(path_.c_str(), MNT_DETACH);
  unlink(path_.c_str());
  path_.clear();
}

void remove_all_names_for_signal() {
  for (int i = 0; i < kSlots; ++i) {
    if (g_state[i].load() != 2) continue;
    umount2(g_paths[i], MNT_DETACH);
    unlink(g_paths[i]);
  }
}

}  // namespace fipd::bench
