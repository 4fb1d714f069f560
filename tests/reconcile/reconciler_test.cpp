// SPDX-License-Identifier: GPL-2.0-or-later
// The reconciler's decisions over an in-memory kernel (FakeDataplane): what
// start() adopts and changes, how apply() finds out that its mirror is
// wrong and resyncs, what audit() repairs, and when conntrack is flushed.
// No root, no namespace: the whole file runs in milliseconds. The kernel
// tests (tests/netlink, tests/daemon) check that the real kernel behaves as
// the fake does.
#include "src/reconcile/reconciler.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "src/reconcile/fake_dataplane.hpp"

namespace fipd::reconcile {
namespace {

using state::FipMode;
using testing::FakeCounters;
using testing::FakeDataplane;
using testing::FakeKernel;
using testing::FakeOp;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

const IpAddress kNat = ip("203.0.113.10");
const IpAddress kStateless = ip("203.0.113.11");
const IpAddress kRouted = ip("2001:db8:f::10");

class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(inv.add_server({.name = "a", .address = ip("10.0.1.2"), .address6 = ip("fd00:0:0:1::2")}));
    ASSERT_TRUE(inv.add_server({.name = "b", .address = ip("10.0.2.2"), .address6 = ip("fd00:0:0:2::2"), .spare = true}));
    ASSERT_TRUE(inv.add_fip({.address = kNat, .server = "a", .mode = FipMode::nat, .lockout_ports = {22}}));
    ASSERT_TRUE(inv.add_fip({.address = kStateless, .server = "a", .mode = FipMode::stateless_nat}));
    ASSERT_TRUE(inv.add_fip({.address = kRouted, .server = "a", .mode = FipMode::route}));
    options.intent.route_table = 100;
    options.intent.management_prefixes = {{ip("10.255.0.0"), 16}};
  }

  // A fipd process over the kernel: a restart is another call.
  std::unique_ptr<Reconciler> open() {
    return Reconciler::create(options, std::make_unique<FakeDataplane>(kernel));
  }
  std::unique_ptr<Reconciler> started() {
    auto r = open();
    auto s = r->start(inv);
    EXPECT_TRUE(s) << s.error().message();
    return r;
  }
  KernelView want() const { return derive_all(inv, options.intent); }
  // Repoints floating IPs to `to` as a plan would; the addresses the engine
  // hands apply(): the floating IPs and both servers' addresses.
  std::vector<IpAddress> move(std::vector<IpAddress> fips, const std::string& to) {
    std::vector<IpAddress> touched = fips;
    for (const IpAddress& f : fips) {
      for (const std::string& name : {inv.fip(f)->server, to}) {
        const state::Server* s = inv.server(name);
        touched.push_back(s->address);
        if (s->address6) touched.push_back(*s->address6);
      }
      inv.set_target(f, to);
    }
    std::sort(touched.begin(), touched.end());
    touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
    return touched;
  }

  state::Inventory inv;
  ReconcilerOptions options;
  std::shared_ptr<FakeKernel> kernel = std::make_shared<FakeKernel>();
};

TEST_F(ReconcilerTest, StartOnAnEmptyKernelCreatesTheTableAndEverythingInIt) {
  auto r = open();
  std::optional<size_t> found;
  auto s = r->start(inv, [&](const KernelView& v) { found = v.element_count() + v.routes.size(); });
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_TRUE(s->table.created);
  EXPECT_EQ(s->table.flags, (nft::TableFlags{.owner = true, .persist = true}));
  EXPECT_EQ(found, 0u) << "the inspector saw the empty kernel";
  EXPECT_EQ(s->adopted_elements, 0u);
  EXPECT_EQ(kernel->view, want());
  EXPECT_EQ(r->mirror(), want());
  EXPECT_EQ(s->applied.element_changes, want().element_count());
  EXPECT_EQ(s->applied.route_changes, 1u);
  EXPECT_EQ(kernel->counters.commits, 1u) << "one transaction for every element";
  EXPECT_EQ(kernel->counters.route_calls, 1u);
  EXPECT_TRUE(s->applied.flushed.empty()) << "nothing was mapped before: no flow can be stale";
}

