// SPDX-License-Identifier: GPL-2.0-or-later
// FileStore's snapshot and journal: a save appends a record of its change,
// not the state; saves that come together share one append and one
// fdatasync; the journal is compacted into the snapshot and loads the
// same; a torn last record is dropped, a bad one in the middle is an error;
// an append that fails leaves no half record; a state file from before the
// journal loads as it is.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "src/state/journal.hpp"
#include "src/state/store.hpp"
#include "testbed/temp_dir.hpp"

namespace fipd::state {
namespace {

IpAddress ip(const std::string& s) { return *IpAddress::parse(s); }

std::string fip(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "2001:db8:f::%x", i);
  return buf;
}

// `n` floating IPs moved off their file's server: a state of about n * 80 bytes.
RuntimeState moved_fips(int n) {
  RuntimeState s;
  for (int i = 0; i < n; ++i) s.assignments[ip(fip(i))] = {.server = "spare-1", .configured_server = "web-1"};
  return s;
}

// The floating IP i moved to `server`.
Delta move(int i, const std::string& server) {
  Delta d;
  d.assignments[ip(fip(i))] = Assignment{.server = server, .configured_server = "web-1"};
  return d;
}

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

class JournalStore : public testing::Test {
 protected:
  // A snapshot of `s` and no journal, as a store that has just compacted.
  void write_snapshot(const RuntimeState& s) { ASSERT_TRUE(write_file_atomically(path, to_json(s))); }
  RuntimeState load_ok(FileStore& store) {
    auto l = store.load();
    EXPECT_TRUE(l) << l.error().message();
    return l && l->state ? *l->state : RuntimeState{};
  }
  testbed::TempDir tmp_{"journal"};
  const std::string dir = tmp_.path(), path = tmp_.file("state.json");
};

// The point of the journal: with 10,000 floating IPs in the state, a change
// of one writes a record of one, not the state.
TEST_F(JournalStore, ASaveAppendsItsChangeNotTheState) {
  RuntimeState s = moved_fips(10'000);
  write_snapshot(s);
  const size_t snapshot = std::filesystem::file_size(path);
  ASSERT_GT(snapshot, 500'000u);
  FileStore store(path);
  ASSERT_EQ(load_ok(store), s);
  for (int i = 0; i < 10; ++i) {
    Delta d = move(i, "web-1");
    apply(s, d);
    store.save(std::move(d));
    ASSERT_TRUE(store.flush());
  }
  const size_t journal = std::filesystem::file_size(store.journal_path());
  EXPECT_LT(journal, 10 * 120u) << "ten records of one floating IP each";
  EXPECT_EQ(std::filesystem::file_size(path), snapshot) << "the snapshot is not rewritten";
  StoreStats st = store.stats();
  EXPECT_EQ(st.records, 10u);
  EXPECT_EQ(st.journal_bytes, journal);
  EXPECT_EQ(st.snapshots, 0u);
  FileStore again(path);
  EXPECT_EQ(load_ok(again), s);
}

// After a clean stop state.json alone holds the state (what an older fipd,
// or a person, reads): the store compacts as it stops.
TEST_F(JournalStore, ACleanStopLeavesTheWholeStateInTheSnapshot) {
  write_snapshot(moved_fips(10));
  RuntimeState s = moved_fips(10);
  {
    FileStore store(path);
    ASSERT_EQ(load_ok(store), s);
    for (int i = 0; i < 5; ++i) {
      Delta d = move(i, "web-1");
      apply(s, d);
      store.save(std::move(d));
    }
  }
  EXPECT_EQ(std::filesystem::file_size(path + ".journal"), 0u);
  auto snap = from_json(read(path), path);
  ASSERT_TRUE(snap) << snap.error().message();
  EXPECT_EQ(*snap, s);
}

// Group commit: the saves made while the writer is busy share its next
// append, one write() and one fdatasync() for all of them.
TEST_F(JournalStore, SavesThatComeTogetherShareOneAppendAndOneSync) {
  write_snapshot({});
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  int writes = 0;
  FileStore store(path, {.before_write = [&] {
                    std::unique_lock lock(mu);
                    if (writes++ > 0) return;
                    entered = true;
                    cv.notify_all();
                    cv.wait(lock, [&] { return release; });
                  }});
  RuntimeState s = load_ok(store);
  Delta first = move(0, "spare-1");
  apply(s, first);
  store.save(std::move(first));
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return entered; });  // the writer holds the first save
  }
  SaveSeq last = 0;
  for (int i = 1; i <= 500; ++i) {
    Delta d = move(i, "spare-1");
    apply(s, d);
    last = store.save(std::move(d));
  }
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  ASSERT_TRUE(store.flush());
  EXPECT_EQ(store.written().seq, last);
  StoreStats st = store.stats();
  EXPECT_EQ(st.records, 501u);
  EXPECT_EQ(st.appends, 2u) << "the first save, then the 500 that came meanwhile";
  EXPECT_EQ(st.syncs, 2u);
  FileStore again(path);
  EXPECT_EQ(load_ok(again), s);
}

