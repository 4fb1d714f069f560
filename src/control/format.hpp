// SPDX-License-Identifier: GPL-2.0-or-later
// fipctl's output for people: the status as aligned tables, events as one
// line each. Pure functions from the protocol's JSON to text, so the tests
// can check them without a terminal. Colour (ANSI) only when asked: fipctl
// asks when stdout is a terminal and NO_COLOR is not set.
//
// Every string from the JSON is shown through printable(): control
// characters and invalid UTF-8 are escaped, so text fipd did not write itself
// (hook output, names, messages) cannot drive the terminal.
//
// Owns: nothing. Thread: any. Failures: none; fields missing or of the
// wrong type print as "?".
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace fipd::control {

// 350us, 1.2ms, 2.5s, 3m12s, 4h05m, 2d3h.
std::string format_us(int64_t us);

// The status result (the response's "result") as tables.
std::string format_status(const nlohmann::json& status, bool color);

// One watch event as a line, prefixed with `timestamp`.
std::string format_event(const nlohmann::json& event, const std::string& timestamp, bool color);

// A table: a header row, then rows; columns padded to the widest cell,
// ignoring ANSI colour sequences when measuring.
std::string format_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

}  // namespace fipd::control
