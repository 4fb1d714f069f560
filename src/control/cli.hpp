// SPDX-License-Identifier: GPL-2.0-or-later
// fipctl's command table: what an operator types, and the one control
// request (docs/control-protocol.md) it becomes. One entry per command, as
// wireguard-tools' subcommands[] is: its words, usage and help, how many
// positional arguments it takes, its options, and how they fill the
// request. The usage list, `COMMAND --help` and the line parser all
// read this table, so a command cannot be documented one way and parsed
// another; tests/control/cli_test.cpp hands every entry's request to the
// daemon's own parser (parse_request), so fipctl and fipd cannot disagree
// on a command's shape either.
//
// Only the spelling is checked here (counts, on|off, a port list, a probe's
// shape); what the arguments mean (does the server exist, is the address
// one) is the daemon's to say, in one place.
//
// Owns: nothing. Thread: any. Failures: parse() returns the usage message,
// for people.
#pragma once

#include <expected>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fipd::control::cli {

// A usage error's message, or nothing.
using Refusal = std::optional<std::string>;

struct Option {
  std::string_view name;  // "--standby"
  bool takes_value;
  // Writes the option into the request; `value` is empty for a flag.
  Refusal (*apply)(nlohmann::json& request, const std::string& value);
};

struct CommandSpec {
  std::string_view words;  // "server add": what the operator types
  std::string_view usage;  // the command line after "fipctl "
  std::string_view help;
  size_t min_args = 0, max_args = 0;  // positional arguments
  std::span<const Option> options;
  // Names the positional arguments in the request. Null for the commands
  // fipctl answers itself (version, raw): they send no built request.
  Refusal (*fill)(nlohmann::json& request, const std::vector<std::string>& args) = nullptr;

  // The wire name: "server add" is "server.add".
  std::string wire() const;
};

std::span<const CommandSpec> commands();

// The entries a first word names, in table order: "server" finds add,
// remove and drain; "move" finds move.
std::vector<const CommandSpec*> find(std::string_view first_word);

// A command line read against the table.
struct CommandLine {
  const CommandSpec* spec = nullptr;
  std::vector<std::string> args;  // the positional arguments
  nlohmann::json request;         // null for the commands fipctl answers itself
};

// Reads a command line (the command's words, then its arguments; fipctl's
// own options already taken off), or says what is wrong with it.
std::expected<CommandLine, std::string> parse(const std::vector<std::string>& line);

// `fipctl COMMAND --help`, every entry of the first word; empty for an
// unknown one.
std::string help(std::string_view first_word);

}  // namespace fipd::control::cli
