// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/faults.hpp"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

namespace fipd::bench {
namespace {

constexpr uint32_t kDropPriority = 10;
// Where the local table's rule goes, behind the drop rules (it is 0 by default).
constexpr const char* kLocalPriority = "100";

struct DropRule {
  int family;
  bool inbound_only;  // iif <device>: traffic arriving from the network
  uint8_t proto;      // 0: any, ARP included
};

std::vector<DropRule> rules_for(FailureKind kind) {
  std::vector<DropRule> out;
  for (int family : {AF_INET, AF_INET6}) {
    if (kind == FailureKind::host_down) {
      out.push_back({family, false, 0});
    } else {
      const uint8_t icmp = family == AF_INET ? uint8_t(IPPROTO_ICMP) : uint8_t(IPPROTO_ICMPV6);
      for (uint8_t p : {uint8_t(IPPROTO_TCP), uint8_t(IPPROTO_UDP), icmp})
        out.push_back({family, true, p});
    }
  }
  return out;
}

// One netlink batch of rule additions or deletions, inside the namespace;
// every message is acknowledged, the first error is returned.
Status change_rules(const FaultSite& site, bool add, const std::vector<DropRule>& rules) {
  Fd fd;
  site.ns->enter([&] { fd = Fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)); });
  if (!fd) return fail(errno, "netlink socket in " + site.ns->name());
  std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
  size_t used = 0;
  uint32_t seq = 1;
  for (const auto& r : rules) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data() + used);
    nlh->nlmsg_type = add ? RTM_NEWRULE : RTM_DELRULE;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
    nlh->nlmsg_seq = seq++;
    auto* frh = static_cast<fib_rule_hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(fib_rule_hdr)));
    frh->family = static_cast<uint8_t>(r.family);
    frh->action = FR_ACT_BLACKHOLE;
    mnl_attr_put_u32(nlh, FRA_PRIORITY, kDropPriority);
    if (r.inbound_only) mnl_attr_put_strz(nlh, FRA_IIFNAME, site.device.c_str());
    if (r.proto) mnl_attr_put_u8(nlh, FRA_IP_PROTO, r.proto);
    used += nlh->nlmsg_len;
  }
  if (send(fd.get(), buf.data(), used, 0) < 0) return fail(errno, "send rules in " + site.ns->name());
  size_t acked = 0;
  Status status;
  while (acked < rules.size()) {
    ssize_t n = recv(fd.get(), buf.data(), buf.size(), 0);
    if (n < 0) return fail(errno, "rule acks in " + site.ns->name());
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); mnl_nlmsg_ok(h, len); h = mnl_nlmsg_next(h, &len)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      ++acked;
      int err = -static_cast<nlmsgerr*>(mnl_nlmsg_get_payload(h))->error;
      // Deleting what is already gone is fine: restore() may run twice.
      if (err != 0 && !(err == ENOENT && !add) && status)
        status = fail(err, std::string(add ? "add" : "delete") + " drop rule in " + site.ns->name());
    }
  }
  return status;
}

Status set_link(const FaultSite& site, bool up) {
  Fd fd;
  site.ns->enter([&] { fd = Fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)); });
  if (!fd) return fail(errno, "socket in " + site.ns->name());
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, site.device.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd.get(), SIOCGIFFLAGS, &ifr) != 0) return fail(errno, "flags of " + site.device);
  if (up) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags & ~IFF_UP);
  }
  if (ioctl(fd.get(), SIOCSIFFLAGS, &ifr) != 0)
    return fail(errno, std::string("set ") + site.device + (up ? " up" : " down") + " in " + site.ns->name());
  return {};
}

void signal_host(const FaultSite& site, int sig) {
  if (!site.host_processes) return;
  for (pid_t p : site.host_processes()) kill(p, sig);
}

}  // namespace

std::string_view failure_name(FailureKind k) {
  switch (k) {
    case FailureKind::refused: return "refused";
    case FailureKind::link_down: return "link-down";
    case FailureKind::blackhole: return "blackhole";
    case FailureKind::slow: return "slow";
    case FailureKind::host_down: return "host-down";
  }
  return "?";
}

std::optional<FailureKind> parse_failure(std::string_view name) {
  for (auto k : kFailureKinds)
    if (failure_name(k) == name) return k;
  return std::nullopt;
}

Status prepare_site(const FaultSite& site) {
  for (const char* v : {"-4", "-6"}) {
    std::string ip = std::string("ip ") + v + " rule ";
    if (auto r = site.ns->sh(ip + "add pref " + kLocalPriority + " lookup local && " + ip + "del pref 0 lookup local");
        !r)
      return std::unexpected(r.error());
  }
  // Link-down must not take the IPv6 addresses with it: the host comes back as it was.
  if (auto r = site.ns->sysctl("net.ipv6.conf.all.keep_addr_on_down", "1"); !r) return r;
  // Every refused datagram gets its port unreachable. With the kernel's rate
  // limits, a trial that follows another within seconds would find the
  // per-destination bucket drained by the last one and see timeouts instead:
  // trials must not depend on each other.
  for (const char* key : {"net.ipv4.icmp_ratelimit", "net.ipv6.icmp.ratelimit"})
    if (auto r = site.ns->sysctl(key, "0"); !r) return r;
  return {};
}

Status inject(FailureKind kind, const FaultSite& site, const FaultOptions& options) {
  switch (kind) {
    case FailureKind::refused:
      site.responder->close_sockets();
      return {};
    case FailureKind::slow:
      site.responder->set_delay(options.slow_delay);
      return {};
    case FailureKind::link_down:
      return set_link(site, false);
    case FailureKind::blackhole:
      return change_rules(site, true, rules_for(kind));
    case FailureKind::host_down:
      signal_host(site, SIGSTOP);
      return change_rules(site, true, rules_for(kind));
  }
  return {};
}

Status restore(FailureKind kind, const FaultSite& site) {
  switch (kind) {
    case FailureKind::refused:
      return site.responder->reopen();
    case FailureKind::slow:
      site.responder->set_delay(std::chrono::microseconds(0));
      return {};
    case FailureKind::link_down: {
      if (auto s = set_link(site, true); !s) return s;
      // Routes through the interface went with it.
      std::string script = "ip route replace default via " + site.gateway4;
      if (!site.gateway6.empty()) script += " && ip -6 route replace default via " + site.gateway6;
      if (auto r = site.ns->sh(script); !r) return std::unexpected(r.error());
      return {};
    }
    case FailureKind::blackhole:
      return change_rules(site, false, rules_for(kind));
    case FailureKind::host_down: {
      auto s = change_rules(site, false, rules_for(kind));
      signal_host(site, SIGCONT);
      return s;
    }
  }
  return {};
}

}  // namespace fipd::bench
