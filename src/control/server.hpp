// The control socket: fipctl's and monitoring tools' way into the engine.
//
// A Unix stream socket speaking the control protocol (protocol.hpp,
// docs/control-protocol.md), served on the engine's loop like every other
// source: nothing here blocks, and the work done for clients in one loop
// iteration is bounded, so probes keep their schedule however hard clients
// push.
//
// Authorization by SO_PEERCRED (and SO_PEERGROUPS for supplementary groups):
// anyone who may open the socket (mode 0660, owner root, group
// [engine] control_group) may read; changing requests need uid 0 or
// membership of control_group, like birdc's restricted mode and HAProxy's
// socket levels. Every changing request is logged with the client's uid and
// pid, whether it was carried out or refused.
//
// Bounds, each with what happens past it:
//   - a request line: kMaxLine (64 KiB); longer: an EMSGSIZE error, then the
//     connection is closed (its framing is lost);
//   - clients: max_clients; more: an EBUSY error line, then closed;
//   - queued output: requests are read only while less than high_water is
//     queued; the status answer is produced lazily as the client reads; a
//     watcher whose unread events pass max_output is dropped;
//   - a client with output pending that reads nothing for stall_timeout is
//     dropped;
//   - status production: slice_budget of loop time per loop iteration, over
//     all clients together.
//
// The socket file: a stale one (nobody answers: a fipd that was killed) is
// replaced; a live one (another fipd answers) or a path that is not a socket
// makes create() fail with a message saying so. The new socket is bound
// under a temporary name, given its mode and group, then renamed into place,
// so it is never reachable with the wrong permissions.
//
// Owns: the listening socket and its file, every client connection, one
// engine subscription. Uses the engine and the metrics, which must outlive
// it. Thread: the loop's. Failures: create() returns an Error naming the
// path and the reason; per-client failures close that client only.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "netlink/fd.hpp"
#include "src/control/protocol.hpp"
#include "src/control/status.hpp"
#include "src/engine/engine.hpp"
#include "src/metrics/metrics.hpp"

namespace fipd::control {

using namespace std::chrono_literals;

struct ControlOptions {
  std::string path;   // the socket file
  std::string group;  // control_group: may change state; empty: root only
  std::string version;
  size_t max_clients = 1024;
  size_t high_water = 256 * 1024;
  size_t max_output = 4 * 1024 * 1024;
  loop::Duration stall_timeout = 30s;
  loop::Duration slice_budget = 150us;
};

class ControlServer {
 public:
  static nl::Result<std::unique_ptr<ControlServer>> create(engine::Engine& engine, metrics::Metrics& metrics,
                                                           ControlOptions options);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  size_t client_count() const { return clients_.size(); }
  const std::string& path() const { return options_.path; }

 private:
  struct Client;

  ControlServer(engine::Engine& engine, metrics::Metrics& metrics, ControlOptions options);
  nl::Status listen_on_path();
  nl::Status resolve_group();
  void on_listen_ready();
  void accept_one(int fd);
  void on_client_io(uint64_t id, uint32_t events);
  void service(Client& c);
  bool process_lines(Client& c);
  bool write_out(Client& c);
  void update_interest(Client& c);
  void handle_line(Client& c, std::string_view line);
  void execute(Client& c, const Request& r);
  std::string run_change(const Request& r, nl::Status& status);
  void on_event(const engine::Event& e);
  void drop(Client& c, const char* why);
  void sweep(loop::TimePoint now);
  size_t pending(const Client& c) const;
  bool budget_left();

  engine::Engine& engine_;
  metrics::Metrics& metrics_;
  ControlOptions options_;
  StatusContext status_ctx_;
  nl::Fd listen_fd_;
  loop::SourceId listen_source_ = loop::kNoSource;
  loop::SourceId pause_timer_ = loop::kNoSource, sweep_timer_ = loop::kNoSource;
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
  std::string group_name_;  // what gid_ was resolved from
  gid_t gid_ = 0;
  bool have_group_ = false;
  uint64_t subscription_ = 0;
  std::unordered_map<uint64_t, std::unique_ptr<Client>> clients_;
  uint64_t next_client_ = 1;
  size_t watchers_ = 0;
  // The loop iteration the budget was last spent in, and how much of it.
  uint64_t budget_iteration_ = 0;
  loop::Duration budget_used_{0};
  loop::TimePoint last_emfile_log_{};
  // Cleared by the destructor: deferred closes check it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace fipd::control
