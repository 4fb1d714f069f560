// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/probe/spec.hpp"

#include <net/if.h>

#include <cerrno>

#include "base/printable.hpp"
#include "src/probe/duration.hpp"

namespace fipd::probe {
namespace {

// Collects the context of the field being checked, so every error reads the same.
class Checker {
 public:
  explicit Checker(std::string prefix) : prefix_(std::move(prefix)) {}
  std::unexpected<Error> fail(std::string_view field, const std::string& why) const {
    return fipd::fail(EINVAL, prefix_ + std::string(field) + ": " + why);
  }
  Status positive(std::string_view field, Duration d) const {
    if (d.count() <= 0) return fail(field, "'" + format_duration(d) + "' must be > 0");
    return {};
  }
  Status optional_positive(std::string_view field, Duration d) const {
    if (d.count() < 0) return fail(field, "'" + format_duration(d) + "' must be > 0 (or unset)");
    return {};
  }
  // Positive (or unset, when `optional`), then within [lo, hi].
  Status in_range(std::string_view field, Duration d, Duration lo, Duration hi, bool optional = false) const {
    if (auto s = optional ? optional_positive(field, d) : positive(field, d); !s) return s;
    if ((optional && d.count() == 0) || (d >= lo && d <= hi)) return {};
    return fail(field, "'" + format_duration(d) + "' must be from " + format_duration(lo) + " to " +
                           format_duration(hi));
  }

 private:
  std::string prefix_;
};

bool printable_token(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return false;
  return true;
}

Status validate_http(const Checker& c, const ProbeSpec& p) {
  if (p.http_path.empty() || p.http_path.front() != '/')
    return c.fail("http path", "'" + printable(p.http_path) + "' must start with '/'");
  // Quoted escaped: a NUL or an escape sequence must not cut or drive the message.
  if (!printable_token(p.http_path))
    return c.fail("http path", "'" + printable(p.http_path) + "' has spaces or control characters");
  if (!printable_token(p.http_host))
    return c.fail("http host", "'" + printable(p.http_host) + "' has spaces or control characters");
  for (uint16_t s : p.http_status)
    if (s < 100 || s > 599) return c.fail("http status", std::to_string(s) + " is not an HTTP status (100..599)");
  return {};
}

Status validate_probe(const Checker& c, const ServerSpec& server, const ProbeSpec& p) {
  if (static_cast<unsigned>(p.kind) > static_cast<unsigned>(ProbeKind::icmp))
    return c.fail("kind", "unknown kind " + std::to_string(static_cast<unsigned>(p.kind)) + " (use tcp, http, udp, icmp)");
  if (p.kind == ProbeKind::icmp) {
    if (p.port != 0) return c.fail("port", std::to_string(p.port) + ": icmp probes have no port");
    if (!p.send.empty() || !p.expect.empty()) return c.fail("send", "icmp probes send their own echo request");
  } else if (p.port == 0) {
    return c.fail("port", "0 must be in 1..65535");
  }
  if (auto s = c.in_range("interval", p.interval, kMinInterval, kMaxInterval); !s) return s;
  if (auto s = c.in_range("timeout", p.timeout, kMinTimeout, kMaxTimeout); !s) return s;
  if (auto s = c.in_range("fastinter", p.fastinter, kMinInterval, kMaxInterval, true); !s) return s;
  if (auto s = c.in_range("downinter", p.downinter, kMinInterval, kMaxInterval, true); !s) return s;
  if (p.detect_time.count() != 0) {
    // Against the settled pace and the pace while changing: both run under a deadline.
    for (Duration pace : {p.interval, p.fast_interval()})
      if (p.detect_time < 2 * pace || p.detect_time > pace * kMaxInFlightPerProbe)
        return c.fail("detect_time", "'" + format_duration(p.detect_time) + "' must be 2 to " +
                                         std::to_string(kMaxInFlightPerProbe) + " times the interval ('" +
                                         format_duration(pace) + "')");
  }
  if (p.rise == 0) return c.fail("rise", "0 must be >= 1");
  if (p.fall == 0) return c.fail("fall", "0 must be >= 1");
  if (p.rise > 1000 || p.fall > 1000) return c.fail(p.rise > 1000 ? "rise" : "fall", "must be <= 1000");
  if (p.spread_percent > 50) return c.fail("spread", std::to_string(p.spread_percent) + "% must be <= 50%");
  if (p.kind == ProbeKind::http) {
    if (auto s = validate_http(c, p); !s) return s;
  } else if (!p.http_host.empty() || !p.http_status.empty() || p.http_path != "/") {
    return c.fail("http path", std::string("only http probes take http settings, this one is ") + kind_name(p.kind));
  }
  if (p.kind == ProbeKind::tcp && p.send.size() > 4096) return c.fail("send", "longer than 4096 bytes");
  if (p.kind == ProbeKind::udp && p.send.size() > 1400) return c.fail("send", "a datagram of more than 1400 bytes");
  if (p.expect.size() > 1024) return c.fail("expect", "longer than 1024 bytes");
  if (p.source && p.source->family() != server.address.family())
    return c.fail("source", p.source->str() + " is not an " + family_name(server.address.family()) +
                                " address like the server's " + server.address.str());
  if (p.device.size() >= IFNAMSIZ) return c.fail("device", "'" + p.device + "' is longer than an interface name");
  return {};
}

}  // namespace

const char* kind_name(ProbeKind k) {
  switch (k) {
    case ProbeKind::tcp: return "tcp";
    case ProbeKind::http: return "http";
    case ProbeKind::udp: return "udp";
    case ProbeKind::icmp: return "icmp";
  }
  return "?";
}

Result<ProbeKind> parse_probe_kind(std::string_view text) {
  for (ProbeKind k : {ProbeKind::tcp, ProbeKind::http, ProbeKind::udp, ProbeKind::icmp})
    if (text == kind_name(k)) return k;
  return fail(EINVAL, "unknown probe kind '" + std::string(text) + "' (use tcp, http, udp, icmp)");
}

Status validate(const ServerSpec& server) {
  if (server.id.empty()) return fail(EINVAL, "server '': id: must not be empty");
  if (!printable_token(server.id)) return fail(EINVAL, "server '" + server.id + "': id: has spaces or control characters");
  const std::string prefix = "server " + server.id + ": ";
  if (server.probes.empty()) return fail(EINVAL, prefix + "probes: at least one probe is needed");
  if (server.probes.size() > kMaxProbesPerServer)
    return fail(EINVAL, prefix + "probes: " + std::to_string(server.probes.size()) + " probes, at most " +
                                std::to_string(kMaxProbesPerServer) + " per server");
  for (size_t i = 0; i < server.probes.size(); ++i) {
    Checker c(prefix + "probe " + std::to_string(i) + ": ");
    if (auto s = validate_probe(c, server, server.probes[i]); !s) return s;
  }
  return {};
}

}  // namespace fipd::probe
