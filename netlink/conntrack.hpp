// SPDX-License-Identifier: GPL-2.0-or-later
// Dropping the conntrack entries of floating IPs after a repoint (ctnetlink,
// raw messages over libmnl).
//
// Design note (kernel semantics; measured on kernel 6.18, 2 vCPUs, with
// net.netfilter.nf_conntrack_buckets = 262144):
// - What goes: every entry whose ORIGINAL destination is the floating IP,
//   NATed or not (a flow that began before the floating IP was mapped is
//   pinned as well). Entries are found by a dump and deleted by their original
//   tuple plus CTA_ID, so an entry created since by the same 5-tuple (the
//   client's next packet, already going to the new server) normally survives;
//   the id is a hash of the entry's address and tuple, so a recycled object
//   can repeat it, and then the fresh entry goes too, which costs its flow
//   one more lookup and no packet.
// - Where the time goes. A ctnetlink dump walks the whole conntrack hash
//   table, and there is one table for all network namespaces, sized by
//   nf_conntrack_buckets (only the initial namespace may change it), whatever
//   this namespace holds. ctnetlink_dump_table() takes and releases each
//   bucket's spinlock: perf shows about 90 % of a dump of an empty namespace
//   in _raw_spin_lock and the paravirt unlock, about 21 ns a bucket, so
//   5.5 ms a dump as a fixed cost. On top of it, 0.1 to 0.3 µs (cache misses;
//   more on a loaded machine) for each entry the walk passes over, this
//   namespace's or ANY OTHER's (the kernel skips those only after reading
//   them), and about 1.1 µs for each entry serialized into the dump and copied
//   to us (fill_info, memcpy, accounting attributes; our parsing is a few % of
//   it). Deleting by tuple is a hash lookup; with the dump's own cost for the
//   entry, about 2 µs an entry, up to 256 per sendmsg(), answered only when
//   they fail. So dropping one floating IP costs the walk, not its entries
//   (5.4 ms of CPU with an empty namespace, 24 ms beside 100,000 other
//   entries); the 9 ms seen with the conntrack tool is that walk plus the start
//   of a process.
// - A flush (CT_DELETE without a tuple) returns at once when the namespace
//   counts no entry (nf_ct_iterate_cleanup_net() checks the per-namespace
//   count); a dump does not. So we ask the count first (CT_GET_STATS, ~2 µs)
//   and skip the dump when it is 0.
// - Kernel filtering: dumps take CTA_FILTER (CTA_FILTER_ORIG_FLAGS with the
//   destination bit), which keeps the unrelated entries in the kernel. On 6.18
//   the flush path (CT_DELETE with the filter and no tuple of its own) takes
//   the same filter, and its walk, nf_ct_iterate_cleanup(), skips empty
//   buckets without taking their lock: dropping one IPv4 floating IP's 4
//   entries took 0.21 ms of CPU against 5.0 ms for the dump and deletes (24x),
//   1,000 entries 0.52 ms against 7.1 ms, and beside 100,000 other entries
//   12.8 ms against 16.0 ms (bench_conntrack BM_DropOne, same run). So IPv4
//   takes the flush where the kernel has it (probed at open) and the cost
//   model finds it cheapest: a flush walks once per address, so a batch of
//   many addresses, or a small hash table, may still take a dump. The flush
//   reports no count: the count returned is the namespace's entry count
//   before less after, which entries created or expiring meanwhile blur. An
//   entry created for the floating IP between the repoint and the flush goes
//   too; it already points at the new server, so its flow only pays one more
//   lookup. For IPv6 the filter deletes the wrong entries (next point): IPv6
//   is dumped and deleted by tuple.
// - IPv6: ctnetlink_filter_match_tuple() compares IPv6 addresses with
//   !ipv6_addr_cmp(), true when they are *equal*, so an address filter returns
//   every entry except the address's (and a filtered flush deletes every entry
//   except the address's). We never send an IPv6 address filter: IPv6 takes
//   one dump of the family, filtered here. A test (KernelIpv6FilterQuirk)
//   tells when a kernel fixes it.
// - Batches: a filtered dump per address pays the walk per address: 500
//   addresses took 2.6 s (the quadratic trap kube-proxy and ovn-kubernetes
//   fell into), against 6.5 ms for one dump. One dump per family pays one walk
//   plus about 1.1 µs per entry of the namespace, so beside 100,000 other
//   entries a few filtered dumps are cheaper. drop_destinations() chooses per
//   family from that cost model and the entry count.
// - By mark: CT_DELETE with CTA_MARK and CTA_MARK_MASK, no tuple, family
//   AF_UNSPEC, is the kernel's filtered flush (ctnetlink_flush_conntrack()):
//   one walk of the table, IPv4 and IPv6 entries alike, that skips empty
//   buckets without their lock and compares one word per entry. No dump, no
//   address filter (so no IPv6 quirk), and one message whatever the number
//   of floating IPs the mark covers. Measured on 6.18 (bench_conntrack
//   BM_DropMark, README): see the README for the figures. It answers 0
//   whether or not an entry matched (never ENOENT), so the count is again
//   the namespace's before less after. A kernel built without
//   CONFIG_NF_CONNTRACK_MARK refuses the mark (EOPNOTSUPP): probed at open()
//   with a filter no entry can pass (mask 0, value 1), which deletes nothing.
// - Only knowing the tuples avoids the walk entirely: tracking entries from
//   NEW events (a monitor) and deleting by tuple would cost microseconds, at
//   the price of an event per new flow on the whole router. Not done here.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/error.hpp"
#include "base/ip_address.hpp"
#include "netlink/socket.hpp"

