// SPDX-License-Identifier: GPL-2.0-or-later
// The monitor's sockets and state: see monitor.hpp for the kernel semantics.
#include "netlink/monitor.hpp"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <initializer_list>

namespace fipd::nl {
namespace {

// One datagram: the kernel sizes notification skbs to a page or to the one
// message they carry, so this is ample; a larger one arrives truncated and
// counts as an overflow.
constexpr size_t kDatagramBuffer = 256 * 1024;

Result<NetlinkSocket> subscribe(int bus, const std::vector<unsigned>& groups, int receive_buffer) {
  auto sock = NetlinkSocket::open(bus);
  if (!sock) return sock;
  for (unsigned group : groups)
    if (auto r = sock->join_group(group); !r) return std::unexpected(r.error());
  if (auto r = sock->set_receive_buffer(receive_buffer); !r) return std::unexpected(r.error());
  return sock;
}

}  // namespace

Monitor::Monitor(MonitorOptions options)
    : options_(std::move(options)),
      watch_{.table = options_.table, .family = options_.table_family},
      buf_(kDatagramBuffer) {}

Result<Monitor> Monitor::open(MonitorOptions options) {
  Monitor m(std::move(options));
  const MonitorOptions& o = m.options_;
  if (o.nftables) {
    auto s = subscribe(NETLINK_NETFILTER, {NFNLGRP_NFTABLES}, o.receive_buffer);
    if (!s) return std::unexpected(s.error());
    m.nft_.emplace(std::move(*s));
  }
  std::vector<unsigned> groups;
  if (o.links) groups.push_back(RTNLGRP_LINK);
  if (o.neighbours) groups.push_back(RTNLGRP_NEIGH);
  if (o.routes) groups.insert(groups.end(), {RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE});
  if (!groups.empty()) {
    auto s = subscribe(NETLINK_ROUTE, groups, o.receive_buffer);
    if (!s) return std::unexpected(s.error());
    m.route_.emplace(std::move(*s));
  }
  if (o.links) {
    // Seeded after joining RTNLGRP_LINK, so no change falls between the two.
    auto q = NetlinkSocket::open(NETLINK_ROUTE);
    if (!q) return std::unexpected(q.error());
    m.query_.emplace(std::move(*q));
    auto links = m.dump_links();
    if (!links) return std::unexpected(links.error());
    m.links_ = std::move(*links);
  }
  return m;
}

std::optional<bool> Monitor::carrier(int ifindex) const {
  auto it = links_.find(ifindex);
  if (it == links_.end()) return std::nullopt;
  return it->second.carrier;
}

Result<Monitor::Received> Monitor::receive(NetlinkSocket& sock, size_t& len) {
  for (;;) {
    sockaddr_nl from{};
    iovec iov{.iov_base = buf_.data(), .iov_len = buf_.size()};
    msghdr mh{.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
              .msg_control = nullptr, .msg_controllen = 0, .msg_flags = 0};
    ssize_t n = recvmsg(sock.fd(), &mh, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return Received::empty;
      if (errno == ENOBUFS) return Received::overflow;
      return fail(errno, "read netlink events (monitor)");
    }
    // Another process may send to our port; only the kernel speaks for itself.
    if (from.nl_pid != 0) return Received::foreign;
    if (mh.msg_flags & MSG_TRUNC) return Received::overflow;
    len = static_cast<size_t>(n);
    return Received::data;
  }
}

void Monitor::deliver(const MonitorEvent& event, const Callback& on_event) {
  ++counters_.events;
  on_event(event);
}

// ------------------------------------------------------------ nftables

Status Monitor::read_nft(const Callback& on_event) {
  if (!nft_) return {};
  Status status;
  for (size_t i = 0; i < kReadBudget; ++i) {
    size_t len = 0;
    auto got = receive(*nft_, len);
    if (!got) {
      status = std::unexpected(got.error());
      break;
    }
    if (*got == Received::empty) {
      // A NEWGEN lost with the overflow will not come: what waits for it goes now.
      if (std::exchange(nft_release_, false)) {
        release_held(nullptr, on_event);
        transaction_events_ = 0;
      }
      break;
    }
    if (*got == Received::foreign) ++counters_.foreign;
    if (*got == Received::overflow) {
      ++counters_.overflows;
      nft_resync_ = nft_release_ = true;
    }
    if (*got != Received::data) continue;
    ++counters_.datagrams;
    for_each_message(buf_.data(), len, [&](const nlmsghdr* msg) { on_nft_message(msg, on_event); });
  }
  if (std::exchange(nft_resync_, false)) deliver(ResyncNeeded{MonitorBus::nftables}, on_event);
  return status;
}

void Monitor::on_nft_message(const nlmsghdr* msg, const Callback& on_event) {
  if (msg->nlmsg_type < NLMSG_MIN_TYPE) return;  // NOOP, ERROR, DONE: not notifications
  scratch_.clear();
  if (auto r = decode_nft(msg, watch_, scratch_); !r) ++counters_.malformed;
  for (auto& event : scratch_) {
    auto* commit = std::get_if<NftCommitted>(&event);
    if (!commit) {
      hold_nft_event(std::move(event), on_event);
      continue;
    }
    release_held(&commit->origin, on_event);
    // Transactions that left the watched table alone are none of the engine's business.
    if (std::exchange(transaction_events_, 0) > 0) deliver(event, on_event);
  }
}

void Monitor::hold_nft_event(MonitorEvent event, const Callback& on_event) {
  if (held_.size() >= kMaxHeld) release_held(nullptr, on_event);
  held_.push_back(std::move(event));
  ++transaction_events_;
}

void Monitor::release_held(const NftOrigin* origin, const Callback& on_event) {
  for (auto& event : held_) {
    if (origin) {
      std::visit(
          [&](auto& e) {
            if constexpr (requires { e.origin; })
              if (e.origin.portid == origin->portid) e.origin = *origin;
          },
          event);
    }
    deliver(event, on_event);
  }
  held_.clear();
}

// ------------------------------------------------------------ route bus

Status Monitor::read_route(const Callback& on_event) {
  if (!route_) return {};
  Status status;
  bool drained = false;
  for (size_t i = 0; i < kReadBudget && !drained; ++i) {
    size_t len = 0;
    auto got = receive(*route_, len);
    if (!got) {
      status = std::unexpected(got.error());
      break;
    }
    drained = *got == Received::empty;
    if (*got == Received::foreign) ++counters_.foreign;
    if (*got == Received::overflow) {
      ++counters_.overflows;
      route_resync_ = route_reseed_ = true;
    }
    if (*got != Received::data) continue;
    ++counters_.datagrams;
    for_each_message(buf_.data(), len, [&](const nlmsghdr* msg) { on_route_message(msg, on_event); });
  }
  if (std::exchange(route_resync_, false)) deliver(ResyncNeeded{MonitorBus::route}, on_event);
  // Only once the queue is empty: events older than the dump must not be
  // compared against it.
  if (drained && std::exchange(route_reseed_, false) && query_) reseed_links(on_event);
  return status;
}

void Monitor::on_route_message(const nlmsghdr* msg, const Callback& on_event) {
  switch (msg->nlmsg_type) {
    case RTM_NEWROUTE:
    case RTM_DELROUTE: {
      auto r = decode_route(msg);
      if (!r) ++counters_.malformed;
      else if (*r) deliver(**r, on_event);
      return;
    }
    case RTM_NEWNEIGH:
    case RTM_DELNEIGH: {
      auto n = decode_neighbour(msg);
      if (!n) ++counters_.malformed;
      else if (*n) deliver(**n, on_event);
      return;
    }
    case RTM_NEWLINK:
    case RTM_DELLINK: {
      auto l = decode_link(msg);
      if (!l) ++counters_.malformed;
      else if (*l) apply_link(**l, on_event);
      return;
    }
    default:
      return;
  }
}

void Monitor::apply_link(const LinkInfo& link, const Callback& on_event) {
  if (link.deleted) {
    links_.erase(link.ifindex);
    deliver(LinkDeleted{.ifindex = link.ifindex, .name = link.name}, on_event);
    return;
  }
  auto [it, inserted] = links_.try_emplace(link.ifindex);
  bool changed = inserted || it->second.carrier != link.carrier();
  it->second = Link{.carrier = link.carrier(), .operstate = link.operstate, .name = link.name};
  if (changed)
    deliver(LinkCarrier{.ifindex = link.ifindex, .name = link.name, .up = link.carrier(),
                        .operstate = link.operstate},
            on_event);
}

Result<std::unordered_map<int, Monitor::Link>> Monitor::dump_links() {
  alignas(nlmsghdr) char req[128];
  auto* nlh = mnl_nlmsg_put_header(req);
  nlh->nlmsg_type = RTM_GETLINK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  auto* ifm = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
  ifm->ifi_family = AF_UNSPEC;
  mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);  // carrier is all we need
  std::unordered_map<int, Link> links;
  auto collect = [&](const nlmsghdr* msg) -> Status {
    auto l = decode_link(msg);
    if (l && *l) links[(*l)->ifindex] = Link{(*l)->carrier(), (*l)->operstate, (*l)->name};
    return {};
  };
  // A link changing during the dump interrupts it (EINTR); the next try
  // usually passes.
  for (int attempt = 1;; ++attempt) {
    links.clear();
    nlh->nlmsg_seq = query_->next_seq();
    auto r = query_->dump(req, nlh->nlmsg_len, "dump links for the monitor", collect);
    if (r) return links;
    if (r.error().code != EINTR || attempt == 3) return std::unexpected(r.error());
  }
}

void Monitor::reseed_links(const Callback& on_event) {
  auto fresh = dump_links();
  if (!fresh) {
    // Without a snapshot, forget: each link's next message reports its carrier.
    links_.clear();
    return;
  }
  for (auto& [ifindex, link] : *fresh) {
    auto it = links_.find(ifindex);
    if (it == links_.end() || it->second.carrier != link.carrier)
      deliver(LinkCarrier{.ifindex = ifindex, .name = link.name, .up = link.carrier,
                          .operstate = link.operstate},
              on_event);
  }
  for (auto& [ifindex, link] : links_)
    if (!fresh->contains(ifindex)) deliver(LinkDeleted{.ifindex = ifindex, .name = link.name}, on_event);
  links_ = std::move(*fresh);
}

Status Monitor::read(const Callback& on_event) {
  auto nft = read_nft(on_event);
  auto route = read_route(on_event);
  return nft ? route : nft;
}

}  // namespace fipd::nl
