// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/state/store.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "base/fd.hpp"
#include "src/state/journal.hpp"

namespace fipd::state {
namespace {

constexpr std::chrono::milliseconds kFirstRetry{100};
constexpr std::chrono::milliseconds kLastRetry{30'000};
// A journal shorter than this is never worth a snapshot of its own.
constexpr size_t kMinCompaction = 1u << 20;

// A rename or a new file is durable only once its folder is.
Status fsync_folder(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return fail(errno, "open folder " + dir);
  if (::fsync(d.get()) != 0) return fail(errno, "fsync folder " + dir);
  return {};
}

Status write_all(int fd, const std::string& text, const std::string& what) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno, "write " + what);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Status write_file_atomically(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  // Never through a link: whoever may write the folder could have planted
  // state.json.tmp as a symlink to a file of root's. unlink() removes the
  // link itself (or a stale file from a crash), and O_EXCL|O_NOFOLLOW then
  // refuses anything that appeared at that name since.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return fail(errno, "remove stale " + tmp);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640));
  if (!fd) return fail(errno, "create " + tmp);
  if (auto w = write_all(fd.get(), text, tmp); !w) return w;
  if (::fsync(fd.get()) != 0) return fail(errno, "fsync " + tmp);
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail(errno, "rename " + tmp + " to " + path);
  return fsync_folder(path);
}

Result<std::optional<std::string>> read_state_file(const std::string& path) {
  // O_NONBLOCK: a FIFO at the path must not hang the start.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) {
    if (errno == ENOENT) return std::optional<std::string>{};
    return fail(errno, "read state file " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(errno, "read state file " + path);
  if (S_ISDIR(st.st_mode)) return fail(EISDIR, path + ": is a directory, not a state file");
  if (!S_ISREG(st.st_mode)) return fail(EINVAL, path + ": not a regular file, so not a state file");
  if (static_cast<uint64_t>(st.st_size) > kMaxStateBytes)
    return fail(EFBIG, path + ": " + std::to_string(st.st_size) + " bytes, more than a state file's " +
                               std::to_string(kMaxStateBytes));
  std::string text;
  text.reserve(static_cast<size_t>(st.st_size));
  char chunk[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno, "read state file " + path);
    if (n == 0) break;
    text.append(chunk, static_cast<size_t>(n));
    // It may grow while read; the parser refuses what is too long.
    if (text.size() > kMaxStateBytes) break;
  }
  return std::optional<std::string>(std::move(text));
}

FileStore::FileStore(std::string path, FileStoreOptions options)
    : path_(std::move(path)),
      journal_path_(path_ + ".journal"),
      options_(std::move(options)),
      notify_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      writer_([this] { run(); }) {}

FileStore::~FileStore() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  writer_.join();  // run() writes what is pending before it stops
}

Result<FileStore::OnDisk> FileStore::read_files() {
  OnDisk d;
  auto snap = read_state_file(path_);
  if (!snap) return std::unexpected(snap.error());
  if (*snap) {
    auto s = from_json(**snap, path_);
    if (!s) return std::unexpected(s.error());
    d.state = std::move(*s);
    d.any = true;
    d.has_snapshot = true;
    d.snapshot_bytes = (*snap)->size();
  }
  auto journal = read_state_file(journal_path_);
  if (!journal) return std::unexpected(journal.error());
  if (*journal) {
    auto r = replay_journal(**journal, journal_path_, d.state);
    if (!r) return std::unexpected(r.error());
    d.any = d.any || r->records > 0;
    d.journal_bytes = r->good_bytes;
    d.journal_records = r->records;
    if (r->torn) d.warnings.push_back(*r->torn);
  }
  return d;
}

Result<Loaded> FileStore::load() {
  std::unique_lock lock(mu_);
  // Not while the writer is between a snapshot and the journal's truncation.
  cv_.wait(lock, [&] { return !busy_; });
  auto disk = read_files();
  if (!disk) return std::unexpected(disk.error());
  Loaded out{.warnings = std::move(disk->warnings)};
  if (disk->any) out.state = disk->state;
  if (next_seq_ == 1) {
    // Nothing saved yet: what later saves apply to. The writer has never
    // run a batch, so its members are free.
    adopt(std::move(*disk));
    // Cut a torn record away now (opening the journal does), so that the
    // next start does not warn again.
    if (!out.warnings.empty())
      if (auto o = open_journal(); !o) out.warnings.push_back("cannot cut it away: " + o.error().message() + ", ignoring");
  }
  return out;
}

SaveSeq FileStore::save(Delta change) {
  SaveSeq seq = 0;
  {
    std::lock_guard lock(mu_);
    seq = next_seq_++;
    pending_.push_back({.seq = seq, .change = std::move(change)});
  }
  cv_.notify_all();
  return seq;
}

Written FileStore::written() const {
  std::lock_guard lock(mu_);
  return written_;
}

StoreStats FileStore::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

Status FileStore::flush() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return pending_.empty() && !busy_; });
  if (last_error_) return std::unexpected(*last_error_);
  return {};
}