struct nlmsghdr;

namespace fipd::nl {

// A UDP flow as its first packet would create it, for synthetic entries in
// tests and benchmarks (the reply tuple is the mirror image: no NAT).
struct UdpFlow {
  IpAddress src, dst;
  uint16_t sport = 0, dport = 0;
  uint32_t mark = 0;  // the entry's conntrack mark, as a rule would have set it
};

// Encoders and parsers: pure functions into a caller's buffer, so that many
// messages can be stacked and sent in one sendmsg(). Each returns the
// message's length (aligned), or 0 when `room` is too small.
namespace ct {

// A dump of one family's entries; with `orig_dst`, only those whose original
// destination is that address (CTA_FILTER, where the kernel has it; inverted
// for IPv6 on 6.18, see the design note).
size_t put_dump(void* buf, size_t room, uint32_t seq, Family family, const IpAddress* orig_dst);
// Deletes, in the kernel's own walk, every entry whose original destination
// is `dst` (CT_DELETE with CTA_FILTER and no tuple of its own). IPv4 only:
// the IPv6 filter is inverted on 6.18 (design note).
size_t put_flush(void* buf, size_t room, uint32_t seq, const IpAddress& dst);
// Deletes, in the kernel's own walk, every entry of any family whose mark
// ANDed with `mask` is `mark` (CT_DELETE, AF_UNSPEC, CTA_MARK and
// CTA_MARK_MASK, no tuple).
size_t put_mark_flush(void* buf, size_t room, uint32_t seq, uint32_t mark, uint32_t mask = 0xffffffff);
// Deletes the entry that `dumped` (a message of a conntrack dump) describes,
// by its original tuple, zone and id, so an entry created since with the same
// tuple is normally not touched. Asks for an ACK only when `ack` is set:
// errors come back anyway.
size_t put_delete_of(void* buf, size_t room, uint32_t seq, const nlmsghdr* dumped, bool ack);
// Creates a UDP entry that expires after `timeout`.
size_t put_create_udp(void* buf, size_t room, uint32_t seq, const UdpFlow& flow,
                      std::chrono::seconds timeout, bool ack);
// Asks for the number of entries in the namespace.
size_t put_get_stats(void* buf, size_t room, uint32_t seq);

// The original destination of a dumped entry, if it has one.
std::optional<IpAddress> orig_dst(const nlmsghdr* dumped);
// The entry count of a CT_GET_STATS answer.
std::optional<uint32_t> stats_entries(const nlmsghdr* answer);

}  // namespace ct

// How a batch of IPv4 addresses is matched: one kernel-filtered dump per
// address, one dump of the family filtered here, or one filtered flush per
// address (no dump at all). Automatic takes the flush where the kernel has it,
// else picks a dump by cost (see the design note). IPv6 always takes one dump.
enum class DropStrategy { automatic, dump_per_address, one_dump, kernel_flush };

// One ctnetlink socket.
//
// Owns: a NETLINK_NETFILTER socket (CLOEXEC) bound in the network namespace
// current at open(), its 1 MiB receive buffer, and the buffers the batched
// messages are built in. Thread: not shared; calls block for the length of a
// dump (bounded by the table, never by anything remote; no reply in 2 s is
// ETIMEDOUT). Failure: an Error naming the address(es) and the kernel's errno;
// an entry that vanished between the dump and its delete (ENOENT: expired, or
// deleted by someone else) is not an error and is not counted.
//
// Counters (cumulative): dumps run, filtered flushes sent (by address and by
// mark), entries the dumps returned, entries deleted, entries already gone.
class Conntrack {
 public:
  struct Counters {
    uint64_t dumps = 0;
    uint64_t flushes = 0;  // filtered flushes, one per address
    uint64_t mark_flushes = 0;  // flushes by mark, one per mark
    uint64_t entries_seen = 0;
    uint64_t deleted = 0;
    uint64_t already_gone = 0;
  };

