// The daemon's log: one line per event on stderr, with a severity.
//
// Under systemd (JOURNAL_STREAM names our stderr) each line starts with the
// syslog priority prefix "<N>", which journald turns into the entry's
// priority, and carries key=value fields (server=web-1 fip=203.0.113.10) that
// operators grep for. Elsewhere lines carry a wall-clock time and a word for
// the severity. Only the engine logs; libraries return errors.
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

inline void error(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::error, m, f); }
inline void warning(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::warning, m, f); }
inline void notice(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::notice, m, f); }
inline void info(std::string_view m, std::initializer_list<Field> f = {}) { write(Level::info, m, f); }
inline void debug(std::string_view m, std::initializer_list<Field> f = {}) {
  if (enabled(Level::debug)) write(Level::debug, m, f);
}

}  // namespace fipd::log