TEST_F(ReconcilerTest, StartOverAPartialForeignStateChangesOnlyTheDifference) {
  kernel->table_exists = true;
  kernel->view = want();
  kernel->view.add(SetId::dnat4, Element::mapping(kNat, ip("10.0.9.9")));    // an address fipd does not know
  kernel->drop_element(SetId::stateless_fip4, {kStateless});                 // missing
  kernel->view.add(SetId::lockout4, Element::endpoint(ip("10.0.1.2"), 22));  // left from a maintenance
  kernel->drop_route(kRouted);
  kernel->flows[kNat] = 5;
  size_t found = kernel->view.element_count();

  auto s = open()->start(inv);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_FALSE(s->table.created);
  EXPECT_EQ(s->adopted_elements, found);
  EXPECT_EQ(s->adopted_routes, 0u);
  EXPECT_EQ(s->applied.element_changes, 4u) << "dnat replaced (2), stateless added, lockout removed";
  EXPECT_EQ(s->applied.route_changes, 1u);
  EXPECT_EQ(kernel->view, want());
  EXPECT_EQ(s->applied.flushed, std::vector<IpAddress>{kNat}) << "its flows went to 10.0.9.9";
  EXPECT_EQ(s->applied.conntrack_deleted, 5u);
}

TEST_F(ReconcilerTest, ARestartOverTheSameKernelAdoptsWithoutAChange) {
  uint32_t first_port = started()->nft_portid();
  FakeCounters before = kernel->counters;
  auto again = open();
  auto s = again->start(inv);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_FALSE(s->table.created);
  EXPECT_EQ(s->applied.changes(), 0u);
  EXPECT_EQ(s->adopted_elements, want().element_count());
  EXPECT_EQ(s->adopted_routes, 1u);
  EXPECT_EQ(kernel->counters.commits, before.commits) << "nothing sent";
  EXPECT_EQ(kernel->counters.route_calls, before.route_calls);
  EXPECT_EQ(again->mirror(), want());
  EXPECT_NE(again->nft_portid(), first_port) << "a new process, a new socket";
}

TEST_F(ReconcilerTest, ARepointChangesOnlyItsAddresses) {
  auto r = started();
  FakeCounters before = kernel->counters;
  auto a = r->apply(inv, move({kNat}, "b"));
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_FALSE(a->resynced);
  // dnat and mark replaced; a's source becomes .11; b gains .10 as its source.
  EXPECT_EQ(a->element_changes, 7u);
  EXPECT_EQ(a->route_changes, 0u);
  EXPECT_EQ(kernel->counters.commits, before.commits + 1);
  EXPECT_EQ(kernel->counters.reads, before.reads) << "the mirror answers: no read on the fast path";
  EXPECT_EQ(kernel->view, want());
}

TEST_F(ReconcilerTest, ApplyAfterTheKernelLostAnElementIsRefusedThenResyncsAndConverges) {
  auto r = started();
  ASSERT_TRUE(kernel->drop_element(SetId::dnat4, {kNat}));  // behind the reconciler's back
  auto a = r->apply(inv, move({kNat}, "b"));
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->resynced);
  EXPECT_EQ(kernel->counters.refused_commits, 1u) << "the replace of the lost element: ENOENT";
  EXPECT_EQ(kernel->view, want());
  EXPECT_EQ(r->mirror(), want());
}

TEST_F(ReconcilerTest, AResyncStillFlushesWhatTheLostMappingPinned) {
  auto r = started();
  kernel->flows[kNat] = 4;  // established to a while the kernel still sent kNat there
  ASSERT_TRUE(kernel->drop_element(SetId::dnat4, {kNat}));
  auto a = r->apply(inv, move({kNat}, "b"));
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->resynced);
  // The kernel's view no longer shows the old target, but its conntrack
  // entries do: without the flush they would keep reaching a.
  EXPECT_EQ(a->flushed, std::vector<IpAddress>{kNat});
  EXPECT_EQ(a->conntrack_deleted, 4u);
}

