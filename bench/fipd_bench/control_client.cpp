// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace fipd::bench {
namespace {

int64_t mono_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : -1;
}

}  // namespace

Result<ControlClient> ControlClient::connect(const std::string& path, std::chrono::milliseconds timeout) {
  ControlClient c;
  c.fd_ = Fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!c.fd_) return fail(errno, "control socket");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof(sa.sun_path)) return fail(ENAMETOOLONG, "control socket " + path);
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  if (::connect(c.fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return fail(errno, "connect to fipd's control socket " + path);
  auto line = c.read_line(timeout);
  if (!line) return std::unexpected(line.error());
  c.greeting_ = nlohmann::json::parse(*line, nullptr, false);
  if (!c.greeting_.is_object() || !c.greeting_.contains("protocol"))
    return fail(EPROTO, "fipd's greeting on " + path + " is not a protocol greeting: " + *line);
  return c;
}

Result<std::string> ControlClient::read_line(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto nl_at = buffer_.find('\n'); nl_at != std::string::npos) {
      std::string line = buffer_.substr(0, nl_at);
      buffer_.erase(0, nl_at + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd_.get(), POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0)
      return fail(ETIMEDOUT, "fipd's control socket: no answer");
    char buf[65536];
    ssize_t n = read(fd_.get(), buf, sizeof(buf));
    if (n == 0) return fail(ECONNRESET, "fipd closed the control connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno, "read from fipd's control socket");
    }
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

Result<nlohmann::json> ControlClient::request(nlohmann::json req, std::chrono::milliseconds timeout) {
  const int id = next_id_++;
  req["id"] = id;
  std::string out = req.dump() + "\n";
  for (size_t sent = 0; sent < out.size();) {
    ssize_t n = send(fd_.get(), out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n < 0) return fail(errno, "send to fipd's control socket");
    sent += static_cast<size_t>(n);
  }
  for (;;) {
    auto line = read_line(timeout);
    if (!line) return std::unexpected(line.error());
    auto j = nlohmann::json::parse(*line, nullptr, false);
    // Lines of another id (events of a watch) are not this answer.
    if (!j.is_object() || !j.contains("ok") || j.value("id", -1) != id) continue;
    if (!j["ok"].is_boolean() || !j["ok"].get<bool>())
      return fail(EREMOTEIO, "fipd refused '" + req.value("cmd", std::string("?")) + "': " +
                                      j.value("error", std::string("(no message)")));
    return j.value("result", nlohmann::json::object());
  }
}

std::vector<FipdFailover> parse_failovers(const nlohmann::json& status) {
  std::vector<FipdFailover> out;
  auto it = status.find("failovers");
  if (it == status.end() || !it->is_array()) return out;
  for (const auto& f : *it) {
    if (!f.is_object()) continue;
    FipdFailover x{.from = f.value("from", std::string()), .to = f.value("to", std::string()),
                   .detected_us = mono_field(f, "detected_mono_us"), .decided_us = mono_field(f, "decided_mono_us"),
                   .committed_us = mono_field(f, "committed_mono_us"), .flushed_us = mono_field(f, "flushed_mono_us"),
                   .error = f.value("error", std::string())};
    if (auto fips = f.find("fips"); fips != f.end() && fips->is_array())
      for (const auto& a : *fips)
        if (a.is_string()) x.fips.push_back(a.get<std::string>());
    if (x.detected_us < 0) continue;
    out.push_back(std::move(x));
  }
  return out;
}

std::optional<FipdFailover> parse_failover_log_line(const std::string& line, int64_t realtime_offset_us,
                                                    int64_t day_start_realtime_us) {
  // No std::regex: a failover of 10,000 addresses makes a line of 200 KB.
  int hh, mm, ss, ms;
  char level[16];
  int consumed = 0;
  if (std::sscanf(line.c_str(), "%2d:%2d:%2d.%3d %15s failover %n", &hh, &mm, &ss, &ms, level, &consumed) != 5 ||
      consumed == 0)
    return std::nullopt;
  std::istringstream words(line.substr(static_cast<size_t>(consumed)));
  std::string fips, from, arrow, to;
  if (!(words >> fips >> from >> arrow >> to) || arrow != "->") return std::nullopt;
  auto field = [&](const char* key) -> int64_t {
    size_t at = line.rfind(key);
    if (at == std::string::npos) return -1;
    return std::strtoll(line.c_str() + at + std::strlen(key), nullptr, 10);
  };
  int64_t decide = field(" decide_us="), commit = field(" commit_us="), flush = field(" flush_us=");
  if (decide < 0 || commit < 0 || flush < 0) return std::nullopt;
  FipdFailover f{.from = from, .to = to};
  for (size_t at = 0; at <= fips.size();) {
    size_t comma = fips.find(',', at);
    if (comma == std::string::npos) comma = fips.size();
    f.fips.push_back(fips.substr(at, comma - at));
    at = comma + 1;
  }
  // The line is written right after the flush.
  int64_t logged_realtime = day_start_realtime_us + ((hh * 60LL + mm) * 60 + ss) * 1000000 + ms * 1000LL;
  f.flushed_us = logged_realtime - realtime_offset_us;
  f.committed_us = f.flushed_us - flush;
  f.decided_us = f.committed_us - commit;
  f.detected_us = f.decided_us - decide;
  return f;
}

}  // namespace fipd::bench
