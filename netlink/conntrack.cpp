// SPDX-License-Identifier: GPL-2.0-or-later
#include "netlink/conntrack.hpp"

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>

#include <fstream>
#include <optional>

namespace fipd::nl {

namespace {

// One flush message per item, back to back for send_stacked(); `put` writes
// one into at most 128 bytes and returns its length (0: no room).
template <class Items, class Put>
std::vector<char> stacked(const Items& items, Put put) {
  std::vector<char> out;
  for (const auto& item : items) {
    const size_t at = out.size();
    out.resize(at + 128);
    out.resize(at + put(out.data() + at, size_t{128}, item));
  }
  return out;
}

// Messages per sendmsg(). Successful deletes send nothing back (no NLM_F_ACK
// but on the last), yet every refused one queues an error of about 700 bytes
// of receive buffer: 256 of them fit the 1 MiB buffer even if all fail.
constexpr size_t kChunkMessages = 256;
constexpr size_t kChunkBytes = 64 * 1024;
constexpr int kReceiveBuffer = 1 << 20;
constexpr size_t kDeleteMax = 512;  // a delete copies the dumped tuple; this bounds it
constexpr size_t kCreateMax = 256;

// Cost model, from bench_conntrack on the development machine (see the design
// note): what one dump costs per hash bucket walked (a spinlock taken and
// released), per entry of this namespace the kernel's filter passes over, and
// per entry serialized, copied to user space and parsed. Only their ratios
// matter, and only near the break-even point.
constexpr double kNsPerBucket = 21;
constexpr double kNsPerFiltered = 90;
constexpr double kNsPerReturned = 1000;
// A filtered flush's walk skips empty buckets without their lock and checks
// every entry of the namespace once per address.
constexpr double kNsPerBucketSkipped = 0.8;
constexpr double kNsPerFlushChecked = 120;

std::string describe(std::span<const IpAddress> dsts) {
  if (dsts.size() == 1) return "conntrack entries to " + dsts[0].str();
  std::string s = "conntrack entries to " + std::to_string(dsts.size()) + " addresses";
  if (!dsts.empty()) s += " (" + dsts[0].str() + ", ...)";
  return s;
}

// The size of the shared hash table, which every dump walks. Where the
// sysctl cannot be read, assume a common size: it only tunes the cost model.
uint32_t read_buckets() {
  std::ifstream f("/proc/sys/net/netfilter/nf_conntrack_buckets");
  uint32_t n = 0;
  f >> n;
  return n > 0 ? n : 65536;
}

}  // namespace

Result<Conntrack> Conntrack::open() {
  auto sock = NetlinkSocket::open(NETLINK_NETFILTER);
  if (!sock) return std::unexpected(sock.error());
  if (auto r = sock->set_receive_buffer(kReceiveBuffer); !r) return std::unexpected(r.error());
  Conntrack c(std::move(*sock), read_buckets());
  c.kernel_flush_ = c.kernel_flush_works();
  c.mark_flush_ = c.mark_flush_works();
  return c;
}

// A filtered flush of a destination no entry has: a kernel whose flush path
// takes CTA_FILTER answers 0; an older one reads the message as a delete of
// one incomplete tuple and refuses it (EINVAL), deleting nothing. No kernel
// flushes ignoring the filter: with a tuple in the message, the flush path is
// only taken when CTA_FILTER is understood (ctnetlink_del_conntrack()).
bool Conntrack::kernel_flush_works() {
  std::vector<char> probe(128);
  const IpAddress nowhere = *IpAddress::parse("0.0.0.0");
  probe.resize(ct::put_flush(probe.data(), probe.size(), 0, nowhere));
  return send_stacked(probe, 0, "probe the filtered conntrack flush").has_value();
}

// No mark ANDed with 0 is 1, so this flush matches nothing, wherever it
// runs; a kernel without CONFIG_NF_CONNTRACK_MARK refuses it (EOPNOTSUPP).
bool Conntrack::mark_flush_works() {
  std::vector<char> probe(128);
  probe.resize(ct::put_mark_flush(probe.data(), probe.size(), 0, 1, 0));
  return send_stacked(probe, 0, "probe the conntrack flush by mark").has_value();
}

Result<size_t> Conntrack::drop_marks(std::span<const uint32_t> marks) {
  if (marks.empty()) return size_t{0};
  std::string what = "conntrack entries marked " + std::to_string(marks[0]);
  if (marks.size() > 1) what += " and " + std::to_string(marks.size() - 1) + " more marks";
  if (!mark_flush_) return fail(EOPNOTSUPP, "flush " + what + ": the kernel's flush takes no mark");
  auto before = count();
  if (!before) return std::unexpected(before.error());
  if (*before == 0) return size_t{0};
  std::vector<char> flushes = stacked(marks, [](char* buf, size_t room, uint32_t m) {
    return ct::put_mark_flush(buf, room, 0, m);
  });
  if (auto r = send_stacked(flushes, 0, "flush " + what); !r) return std::unexpected(r.error());
  counters_.mark_flushes += marks.size();
  auto after = count();
  if (!after) return std::unexpected(after.error());
  size_t gone = *before > *after ? *before - *after : 0;
  counters_.deleted += gone;
  return gone;
}

Result<uint32_t> Conntrack::count() {
  alignas(nlmsghdr) char buf[64];
  uint32_t seq = sock_.next_seq();
  size_t len = ct::put_get_stats(buf, sizeof(buf), seq);
  if (auto r = sock_.send(buf, len); !r) return std::unexpected(r.error());
  std::optional<uint32_t> entries;
  auto r = sock_.await_acks(
      seq, seq, [](uint32_t) { return std::string("count conntrack entries"); },
      [&](const nlmsghdr* nlh) -> Status {
        entries = ct::stats_entries(nlh);
        return {};
      });
  if (!r) return std::unexpected(r.error());
  if (!entries) return fail(EPROTO, "count conntrack entries: no count in the answer");
  return *entries;
}

DropStrategy Conntrack::cheapest(size_t addresses, uint32_t entries) const {
  // A filtered dump walks every bucket and checks every entry of the
  // namespace in the kernel; an unfiltered one does that once but copies
  // every entry to us; a filtered flush walks without the buckets' locks but
  // once per address.
  const double n = static_cast<double>(addresses);
  const double per_address = n * (buckets_ * kNsPerBucket + entries * kNsPerFiltered);
  const double one_dump = buckets_ * kNsPerBucket + entries * kNsPerReturned;
  const double flush = n * (buckets_ * kNsPerBucketSkipped + entries * kNsPerFlushChecked);
  if (kernel_flush_ && flush <= per_address && flush <= one_dump) return DropStrategy::kernel_flush;
  return per_address < one_dump ? DropStrategy::dump_per_address : DropStrategy::one_dump;
}

Status Conntrack::collect(Family family, const IpAddress* dst, const std::unordered_set<IpAddress>* set,
                          const std::string& what) {
  alignas(nlmsghdr) char req[256];
  size_t len = ct::put_dump(req, sizeof(req), sock_.next_seq(), family, dst);
  ++counters_.dumps;
  return sock_.dump(req, len, "dump " + what, [&](const nlmsghdr* nlh) -> Status {
    ++counters_.entries_seen;
    auto d = ct::orig_dst(nlh);
    // The kernel's filter is trusted for speed, not for correctness: a kernel
    // without CTA_FILTER ignores it and sends everything.
    if (!d || (dst ? *d != *dst : !set->contains(*d))) return {};
    size_t at = pending_.size();
    pending_.resize(at + kDeleteMax);
    size_t n = ct::put_delete_of(pending_.data() + at, kDeleteMax, 0, nlh, false);
    pending_.resize(at + n);
    if (n == 0) return fail(EMSGSIZE, what + ": an entry too large to delete");
    return {};
  });
}

Result<size_t> Conntrack::send_chunk(char* start, size_t len, uint32_t first, uint32_t last, int tolerated,
                                     const std::string& what) {
  if (auto r = sock_.send(start, len); !r) return std::unexpected(r.error());
  auto acks = sock_.collect_acks({.first = first, .last = last, .tolerated = tolerated});
  if (!acks) return fail(acks.error().code, what + ": " + acks.error().context);
  if (const auto& e = acks->first_error)
    return fail(e->code, what + (e->kernel.empty() ? "" : " (kernel: " + e->kernel + ")"));
  return acks->tolerated;
}

Result<size_t> Conntrack::send_stacked(std::vector<char>& buf, int tolerated, const std::string& what) {
  size_t refused = 0;
  size_t offset = 0;
  while (offset < buf.size()) {
    // Cut a chunk and number it; only its last message asks for an ACK, so
    // the kernel answers successes with silence.
    char* start = buf.data() + offset;
    int left = static_cast<int>(std::min(buf.size() - offset, size_t{1} << 30));
    size_t count = 0, bytes = 0;
    for (auto* nlh = reinterpret_cast<const nlmsghdr*>(start);
         count < kChunkMessages && mnl_nlmsg_ok(nlh, left) && bytes + MNL_ALIGN(nlh->nlmsg_len) <= kChunkBytes;
         nlh = mnl_nlmsg_next(nlh, &left)) {
      bytes += MNL_ALIGN(nlh->nlmsg_len);
      ++count;
    }
    if (count == 0) return fail(EPROTO, what + ": malformed message stack");
    uint32_t first_seq = sock_.reserve_seq(static_cast<uint32_t>(count));
    nlmsghdr* last = nullptr;
    auto* nlh = reinterpret_cast<nlmsghdr*>(start);
    for (size_t i = 0; i < count; ++i) {
      nlh->nlmsg_seq = first_seq + static_cast<uint32_t>(i);
      nlh->nlmsg_flags &= static_cast<uint16_t>(~NLM_F_ACK);
      last = nlh;
      nlh = reinterpret_cast<nlmsghdr*>(reinterpret_cast<char*>(nlh) + MNL_ALIGN(nlh->nlmsg_len));
    }
    last->nlmsg_flags |= NLM_F_ACK;
    auto r = send_chunk(start, bytes, first_seq, last->nlmsg_seq, tolerated, what);
    if (!r) return r;
    refused += *r;
    offset += bytes;
  }
  return refused;
}

Result<size_t> Conntrack::drop_destinations(std::span<const IpAddress> dsts, DropStrategy strategy) {
  const std::string what = describe(dsts);
  std::unordered_set<IpAddress> by_family[2];
  for (const auto& a : dsts) by_family[a.is_v4() ? 0 : 1].insert(a);
  // Two microseconds to ask, against milliseconds for a dump: the kernel
  // walks every bucket of the shared hash table even when this namespace
  // holds no entry.
  auto entries = count();
  if (!entries) return std::unexpected(entries.error());
  if (*entries == 0 || dsts.empty()) return size_t{0};
  pending_.clear();
  size_t flushed = 0;
  for (int i = 0; i < 2; ++i) {
    const auto& set = by_family[i];
    if (set.empty()) continue;
    Family family = i == 0 ? Family::v4 : Family::v6;
    // IPv6 never uses the kernel's address filter: up to 6.18 at least,
    // ctnetlink_filter_match_tuple() tests IPv6 addresses with
    // !ipv6_addr_cmp(), which is true when they are *equal*, so the filter
    // returns every entry but the wanted ones (the flush path deletes every
    // entry but the wanted ones). The family filter is sound.
    DropStrategy how = family == Family::v6               ? DropStrategy::one_dump
                       : strategy == DropStrategy::automatic ? cheapest(set.size(), *entries)
                                                             : strategy;
    if (how == DropStrategy::kernel_flush) {
      std::vector<char> flushes = stacked(set, [](char* buf, size_t room, const IpAddress& a) {
        return ct::put_flush(buf, room, 0, a);
      });
      if (auto r = send_stacked(flushes, 0, "flush " + what); !r) return std::unexpected(r.error());
      counters_.flushes += set.size();
      auto after = count();
      if (!after) return std::unexpected(after.error());
      flushed += *entries > *after ? *entries - *after : 0;
      continue;
    }
    const bool per_address = how == DropStrategy::dump_per_address;
    if (per_address) {
      for (const auto& a : set)
        if (auto r = collect(family, &a, nullptr, what); !r) return std::unexpected(r.error());
    } else if (auto r = collect(family, nullptr, &set, what); !r) {
      return std::unexpected(r.error());
    }
  }
  size_t queued = 0;
  int left = static_cast<int>(pending_.size());
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(pending_.data()); mnl_nlmsg_ok(nlh, left);
       nlh = mnl_nlmsg_next(nlh, &left))
    ++queued;
  auto gone = send_stacked(pending_, ENOENT, "delete " + what);
  if (!gone) return std::unexpected(gone.error());
  counters_.deleted += queued - *gone + flushed;
  counters_.already_gone += *gone;
  return queued - *gone + flushed;
}

Result<size_t> Conntrack::drop_destination(const IpAddress& dst) {
  return drop_destinations(std::span(&dst, 1), DropStrategy::automatic);
}

Status Conntrack::create_udp(std::span<const UdpFlow> flows, std::chrono::seconds timeout) {
  std::vector<char> buf;
  buf.reserve(flows.size() * 128);
  for (const auto& f : flows) {
    size_t at = buf.size();
    buf.resize(at + kCreateMax);
    size_t n = ct::put_create_udp(buf.data() + at, kCreateMax, 0, f, timeout, false);
    if (n == 0) return fail(EINVAL, "create conntrack entry " + f.src.str() + " -> " + f.dst.str());
    buf.resize(at + n);
  }
  std::string what = "create " + std::to_string(flows.size()) + " conntrack entries";
  if (auto r = send_stacked(buf, 0, what); !r) return std::unexpected(r.error());
  return {};
}

}  // namespace fipd::nl
