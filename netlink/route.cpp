// SPDX-License-Identifier: GPL-2.0-or-later
#include "netlink/route.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>

#include "netlink/socket.hpp"

namespace fipd::nl {

namespace {

// Dump datagrams are at most 32 KiB (the kernel caps them there); reading
// them whole lets libnl skip its MSG_PEEK probe, one syscall per datagram.
constexpr size_t kMessageBuffer = 64 * 1024;
constexpr int kReplyTimeoutSeconds = 2;
// Route messages per sendmsg() in apply(): each failed one queues an error of
// a few hundred bytes of receive buffer, and 256 of them fit it.
constexpr size_t kBatchMessages = 256;
constexpr size_t kBatchBytes = 64 * 1024;
constexpr int kBatchReceiveBuffer = 1 << 20;

struct AddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
struct MsgFree {
  void operator()(nl_msg* m) const { nlmsg_free(m); }
};
struct CbPut {
  void operator()(nl_cb* c) const { nl_cb_put(c); }
};
using AddrPtr = std::unique_ptr<nl_addr, AddrPut>;
using RoutePtr = std::unique_ptr<rtnl_route, RoutePut>;
using MsgPtr = std::unique_ptr<nl_msg, MsgFree>;
using CbPtr = std::unique_ptr<nl_cb, CbPut>;

AddrPtr make_addr(const IpAddress& a, unsigned prefix) {
  AddrPtr p(nl_addr_build(a.af(), a.data(), a.size()));
  if (p) nl_addr_set_prefixlen(p.get(), static_cast<int>(prefix));
  return p;
}

bool is_unspecified(const IpAddress& a) {
  return std::all_of(a.data(), a.data() + a.size(), [](uint8_t b) { return b == 0; });
}

// What one request's answer turned out to be, filled by libnl callbacks.
struct Reply {
  bool done = false;
  int error = 0;  // positive errno from the kernel
  std::string kernel;
  std::vector<HostRoute>* routes = nullptr;  // dumps only
};

int on_ack(nl_msg*, void* arg) {
  static_cast<Reply*>(arg)->done = true;
  return NL_STOP;
}

int on_error(sockaddr_nl*, nlmsgerr* err, void* arg) {
  auto* r = static_cast<Reply*>(arg);
  r->done = true;
  // libnl hands over the payload; the header, and with it the extended ACK
  // flags, sits right before it.
  Ack a = parse_ack(reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(err) - NLMSG_HDRLEN));
  r->error = a.code;
  r->kernel = std::move(a.kernel);
  return NL_STOP;
}

// Dumps report their failure in NLMSG_DONE's payload, which libnl 3.7 ignores.
int on_finish(nl_msg* msg, void* arg) {
  auto* r = static_cast<Reply*>(arg);
  r->done = true;
  nlmsghdr* nlh = nlmsg_hdr(msg);
  if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) {
    int code = *static_cast<const int*>(nlmsg_data(nlh));
    if (code < 0) r->error = -code;
  }
  return NL_STOP;
}

std::optional<HostRoute> to_host_route(rtnl_route* r) {
  if (rtnl_route_get_protocol(r) != kRouteProtocol) return std::nullopt;
  nl_addr* dst = rtnl_route_get_dst(r);
  if (!dst) return std::nullopt;
  auto d = IpAddress::from_bytes(nl_addr_get_binary_addr(dst), nl_addr_get_len(dst));
  if (!d) return std::nullopt;
  HostRoute h{.dst = *d, .prefix_len = static_cast<uint8_t>(nl_addr_get_prefixlen(dst)),
              .via = d->is_v4() ? IpAddress() : *IpAddress::parse("::"), .oif = 0,
              .table = rtnl_route_get_table(r)};
  if (rtnl_route_get_nnexthops(r) > 0) {
    rtnl_nexthop* nh = rtnl_route_nexthop_n(r, 0);
    h.oif = rtnl_route_nh_get_ifindex(nh);
    if (nl_addr* gw = rtnl_route_nh_get_gateway(nh)) {
      if (auto g = IpAddress::from_bytes(nl_addr_get_binary_addr(gw), nl_addr_get_len(gw))) h.via = *g;
    }
  }
  return h;
}

int on_route(nl_msg* msg, void* arg) {
  auto* r = static_cast<Reply*>(arg);
  rtnl_route* raw = nullptr;
  if (rtnl_route_parse(nlmsg_hdr(msg), &raw) < 0 || !raw) return NL_SKIP;
  RoutePtr route(raw);
  if (auto h = to_host_route(route.get())) r->routes->push_back(*h);
  return NL_OK;
}

