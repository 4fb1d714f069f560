#include "src/engine/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

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

// Values with spaces or quotes are quoted, so lines stay machine-splittable.
void append_value(std::string& out, const std::string& v) {
  bool plain = !v.empty() && v.find_first_of(" \"=\t\n") == std::string::npos;
  if (plain) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c == '\n' ? ' ' : c;
  }
  out += '"';
}

}  // namespace

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
  if (stderr_is_journal()) {
    line += '<';
    line += static_cast<char>('0' + static_cast<int>(l));
    line += '>';
  } else {
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
  line += message;
  for (const auto& [k, v] : fields) {
    line += ' ';
    line += k;
    line += '=';
    append_value(line, v);
  }
  line += '\n';
  // One write per line, so lines from a crashing process never interleave.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace fipd::log
