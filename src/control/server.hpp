// SPDX-License-Identifier: GPL-2.0-or-later
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
//     queued; a watcher whose unread events pass max_output is dropped;
//   - all queued output together (every client of this socket and of the
//     health listener, a shared status document once): the OutputBudget
//     (16 MiB). Past it, the clients holding the most unread output are
//     dropped first, and only those holding more than their fair share (the
//     budget over the number of clients): a client that reads is not the one
//     dropped;
//   - a client with output pending that reads nothing for stall_timeout is
//     dropped;
//   - status answers, rendering and sending: slice_budget of loop time per
//     loop iteration, over all clients together. Concurrent requests share one rendering (a
//     StatusRound): a request joins the rendering under way unless the
//     engine announced an event or carried out a change since it began, so
//     it never sees an older state than the one it asked about; otherwise
//     it waits for the next one, which begins when that one ends. 1,000
//     clients asking at once cost one or two renderings, not 1,000;
//   - requests: at most kTurn per client per loop iteration, clients taken
//     in the loop's order (a client with more waiting is served again at the
//     next iteration), and changes for at most change_budget of loop time
//     per iteration over all clients;
//   - durability: the changes of one iteration share one state write (group
//     commit): each is carried out at once, and answered, ok or not durable,
//     after the one fsync that covers the batch, which runs once the
//     iteration's events are handled. A client's answers stay in the order
//     of its requests: while it has a change waiting, its next request waits
//     too unless it is another change.
//
// The socket file: a stale one (nobody answers: a fipd that was killed) is
// replaced; a live one (another fipd answers) or a path that is not a socket
// makes create() fail with a message saying so. The new socket is bound
// under a temporary name, given its mode and group, then renamed into place,
// so it is never reachable with the wrong permissions.
//
// Accepting, finding and closing connections, and the loop time they get,
// are the StreamServer's (stream_server.hpp), shared with the health
// responder.
//
// Owns: the listening socket and its file, every client connection (in its
// StreamServer), one engine subscription. Uses the engine and the metrics,
// which must outlive it. Thread: the loop's. Failures: create() returns an
// Error naming the path and the reason; per-client failures close that
// client only.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/fd.hpp"
#include "src/control/output_budget.hpp"
#include "src/control/protocol.hpp"
#include "src/control/status.hpp"
#include "src/control/stream_server.hpp"
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
  Duration stall_timeout = 30s;
  Duration slice_budget = 150us;
  Duration change_budget = 500us;
  // Shared with the health listener; null: one of kOutputBudget of its own.
  std::shared_ptr<OutputBudget> output_budget;
};

class ControlServer {
 public:
  static Result<std::unique_ptr<ControlServer>> create(engine::Engine& engine, metrics::Metrics& metrics,
                                                           ControlOptions options);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  size_t client_count() const { return clients_.size(); }
  // Requests taken from one client per loop iteration.
  static constexpr size_t kTurn = 64;
  const std::string& path() const { return options_.path; }

 private:
  struct Client;
  struct StatusRound;
  struct Change;

  ControlServer(engine::Engine& engine, metrics::Metrics& metrics, ControlOptions options);
  Status listen_on_path();
  Status resolve_group();
  void accept_one(Fd fd);
  void on_client_io(Client& c, uint32_t events);
  void service(Client& c);
  bool process_lines(Client& c);
  bool write_out(Client& c);
  std::optional<size_t> send_some(Client& c, std::string_view bytes);
  void update_interest(Client& c);
  bool handle_line(Client& c, std::string_view line);
  void execute(Client& c, const Request& r);
  Result<std::string> run_change(Change& ch);
  std::string move_result(const Change& ch) const;
  void ask_status(Client& c, const std::string& id);
  bool render_slice();
  void commit_batch();
  void answer_change(Client* c, const Change& ch, const Status& durable);
  void on_event(const engine::Event& e);
  void drop(Client& c, const char* why);
  void sweep(TimePoint now);
  size_t pending(const Client& c) const;
  void account(Client& c);
  void enforce_budget();
  bool change_budget_left() { return change_budget_.left(); }
  bool take_turn(Client& c);

  engine::Engine& engine_;
  metrics::Metrics& metrics_;
  ControlOptions options_;
  std::shared_ptr<OutputBudget> budget_;  // before everything that holds a charge
  bool trim_owed_ = false;  // a large client was dropped: sweep() gives its memory back
  StatusContext status_ctx_;
  loop::SourceId sweep_timer_ = loop::kNoSource, commit_timer_ = loop::kNoSource;
  dev_t socket_dev_ = 0;
  ino_t socket_ino_ = 0;
  std::string group_name_;  // what gid_ was resolved from
  gid_t gid_ = 0;
  bool have_group_ = false;
  uint64_t subscription_ = 0;
  // The connections, and slice_budget with them.
  StreamServer<Client> stream_;
  // commands.cpp reaches these by name.
  StreamServer<Client>::Map& clients_ = stream_.conns();
  const std::shared_ptr<bool>& alive_ = stream_.alive();  // cleared by the destructor
  SliceBudget change_budget_;
  Duration& change_used_ = change_budget_.spent();
  size_t watchers_ = 0;
  // Status renderings: the one under way (or the last, done), and the next,
  // not begun, that requests wait for when the engine moved on meanwhile.
  std::shared_ptr<StatusRound> round_, next_round_;
  uint64_t generation_ = 0;  // engine events and changes so far
  std::vector<Change> batch_;  // changes waiting for their state write
};

}  // namespace fipd::control
