// SPDX-License-Identifier: GPL-2.0-or-later
#include "netlink/socket.hpp"

#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <ctime>
#include <optional>

namespace fipd::nl {

namespace {
// Large enough for a full dump datagram (the kernel sizes dump skbs up to
// 32 KiB and more with big receive buffers) and for thousands of ACKs.
constexpr size_t kReceiveBufferSize = 256 * 1024;

int setsockopt_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof(value));
}
}  // namespace

NetlinkSocket::NetlinkSocket(mnl_socket* s) : sock_(s), buf_(kReceiveBufferSize) {}

Result<NetlinkSocket> NetlinkSocket::open(int bus, unsigned groups) {
  mnl_socket* s = mnl_socket_open2(bus, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (!s) return fail(errno, "open netlink socket (bus " + std::to_string(bus) + ")");
  NetlinkSocket sock(s);
  if (mnl_socket_bind(s, groups, MNL_SOCKET_AUTOPID) < 0)
    return fail(errno, "bind netlink socket (bus " + std::to_string(bus) + ")");
  sock.portid_ = mnl_socket_get_portid(s);
  // Extended ACKs carry the kernel's own explanation; capped ACKs do not echo
  // our whole request back, which keeps 10,000 ACKs small. Both are best
  // effort: older kernels simply ignore them.
  setsockopt_int(sock.fd(), SOL_NETLINK, NETLINK_EXT_ACK, 1);
  setsockopt_int(sock.fd(), SOL_NETLINK, NETLINK_CAP_ACK, 1);
  // Start the sequence at a time-derived value, as libmnl's examples do, so a
  // stale reply from a previous socket with the same port id cannot match.
  sock.seq_ = static_cast<uint32_t>(time(nullptr)) << 8;
  return sock;
}

Status NetlinkSocket::join_group(unsigned group) {
  if (setsockopt_int(fd(), SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, static_cast<int>(group)) < 0)
    return fail(errno, "join netlink multicast group " + std::to_string(group));
  return {};
}

Status NetlinkSocket::set_receive_buffer(int bytes) {
  if (setsockopt_int(fd(), SOL_SOCKET, SO_RCVBUFFORCE, bytes) == 0) return {};
  if (setsockopt_int(fd(), SOL_SOCKET, SO_RCVBUF, bytes) == 0) return {};
  return fail(errno, "set netlink receive buffer to " + std::to_string(bytes) + " bytes");
}

Status NetlinkSocket::send(const void* buf, size_t len) {
  ssize_t n = mnl_socket_sendto(sock_.get(), buf, len);
  if (n < 0) return fail(errno, "send " + std::to_string(len) + " bytes to netlink");
  if (static_cast<size_t>(n) != len)
    return fail(EMSGSIZE, "netlink sent " + std::to_string(n) + " of " + std::to_string(len) + " bytes");
  return {};
}

Result<size_t> NetlinkSocket::receive(const std::string& what, bool unless_empty) {
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), buf_.data(), buf_.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    const std::string about = what.empty() ? "" : " for " + what;
    if (errno != EAGAIN) return fail(errno, "receive netlink reply" + about);
    if (unless_empty) return size_t{0};
    pollfd p{.fd = fd(), .events = POLLIN, .revents = 0};
    int r = poll(&p, 1, static_cast<int>(reply_timeout.count()));
    if (r == 0) return fail(ETIMEDOUT, "no netlink reply" + about);
    if (r < 0 && errno != EINTR) return fail(errno, "poll netlink socket" + about);
  }
}

Ack parse_ack(const nlmsghdr* nlh) {
  Ack a{.seq = nlh->nlmsg_seq, .code = EPROTO};  // an error message too short to say more
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) return a;
  auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  // An errno is 1 to 4095 (MAX_ERRNO); anything else is not the kernel's
  // answer, and negating INT_MIN would overflow.
  a.code = err->error > -4096 && err->error <= 0 ? -err->error : EPROTO;
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return a;
  // With NETLINK_CAP_ACK the original request is not echoed (NLM_F_CAPPED),
  // so the attributes follow the header of the request.
  size_t offset = sizeof(*err);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  size_t total = mnl_nlmsg_get_payload_len(nlh);
  if (offset >= total) return a;
  const char* start = static_cast<const char*>(mnl_nlmsg_get_payload(nlh)) + offset;
  for (auto* attr = reinterpret_cast<const nlattr*>(start);
       mnl_attr_ok(attr, static_cast<int>(total - offset - (reinterpret_cast<const char*>(attr) - start)));
       attr = mnl_attr_next(attr)) {
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG) {
      // Up to the attribute's end: its NUL is the kernel's promise, not checked.
      auto* text = static_cast<const char*>(mnl_attr_get_payload(attr));
      a.kernel.assign(text, ::strnlen(text, mnl_attr_get_payload_len(attr)));
    } else if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_OFFS && mnl_attr_get_payload_len(attr) >= 4) {
      a.offset = mnl_attr_get_u32(attr);
    }
  }
  return a;
}

