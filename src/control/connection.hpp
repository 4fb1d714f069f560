// SPDX-License-Identifier: GPL-2.0-or-later
// One client of the control socket, as the server keeps it: its socket,
// credentials, buffers and where its answer stands. Shared by server.cpp
// (connections) and commands.cpp (requests); nothing else includes it.
//
// Owns: the client's socket. Thread: the loop's.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "base/fd.hpp"
#include "src/control/output_budget.hpp"
#include "src/control/server.hpp"
#include "src/control/status.hpp"

namespace fipd::control {

// One rendering of the status, shared by every client that asked for it
// while it was open (see ControlServer::ask_status). The text is the
// answer without an id ('{"ok":true,...}\n'); a client whose request had
// one is sent '{"id":ID,' and then the text after its '{'. It grows while
// `writer` produces it and never changes once done; it counts once against
// the output budget.
struct ControlServer::StatusRound {
  std::unique_ptr<StatusWriter> writer;  // null once the text is complete
  std::string text;
  uint64_t generation = 0;  // the engine's events and changes seen when it began
  OutputBudget::Charge charge;
  bool done() const { return !writer; }
};

// A changing request carried out and waiting for the batch's state write
// before it is answered (ControlServer::commit_batch).
struct ControlServer::Change {
  uint64_t client = 0;
  uid_t uid = 0;  // who asked, for the log
  pid_t pid = 0;
  Request request;
  // What it did, as the answer's result (JSON text), or why it was refused.
  Result<std::string> outcome;
  // A move that made a failover: its id. The answer shows its timeline
  // entry, which is recorded once durable, just before the answer.
  uint64_t failover = 0;
};

struct ControlServer::Client {
  uint64_t id = 0;
  Fd fd;
  loop::SourceId source = loop::kNoSource;
  uid_t uid = 0;
  pid_t pid = 0;
  bool can_write = false;
  std::string in;
  size_t in_off = 0;   // consumed prefix of `in`
  size_t scanned = 0;  // bytes of `in` after in_off already searched for '\n'
  std::string out;
  size_t out_off = 0;
  // The status answer being sent: its round and how much of its text went.
  std::shared_ptr<StatusRound> status;
  size_t status_off = 0;
  std::string held_events;  // events that arrived while a status answer was being written
  size_t awaiting = 0;      // changes carried out, answered once the batch is durable
  uint64_t turn = 0;        // the loop iteration of `taken`
  size_t taken = 0;         // requests taken in that iteration
  bool backlog = false;     // requests left for a later iteration
  bool watching = false;
  bool reloading = false;  // a reload being read off the loop: no further requests meanwhile
  bool eof = false;      // the client shut its writing side
  bool closing = false;  // close once the output is written
  bool dead = false;     // closed; erased after the current callback
  uint32_t events = 0;   // what the loop watches now
  TimePoint waiting_since{};  // output pending and nothing written since
  OutputBudget::Charge charge;      // its own unread output (not a shared status)
};

}  // namespace fipd::control