TEST_F(ReconcilerTest, AFailedRouteWriteStillFlushesTheCommittedElements) {
  auto r = started();
  kernel->flows[kNat] = 1;
  kernel->fail(FakeOp::routes, ENETUNREACH, 2);
  auto a = r->apply(inv, move({kNat, kRouted}, "b"));
  ASSERT_FALSE(a) << "the routes failed twice";
  EXPECT_EQ(kernel->view.set(SetId::dnat4).at({kNat}).value, ip("10.0.2.2")) << "the elements went through";
  EXPECT_EQ(kernel->counters.flushed, std::vector<IpAddress>{kNat}) << "so did the flush they call for";
  auto audit = r->audit(inv);
  ASSERT_TRUE(audit) << audit.error().message();
  EXPECT_TRUE(audit->flushed.empty()) << "owed no longer";
  EXPECT_EQ(kernel->view, want());
}

TEST_F(ReconcilerTest, ACommitRefusedWithEnobufsIsTriedOnceMoreAfterARead) {
  auto r = started();
  kernel->flows[kNat] = 2;
  kernel->fail(FakeOp::commit, ENOBUFS);
  auto a = r->apply(inv, move({kNat}, "b"));
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->resynced);
  EXPECT_EQ(kernel->view, want());
  EXPECT_EQ(a->flushed, std::vector<IpAddress>{kNat}) << "the resync still drops the old server's flows";
  EXPECT_EQ(a->conntrack_deleted, 2u);
}

TEST_F(ReconcilerTest, ACommitRefusedTwiceFailsAndTheNextAuditConverges) {
  auto r = started();
  KernelView old = kernel->view;
  kernel->fail(FakeOp::commit, ENOBUFS, 2);
  auto a = r->apply(inv, move({kNat}, "b"));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ENOBUFS);
  EXPECT_EQ(kernel->view, old) << "a refused transaction changes nothing";
  EXPECT_EQ(r->mirror(), old) << "the mirror re-read: it claims no more than the kernel holds";
  auto audit = r->audit(inv);
  ASSERT_TRUE(audit) << audit.error().message();
  EXPECT_EQ(audit->element_changes, 7u) << "dnat and mark replaced, three snat changes";
  EXPECT_EQ(audit->flushed, std::vector<IpAddress>{kNat});
  EXPECT_EQ(kernel->view, want());
}

TEST_F(ReconcilerTest, AFailedRouteWriteLeavesTheMirrorWithTheKernel) {
  auto r = started();
  kernel->fail(FakeOp::routes, ENETUNREACH, 2);
  auto a = r->apply(inv, move({kRouted}, "b"));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ENETUNREACH);
  EXPECT_EQ(r->mirror(), kernel->view);
  EXPECT_EQ(r->mirror().routes.at(kRouted).via, ip("fd00:0:0:1::2"));
  auto audit = r->audit(inv);
  ASSERT_TRUE(audit) << audit.error().message();
  EXPECT_EQ(audit->route_changes, 1u);
  EXPECT_EQ(kernel->view.routes.at(kRouted).via, ip("fd00:0:0:2::2"));
}

TEST_F(ReconcilerTest, AuditRepairsDroppedElementsAndRoutesAndNothingElse) {
  auto r = started();
  ASSERT_TRUE(kernel->drop_element(SetId::snat4, {ip("10.0.1.2")}));
  ASSERT_TRUE(kernel->drop_route(kRouted));
  auto a = r->audit(inv);
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->element_changes, 1u);
  EXPECT_EQ(a->route_changes, 1u);
  EXPECT_TRUE(a->flushed.empty()) << "no dnat entry changed";
  EXPECT_EQ(kernel->view, want());
  auto again = r->audit(inv);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->changes(), 0u);
}

