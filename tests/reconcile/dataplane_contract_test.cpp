// SPDX-License-Identifier: GPL-2.0-or-later
// Keeps the fake honest: the contract of dataplane.hpp, run the same way
// against FakeDataplane and against KernelDataplane in a throwaway
// namespace. What the reconciler and engine tests over the fake rely on
// (all-or-nothing commits, EEXIST and ENOENT, reads failing without the
// table, routes outliving it, a new process adopting what is there) is
// checked here to be what the kernel does. The kernel half needs root and
// skips without it.
#include <gtest/gtest.h>

#include <optional>

#include "src/reconcile/fake_dataplane.hpp"
#include "src/reconcile/kernel_dataplane.hpp"
#include "tests/support/kernel_test.hpp"

namespace fipd::reconcile {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

constexpr uint32_t kTable = 100;
const nl::HostRoute kRoute{.dst = ip("203.0.113.50"), .via = ip("10.0.1.2"), .table = kTable};

// One kernel, and the means to open a process's handle on it and to do
// what someone else would.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::unique_ptr<Dataplane> open() = 0;
  virtual void delete_table() = 0;
};

class FakeBackend final : public Backend {
 public:
  std::unique_ptr<Dataplane> open() override { return std::make_unique<testing::FakeDataplane>(kernel_); }
  void delete_table() override { kernel_->lose_table(); }

 private:
  std::shared_ptr<testing::FakeKernel> kernel_ = std::make_shared<testing::FakeKernel>();
};

class KernelBackend final : public Backend {
 public:
  explicit KernelBackend(testbed::Netns ns) : ns_(std::move(ns)) {}
  static Result<std::unique_ptr<Backend>> create() {
    auto ns = testbed::Netns::create("dataplane");
    if (!ns) return std::unexpected(ns.error());
    // A next hop for the routes: 10.0.1.2 on a link (a veth pair: this
    // kernel has no dummy module).
    if (auto r = ns->sh("ip link add r0 type veth peer name r1 && ip addr add 10.0.1.1/24 dev r0 && ip link set r1 up && ip link set r0 up"); !r)
      return std::unexpected(r.error());
    return std::unique_ptr<Backend>(new KernelBackend(std::move(*ns)));
  }
  std::unique_ptr<Dataplane> open() override {
    std::unique_ptr<Dataplane> d;
    ns_.enter([&] {
      auto r = KernelDataplane::open("fipd");
      if (r) d = std::move(*r);
      else ADD_FAILURE() << r.error().message();
    });
    return d;
  }
  void delete_table() override {
    auto r = ns_.run({"nft", "delete", "table", "inet", "fipd"});
    EXPECT_TRUE(r) << r.error().message();
  }

 private:
  testbed::Netns ns_;
};

class DataplaneContract : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      FIPD_REQUIRE_NETNS();
      auto b = KernelBackend::create();
      ASSERT_TRUE(b) << b.error().message();
      backend_ = std::move(*b);
    } else {
      backend_ = std::make_unique<FakeBackend>();
    }
    dp_ = backend_->open();
    ASSERT_TRUE(dp_);
    auto e = dp_->ensure();
    ASSERT_TRUE(e) << e.error().message();
    EXPECT_TRUE(e->created);
  }
  nft::ElementBatch batch(std::initializer_list<Element> dnat_adds) {
    nft::ElementBatch b;
    for (const Element& e : dnat_adds) EXPECT_TRUE(b.add(SetId::dnat4, e));
    return b;
  }
  KernelView read() {
    auto v = dp_->read(kTable);
    EXPECT_TRUE(v) << v.error().message();
    return v ? *v : KernelView{};
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Dataplane> dp_;
  const Element a_ = Element::mapping(ip("203.0.113.10"), ip("10.0.1.2"));
  const Element b_ = Element::mapping(ip("203.0.113.11"), ip("10.0.1.3"));
};

