// One client of the control socket, as the server keeps it: its socket,
// credentials, buffers and where its answer stands. Shared by server.cpp
// (connections) and commands.cpp (requests); nothing else includes it.
//
// Owns: the client's socket. Thread: the loop's.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "netlink/fd.hpp"
#include "src/control/server.hpp"
#include "src/control/status.hpp"

namespace fipd::control {

struct ControlServer::Client {
  uint64_t id = 0;
  nl::Fd fd;
  loop::SourceId source = loop::kNoSource;
  uid_t uid = 0;
  pid_t pid = 0;
  bool can_write = false;
  std::string in;
  size_t in_off = 0;   // consumed prefix of `in`
  size_t scanned = 0;  // bytes of `in` after in_off already searched for '\n'
  std::string out;
  size_t out_off = 0;
  std::unique_ptr<StatusWriter> status;
  std::string held_events;  // events that arrived while a status answer was being written
  bool watching = false;
  bool awaiting = false;  // a request answered later (a reload being read): no further requests meanwhile
  bool eof = false;      // the client shut its writing side
  bool closing = false;  // close once the output is written
  bool dead = false;     // closed; erased after the current callback
  uint32_t events = 0;   // what the loop watches now
  loop::TimePoint waiting_since{};  // output pending and nothing written since
};

}  // namespace fipd::control