TEST_F(ReconcilerTest, AuditOfALostTableFailsAndStartRecreatesItAroundTheRoutes) {
  auto r = started();
  kernel->lose_table();
  auto a = r->audit(inv);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ENOENT);
  auto apply = r->apply(inv, move({kNat}, "b"));
  ASSERT_FALSE(apply) << "no table to commit to, even after a resync";
  // What the engine's repair does next.
  auto s = r->start(inv);
  ASSERT_TRUE(s) << s.error().message();
  EXPECT_TRUE(s->table.created);
  EXPECT_EQ(s->applied.element_changes, want().element_count());
  EXPECT_EQ(s->applied.route_changes, 0u) << "routes are not in the table: they stayed";
  EXPECT_EQ(kernel->view, want());
}

TEST_F(ReconcilerTest, ConntrackIsFlushedExactlyForNatFloatingIpsWhoseTargetChanged) {
  auto r = started();
  for (const IpAddress& a : {kNat, kStateless, kRouted}) kernel->flows[a] = 3;
  auto a = r->apply(inv, move({kNat, kStateless, kRouted}, "b"));
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->flushed, std::vector<IpAddress>{kNat}) << "stateless is notracked; a routed one is not translated";
  EXPECT_EQ(a->conntrack_deleted, 3u);
  EXPECT_EQ(kernel->counters.flushes, 1u);
  EXPECT_EQ(kernel->flows.count(kStateless), 1u);

  // Maintenance changes lockout entries, not where the floating IP goes.
  inv.server("b")->maintenance = state::Maintenance::manual;
  auto m = r->apply(inv, {kNat, ip("10.0.2.2")});
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_GT(m->element_changes, 0u);
  EXPECT_TRUE(m->flushed.empty());
  EXPECT_EQ(kernel->counters.flushes, 1u);
}

// Marks: server a's nat floating IPs of both families, with flows marked as
// the kernel's nat chain marks them.
class MarkTest : public ReconcilerTest {
 protected:
  void SetUp() override {
    ReconcilerTest::SetUp();
    ASSERT_TRUE(inv.add_fip({.address = kNat2, .server = "a", .mode = FipMode::nat}));
    ASSERT_TRUE(inv.add_fip({.address = kNat6, .server = "a", .mode = FipMode::nat}));
  }
  void flows_of(const std::string& server) {
    for (const IpAddress& a : {kNat, kNat2, kNat6}) {
      kernel->flows[a] = 2;
      kernel->flow_marks[a] = server_mark(server);
    }
  }
  const IpAddress kNat2 = ip("203.0.113.12");
  const IpAddress kNat6 = ip("2001:db8:f::12");
};

TEST_F(MarkTest, AServerWhoseFloatingIpsAllMoveIsDroppedByItsMarkInOneFlush) {
  auto r = started();
  EXPECT_EQ(r->mark_users(server_mark("a")), 3u);
  flows_of("a");
  auto a = r->apply(inv, move({kNat, kNat2, kNat6, kStateless, kRouted}, "b"));
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->flushed, (std::vector<IpAddress>{kNat, kNat2, kNat6}));
  EXPECT_EQ(a->flushed_marks, std::vector<uint32_t>{server_mark("a")});
  EXPECT_EQ(kernel->counters.flushes, 1u);
  EXPECT_TRUE(kernel->counters.flushed.empty()) << "no address needed";
  EXPECT_EQ(a->conntrack_deleted, 6u);
  EXPECT_TRUE(kernel->flows.empty());
  EXPECT_EQ(r->mark_users(server_mark("a")), 0u);
  EXPECT_EQ(r->mark_users(server_mark("b")), 3u);
}

