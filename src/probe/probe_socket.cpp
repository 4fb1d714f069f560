// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/probe/probe_socket.hpp"

#include <netinet/in.h>
#include <cstring>

namespace fipd::probe {

Result<Fd> open_probe_socket(int family, int type, int protocol, const ProbeSpec& spec) {
  Fd fd(::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol));
  if (!fd) return fail(errno, "socket");
  if (spec.mark != 0 && setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &spec.mark, sizeof(spec.mark)) != 0)
    return fail(errno, "SO_MARK " + std::to_string(spec.mark));
  if (!spec.device.empty() &&
      setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, spec.device.data(), static_cast<socklen_t>(spec.device.size())) != 0)
    return fail(errno, "SO_BINDTODEVICE " + spec.device);
  if (spec.source) {
    if (type == SOCK_STREAM || type == SOCK_DGRAM) {
      // Choose the port at connect() time, per destination: a source address
      // shared by thousands of probes must not run out of ports at bind().
      int one = 1;
      setsockopt(fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    }
    SockAddr src = SockAddr::of(*spec.source, 0);
    if (::bind(fd.get(), src.get(), src.len) != 0) return fail(errno, "bind to " + spec.source->str());
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
