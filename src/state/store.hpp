// SPDX-License-Identifier: GPL-2.0-or-later
// Where RuntimeState is kept. An interface, so that a second implementation
// can keep it in etcd (leases and watches, several routers agreeing on every
// assignment) without the engine changing.
//
// FileStore writes the state as JSON atomically: a temporary file in the
// same folder, fsync, rename over the old one, fsync of the folder. A crash
// at any point leaves either the old or the new file, never a torn one. The
// write runs on a writer thread, because fsync can take tens of milliseconds
// and the engine loop must not stop probing meanwhile. save() hands the
// thread the newest text (latest wins: intermediate states need not all
// reach the disk, only the last one) and returns at once, with the save's
// number. written() says which number the last finished write carried and
// whether it landed; since the newest text wins, a landed write makes every
// earlier save durable too. That is how the engine answers an operator, or
// reports a failover, once its change is on disk without the loop ever
// waiting for an fsync.
//
// A write that fails (ENOSPC, EIO, a read-only folder) is not given up: the
// writer retries the newest text with a backoff (100 ms doubling to 30 s)
// until it lands or a newer save replaces it. Meanwhile durability_error()
// names the failure and result_fd() turns readable on every change of that
// answer, so the engine raises and clears its alarm without polling.
//
// Threads: save(), load(), written(), flush() are called from the engine
// loop (flush() blocks: only at shutdown and in tests); the writer thread
// only writes files. Failures of the background write are
// reported by the next flush() and counted in write_errors() (once per saved
// text that failed; its retries in write_retries()).
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "netlink/fd.hpp"
#include "src/state/runtime_state.hpp"

namespace fipd::state {

// A save's number: 1 for the first save of a store, then one more each time.
using SaveSeq = uint64_t;

// The last write that finished: the number of the save it carried (0: none
// yet), and its error, or nullopt when it landed.
struct Written {
  SaveSeq seq = 0;
  std::optional<nl::Error> error;
};

class Store {
 public:
  virtual ~Store() = default;
  // The saved state, or nullopt when nothing was saved yet.
  virtual nl::Result<std::optional<RuntimeState>> load() = 0;
  // Schedules the state to be saved; returns at once, with the save's number.
  virtual SaveSeq save(const RuntimeState& s) = 0;
  virtual Written written() const = 0;
  // Waits until the last save is durable; its error if it failed. Blocks:
  // for shutdown and tests, never for the loop.
  virtual nl::Status flush() = 0;
  // Why the newest saved state is not on disk (its write failed and is being
  // retried), or nullopt when it is, or when it is still being written.
  virtual std::optional<nl::Error> durability_error() const { return std::nullopt; }
  // Readable when durability_error() may have changed; -1 when it never does.
  virtual int result_fd() const { return -1; }
  // Empties result_fd().
  virtual void drain_result() {}
};

class FileStore final : public Store {
 public:
  explicit FileStore(std::string path);
  ~FileStore() override;
  nl::Result<std::optional<RuntimeState>> load() override;
  SaveSeq save(const RuntimeState& s) override;
  Written written() const override;
  nl::Status flush() override;
  std::optional<nl::Error> durability_error() const override;
  int result_fd() const override { return notify_.get(); }
  void drain_result() override;
  uint64_t write_errors() const { return write_errors_.load(); }
  uint64_t write_retries() const { return write_retries_.load(); }
  const std::string& path() const { return path_; }

 private:
  void run();
  nl::Status write_file(const std::string& text);
  void notify();

  std::string path_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  // A save as handed over (serialised by the writer thread: the JSON of a
  // large inventory takes milliseconds that the loop need not spend), and
  // once serialised, as retried.
  struct Text {
    SaveSeq seq = 0;
    std::optional<RuntimeState> state;
    std::string json;
  };
  std::optional<Text> pending_;  // newest text not yet written
  std::optional<Text> failed_;   // the newest text, whose write failed: retried
  SaveSeq next_seq_ = 1;
  Written written_;
  bool busy_ = false;                   // the writer holds a text
  bool stop_ = false;
  std::optional<nl::Error> last_error_;
  std::atomic<uint64_t> write_errors_{0}, write_retries_{0};
  nl::Fd notify_;  // eventfd: the writer's results, for the loop
  std::thread writer_;
};

// The text of the state file at `path`, nullopt when there is none. Refuses,
// saying so, a directory, anything but a regular file (a FIFO would block)
// and a file larger than kMaxStateBytes.
nl::Result<std::optional<std::string>> read_state_file(const std::string& path);

// Writes `text` to `path` atomically and durably (see FileStore). Also used
// by anything else that must not leave a torn file. The temporary file
// (`path`.tmp) is created afresh with O_EXCL|O_NOFOLLOW: a symlink planted
// there is removed, never followed.
nl::Status write_file_atomically(const std::string& path, const std::string& text);

}  // namespace fipd::state
