// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/control/client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "base/printable.hpp"
#include "src/json/bounded.hpp"

namespace fipd::control {

using nlohmann::json;

std::string connect_error_text(const std::string& path, int err) {
  switch (err) {
    case ENOENT: return path + ": no such socket (is fipd running? is this its --socket?)";
    case EACCES:
    case EPERM: return path + ": permission denied (root, or a member of fipd's control_group, may connect)";
    case ECONNREFUSED: return path + ": connection refused (a stale socket: fipd is not running)";
    case ENOTDIR: return path + ": a part of the path is not a folder";
    case ENAMETOOLONG: return path + ": the path is too long for a socket (107 bytes at most)";
    case ETIMEDOUT: return path + ": fipd did not answer in time";
    case EAGAIN: return path + ": fipd's backlog is full; try again";
    default: return path + ": " + std::strerror(err);
  }
}

Result<json> parse_answer(std::string_view line) {
  auto j = bounded_json::parse(line, {.max_depth = kMaxAnswerDepth, .max_bytes = kMaxAnswer});
  if (!j) return fail(EPROTO, "fipd sent a line that is not JSON: " + j.error().context);
  return j;
}

Result<ControlClient> ControlClient::connect(const std::string& path, std::chrono::milliseconds timeout) {
  ControlClient c;
  c.path_ = path;
  c.timeout_ = timeout;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sa.sun_path)) return fail(ENAMETOOLONG, connect_error_text(path, ENAMETOOLONG));
  std::memcpy(sa.sun_path, path.data(), path.size());
  c.fd_ = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!c.fd_) return fail(errno, "socket");
  if (::connect(c.fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return fail(errno, connect_error_text(path, errno));
  auto g = c.read_json();
  if (!g) return std::unexpected(g.error());
  if (!g->is_object()) return fail(EPROTO, path + ": the greeting is not a JSON object");
  if (auto ok = g->find("ok"); ok != g->end() && ok->is_boolean() && !ok->get<bool>()) {
    auto e = g->find("error");
    return fail(EBUSY, path + ": fipd refused the connection: " +
                               (e != g->end() && e->is_string() ? printable(e->get<std::string>()) : std::string("?")));
  }
  c.greeting_ = std::move(*g);
  return c;
}

bool ControlClient::can_write() const {
  auto it = greeting_.find("can_write");
  return it != greeting_.end() && it->is_boolean() && it->get<bool>();
}

Status ControlClient::send_raw(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno, path_ + ": send");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

Result<std::string> ControlClient::read_line(std::optional<std::chrono::milliseconds> timeout) {
  auto limit = timeout.value_or(timeout_);
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    size_t nl = buf_.find('\n', off_ + scanned_);
    if (nl != std::string::npos) {
      std::string line = buf_.substr(off_, nl - off_);
      off_ = nl + 1;
      scanned_ = 0;
      if (off_ > (1u << 20) || off_ == buf_.size()) {
        buf_.erase(0, off_);
        off_ = 0;
      }
      return line;
    }
    scanned_ = buf_.size() - off_;
    if (scanned_ > kMaxAnswer)
      return fail(EMSGSIZE, path_ + ": fipd sent a line longer than " + std::to_string(kMaxAnswer) + " bytes");
    if (limit.count() > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return fail(ETIMEDOUT, connect_error_text(path_, ETIMEDOUT));
      pollfd p{fd_.get(), POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r == 0) return fail(ETIMEDOUT, connect_error_text(path_, ETIMEDOUT));
    }
    char chunk[65536];
    ssize_t n = ::read(fd_.get(), chunk, sizeof(chunk));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno, path_ + ": read");
    }
    if (n == 0) return fail(ECONNRESET, path_ + ": fipd closed the connection");
    buf_.append(chunk, static_cast<size_t>(n));
  }
}

Result<json> ControlClient::read_json(std::optional<std::chrono::milliseconds> timeout) {
  auto line = read_line(timeout);
  if (!line) return std::unexpected(line.error());
  auto j = parse_answer(*line);
  if (!j) return fail(EPROTO, path_ + ": " + j.error().context);
  return j;
}

Result<json> ControlClient::request(const json& req) {
  if (auto r = send_raw(bounded_json::dump(req) + "\n"); !r)
    return std::unexpected(r.error());
  for (;;) {
    auto j = read_json();
    if (!j) return j;
    if (j->is_object() && j->contains("event")) continue;  // a watcher's event, not the answer
    return j;
  }
}

}  // namespace fipd::control
