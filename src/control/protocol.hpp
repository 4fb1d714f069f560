// SPDX-License-Identifier: GPL-2.0-or-later
// The control protocol, version 1 (docs/control-protocol.md): one JSON object
// per line. This file is the request parser and the response envelopes, and
// nothing else: no I/O, no engine, so a fuzzer drives it directly
// (tests/fuzz/control_request_fuzz.cpp).
//
// Parsing is strict, like the configuration file: unknown commands, unknown
// argument keys, wrong types and missing arguments are errors that name the
// key and what was expected, so a typo ("sever") is refused rather than
// silently ignored. Lines are read by bounded_json::parse() (at most
// kMaxDepth deep, no NUL, nothing after the value, no duplicate keys), and
// every value's type is checked before it is read.
//
// Owns: nothing. Thread: any. Failures: parse_request() returns a
// ProtocolError with an errno-style code (EBADMSG malformed JSON, EINVAL
// wrong or missing arguments, EOPNOTSUPP unknown command, EMSGSIZE line too
// long) and a message for people.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ip_address.hpp"
#include "src/probe/spec.hpp"
#include "src/state/model.hpp"

namespace fipd::control {

inline constexpr int kProtocolVersion = 1;
inline constexpr size_t kMaxLine = 64 * 1024;  // bytes, without the '\n'
inline constexpr size_t kMaxDepth = 32;        // nesting of a request, the object itself counting 1

enum class Command : uint8_t {
  status,
  watch,
  metrics,
  move,
  pin,
  unpin,
  server_add,
  server_remove,
  server_drain,
  maintenance,
  fip_add,
  fip_remove,
  rebuild,
  reload,
};
inline constexpr int kCommandCount = static_cast<int>(Command::reload) + 1;

// The wire name: "status", "server.add", ...
const char* command_name(Command c);
// Requests that change state need can_write (root or the control group).
bool changes_state(Command c);

struct Request {
  std::string id;  // the request's "id" as JSON text, echoed; empty when absent
  Command cmd = Command::status;

  std::optional<IpAddress> fip;  // move, pin, unpin, fip.add (address), fip.remove (address)
  std::string server;                // move, pin, maintenance, rebuild, fip.add; server.*: name
  bool on = false;                   // server.drain, maintenance

  // server.add
  std::optional<IpAddress> address, address6;
  bool spare = false;
  std::string standby;
  std::vector<probe::ProbeSpec> probes;  // normalised; empty: the running [probe_defaults]
  std::string replaces;

  // reload: apply even past [engine] max_reload_removal_share
  bool allow_removals = false;

  // fip.add
  state::FipMode mode = state::FipMode::nat;
  std::vector<uint16_t> lockout_ports;
};

struct ProtocolError {
  int code = 0;
  std::string message;
  std::string id;  // echoed when the line was an object with an id
};

// Parses one line (without its '\n'). Probes given to server.add are read
// over `probe_defaults`, as the file's [[server]] probes are.
std::expected<Request, ProtocolError> parse_request(std::string_view line,
                                                    const probe::ProbeSpec& probe_defaults);

// "EPERM", "ENOENT", ...: the code field of an error response.
std::string code_name(int code);

// Response lines, each ending in '\n'. `result_json` is a JSON value.
std::string ok_response(std::string_view id, std::string_view result_json);
std::string error_response(std::string_view id, int code, std::string_view message);
std::string greeting(std::string_view version, bool can_write);

}  // namespace fipd::control
