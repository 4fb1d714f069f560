#include "src/probe/probe_socket.hpp"

#include <netinet/in.h>
#include <cstring>

namespace fipd::probe {

SockAddr make_sockaddr(const nl::IpAddress& a, uint16_t port) {
  SockAddr s;
  if (a.is_v4()) {
    auto* in = reinterpret_cast<sockaddr_in*>(&s.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, a.data(), 4);
    s.len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&s.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    std::memcpy(&in6->sin6_addr, a.data(), 16);
    s.len = sizeof(sockaddr_in6);
  }
  return s;
}

std::optional<nl::IpAddress> address_of(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) return nl::IpAddress::v4(reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr);
  if (ss.ss_family == AF_INET6) return nl::IpAddress::v6(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr);
  return std::nullopt;
}

Result<nl::Fd> open_probe_socket(int family, int type, int protocol, const ProbeSpec& spec) {
  nl::Fd fd(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
  if (!fd) return nl::fail(errno, "socket");
  if (spec.mark != 0 && setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &spec.mark, sizeof(spec.mark)) != 0)
    return nl::fail(errno, "SO_MARK " + std::to_string(spec.mark));
  if (!spec.device.empty() &&
      setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, spec.device.data(), static_cast<socklen_t>(spec.device.size())) != 0)
    return nl::fail(errno, "SO_BINDTODEVICE " + spec.device);
  if (spec.source) {
    if (type == SOCK_STREAM || type == SOCK_DGRAM) {
      // Choose the port at connect() time, per destination: a source address
      // shared by thousands of probes must not run out of ports at bind().
      int one = 1;
      setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    }
    SockAddr src = make_sockaddr(*spec.source, 0);
    if (::bind(fd.get(), src.get(), src.len) != 0) return nl::fail(errno, "bind to " + spec.source->str());
  }
  return fd;
}

ProbeResult result_of_errno(int err) {
  switch (err) {
    case 0: return {};
    case ECONNREFUSED: return {.cause = Cause::refused, .detail = 0};
    case ECONNRESET:
    case EPIPE: return {.cause = Cause::reset, .detail = 0};
    case ETIMEDOUT: return {.cause = Cause::timeout, .detail = 0};
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENETDOWN:
    case ENONET: return {.cause = Cause::unreachable, .detail = err};
    default: return {.cause = Cause::local_error, .detail = err};
  }
}

}  // namespace fipd::probe