std::optional<Error> FileStore::durability_error() const {
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
    auto wanted = [&] { return !pending_.empty() || stop_; };
    // A failed batch waits for its retry time, unless a new save comes.
    if (failed_ && !wanted()) cv_.wait_for(lock, backoff, wanted);
    else cv_.wait(lock, wanted);
    bool retrying = false;
    size_t first_new = batch_.size();
    if (!pending_.empty()) {
      // Every save handed over so far, at once: one append, one fdatasync.
      for (auto& r : pending_) batch_.push_back(std::move(r));
      pending_.clear();
      backoff = kFirstRetry;
    } else if (failed_) {
      retrying = true;
      ++write_retries_;
    } else {
      // Stopping with nothing left to write. The snapshot takes the journal
      // in, so that after a clean stop state.json alone holds the state: what
      // a person, a tool or an older fipd reads.
      if (based_ && journal_bytes_ > 0) {
        busy_ = true;
        lock.unlock();
        Status c = snapshot();
        lock.lock();
        busy_ = false;
        if (!c) ++stats_.compaction_errors;
        cv_.notify_all();
      }
      return;
    }
    busy_ = true;
    lock.unlock();
    if (options_.before_write) options_.before_write();
    // Serialised here, not by the loop: a large change takes milliseconds.
    for (size_t i = first_new; i < batch_.size(); ++i) {
      if (batch_[i].change.empty()) continue;
      std::string line = journal_line(batch_[i].seq, batch_[i].change);
      longest_line_ = std::max(longest_line_, line.size());
      batch_text_ += line;
    }
    Status r = write_batch();
    SaveSeq last = batch_.back().seq;
    if (r) {
      batch_.clear();
      batch_text_.clear();
      longest_line_ = 0;
    }
    lock.lock();
    written_ = {.seq = last, .error = r ? std::nullopt : std::optional<Error>(r.error())};
    if (r) {
      last_error_.reset();
      failed_ = false;
      backoff = kFirstRetry;
    } else {
      last_error_ = r.error();
      if (!retrying) ++write_errors_;
      if (retrying) backoff = std::min(backoff * 2, kLastRetry);
      failed_ = true;
    }
    // Published before any compaction: the saves are durable already, and
    // their waiters should not wait for a snapshot of the whole state.
    notify();
    if (r && !stop_ && compaction_due()) {
      lock.unlock();
      Status c = snapshot();
      lock.lock();
      if (!c) ++stats_.compaction_errors;  // the journal still holds it all: tried again after the next append
    }
    busy_ = false;
    cv_.notify_all();
    if (stop_ && retrying) return;  // stopping: one last attempt, not a retry loop
  }
}

bool FileStore::compaction_due() const {
  return journal_bytes_ > std::max(kMinCompaction, snapshot_bytes_) || journal_records_ >= kMaxJournalRecords / 2;
}

void FileStore::adopt(OnDisk disk) {
  state_ = std::move(disk.state);
  journal_bytes_ = disk.journal_bytes;
  journal_records_ = disk.journal_records;
  snapshot_bytes_ = disk.snapshot_bytes;
  has_snapshot_ = disk.has_snapshot;
  based_ = true;
}