TEST_F(MarkTest, APartialMoveDropsByAddressTheMarkStillInUse) {
  auto r = started();
  flows_of("a");
  auto a = r->apply(inv, move({kNat, kNat6}, "b"));
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->flushed_marks.empty()) << "kNat2 still carries a's mark";
  EXPECT_EQ(kernel->counters.flushed, (std::vector<IpAddress>{kNat, kNat6}));
  EXPECT_EQ(kernel->flows.count(kNat2), 1u) << "its flows stay";
  EXPECT_EQ(r->mark_users(server_mark("a")), 1u);

  // The last one goes: now the mark is free, and the flush is by mark.
  auto last = r->apply(inv, move({kNat2}, "b"));
  ASSERT_TRUE(last) << last.error().message();
  EXPECT_EQ(last->flushed_marks, std::vector<uint32_t>{server_mark("a")});
  EXPECT_TRUE(kernel->flows.empty());
}

TEST_F(MarkTest, FloatingIpsAdoptedWithoutAMarkGoByAddressOnce) {
  // A table an earlier fipd wrote without marks, with flows through it.
  options.intent.conntrack_mark = false;
  kernel->table_exists = true;
  kernel->view = want();
  for (const IpAddress& a : {kNat, kNat2, kNat6}) kernel->flows[a] = 2;
  options.intent.conntrack_mark = true;
  auto r = started();
  EXPECT_EQ(kernel->view, want()) << "the marks were added";
  EXPECT_EQ(kernel->counters.flushes, 0u) << "nothing moved";

  auto a = r->apply(inv, move({kNat, kNat2, kNat6}, "b"));
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->flushed_marks.empty()) << "their entries predate the mark";
  EXPECT_EQ(kernel->counters.flushed, (std::vector<IpAddress>{kNat, kNat2, kNat6}));
  EXPECT_TRUE(kernel->flows.empty());

  // Dropped by address once, their entries since all carry b's mark.
  flows_of("b");
  auto back = r->apply(inv, move({kNat, kNat2, kNat6}, "a"));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->flushed_marks, std::vector<uint32_t>{server_mark("b")});
  EXPECT_TRUE(kernel->flows.empty());
}

TEST_F(MarkTest, SwitchedOffThereAreNoMarksAndEveryDropIsByAddress) {
  options.intent.conntrack_mark = false;
  auto r = started();
  EXPECT_TRUE(kernel->view.set(SetId::fipmark4).empty());
  EXPECT_TRUE(kernel->view.set(SetId::fipmark6).empty());
  for (const IpAddress& a : {kNat, kNat2, kNat6}) kernel->flows[a] = 2;
  auto a = r->apply(inv, move({kNat, kNat2, kNat6}, "b"));
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_TRUE(a->flushed_marks.empty());
  EXPECT_EQ(kernel->counters.flushed, (std::vector<IpAddress>{kNat, kNat2, kNat6}));
}

TEST_F(ReconcilerTest, AFailedFlushDoesNotFailTheCommit) {
  auto r = started();
  kernel->fail(FakeOp::flush, EPERM);
  auto a = r->apply(inv, move({kNat}, "b"));
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(a->conntrack_error);
  EXPECT_EQ(a->conntrack_error->code, EPERM);
  EXPECT_EQ(a->flushed, std::vector<IpAddress>{kNat}) << "asked for, and reported as failed";
  EXPECT_EQ(kernel->view, want()) << "the kernel holds the new mapping";
  EXPECT_EQ(r->mirror(), want());
}

TEST_F(ReconcilerTest, AKernelWithoutOwnerAndPersistIsReported) {
  kernel->supports_flags = false;
  auto s = open()->start(inv);
  ASSERT_TRUE(s) << s.error().message();
  ASSERT_TRUE(s->table.fallback);
  EXPECT_FALSE(s->table.flags.owner);
  EXPECT_EQ(kernel->view, want());
}

TEST_F(ReconcilerTest, AReadFailureAtStartIsAnError) {
  kernel->fail(FakeOp::read, ENOBUFS);
  auto s = open()->start(inv);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ENOBUFS);
  EXPECT_EQ(kernel->counters.commits, 0u) << "nothing written on a guess";
}

}  // namespace
}  // namespace fipd::reconcile
