// SPDX-License-Identifier: GPL-2.0-or-later
// The daemon's log: one line per event on stderr, with a severity.
//
// Under systemd (JOURNAL_STREAM names our stderr) each event goes to the
// journal through its native protocol (sd_journal_sendv): MESSAGE is the same
// readable line ("failover 203.0.113.10 web-1 -> spare-1 server=web-1 ..."),
// PRIORITY the severity, and every field travels also as a journal field of
// its own, its key in upper case (SERVER=web-1, FIP=203.0.113.10,
// COMMIT_US=17), so `journalctl -u fipd SERVER=web-1` or `-o json` select
// and read them without parsing text. Should the native socket fail, the line
// goes to stderr with the syslog priority prefix "<N>", which journald turns
// into the entry's priority: nothing is lost, only the separate fields.
// Elsewhere lines carry a wall-clock time and a word for the severity. Only
// the engine logs; libraries return errors.
//
// Field keys are lower-case words (server, fip, cause, commit_us); a key that
// is not a valid journal field name is mapped to one (upper case, other
// characters to '_'), and one that would shadow a field journald gives its
// own meaning (MESSAGE, PRIORITY, SYSLOG_*, CODE_*, ...) is prefixed FIPD_.
//
// Messages and values often quote text fipd did not write (hook output,
// names from the state file, probe replies): both are written through
// printable(), which escapes control characters (an ESC becomes \x1b)
// and invalid UTF-8, in the line on stderr and in the journal's MESSAGE; a
// newline in a value becomes a space. The journal's own fields keep their
// bytes (journalctl escapes them when it shows them).
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace fipd::log {

enum class Level : int { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

// Parses "error", "warning", "notice", "info", "debug".
bool parse_level(std::string_view text, Level& out);
void set_level(Level l);
bool enabled(Level l);

using Field = std::pair<std::string_view, std::string>;

void write(Level l, std::string_view message, std::initializer_list<Field> fields = {});

// The journal field name for a field key: "commit_us" -> "COMMIT_US",
// "message" -> "FIPD_MESSAGE"; empty when nothing usable is left.
std::string journal_field_name(std::string_view key);

inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }
inline void warning(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warning, m, f); }
inline void notice(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::notice, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) {
  if (enabled(Level::debug)) write(Level::debug, m, f);
}

}  // namespace fipd::log