Result<Acks> NetlinkSocket::collect_acks(const AckWait& w, const std::function<void(const nlmsghdr*)>& on_data) {
  Acks out;
  for (;;) {
    // Answers are queued before send() returns; a wait only covers a bug.
    const bool may_end = w.whole_batch && (out.lost || out.first_error);
    auto n = receive("", may_end);
    if (!n && n.error().code == ENOBUFS && w.whole_batch) {
      out.lost = true;
      continue;
    }
    if (!n) return std::unexpected(n.error());
    if (*n == 0 && may_end) return out;  // the rest of a whole batch's answers: nothing more comes
    int len = static_cast<int>(*n);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf_.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_pid != portid_ && nlh->nlmsg_pid != 0) continue;
      const uint32_t seq = nlh->nlmsg_seq;
      const bool in_range = seq - w.first <= w.last - w.first;  // wraps like the sequence
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        Ack a = parse_ack(nlh);
        const bool failed = a.code != 0;
        if (failed && in_range && a.code == w.tolerated) ++out.tolerated;
        else if (failed && !out.first_error) out.first_error = std::move(a);
        if (seq == w.last || (!in_range && failed)) return out;
        continue;
      }
      if (in_range && on_data && nlh->nlmsg_type >= NLMSG_MIN_TYPE) on_data(nlh);
    }
  }
}

void NetlinkSocket::discard_queued() {
  for (;;) {
    ssize_t n = recv(fd(), buf_.data(), buf_.size(), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == ENOBUFS)) continue;
    if (n < 0) return;
  }
}

Status NetlinkSocket::await_acks(uint32_t first_seq, uint32_t last_seq, const Describe& describe,
                                 const OnMessage& on_data, int tolerated, size_t* tolerated_count) {
  std::optional<Error> data_error;
  auto keep = [&](const nlmsghdr* nlh) {
    if (auto r = on_data(nlh); !r && !data_error) data_error = r.error();
  };
  auto acks = collect_acks({.first = first_seq, .last = last_seq, .tolerated = tolerated},
                           on_data ? std::function<void(const nlmsghdr*)>(keep) : nullptr);
  const std::string what = describe ? describe(last_seq) : "netlink request";
  if (!acks) return fail(acks.error().code, what + ": " + acks.error().context);
  if (tolerated_count) *tolerated_count += acks->tolerated;
  if (const auto& e = acks->first_error) {
    std::string ctx = describe ? describe(e->seq) : "netlink request " + std::to_string(e->seq);
    if (!e->kernel.empty()) ctx += " (kernel: " + e->kernel + ")";
    return fail(e->code, ctx);
  }
  if (data_error) return std::unexpected(*data_error);
  return {};
}

Status NetlinkSocket::dump(const void* req, size_t len, const std::string& what,
                           const OnMessage& on_message) {
  auto* hdr = static_cast<const nlmsghdr*>(req);
  uint32_t seq = hdr->nlmsg_seq;
  if (auto r = send(req, len); !r) return r;
  std::optional<Error> first_error;
  for (;;) {
    auto got = receive(what);
    if (!got) return std::unexpected(got.error());
    int n = static_cast<int>(*got);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf_.data()); mnl_nlmsg_ok(nlh, n);
         nlh = mnl_nlmsg_next(nlh, &n)) {
      if (nlh->nlmsg_seq != seq) continue;
      if (nlh->nlmsg_type == NLMSG_DONE) {
        if (first_error) return std::unexpected(*first_error);
        return {};
      }
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        Ack a = parse_ack(nlh);
        if (a.code == 0) continue;
        return fail(a.code, what + (a.kernel.empty() ? "" : " (kernel: " + a.kernel + ")"));
      }
      if (nlh->nlmsg_flags & NLM_F_DUMP_INTR && !first_error)
        first_error = Error{EINTR, what + ": table changed during the dump"};
      if (!first_error) {
        if (auto r = on_message(nlh); !r) first_error = r.error();
      }
    }
  }
}

Result<size_t> NetlinkSocket::read_available(std::vector<char>& out) {
  out.resize(kReceiveBufferSize);
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), out.data(), out.size());
    if (n >= 0) {
      out.resize(static_cast<size_t>(n));
      return static_cast<size_t>(n);
    }
    if (errno == EINTR) continue;
    out.clear();
    if (errno == EAGAIN) return size_t{0};
    return fail(errno, "read netlink events");
  }
}

}  // namespace fipd::nl