Status check(const HostRoute& r, const std::string& ctx) {
  if (r.prefix_len && *r.prefix_len != r.dst.max_prefix())
    return fail(EINVAL, ctx + ": not a host route (/" + std::to_string(r.dst.max_prefix()) + ")");
  if (r.via.family() != r.dst.family())
    return fail(EAFNOSUPPORT, ctx + ": " + family_name(r.dst.family()) + " destination via " +
                                  family_name(r.via.family()) + " next hop is not supported");
  if (is_unspecified(r.via)) return fail(EINVAL, ctx + ": no next hop");
  if (r.table == RT_TABLE_UNSPEC) return fail(EINVAL, ctx + ": table 0 is not a table");
  return {};
}

// Sends `msg` and reads until its answer (ACK, error, or the end of a dump).
Status exchange(nl_sock* sock, nl_msg* msg, Reply& reply, const std::string& ctx) {
  CbPtr base(nl_socket_get_cb(sock));  // a counted reference
  CbPtr cb(base ? nl_cb_clone(base.get()) : nullptr);
  if (!cb) return fail(ENOMEM, ctx);
  nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, on_ack, &reply);
  nl_cb_set(cb.get(), NL_CB_FINISH, NL_CB_CUSTOM, on_finish, &reply);
  nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &reply);
  if (reply.routes) nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_route, &reply);
  if (int n = nl_send_auto(sock, msg); n < 0)
    return fail(EIO, ctx + ": send: " + nl_geterror(n));
  while (!reply.done) {
    int n = nl_recvmsgs(sock, cb.get());
    if (reply.done) break;
    // The receive timeout (SO_RCVTIMEO) comes back as NLE_AGAIN.
    if (n == 0 || n == -NLE_AGAIN) return fail(ETIMEDOUT, ctx + ": no answer from the kernel");
    if (n < 0) return fail(EPROTO, ctx + ": " + nl_geterror(n));
  }
  if (reply.error == 0) return {};
  std::string full = ctx;
  if (!reply.kernel.empty()) full += " (kernel: " + reply.kernel + ")";
  return fail(reply.error, std::move(full));
}

std::string delete_context(const IpAddress& dst, uint32_t table) {
  return "delete route " + dst.str() + "/" + std::to_string(dst.max_prefix()) + " table " + std::to_string(table);
}

// An RTM_NEWROUTE for `route` with `nl_flags` (NLM_F_EXCL or NLM_F_REPLACE).
Result<MsgPtr> build_write(const HostRoute& route, int nl_flags, const std::string& ctx) {
  if (auto r = check(route, ctx); !r) return std::unexpected(r.error());
  RoutePtr r(rtnl_route_alloc());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  AddrPtr dst = make_addr(route.dst, route.dst.max_prefix());
  AddrPtr gw = make_addr(route.via, route.via.max_prefix());
  if (!r || !nh || !dst || !gw) {
    if (nh) rtnl_route_nh_free(nh);
    return fail(ENOMEM, ctx);
  }
  rtnl_route_set_family(r.get(), static_cast<uint8_t>(route.dst.af()));
  rtnl_route_set_table(r.get(), route.table);
  rtnl_route_set_protocol(r.get(), kRouteProtocol);
  rtnl_route_set_type(r.get(), RTN_UNICAST);
  rtnl_route_set_scope(r.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_dst(r.get(), dst.get());
  rtnl_route_nh_set_gateway(nh, gw.get());
  if (route.oif) rtnl_route_nh_set_ifindex(nh, route.oif);
  rtnl_route_add_nexthop(r.get(), nh);  // the route owns nh from here on
  nl_msg* raw = nullptr;
  if (int n = rtnl_route_build_add_request(r.get(), nl_flags, &raw); n < 0)
    return fail(EINVAL, ctx + ": encode: " + nl_geterror(n));
  return MsgPtr(raw);
}

// An RTM_DELROUTE for fipd's route to `dst` in `table`, whatever its next hop.
Result<MsgPtr> build_delete(const IpAddress& dst, uint32_t table, const std::string& ctx) {
  if (table == RT_TABLE_UNSPEC) return fail(EINVAL, ctx + ": table 0 is not a table");
  RoutePtr r(rtnl_route_alloc());
  AddrPtr d = make_addr(dst, dst.max_prefix());
  if (!r || !d) return fail(ENOMEM, ctx);
  rtnl_route_set_family(r.get(), static_cast<uint8_t>(dst.af()));
  rtnl_route_set_table(r.get(), table);
  // Naming the protocol makes the kernel match only fipd's own route.
  rtnl_route_set_protocol(r.get(), kRouteProtocol);
  // libnl would guess "link" scope for a route without next hop, and the
  // kernel would then look for a route of that scope; "nowhere" matches any.
  rtnl_route_set_scope(r.get(), RT_SCOPE_NOWHERE);
  rtnl_route_set_dst(r.get(), d.get());
  nl_msg* raw = nullptr;
  if (int n = rtnl_route_build_del_request(r.get(), 0, &raw); n < 0)
    return fail(EINVAL, ctx + ": encode: " + nl_geterror(n));
  return MsgPtr(raw);
}

}  // namespace