// Once the journal outgrows max(1 MiB, the snapshot), the writer writes the
// whole state as the snapshot and empties the journal; what loads is the same.
TEST_F(JournalStore, TheJournalIsCompactedIntoTheSnapshotAndLoadsTheSame) {
  RuntimeState s = moved_fips(2'000);
  write_snapshot(s);
  FileStore store(path);
  ASSERT_EQ(load_ok(store), s);
  // Each save moves 200 floating IPs: a record of about 16 KB.
  for (int round = 0; round < 100; ++round) {
    Delta d;
    for (int i = 0; i < 200; ++i)
      d.assignments[ip(fip((round * 200 + i) % 2'000))] =
          Assignment{.server = round % 2 ? "web-2" : "web-3", .configured_server = "web-1"};
    apply(s, d);
    store.save(std::move(d));
  }
  ASSERT_TRUE(store.flush());
  StoreStats st = store.stats();
  EXPECT_GE(st.snapshots, 1u) << "1.6 MB of records, more than 1 MiB";
  EXPECT_EQ(st.compaction_errors, 0u);
  EXPECT_LE(std::filesystem::file_size(store.journal_path()), size_t{1} << 20);
  EXPECT_LT(std::filesystem::file_size(store.journal_path()), st.journal_bytes) << "truncated";
  FileStore again(path);
  EXPECT_EQ(load_ok(again), s);
  // The snapshot alone holds what was compacted; the journal, the rest.
  auto snap = from_json(read(path), path);
  ASSERT_TRUE(snap);
  auto replayed = replay_journal(read(store.journal_path()), store.journal_path(), *snap);
  ASSERT_TRUE(replayed);
  EXPECT_EQ(*snap, s);
}

// A crash between the snapshot's rename and the journal's truncation leaves
// the new snapshot with the old journal: replayed, its records change nothing.
TEST_F(JournalStore, AJournalTheSnapshotAlreadyHoldsChangesNothing) {
  RuntimeState s = moved_fips(10);
  std::string journal;
  for (int i = 0; i < 10; ++i) {
    Delta d = move(i, i % 2 ? "web-1" : "web-2");
    journal += journal_line(static_cast<SaveSeq>(i + 1), d);
    apply(s, d);
  }
  write_snapshot(s);
  std::ofstream(path + ".journal") << journal;
  FileStore store(path);
  EXPECT_EQ(load_ok(store), s);
}

TEST_F(JournalStore, ATornLastRecordIsDroppedSaidAndCutAway) {
  write_snapshot(moved_fips(3));
  RuntimeState want = moved_fips(3);
  std::string journal;
  for (int i = 0; i < 2; ++i) {
    Delta d = move(i, "web-1");
    apply(want, d);
    journal += journal_line(static_cast<SaveSeq>(i + 1), d);
  }
  const size_t good = journal.size();
  std::string torn = journal_line(3, move(2, "web-1"));
  journal += torn.substr(0, torn.size() / 2);
  std::ofstream(path + ".journal") << journal;
  {
    FileStore store(path);
    auto l = store.load();
    ASSERT_TRUE(l) << l.error().message();
    ASSERT_TRUE(l->state);
    EXPECT_EQ(*l->state, want) << "the torn save was never acknowledged";
    ASSERT_EQ(l->warnings.size(), 1u);
    EXPECT_NE(l->warnings[0].find(path + ".journal: line 3: the last"), std::string::npos) << l->warnings[0];
    EXPECT_EQ(std::filesystem::file_size(path + ".journal"), good) << "cut away";
    // The next record follows the last whole one.
    Delta d = move(0, "web-2");
    apply(want, d);
    store.save(std::move(d));
    ASSERT_TRUE(store.flush());
  }
  FileStore again(path);
  auto l = again.load();
  ASSERT_TRUE(l) << l.error().message();
  EXPECT_TRUE(l->warnings.empty());
  EXPECT_EQ(*l->state, want);
}

TEST_F(JournalStore, ABadRecordInTheMiddleIsAnErrorNamingItsLine) {
  write_snapshot({});
  std::string journal = journal_line(1, move(0, "web-1")) + R"({"seq":2,"assignments":{"2001:db8:f::1":{"server":7}}})" +
                        "\n" + journal_line(3, move(1, "web-1"));
  std::ofstream(path + ".journal") << journal;
  FileStore store(path);
  auto l = store.load();
  ASSERT_FALSE(l);
  EXPECT_EQ(l.error().context, path + ".journal: line 2: assignments.2001:db8:f::1.server: expected a string");
  std::ofstream(path + ".journal") << journal_line(1, move(0, "web-1")) << "{\"seq\":2,\n";
  l = FileStore(path).load();
  ASSERT_FALSE(l);
  EXPECT_NE(l.error().context.find(path + ".journal: line 2: not a JSON record: truncated at byte "), std::string::npos)
      << l.error().context;
  EXPECT_NE(l.error().context.find("(line 2, column 10)"), std::string::npos) << l.error().context;
}

// A state file as fipd wrote it before the journal: the whole state, no
// journal next to it. It loads as it is, and the next change goes to a new
// journal, the file untouched.
TEST_F(JournalStore, AStateFileFromBeforeTheJournalLoads) {
  const std::string old = R"({
 "added_floating_ips": [
  {
   "address": "203.0.113.44",
   "lockout_ports": [22],
   "mode": "stateless-nat",
   "server": "web-4"
  }
 ],
 "added_servers": [
  {
   "address": "10.0.0.14",
   "name": "web-4",
   "replaces": "web-1",
   "spare": false
  }
 ],
 "assignments": {
  "203.0.113.10": {
   "configured_server": "web-1",
   "server": "spare-1"
  }
 },
 "extra": {"rebuilds": []},
 "removed_floating_ips": ["203.0.113.99"],
 "removed_servers": ["old-1"],
 "servers": {
  "web-1": {
   "draining": false,
   "maintenance": "failed"
  }
 },
 "version": 1
}
)";
  std::ofstream(path) << old;
  FileStore store(path);
  RuntimeState s = load_ok(store);
  EXPECT_EQ(s.assignments.at(ip("203.0.113.10")).server, "spare-1");
  EXPECT_EQ(s.added_servers.at("web-4").replaces, "web-1");
  EXPECT_EQ(s.added_fips.at(ip("203.0.113.44")).mode, FipMode::stateless_nat);
  EXPECT_TRUE(s.removed_servers.contains("old-1"));
  EXPECT_TRUE(s.removed_fips.contains(ip("203.0.113.99")));
  EXPECT_EQ(s.servers.at("web-1").maintenance, Maintenance::failed);
  EXPECT_EQ(s.extra, R"({"rebuilds":[]})");
  EXPECT_EQ(to_json(s), to_json(*from_json(old, path))) << "the format is the same";
  Delta d;
  d.servers["web-1"] = std::nullopt;
  apply(s, d);
  store.save(std::move(d));
  ASSERT_TRUE(store.flush());
  EXPECT_EQ(read(path), old) << "untouched";
  FileStore again(path);
  EXPECT_EQ(load_ok(again), s);
}

// An append that fails part way (here at the file size limit, as at a full
// disk) is cut back, so the retry's record does not follow half of itself.
TEST_F(JournalStore, AFailedAppendLeavesNoHalfRecord) {
  write_snapshot({});
  FileStore store(path);
  RuntimeState s = load_ok(store);
  Delta small = move(0, "web-1");
  apply(s, small);
  store.save(std::move(small));
  ASSERT_TRUE(store.flush());
  const size_t good = std::filesystem::file_size(store.journal_path());
  // The limit is the process's, and only for this test: put back on any exit.
  struct Limit {
    rlimit old{};
    sighandler_t handler = signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of the signal
    explicit Limit(rlim_t bytes) {
      getrlimit(RLIMIT_FSIZE, &old);
      rlimit tight = old;
      tight.rlim_cur = bytes;
      setrlimit(RLIMIT_FSIZE, &tight);
    }
    ~Limit() { lift(); }
    void lift() {
      setrlimit(RLIMIT_FSIZE, &old);
      signal(SIGXFSZ, handler);
    }
  } limit(good + 100);
  Delta big;
  for (int i = 1; i < 50; ++i) big.assignments[ip(fip(i))] = Assignment{.server = "web-2", .configured_server = "web-1"};
  apply(s, big);
  store.save(std::move(big));
  auto r = store.flush();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, EFBIG) << r.error().message();
  EXPECT_TRUE(store.durability_error());
  EXPECT_EQ(std::filesystem::file_size(store.journal_path()), good) << "cut back to the last whole record";
  limit.lift();
  store.save({});  // a new save: the writer retries at once
  ASSERT_TRUE(store.flush());
  EXPECT_FALSE(store.durability_error());
  FileStore again(path);
  EXPECT_EQ(load_ok(again), s);
}

}  // namespace
}  // namespace fipd::state
