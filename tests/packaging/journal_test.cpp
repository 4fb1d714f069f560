// SPDX-License-Identifier: GPL-2.0-or-later
// fipd's log under systemd: each event reaches the journal through its
// native protocol with MESSAGE (the readable line), PRIORITY and the fields
// in upper case; when the journal socket is not there, the line goes to
// stderr with its "<N>" priority prefix instead.
//
// Each case runs in a child process with a private mount namespace and a
// tmpfs over /run, where the test binds its own datagram socket at
// /run/systemd/journal/socket: the machine's journal (if any) is never
// written, and what fipd sends is read back byte for byte.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "testbed/temp_dir.hpp"
#include "tests/support/kernel_test.hpp"

namespace fipd::log {
namespace {

using Entry = std::map<std::string, std::string>;

// The native protocol: "KEY=value\n", or "KEY\n" + 64-bit little-endian
// length + value + "\n" for values that hold a newline.
Entry parse_datagram(const std::string& d) {
  Entry e;
  size_t at = 0;
  while (at < d.size()) {
    size_t nl = d.find('\n', at);
    size_t eq = d.find('=', at);
    if (eq != std::string::npos && (nl == std::string::npos || eq < nl)) {
      e[d.substr(at, eq - at)] = d.substr(eq + 1, nl - eq - 1);
      at = nl + 1;
      continue;
    }
    std::string key = d.substr(at, nl - at);
    uint64_t len = 0;
    std::memcpy(&len, d.data() + nl + 1, 8);  // little-endian, as is this machine
    e[key] = d.substr(nl + 9, len);
    at = nl + 9 + len + 1;
  }
  return e;
}

struct Captured {
  std::string stderr_text;
  std::vector<Entry> entries;
  int child_status = -1;
};

// Runs `body` in a child as if under systemd: stderr is a file named by
// JOURNAL_STREAM (unless `journal_stream` is false), and journald's socket
// is the test's own (unless `journal_socket` is false).
Captured run_as_service(bool journal_stream, bool journal_socket, const std::function<void()>& body) {
  const testbed::TempDir tmp{"journal"};
  const std::string& dir = tmp.path();
  pid_t pid = fork();
  if (pid == 0) {
    auto die = [](int code) { _exit(code); };
    if (unshare(CLONE_NEWNS) != 0) die(10);
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die(11);
    if (mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0) die(12);
    int sock = -1;
    if (journal_socket) {
      std::filesystem::create_directories("/run/systemd/journal");
      sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_un sa{.sun_family = AF_UNIX};
      std::strcpy(sa.sun_path, "/run/systemd/journal/socket");
      if (bind(sock, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) die(13);
    }
    int err = open((dir + "/stderr").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (err < 0 || dup2(err, 2) < 0) die(14);
    struct stat st{};
    fstat(2, &st);
    if (journal_stream)
      setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino)).c_str(), 1);
    else
      unsetenv("JOURNAL_STREAM");
    body();
    if (sock >= 0) {
      std::vector<char> buf(1 << 16);
      for (int i = 0;; ++i) {
        ssize_t n = recv(sock, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) break;
        std::ofstream(dir + "/entry." + std::to_string(i), std::ios::binary).write(buf.data(), n);
      }
    }
    _exit(0);
  }
  Captured c;
  waitpid(pid, &c.child_status, 0);
  auto slurp = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  c.stderr_text = slurp(dir + "/stderr");
  for (int i = 0; std::filesystem::exists(dir + "/entry." + std::to_string(i)); ++i)
    c.entries.push_back(parse_datagram(slurp(dir + "/entry." + std::to_string(i))));
  return c;
}

void log_a_failure() {
  set_level(Level::info);
  warning("server web-1 up -> down (connection refused)",
          {{"server", "web-1"}, {"cause", "connection refused"}, {"commit_us", "17"}, {"detail", "two\nlines"}});
  debug("not at level info", {{"server", "web-1"}});
}

TEST(JournalFieldName, UpperCaseAndNeverAFieldOfJournaldsOwn) {
  EXPECT_EQ(journal_field_name("server"), "SERVER");
  EXPECT_EQ(journal_field_name("commit_us"), "COMMIT_US");
  EXPECT_EQ(journal_field_name("fip"), "FIP");
  EXPECT_EQ(journal_field_name("elements-found.v4"), "ELEMENTS_FOUND_V4");
  EXPECT_EQ(journal_field_name("message"), "FIPD_MESSAGE");
  EXPECT_EQ(journal_field_name("priority"), "FIPD_PRIORITY");
  EXPECT_EQ(journal_field_name("syslog_identifier"), "FIPD_SYSLOG_IDENTIFIER");
  EXPECT_EQ(journal_field_name("code_line"), "FIPD_CODE_LINE");
  EXPECT_EQ(journal_field_name("errno"), "FIPD_ERRNO");
  EXPECT_EQ(journal_field_name("_pid"), "PID");  // trusted fields are journald's to set
  EXPECT_EQ(journal_field_name("9lives"), "F9LIVES");
  EXPECT_EQ(journal_field_name("__"), "");
  EXPECT_EQ(journal_field_name(std::string(80, 'a')).size(), 64u);
}

TEST(JournalLog, EachEventIsOneEntryWithItsLineItsPriorityAndItsFields) {
  FIPD_REQUIRE_NETNS();  // root: mount namespaces
  auto c = run_as_service(true, true, log_a_failure);
  ASSERT_TRUE(WIFEXITED(c.child_status) && WEXITSTATUS(c.child_status) == 0) << c.child_status;
  EXPECT_EQ(c.stderr_text, "") << "sent to the journal, so not to stderr";
  ASSERT_EQ(c.entries.size(), 1u) << "the debug line is below the level";
  Entry& e = c.entries[0];
  EXPECT_EQ(e["MESSAGE"],
            "server web-1 up -> down (connection refused) server=web-1 cause=\"connection refused\" commit_us=17 "
            "detail=\"two lines\"");
  EXPECT_EQ(e["PRIORITY"], "4");
  EXPECT_EQ(e["SYSLOG_IDENTIFIER"], program_invocation_short_name);
  EXPECT_EQ(e["SERVER"], "web-1");
  EXPECT_EQ(e["CAUSE"], "connection refused");
  EXPECT_EQ(e["COMMIT_US"], "17");
  EXPECT_EQ(e["DETAIL"], "two\nlines") << "a field keeps its newline; only the line flattens it";
}

TEST(JournalLog, WithoutTheJournalSocketTheLineGoesToStderrWithItsPriority) {
  FIPD_REQUIRE_NETNS();
  auto c = run_as_service(true, false, log_a_failure);
  ASSERT_TRUE(WIFEXITED(c.child_status) && WEXITSTATUS(c.child_status) == 0) << c.child_status;
  EXPECT_EQ(c.stderr_text,
            "<4>server web-1 up -> down (connection refused) server=web-1 cause=\"connection refused\" "
            "commit_us=17 detail=\"two lines\"\n");
}

TEST(JournalLog, OutsideSystemdLinesHaveATimeAndAWordForTheSeverity) {
  FIPD_REQUIRE_NETNS();
  auto c = run_as_service(false, true, log_a_failure);
  ASSERT_TRUE(WIFEXITED(c.child_status) && WEXITSTATUS(c.child_status) == 0) << c.child_status;
  EXPECT_TRUE(c.entries.empty()) << "stderr is not the journal: nothing is sent to it";
  EXPECT_NE(c.stderr_text.find(" WARN  server web-1 up -> down (connection refused) server=web-1"), std::string::npos)
      << c.stderr_text;
}

}  // namespace
}  // namespace fipd::log