std::string HostRoute::str() const {
  std::string s = dst.str() + "/" + std::to_string(prefix_len.value_or(dst.max_prefix()));
  if (!is_unspecified(via)) s += " via " + via.str();
  if (oif) s += " dev " + std::to_string(oif);
  return s + " table " + std::to_string(table);
}

void RouteTable::SockFree::operator()(nl_sock* s) const { nl_socket_free(s); }

RouteTable::RouteTable(nl_sock* s) : sock_(s) {}
RouteTable::RouteTable(RouteTable&&) noexcept = default;
RouteTable& RouteTable::operator=(RouteTable&&) noexcept = default;
RouteTable::~RouteTable() = default;

Result<RouteTable> RouteTable::open() {
  nl_sock* raw = nl_socket_alloc();
  if (!raw) return fail(ENOMEM, "allocate rtnetlink socket");
  RouteTable t(raw);
  if (int n = nl_connect(raw, NETLINK_ROUTE); n < 0)
    return fail(EIO, std::string("connect rtnetlink socket: ") + nl_geterror(n));
  int fd = nl_socket_get_fd(raw);
  // libnl 3.7 opens with SOCK_CLOEXEC; make sure of it, since a rebuild hook
  // must not inherit the socket.
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return fail(errno, "set CLOEXEC on rtnetlink socket");
  timeval tv{.tv_sec = kReplyTimeoutSeconds, .tv_usec = 0};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
    return fail(errno, "set receive timeout on rtnetlink socket");
  // Best effort, as in NetlinkSocket: the kernel's error text, short ACKs, and
  // dumps filtered by protocol and table in the kernel.
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
  nl_socket_disable_msg_peek(raw);
  nl_socket_set_msg_buf_size(raw, kMessageBuffer);
  auto batch = NetlinkSocket::open(NETLINK_ROUTE);
  if (!batch) return std::unexpected(batch.error());
  if (auto r = batch->set_receive_buffer(kBatchReceiveBuffer); !r) return std::unexpected(r.error());
  t.batch_ = std::make_unique<NetlinkSocket>(std::move(*batch));
  return t;
}

Status RouteTable::write(const HostRoute& route, int nl_flags, const char* verb) {
  std::string ctx = std::string(verb) + " route " + route.str();
  auto msg = build_write(route, nl_flags, ctx);
  if (!msg) return std::unexpected(msg.error());
  Reply reply;
  return exchange(sock_.get(), msg->get(), reply, ctx);
}

Status RouteTable::add(const HostRoute& route) { return write(route, NLM_F_EXCL, "add"); }

Status RouteTable::replace(const HostRoute& route) { return write(route, NLM_F_REPLACE, "replace"); }

Status RouteTable::remove(const IpAddress& dst, uint32_t table) {
  std::string ctx = delete_context(dst, table);
  auto msg = build_delete(dst, table, ctx);
  if (!msg) return std::unexpected(msg.error());
  Reply reply;
  return exchange(sock_.get(), msg->get(), reply, ctx);
}

