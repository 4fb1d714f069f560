// SPDX-License-Identifier: GPL-2.0-or-later
// The daemon's log lines on stderr: text fipd did not write itself (hook
// output, names, probe replies) is escaped, so it cannot break lines or
// drive the terminal of whoever reads the log.
#include "base/log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace fipd::log {
namespace {

// What write() puts on stderr, captured through a temporary file.
std::string captured(Level l, std::string_view message, std::initializer_list<Field> fields) {
  unsetenv("JOURNAL_STREAM");  // plain lines, not the journal
  std::FILE* tmp = std::tmpfile();
  int saved = dup(STDERR_FILENO);
  dup2(fileno(tmp), STDERR_FILENO);
  write(l, message, fields);
  dup2(saved, STDERR_FILENO);
  close(saved);
  std::rewind(tmp);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), tmp)) > 0) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

// Issue 13, item 4.
TEST(Log, ControlCharactersInMessagesAndValuesAreEscaped) {
  std::string line = captured(Level::notice, "rebuild r1 of web-1: \033[2J\033]0;owned\007 x \xff",
                              {{"progress", "a\nb\033[1A"}, {"server", "web-1"}});
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.find('\033'), std::string::npos) << line;
  EXPECT_EQ(line.find('\007'), std::string::npos) << line;
  EXPECT_EQ(line.find('\xff'), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
  // In a quoted value the escape's backslash is itself escaped, as any is.
  EXPECT_NE(line.find("rebuild r1 of web-1: \\x1b[2J\\x1b]0;owned\\x07 x \\xff progress=\"a b\\\\x1b[1A\" server=web-1"),
            std::string::npos)
      << line;
}

}  // namespace
}  // namespace fipd::log
