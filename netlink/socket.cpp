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

Result<size_t> NetlinkSocket::receive(const std::string& what) {
  for (;;) {
    ssize_t n = mnl_socket_recvfrom(sock_.get(), buf_.data(), buf_.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return fail(errno, "receive netlink reply for " + what);
    pollfd p{.fd = fd(), .events = POLLIN, .revents = 0};
    int r = poll(&p, 1, static_cast<int>(reply_timeout.count()));
    if (r == 0) return fail(ETIMEDOUT, "no netlink reply for " + what);
    if (r < 0 && errno != EINTR) return fail(errno, "poll netlink socket for " + what);
  }
}

std::string extack_message(const nlmsghdr* nlh) {
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(nlmsgerr)) return {};
  auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
  // With NETLINK_CAP_ACK the original request is not echoed (NLM_F_CAPPED),
  // so the attributes follow the header of the request.
  size_t offset = sizeof(*err);
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
  size_t total = mnl_nlmsg_get_payload_len(nlh);
  if (offset >= total) return {};
  const char* start = static_cast<const char*>(mnl_nlmsg_get_payload(nlh)) + offset;
  const nlattr* attr;
  for (attr = reinterpret_cast<const nlattr*>(start);
       mnl_attr_ok(attr, static_cast<int>(total - offset -
                                          (reinterpret_cast<const char*>(attr) - start)));
       attr = mnl_attr_next(attr)) {
    // Up to the attribute's end: its NUL is the kernel's promise, not checked.
    if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG) {
      auto* text = static_cast<const char*>(mnl_attr_get_payload(attr));
      return std::string(text, ::strnlen(text, mnl_attr_get_payload_len(attr)));
    }
  }
  return {};
}

Status NetlinkSocket::await_acks(uint32_t first_seq, uint32_t last_seq, const Describe& describe,
                                 const OnMessage& on_data, int tolerated, size_t* tolerated_count) {
  std::optional<Error> first_error;
  auto what = [&] { return describe ? describe(last_seq) : "netlink request"; };
  for (;;) {
    auto got = receive(what());
    if (!got) return std::unexpected(got.error());
    int len = static_cast<int>(*got);
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(buf_.data()); mnl_nlmsg_ok(nlh, len);
         nlh = mnl_nlmsg_next(nlh, &len)) {
      if (nlh->nlmsg_pid != portid_ && nlh->nlmsg_pid != 0) continue;
      uint32_t seq = nlh->nlmsg_seq;
      bool in_range = seq >= first_seq && seq <= last_seq;
      if (nlh->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        const bool forgiven = in_range && tolerated != 0 && -err->error == tolerated;
        if (forgiven && tolerated_count) ++*tolerated_count;
        if (err->error != 0 && !forgiven && !first_error) {
          std::string ctx = describe ? describe(seq) : "netlink request " + std::to_string(seq);
          std::string kernel = extack_message(nlh);
          if (!kernel.empty()) ctx += " (kernel: " + kernel + ")";
          first_error = Error{-err->error, std::move(ctx)};
        }
        if (seq == last_seq || (!in_range && err->error != 0)) {
          if (first_error) return std::unexpected(*first_error);
          return {};
        }
        continue;
      }
      if (!in_range) continue;  // a late reply to an earlier request
      if (on_data && nlh->nlmsg_type >= NLMSG_MIN_TYPE) {
        if (auto r = on_data(nlh); !r && !first_error) first_error = r.error();
      }
    }
  }
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
        auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
        if (err->error == 0) continue;
        std::string ctx = what;
        std::string kernel = extack_message(nlh);
        if (!kernel.empty()) ctx += " (kernel: " + kernel + ")";
        return fail(-err->error, ctx);
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