TEST_P(DataplaneContract, ACommitIsAllOrNothing) {
  FIPD_ASSERT_OK(dp_->commit(batch({a_})));
  auto dup = dp_->commit(batch({b_, a_}));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code, EEXIST);
  KernelView v = read();
  EXPECT_EQ(v.set(SetId::dnat4).size(), 1u) << "b was not added either";
  nft::ElementBatch rm;
  ASSERT_TRUE(rm.remove(SetId::dnat4, b_));
  auto missing = dp_->commit(rm);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
  nft::ElementBatch rp;
  ASSERT_TRUE(rp.replace(SetId::dnat4, Element::mapping(a_.key, ip("10.0.1.9"))));
  FIPD_ASSERT_OK(dp_->commit(rp));
  EXPECT_EQ(read().set(SetId::dnat4).at({a_.key}).value, ip("10.0.1.9"));
}

TEST_P(DataplaneContract, RoutesAreReadFromTheirTableAndRemovalsOfMissingOnesAreFine) {
  nl::HostRoute other = kRoute;
  other.dst = ip("203.0.113.51");
  other.table = kTable + 1;
  FIPD_ASSERT_OK(dp_->apply_routes({}, std::vector{kRoute, other}));
  KernelView v = read();
  ASSERT_EQ(v.routes.size(), 1u) << "only table 100";
  EXPECT_EQ(v.routes.at(kRoute.dst).via, kRoute.via);
  nl::HostRoute moved = kRoute;
  moved.via = ip("10.0.1.3");
  FIPD_ASSERT_OK(dp_->apply_routes({}, std::vector{moved}));
  EXPECT_EQ(read().routes.at(kRoute.dst).via, moved.via) << "an upsert replaces";
  FIPD_ASSERT_OK(dp_->apply_routes(std::vector{kRoute, kRoute}, {}));
  EXPECT_TRUE(read().routes.empty());
}

TEST_P(DataplaneContract, WithoutTheTableReadsAndCommitsFailAndRoutesStay) {
  FIPD_ASSERT_OK(dp_->commit(batch({a_})));
  FIPD_ASSERT_OK(dp_->apply_routes({}, std::vector{kRoute}));
  // While fipd holds the table (owner) nobody else may delete it: EPERM. So
  // it goes while fipd is down, or on a kernel without the owner flag.
  dp_.reset();
  backend_->delete_table();
  dp_ = backend_->open();
  ASSERT_TRUE(dp_);
  auto v = dp_->read(kTable);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ENOENT);
  auto c = dp_->commit(batch({b_}));
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ENOENT);
  auto e = dp_->ensure();
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_TRUE(e->created);
  KernelView after = read();
  EXPECT_EQ(after.element_count(), 0u);
  EXPECT_EQ(after.routes.size(), 1u) << "routes are not in the table";
}

TEST_P(DataplaneContract, ANewProcessAdoptsWhatIsThere) {
  FIPD_ASSERT_OK(dp_->commit(batch({a_, b_})));
  FIPD_ASSERT_OK(dp_->apply_routes({}, std::vector{kRoute}));
  dp_.reset();  // the process exits: persist keeps the table (fallback: nobody deletes it)
  dp_ = backend_->open();
  ASSERT_TRUE(dp_);
  auto e = dp_->ensure();
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_FALSE(e->created);
  KernelView v = read();
  EXPECT_EQ(v.set(SetId::dnat4).size(), 2u);
  EXPECT_EQ(v.routes.size(), 1u);
}

TEST_P(DataplaneContract, AFlushOfAddressesWithoutEntriesDropsNothing) {
  std::vector<IpAddress> fips{ip("203.0.113.10"), ip("2001:db8:f::10")};
  auto n = dp_->flush_conntrack({.fips = fips});
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 0u);
  auto none = dp_->flush_conntrack({});
  ASSERT_TRUE(none);
  EXPECT_EQ(*none, 0u);
}

INSTANTIATE_TEST_SUITE_P(Both, DataplaneContract, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Kernel" : "Fake"; });

}  // namespace
}  // namespace fipd::reconcile