  static Result<Conntrack> open();

  // Deletes every entry whose original destination is `dst`; returns how many
  // (for a filtered flush, from the namespace's count: see the design note).
  Result<size_t> drop_destination(const IpAddress& dst);
  // The same for many addresses (both families may be mixed), in one pass.
  Result<size_t> drop_destinations(std::span<const IpAddress> dsts,
                                   DropStrategy strategy = DropStrategy::automatic);

  // Deletes every entry, IPv4 and IPv6, whose mark is one of `marks`: one
  // flush (one walk of the table) per mark; returns how many went, from the
  // namespace's count (design note). EOPNOTSUPP where mark_flush() is false.
  Result<size_t> drop_marks(std::span<const uint32_t> marks);

  // Entries in this namespace, all families (what the cost model needs).
  Result<uint32_t> count();
  // Synthetic UDP entries, many per sendmsg(). EEXIST if one is there already.
  Status create_udp(std::span<const UdpFlow> flows, std::chrono::seconds timeout);

  const Counters& counters() const { return counters_; }
  // Hash buckets every dump walks (the table is shared by all namespaces).
  uint32_t buckets() const { return buckets_; }
  // Whether automatic drops of IPv4 entries use the kernel's filtered flush.
  bool kernel_flush() const { return kernel_flush_; }
  // Whether the kernel's flush takes a mark filter (probed at open).
  bool mark_flush() const { return mark_flush_; }

 private:
  explicit Conntrack(NetlinkSocket sock, uint32_t buckets)
      : sock_(std::move(sock)), buckets_(buckets) {}

  // Dumps `family` (filtered in the kernel by `dst` when given) and queues a
  // delete for every entry whose original destination is `dst`, or in `set`.
  Status collect(Family family, const IpAddress* dst, const std::unordered_set<IpAddress>* set,
                 const std::string& what);
  // Sends the messages stacked in `buf`, many per sendmsg(), and reads their
  // answers; returns how many were refused with `tolerated` (0: none is).
  Result<size_t> send_stacked(std::vector<char>& buf, int tolerated, const std::string& what);
  Result<size_t> send_chunk(char* start, size_t len, uint32_t first, uint32_t last, int tolerated,
                            const std::string& what);
  DropStrategy cheapest(size_t addresses, uint32_t entries) const;
  bool kernel_flush_works();
  bool mark_flush_works();

  NetlinkSocket sock_;
  uint32_t buckets_ = 0;
  bool kernel_flush_ = false;  // the flush path takes CTA_FILTER (probed at open)
  bool mark_flush_ = false;    // the flush path takes CTA_MARK (probed at open)
  Counters counters_;
  std::vector<char> pending_;  // delete messages, sequence numbers set when sent
};

}  // namespace fipd::nl
