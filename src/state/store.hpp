// SPDX-License-Identifier: GPL-2.0-or-later
// Where RuntimeState is kept. An interface, so that a second implementation
// can keep it in etcd (leases and watches, several routers agreeing on every
// assignment) without the engine changing: the engine hands over Deltas,
// puts and deletes of keyed entries (delta.hpp), which map to etcd keys one
// for one, a Delta to one txn, and written() to the txn's revision.
//
// Why a snapshot and a journal. Writing the whole state on every change
// made every change cost the whole inventory (100,000 floating IPs: a
// capture of tens of ms on the loop, and megabytes written and fsynced per
// change), so a storm of failures cost in proportion to the inventory. As
// etcd's WAL with its snapshots, and Redis' AOF with its rewrite, do: the
// changes are appended to a journal, and the whole state is written only
// now and then, to keep the journal short.
//
// FileStore keeps two files:
// - `path` (state.json): a snapshot of the whole state, in the format every
//   version wrote, so a file from before the journal loads as it is. It is
//   written atomically: a temporary file in the same folder, fsync, rename
//   over the old one, fsync of the folder.
// - `path`.journal: the Deltas saved since that snapshot, one JSON line per
//   save (journal.hpp).
// load() reads the snapshot, then replays the journal over it.
//
// A writer thread does all the writing, because fsync takes milliseconds
// and the engine loop must not stop probing meanwhile. save() hands it a
// Delta and returns at once with the save's number. The writer takes every
// Delta handed over since its last write at once and appends them with one
// write() and one fdatasync() (group commit: a storm's changes share the
// fsync), then publishes written(), the number of the last save it covered.
// An appended save is durable; so is every save before it. That is how the
// engine answers an operator (`ok` means durable) and reports a failover
// once its change is on disk, without the loop ever waiting for an fsync.
//
// Compaction, also on the writer thread, after the publication: when the
// journal outgrows max(1 MiB, the last snapshot's size), or holds half of
// kMaxJournalRecords, the writer writes its own copy of the whole state as
// the snapshot, then truncates the journal. A crash between the two leaves
// the new snapshot with the old journal, whose records it already holds:
// puts and deletes are absolute, so replaying them again changes nothing.
// A clean stop (the store destroyed with every save written) compacts too,
// so that state.json alone then holds the state. A batch that would take
// the journal past its bounds goes into a
// snapshot at once instead of being appended, and so does the first write
// where there is no snapshot yet.
//
// A crash in the middle of an append leaves a last line without its
// newline (or of NUL bytes): that save was never acknowledged, so load()
// drops it, says so in Loaded::warnings, and cuts the file back. Any other
// bad line is an error naming the file, the line and the column, never an
// empty or a partial state.
//
// A write that fails (ENOSPC, EIO, a read-only folder) is not given up:
// the file is cut back to its last whole record (or reopened), so no later
// append follows half a record, and the writer retries the same batch,
// with whatever was saved since, with a backoff (100 ms doubling to 30 s),
// or at once when a new save comes. Meanwhile durability_error() names the
// failure and result_fd() turns readable on every change of that answer, so
// the engine raises and clears its alarm without polling.
//
// A save applies to what the files hold: load() reads that; a FileStore
// that is never loaded reads it before its first write.
//
// Threads: save(), load(), written(), flush() are called from the engine
// loop (flush() blocks: only at shutdown and in tests; load() waits for a
// write under way); the writer thread only writes files. Failures of the
// background write are reported by the next flush() and counted in
// write_errors() (once per batch that failed; its retries in
// write_retries()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.hpp"
#include "src/state/delta.hpp"
#include "src/state/runtime_state.hpp"

