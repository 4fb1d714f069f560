// SPDX-License-Identifier: GPL-2.0-or-later
// A blocking client of the control socket, for fipctl and the tests: one
// connection, the greeting read at connect, then requests and their
// responses one line at a time. Not for the daemon (it blocks).
//
// Errors say which socket and why, in the words an operator needs:
// "/run/fipd/fipd.sock: no such socket (is fipd running?)", "permission
// denied (root or group fipd may connect)", "connection refused (a stale
// socket: fipd is not running)".
//
// What the daemon sends is outside input here too (another process may hold
// the socket's path): lines are bounded (kMaxAnswer bytes, parse_answer()'s
// depth), so a hostile answer is an error, never a crash.
//
// Owns: the socket. Thread: one at a time. Failures: Error values; ETIMEDOUT
// when the daemon does not answer within the timeout, EMSGSIZE for a line
// longer than kMaxAnswer, EPROTO for one that is not bounded JSON.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/error.hpp"
#include "base/fd.hpp"

namespace fipd::control {

// The longest answer line read: a status of 100,000 floating IPs is ~17 MB.
inline constexpr size_t kMaxAnswer = 256u << 20;
inline constexpr size_t kMaxAnswerDepth = 32;

// One line from fipd as JSON, bounded; the error says what was wrong where.
Result<nlohmann::json> parse_answer(std::string_view line);

class ControlClient {
 public:
  // timeout: for the greeting and each response; zero waits forever.
  static Result<ControlClient> connect(const std::string& path,
                                           std::chrono::milliseconds timeout = std::chrono::seconds(30));

  const nlohmann::json& greeting() const { return greeting_; }
  bool can_write() const;

  // Sends one request object and returns the response (the first line that
  // is not a watch event).
  Result<nlohmann::json> request(const nlohmann::json& req);
  // Sends raw bytes as they are (tests send malformed lines with this).
  Status send_raw(std::string_view bytes);
  // The next line, without '\n'; ECONNRESET when the daemon closed.
  Result<std::string> read_line(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // The next line parsed as JSON.
  Result<nlohmann::json> read_json(std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  int fd() const { return fd_.get(); }
  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

 private:
  std::string path_;
  Fd fd_;
  std::chrono::milliseconds timeout_{0};
  std::string buf_;
  size_t off_ = 0, scanned_ = 0;
  nlohmann::json greeting_;
};

// The message for a failed connect() to `path`, by errno.
std::string connect_error_text(const std::string& path, int err);

}  // namespace fipd::control
