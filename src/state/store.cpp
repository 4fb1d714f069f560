// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/state/store.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>

#include "netlink/fd.hpp"

namespace fipd::state {

nl::Status write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  // Never through a link: whoever may write the folder could have planted
  // state.json.tmp as a symlink to a file of root's. unlink() removes the
  // link itself (or a stale file from a crash), and O_EXCL|O_NOFOLLOW then
  // refuses anything that appeared at that name since.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return nl::fail(errno, "remove stale " + tmp);
  nl::Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640));
  if (!fd) return nl::fail(errno, "create " + tmp);
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return nl::fail(errno, "write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return nl::fail(errno, "fsync " + tmp);
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return nl::fail(errno, "rename " + tmp + " to " + path);
  // The rename is durable only once the folder is.
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  nl::Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return nl::fail(errno, "open folder " + dir);
  if (::fsync(d.get()) != 0) return nl::fail(errno, "fsync folder " + dir);
  return {};
}

nl::Result<std::optional<std::string>> read_state_file(const std::string& path) {
  // O_NONBLOCK: a FIFO at the path must not hang the start.
  nl::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return nl::fail(errno, "read state file " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return nl::fail(errno, "read state file " + path);
  if (S_ISDIR(st.st_mode)) return nl::fail(EISDIR, path + ": is a directory, not a state file");
  if (!S_ISREG(st.st_mode)) return nl::fail(EINVAL, path + ": not a regular file, so not a state file");
  if (static_cast<uint64_t>(st.st_size) > kMaxStateBytes)
    return nl::fail(EFBIG, path + ": " + std::to_string(st.st_size) + " bytes, more than a state file's " +
                               std::to_string(kMaxStateBytes));
  std::string text;
  char chunk[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return nl::fail(errno, "read state file " + path);
    if (n == 0) break;
    text.append(chunk, static_cast<size_t>(n));
    // It may grow while read; the parser refuses what is too long.
    if (text.size() > kMaxStateBytes) break;
  }
  return std::optional<std::string>(std::move(text));
}

namespace {

constexpr std::chrono::milliseconds kFirstRetry{100};
constexpr std::chrono::milliseconds kLastRetry{30'000};

}  // namespace

FileStore::FileStore(std::string path)
    : path_(std::move(path)), notify_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)), writer_([this] { run(); }) {}

FileStore::~FileStore() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  writer_.join();  // run() writes what is pending before it stops
}

nl::Result<std::optional<RuntimeState>> FileStore::load() {
  auto text = read_state_file(path_);
  if (!text) return std::unexpected(text.error());
  if (!*text) return std::optional<RuntimeState>{};
  auto s = from_json(**text, path_);
  if (!s) return std::unexpected(s.error());
  return std::optional<RuntimeState>(std::move(*s));
}

SaveSeq FileStore::save(const RuntimeState& s) {
  Text text{.state = s};
  SaveSeq seq = 0;
  {
    std::lock_guard lock(mu_);
    seq = next_seq_++;
    text.seq = seq;
    pending_ = std::move(text);
  }
  cv_.notify_all();
  return seq;
}

Written FileStore::written() const {
  std::lock_guard lock(mu_);
  return written_;
}

nl::Status FileStore::flush() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !pending_ && !busy_; });
  if (last_error_) return std::unexpected(*last_error_);
  return {};
}

std::optional<nl::Error> FileStore::durability_error() const {
  std::lock_guard lock(mu_);
  return failed_ ? last_error_ : std::nullopt;
}

void FileStore::notify() {
  if (!notify_) return;
  uint64_t one = 1;
  (void)!::write(notify_.get(), &one, sizeof(one));  // only the wakeup matters
}

void FileStore::drain_result() {
  uint64_t n = 0;
  if (notify_) (void)!::read(notify_.get(), &n, sizeof(n));
}

void FileStore::run() {
  std::unique_lock lock(mu_);
  auto backoff = kFirstRetry;
  for (;;) {
    auto wanted = [&] { return pending_.has_value() || stop_; };
    // A failed text waits for its retry time, unless a newer one comes.
    if (failed_ && !wanted()) cv_.wait_for(lock, backoff, wanted);
    else cv_.wait(lock, wanted);
    Text text;
    bool retrying = false;
    if (pending_) {
      text = std::move(*pending_);
      pending_.reset();
      failed_.reset();  // superseded
      backoff = kFirstRetry;
    } else if (failed_) {
      text = *failed_;
      retrying = true;
      ++write_retries_;
    } else {
      return;  // stopping with nothing left to write
    }
    busy_ = true;
    lock.unlock();
    if (text.state) {
      text.json = to_json(*text.state);
      text.state.reset();
    }
    nl::Status r = write_file(text.json);
    lock.lock();
    busy_ = false;
    written_ = {.seq = text.seq, .error = r ? std::nullopt : std::optional<nl::Error>(r.error())};
    if (r) {
      last_error_.reset();
      failed_.reset();
      backoff = kFirstRetry;
    } else {
      last_error_ = r.error();
      if (!retrying) ++write_errors_;
      if (retrying) backoff = std::min(backoff * 2, kLastRetry);
      if (!pending_) failed_ = std::move(text);
    }
    cv_.notify_all();
    notify();
    if (stop_ && retrying) return;  // stopping: one last attempt, not a retry loop
  }
}

nl::Status FileStore::write_file(const std::string& text) { return write_file_atomically(path_, text); }

}  // namespace fipd::state