Status RouteTable::send_batch(std::vector<char>& buf, const std::vector<std::string>& names, int tolerated) {
  size_t offset = 0, index = 0;
  while (offset < buf.size()) {
    // A chunk, numbered; only its last message asks for an ACK (failures are
    // answered anyway), and it is small enough that the errors of a chunk
    // that fails whole fit the receive buffer.
    size_t count = 0, bytes = 0;
    while (offset + bytes < buf.size() && count < kBatchMessages) {
      auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data() + offset + bytes);
      if (bytes + NLMSG_ALIGN(nlh->nlmsg_len) > kBatchBytes && count > 0) break;
      bytes += NLMSG_ALIGN(nlh->nlmsg_len);
      ++count;
    }
    const uint32_t first = batch_->reserve_seq(static_cast<uint32_t>(count));
    nlmsghdr* last = nullptr;
    for (size_t i = 0, at = offset; i < count; ++i) {
      auto* nlh = reinterpret_cast<nlmsghdr*>(buf.data() + at);
      nlh->nlmsg_seq = first + static_cast<uint32_t>(i);
      nlh->nlmsg_pid = 0;
      // libnl adds NLM_F_REQUEST when it sends; without it the kernel skips
      // the message silently.
      nlh->nlmsg_flags = static_cast<uint16_t>((nlh->nlmsg_flags | NLM_F_REQUEST) & ~NLM_F_ACK);
      last = nlh;
      at += NLMSG_ALIGN(nlh->nlmsg_len);
    }
    last->nlmsg_flags |= NLM_F_ACK;
    if (auto r = batch_->send(buf.data() + offset, bytes); !r) return r;
    const size_t base = index;
    auto describe = [&](uint32_t seq) {
      const size_t i = base + (seq - first);
      return i < names.size() ? names[i] : std::string("route request");
    };
    if (auto r = batch_->await_acks(first, last->nlmsg_seq, describe, {}, tolerated); !r) return r;
    offset += bytes;
    index += count;
  }
  return {};
}

Status RouteTable::apply(std::span<const HostRoute> removals, std::span<const HostRoute> upserts) {
  std::vector<char> buf;
  std::vector<std::string> names;
  auto stack = [&](nl_msg* msg) {
    const nlmsghdr* h = nlmsg_hdr(msg);
    const size_t at = buf.size();
    buf.resize(at + NLMSG_ALIGN(h->nlmsg_len), 0);
    std::memcpy(buf.data() + at, h, h->nlmsg_len);
  };
  for (const auto& r : removals) {
    names.push_back(delete_context(r.dst, r.table));
    auto msg = build_delete(r.dst, r.table, names.back());
    if (!msg) return std::unexpected(msg.error());
    stack(msg->get());
  }
  // Removals first, and apart: one already gone (ESRCH) is what was wanted.
  if (auto r = send_batch(buf, names, ESRCH); !r) return r;
  buf.clear();
  names.clear();
  for (const auto& r : upserts) {
    names.push_back("replace route " + r.str());
    auto msg = build_write(r, NLM_F_REPLACE, names.back());
    if (!msg) return std::unexpected(msg.error());
    stack(msg->get());
  }
  return send_batch(buf, names, 0);
}

Status RouteTable::dump_family(int af, std::optional<uint32_t> table, std::vector<HostRoute>& out) {
  std::string ctx = std::string("list ") + (af == AF_INET ? "IPv4" : "IPv6") + " routes of protocol " +
                    std::to_string(kRouteProtocol) +
                    (table ? " in table " + std::to_string(*table) : std::string());
  MsgPtr msg(nlmsg_alloc_simple(RTM_GETROUTE, NLM_F_DUMP));
  if (!msg) return fail(ENOMEM, ctx);
  rtmsg hdr{};
  hdr.rtm_family = static_cast<unsigned char>(af);
  hdr.rtm_protocol = kRouteProtocol;
  hdr.rtm_table = table && *table < 256 ? static_cast<unsigned char>(*table)
                                        : static_cast<unsigned char>(RT_TABLE_UNSPEC);
  if (nlmsg_append(msg.get(), &hdr, sizeof(hdr), NLMSG_ALIGNTO) < 0 ||
      (table && nla_put_u32(msg.get(), RTA_TABLE, *table) < 0))
    return fail(ENOMEM, ctx);
  Reply reply{.routes = &out};
  auto r = exchange(sock_.get(), msg.get(), reply, ctx);
  // A table that does not exist holds no route of ours.
  if (!r && r.error().code == ENOENT && table) return {};
  return r;
}

Result<std::vector<HostRoute>> RouteTable::list(std::optional<uint32_t> table) {
  std::vector<HostRoute> out;
  for (int af : {AF_INET, AF_INET6}) {
    if (auto r = dump_family(af, table, out); !r) return std::unexpected(r.error());
  }
  // Without strict checking (older kernels) the dump holds every table.
  if (table) std::erase_if(out, [&](const HostRoute& h) { return h.table != *table; });
  return out;
}

}  // namespace fipd::nl
