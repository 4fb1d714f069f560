// SPDX-License-Identifier: GPL-2.0-or-later
// HTTP POSTs from the engine loop, with libcurl's multi-socket interface:
// curl says which sockets to watch and when to wake it, the loop watches
// them, so a slow provisioning system never blocks probing. Used for the
// rebuild webhook and the completion notification.
//
// Owns: the curl multi handle and every transfer in flight, the io sources
// and the one timer curl asked for. Thread: the loop's. Errors: a transfer's
// outcome (HTTP status, or curl's error text) goes to its callback, exactly
// once, unless the client is destroyed first.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "src/loop/loop.hpp"

typedef void CURLM;
typedef void CURL;

namespace fipd::rebuild {

struct HttpResult {
  long status = 0;     // 0 when no HTTP answer came
  std::string error;   // curl's words when it failed
  std::string body;    // at most 64 KiB
  bool ok() const { return error.empty() && status >= 200 && status < 300; }
  std::string describe() const;
};

class HttpClient {
 public:
  using Done = std::function<void(const HttpResult&)>;
  static Result<std::unique_ptr<HttpClient>> create(loop::Loop& loop);
  ~HttpClient();
  // POSTs `json` to `url` with Content-Type: application/json.
  Status post(const std::string& url, const std::string& json, std::chrono::nanoseconds timeout, Done done);
  size_t in_flight() const { return transfers_.size(); }

 private:
  struct Transfer;
  explicit HttpClient(loop::Loop& loop);
  static int on_socket(CURL* easy, int fd, int what, void* self, void* socket_data);
  static int on_timer(CURLM* multi, long timeout_ms, void* self);
  void drive(int fd, int events);
  void collect();

  loop::Loop& loop_;
  CURLM* multi_ = nullptr;
  std::map<int, loop::SourceId> sockets_;
  loop::SourceId timer_ = loop::kNoSource;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers_;
};

}  // namespace fipd::rebuild
