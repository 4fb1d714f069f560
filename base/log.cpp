// SPDX-License-Identifier: GPL-2.0-or-later
#include "base/log.hpp"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "base/printable.hpp"

namespace fipd::log {
namespace {

Level g_level = Level::info;

// journald sets JOURNAL_STREAM to "device:inode" of the stream it reads.
bool stderr_is_journal() {
  static const bool yes = [] {
    const char* js = std::getenv("JOURNAL_STREAM");
    if (!js) return false;
    struct stat st {};
    if (fstat(STDERR_FILENO, &st) != 0) return false;
    unsigned long dev = 0, ino = 0;
    if (std::sscanf(js, "%lu:%lu", &dev, &ino) != 2) return false;
    return dev == st.st_dev && ino == st.st_ino;
  }();
  return yes;
}

const char* level_word(Level l) {
  switch (l) {
    case Level::error: return "ERROR";
    case Level::warning: return "WARN ";
    case Level::notice: return "NOTE ";
    case Level::info: return "INFO ";
    case Level::debug: return "DEBUG";
  }
  return "?";
}

// Values with spaces or quotes are quoted, so lines stay machine-splittable;
// a newline becomes a space, other control characters are escaped
// (printable), so no value can break a line or reach a terminal as an
// escape sequence.
void append_value(std::string& out, const std::string& value) {
  std::string flat = value;
  std::replace(flat.begin(), flat.end(), '\n', ' ');  // a value stays on its line, readable
  std::string v = printable(flat);
  bool plain = !v.empty() && v.find_first_of(" \"=") == std::string::npos;
  if (plain) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

// Journal fields with a meaning of their own (systemd.journal-fields(7)):
// a fipd field of that name would be taken for it.
bool shadows_standard_field(std::string_view name) {
  constexpr std::array<std::string_view, 9> exact = {"MESSAGE",       "PRIORITY",      "ERRNO",
                                                     "TID",           "UNIT",          "USER_UNIT",
                                                     "DOCUMENTATION", "INVOCATION_ID", "USER_INVOCATION_ID"};
  constexpr std::array<std::string_view, 5> prefixes = {"SYSLOG_", "CODE_", "OBJECT_", "COREDUMP", "MESSAGE_"};
  for (auto e : exact)
    if (name == e) return true;
  for (auto p : prefixes)
    if (name.starts_with(p)) return true;
  return false;
}

// One entry through journald's native socket: MESSAGE is the readable line,
// the fields follow it as fields of their own. False when the journal did
// not take it (the caller then writes the line to stderr).
bool send_to_journal(Level l, std::string_view line, std::initializer_list<Field> fields) {
  // sd_journal_sendv reports success when the socket is missing ("fail
  // silently if the journal is not available"), which would lose the line:
  // look first. A socket file on a read-only /run (ProtectSystem=strict) is
  // still writable, so existing is enough.
  struct stat st {};
  if (::stat("/run/systemd/journal/socket", &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  std::vector<std::string> items;
  items.reserve(3 + fields.size());
  items.push_back("MESSAGE=" + std::string(line));
  items.push_back("PRIORITY=" + std::to_string(static_cast<int>(l)));
  items.push_back("SYSLOG_IDENTIFIER=" + std::string(program_invocation_short_name));
  for (const auto& [k, v] : fields) {
    std::string name = journal_field_name(k);
    // Fields travel as they are: journald keeps any bytes and escapes them
    // when it shows them; only the MESSAGE line is escaped.
    if (!name.empty()) items.push_back(name + "=" + v);
  }
  std::vector<iovec> iov;
  iov.reserve(items.size());
  for (auto& i : items) iov.push_back({i.data(), i.size()});
  return sd_journal_sendv(iov.data(), static_cast<int>(iov.size())) >= 0;
}

}  // namespace

std::string journal_field_name(std::string_view key) {
  std::string name;
  name.reserve(key.size());
  for (char c : key) {
    if (c >= 'a' && c <= 'z') name += static_cast<char>(c - 'a' + 'A');
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) name += c;
    else name += '_';
  }
  // Leading underscores are journald's trusted fields, which it refuses from
  // clients; a leading digit is not a valid name.
  size_t start = name.find_first_not_of('_');
  if (start == std::string::npos) return {};
  name.erase(0, start);
  if (name[0] >= '0' && name[0] <= '9') name.insert(0, "F");
  if (shadows_standard_field(name)) name.insert(0, "FIPD_");
  if (name.size() > 64) name.resize(64);  // journald's limit on a name
  return name;
}

bool parse_level(std::string_view text, Level& out) {
  for (auto [name, l] : {std::pair{"error", Level::error}, {"warning", Level::warning}, {"notice", Level::notice},
                         {"info", Level::info}, {"debug", Level::debug}})
    if (text == name) {
      out = l;
      return true;
    }
  return false;
}

void set_level(Level l) { g_level = l; }
bool enabled(Level l) { return static_cast<int>(l) <= static_cast<int>(g_level); }

void write(Level l, std::string_view message, std::initializer_list<Field> fields) {
  if (!enabled(l)) return;
  std::string line;
  line.reserve(128);
  const bool journal = stderr_is_journal();
  if (!journal) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03ld ", t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000);
    line += buf;
    line += level_word(l);
    line += ' ';
  }
  size_t text_start = line.size();
  // The message quotes hook output, names and errors: escaped like values.
  line += printable(message);
  for (const auto& [k, v] : fields) {
    line += ' ';
    line += k;
    line += '=';
    append_value(line, v);
  }
  if (journal) {
    if (send_to_journal(l, std::string_view(line).substr(text_start), fields)) return;
    // The native socket refused (journald restarting, a sandbox without it):
    // the stream still reaches journald, with the severity as a prefix.
    line.insert(0, "<" + std::to_string(static_cast<int>(l)) + ">");
  }
  line += '\n';
  // One write per line, so lines from a crashing process never interleave.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace fipd::log