Status FileStore::write_batch() {
  if (!based_) {
    // Never loaded: the saves apply to what the files hold.
    auto disk = read_files();
    if (!disk) return std::unexpected(disk.error());
    adopt(std::move(*disk));
  }
  size_t records = 0;
  for (const auto& r : batch_) records += !r.change.empty();
  bool fits = journal_bytes_ + batch_text_.size() <= kMaxStateBytes &&
              journal_records_ + records <= kMaxJournalRecords && longest_line_ <= kMaxJournalLine;
  if (!fits || !has_snapshot_) {
    // Appended, it would make a journal no load() accepts: straight into
    // a snapshot; so is the first write where there is none yet, to give
    // the journal its base. Applied again on a retry, which changes nothing.
    for (const auto& r : batch_) apply(state_, r.change);
    return snapshot();
  }
  if (!batch_text_.empty())
    if (auto a = append(batch_text_); !a) return a;
  for (const auto& r : batch_) apply(state_, r.change);
  journal_bytes_ += batch_text_.size();
  journal_records_ += records;
  return {};
}

Status FileStore::open_journal() {
  Fd fd(::open(journal_path_.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC));
  if (!fd && errno == ENOENT) {
    fd.reset(::open(journal_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640));
    if (!fd) return fail(errno, "create " + journal_path_);
    // Its records are durable only once its name is.
    if (auto f = fsync_folder(journal_path_); !f) return f;
  }
  if (!fd) return fail(errno, "open " + journal_path_);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail(errno, "open " + journal_path_);
  if (!S_ISREG(st.st_mode)) return fail(EINVAL, journal_path_ + ": not a regular file, so not a journal");
  // What follows the last whole record (a torn append, or one that failed)
  // goes, so that no record ever follows half of another.
  if (static_cast<uint64_t>(st.st_size) != journal_bytes_) {
    if (static_cast<uint64_t>(st.st_size) < journal_bytes_)
      return fail(EIO, journal_path_ + ": " + std::to_string(st.st_size) + " bytes, fewer than the " +
                               std::to_string(journal_bytes_) + " written: changed by someone else");
    if (::ftruncate(fd.get(), static_cast<off_t>(journal_bytes_)) != 0)
      return fail(errno, "cut " + journal_path_ + " back to its last record");
  }
  journal_ = std::move(fd);
  return {};
}

Status FileStore::append(const std::string& text) {
  if (!journal_)
    if (auto o = open_journal(); !o) return o;
  auto cut_back = [&] {
    // A half record must not stay for the next append to follow; when even
    // that fails, the file is reopened (and cut) before the next one.
    if (::ftruncate(journal_.get(), static_cast<off_t>(journal_bytes_)) != 0) journal_.reset();
  };
  Status w = write_all(journal_.get(), text, journal_path_);
  {
    std::lock_guard lock(mu_);
    ++stats_.appends;
  }
  if (!w) {
    cut_back();
    return w;
  }
  int synced = ::fdatasync(journal_.get());
  int err = errno;
  {
    std::lock_guard lock(mu_);
    ++stats_.syncs;
    if (synced == 0) {
      stats_.journal_bytes += text.size();
      stats_.records += static_cast<uint64_t>(std::ranges::count(text, '\n'));
    }
  }
  if (synced != 0) {
    // After a failed fdatasync the kernel may have dropped the pages: write
    // them again rather than trust a second fdatasync.
    cut_back();
    return fail(err, "fdatasync " + journal_path_);
  }
  return {};
}

Status FileStore::snapshot() {
  std::string text = to_json(state_);
  if (auto w = write_file_atomically(path_, text); !w) return w;
  {
    std::lock_guard lock(mu_);
    ++stats_.snapshots;
    stats_.snapshot_bytes += text.size();
  }
  snapshot_bytes_ = text.size();
  has_snapshot_ = true;
  if (journal_bytes_ == 0) return {};
  // The snapshot holds every record now: the state is durable whatever
  // happens to the journal. The truncation is not fsynced: a crash that
  // undoes it leaves records the snapshot already holds, and replaying
  // absolute puts and deletes again changes nothing. When it fails, the
  // records stay and later ones follow them, just as well.
  Status opened = journal_ ? Status{} : open_journal();
  if (!opened || ::ftruncate(journal_.get(), 0) != 0) {
    std::lock_guard lock(mu_);
    ++stats_.compaction_errors;
    return {};
  }
  journal_bytes_ = 0;
  journal_records_ = 0;
  return {};
}

}  // namespace fipd::state