namespace fipd::state {

// A save's number: 1 for the first save of a store, then one more each time.
using SaveSeq = uint64_t;

// The last write that finished: the number of the save it carried (0: none
// yet), and its error, or nullopt when it landed.
struct Written {
  SaveSeq seq = 0;
  std::optional<Error> error;
};

struct Loaded {
  std::optional<RuntimeState> state;  // nullopt: nothing was saved yet
  // What was repaired on the way (a torn last record dropped), for the log.
  std::vector<std::string> warnings;
};

class Store {
 public:
  virtual ~Store() = default;
  // The saved state. Before any save(): what later saves apply to.
  virtual Result<Loaded> load() = 0;
  // Schedules the change to be saved; returns at once, with the save's number.
  virtual SaveSeq save(Delta change) = 0;
  virtual Written written() const = 0;
  // Waits until the last save is durable; its error if it failed. Blocks:
  // for shutdown and tests, never for the loop.
  virtual Status flush() = 0;
  // Why the newest saved change is not on disk (its write failed and is
  // being retried), or nullopt when it is, or when it is still being written.
  virtual std::optional<Error> durability_error() const { return std::nullopt; }
  // Readable when durability_error() may have changed; -1 when it never does.
  virtual int result_fd() const { return -1; }
  // Empties result_fd().
  virtual void drain_result() {}
};

// What the writer did, for tests and benchmarks.
struct StoreStats {
  uint64_t appends = 0;         // write()s to the journal, each one batch
  uint64_t syncs = 0;           // fdatasync()s of the journal
  uint64_t records = 0;         // saves appended
  uint64_t journal_bytes = 0;   // appended, in all
  uint64_t snapshots = 0;       // whole states written (compactions, and batches too large to append)
  uint64_t snapshot_bytes = 0;  // their bytes, in all
  uint64_t compaction_errors = 0;
};

struct FileStoreOptions {
  // For tests: called on the writer thread before each write. It may block:
  // the saves that come meanwhile then share the next write.
  std::function<void()> before_write;
};

class FileStore final : public Store {
 public:
  // The snapshot at `path`, the journal at `path`.journal.
  explicit FileStore(std::string path, FileStoreOptions options = {});
  ~FileStore() override;
  Result<Loaded> load() override;
  SaveSeq save(Delta change) override;
  Written written() const override;
  Status flush() override;
  std::optional<Error> durability_error() const override;
  int result_fd() const override { return notify_.get(); }
  void drain_result() override;
  uint64_t write_errors() const { return write_errors_.load(); }
  uint64_t write_retries() const { return write_retries_.load(); }
  StoreStats stats() const;
  const std::string& path() const { return path_; }
  const std::string& journal_path() const { return journal_path_; }

 private:
  struct Record {
    SaveSeq seq = 0;
    Delta change;
  };
  // What the files hold, read from them (load(), or the writer's first
  // write when nobody loaded).
  struct OnDisk {
    RuntimeState state;
    bool any = false;  // a snapshot or a journal record was there
    bool has_snapshot = false;
    size_t journal_bytes = 0, journal_records = 0, snapshot_bytes = 0;
    std::vector<std::string> warnings;
  };
  Result<OnDisk> read_files();
  // Takes `disk` as the writer's copy (before the first save only).
  void adopt(OnDisk disk);
  void run();
  // The writer's steps, on its thread, without the lock.
  Status write_batch();
  Status append(const std::string& text);
  Status open_journal();
  Status snapshot();
  bool compaction_due() const;
  void notify();

  std::string path_, journal_path_;
  FileStoreOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Record> pending_;  // handed over, not yet taken by the writer
  bool failed_ = false;          // the writer holds a batch whose write failed: retried
  SaveSeq next_seq_ = 1;
  Written written_;
  bool busy_ = false;  // the writer is writing
  bool stop_ = false;
  bool based_ = false;  // the writer's copy holds what the files hold (load() or its own read)
  std::optional<Error> last_error_;
  std::atomic<uint64_t> write_errors_{0}, write_retries_{0};
  StoreStats stats_;  // under mu_
  Fd notify_;     // eventfd: the writer's results, for the loop

  // The writer's own, touched by load() only before the first save.
  RuntimeState state_;         // what the files hold, and the batch once written
  std::vector<Record> batch_;  // taken, not yet durable
  std::string batch_text_;     // its journal lines
  size_t longest_line_ = 0;    // of them
  Fd journal_;
  size_t journal_bytes_ = 0;    // of whole records: where the file ends
  size_t journal_records_ = 0;
  size_t snapshot_bytes_ = 0;
  bool has_snapshot_ = false;  // else the next write is one

  std::thread writer_;  // last: it starts once everything above exists
};

// The text of the state file at `path`, nullopt when there is none. Refuses,
// saying so, a directory, anything but a regular file (a FIFO would block)
// and a file larger than kMaxStateBytes.
Result<std::optional<std::string>> read_state_file(const std::string& path);

// Writes `text` to `path` atomically and durably (see FileStore). Also used
// by anything else that must not leave a torn file. The temporary file
// (`path`.tmp) is created afresh with O_EXCL|O_NOFOLLOW: a symlink planted
// there is removed, never followed.
Status write_file_atomically(const std::string& path, const std::string& text);

}  // namespace fipd::state
