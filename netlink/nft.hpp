// SPDX-License-Identifier: GPL-2.0-or-later
// fipd's nftables table: creating it, changing its map and set elements in
// atomic transactions, and reading it back.
//
// Design note: the kernel data model
// ----------------------------------
// One table, `table inet fipd` (the name is configurable), never anyone else's;
// nothing here flushes the ruleset. Its flags are `owner` (only the netlink
// socket that created or re-claimed the table may change it; another
// process's `nft flush ruleset` passes it by) and `persist` (when that socket
// closes the table stays, orphaned, and the next fipd re-claims it by sending
// NEWTABLE with the same flags). `owner` is never used without `persist`: the
// kernel would delete the table, and every floating IP with it, when fipd
// exits. Where the kernel refuses the pair, the table runs without flags and
// ensure() says so.
//
//   maps  dnat4/dnat6   floating IP -> server        (both translation modes)
//         snat4/snat6   server -> floating IP
//         fipmark4/6    floating IP -> conntrack mark of its server (nat mode)
//   sets  stateless_fip4/6   floating IPs translated without conntrack
//         stateless_srv4/6   their servers
//         lockout4/6         server address . port locked for customers
//         mgmt4/6            management prefixes exempt from the lockout (interval)
//
//   chain raw_pre         filter prerouting  -300: to a stateless FIP: notrack,
//                         daddr rewritten from @dnat (checksums fixed); from a
//                         stateless server: notrack (its saddr is rewritten only
//                         after routing, so rp_filter still sees the real source)
//   chain stateless_post  filter postrouting  100: from a stateless server:
//                         saddr rewritten from @snat
//   chain nat_pre         nat prerouting     -100: ct mark set daddr map @fipmark,
//                         then dnat to daddr map @dnat
//   chain nat_post        nat postrouting     100: snat to saddr map @snat
//   chain lockout         filter forward        0: from @mgmt: return; tcp/udp to
//                         daddr . dport in @lockout: reject (tcp: a reset; udp:
//                         icmpx admin-prohibited)
//
// Untracked packets never reach nat chains, so both modes share the maps and
// a floating IP's mode is only its membership of the stateless sets. A nat
// chain sees only a flow's first packet, so the mark is written once, when
// the entry is created, with the server the flow is sent to: the conntrack
// flush can then drop a server's entries by mark (conntrack.hpp). A
// floating IP without a mark element leaves the mark alone. The
// forward chain sees the server's address in both modes (both rewrite daddr
// before routing), so one lockout entry covers both. The design sketch named
// that chain `fwd`; `fwd` is a keyword of the nft language, so a chain of that
// name makes `nft list ruleset` output that `nft -f` cannot read back: hence
// `lockout`.
//
// Transactions: ensure() is one batch (table, sets, chains, each chain's rules
// flushed and re-added), so re-running it is idempotent and no packet ever
// sees a chain without its rules. Element changes are one batch per commit();
// a failure anywhere aborts the whole batch, and the error names the element.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/ip_address.hpp"
#include "netlink/nft_message.hpp"
#include "netlink/socket.hpp"

namespace fipd::nl::nft {

// Table flags. NFT_TABLE_F_PERSIST (kernel >= 6.9) is missing from older
// UAPI headers (Debian 12 ships 6.1), so both values are spelled out here.
inline constexpr uint32_t kTableFlagOwner = 0x2;    // NFT_TABLE_F_OWNER
inline constexpr uint32_t kTableFlagPersist = 0x4;  // NFT_TABLE_F_PERSIST

inline constexpr std::string_view kDefaultTableName = "fipd";
// NFT_NAME_MAXLEN counts the terminating NUL.
inline constexpr size_t kMaxNameLength = 255;

// The table's maps and sets.
enum class SetId : uint8_t {
  dnat4, dnat6, snat4, snat6,
  stateless_fip4, stateless_fip6, stateless_srv4, stateless_srv6,
  lockout4, lockout6, mgmt4, mgmt6,
  fipmark4, fipmark6,
};
inline constexpr size_t kSetCount = 14;

// The shape of a set's elements.
enum class SetKind : uint8_t {
  address_map,   // address : address
  address_set,   // address
  endpoint_set,  // address . port
  prefix_set,    // address/len (an interval set)
  mark_map,      // address : mark
};

struct SetInfo {
  std::string_view name;
  Family family;
  SetKind kind;
};

const SetInfo& set_info(SetId id);
std::optional<SetId> find_set(std::string_view name);
// "map" or "set", for messages.
std::string_view set_noun(SetId id);

inline SetId dnat_map(Family f) { return f == Family::v4 ? SetId::dnat4 : SetId::dnat6; }
inline SetId snat_map(Family f) { return f == Family::v4 ? SetId::snat4 : SetId::snat6; }
inline SetId stateless_fips(Family f) { return f == Family::v4 ? SetId::stateless_fip4 : SetId::stateless_fip6; }
inline SetId stateless_servers(Family f) { return f == Family::v4 ? SetId::stateless_srv4 : SetId::stateless_srv6; }
inline SetId lockout_set(Family f) { return f == Family::v4 ? SetId::lockout4 : SetId::lockout6; }
inline SetId mgmt_set(Family f) { return f == Family::v4 ? SetId::mgmt4 : SetId::mgmt6; }
inline SetId fipmark_map(Family f) { return f == Family::v4 ? SetId::fipmark4 : SetId::fipmark6; }

// One element of any of the sets; which fields count depends on `kind`.
// Plain data, no heap: a batch of 40,000 changes is one vector of these.
struct Element {
  SetKind kind = SetKind::address_set;
  IpAddress key;           // the floating IP, server, locked address or prefix base
  IpAddress value;         // address_map: what the key translates to
  uint16_t port = 0;       // endpoint_set: host byte order
  uint8_t prefix_len = 0;  // prefix_set
  uint32_t mark = 0;       // mark_map: what the key's new flows are marked with

  static Element mapping(const IpAddress& key, const IpAddress& value) {
    return {.kind = SetKind::address_map, .key = key, .value = value};
  }
  static Element marking(const IpAddress& key, uint32_t mark) {
    return {.kind = SetKind::mark_map, .key = key, .mark = mark};
  }
  static Element address(const IpAddress& a) { return {.kind = SetKind::address_set, .key = a}; }
  static Element endpoint(const IpAddress& a, uint16_t port) {
    return {.kind = SetKind::endpoint_set, .key = a, .port = port};
  }
  static Element prefix(const IpAddress& base, uint8_t len) {
    return {.kind = SetKind::prefix_set, .key = base, .prefix_len = len};
  }

  // The key in nft's notation: "203.0.113.10", "10.0.1.2 . 7000", "10.9.0.0/16".
  std::string key_str() const;
  // The whole element: the key, and " : value" for maps (a mark in hex, as nft prints it).
  std::string str() const;

  friend bool operator==(const Element&, const Element&) = default;
};

enum class ElementOp : uint8_t { add, remove };

struct ElementChange {
  SetId set;
  ElementOp op;
  Element element;
};

// Builds one transaction of element changes. Each change is checked when it
// is added (set shape, address family, prefix), before anything reaches the
// kernel. A refused change is not added, its error is returned, and the batch
// remembers the first one: NftTable::commit() then refuses the whole batch,
// so a caller that ignored the error still cannot apply half its intent.
//
// Not thread-safe; reuse one batch with clear() to keep its capacity.
class ElementBatch {
 public:
  Status add(SetId set, const Element& e);
  // For a map only the key counts; an address or a mapping may be given.
  Status remove(SetId set, const Element& e);
  // Maps only: remove the key's element and add key : value, in this order,
  // in the same transaction. The key must be in the map (ENOENT otherwise).
  Status replace(SetId map, const Element& mapping);

  void clear() {
    changes_.clear();
    error_.reset();
  }
  void reserve(size_t n) { changes_.reserve(n); }
  bool empty() const { return changes_.empty(); }
  size_t size() const { return changes_.size(); }
  std::span<const ElementChange> changes() const { return changes_; }
  const std::optional<Error>& error() const { return error_; }

 private:
  Status push(SetId set, ElementOp op, const Element& e);
  std::vector<ElementChange> changes_;
  std::optional<Error> error_;
};

struct TableFlags {
  bool owner = false;
  bool persist = false;
  friend bool operator==(const TableFlags&, const TableFlags&) = default;
};

// What the kernel says about the table.
struct TableState {
  bool exists = false;
  uint32_t flags = 0;         // NFT_TABLE_F_* as the kernel reports them
  uint32_t owner_portid = 0;  // the owning socket's port id, when owned
  bool owner() const { return flags & kTableFlagOwner; }
  bool persist() const { return flags & kTableFlagPersist; }
};

struct EnsureResult {
  TableFlags flags;   // the flags in force after ensure()
  bool created = false;  // the table did not exist before
  // Set when owner|persist were refused and the table runs without flags:
  // the kernel's answer, for the engine's warning.
  std::optional<Error> fallback;
};

struct TableOptions {
  std::string name{kDefaultTableName};
};

// fipd's table in the network namespace the object was opened in.
//
// Owns: one NETLINK_NETFILTER socket, which with the owner flag is the
// table's owner (so every write goes through it), a reusable send buffer and
// an ACK buffer. Destroying the object closes the socket: with persist the
// table stays, orphaned, for the next process to re-claim.
// Thread: one thread at a time; not shared.
// Errors: values naming the object and the kernel's errno, e.g.
// "element 203.0.113.10 not in map dnat4: ENOENT". A failed commit applied
// nothing. Never logs.
// Cost: a repoint is four element changes, a few µs with the ACK. The
// kernel's share of a large batch more than triples while anything on the
// machine listens to nftables events (NFNLGRP_NFTABLES: the kernel checks
// for listeners per netlink protocol, not per namespace, and then formats an
// event per element). With the owner flag in force no other process can
// change the table, so a monitor of fipd's own need not subscribe.
class NftTable {
 public:
  // Opens the socket; refuses an empty name or one over kMaxNameLength
  // characters (ENAMETOOLONG).
  static Result<NftTable> open(TableOptions options = {});

  const std::string& name() const { return name_; }
  uint32_t portid() const { return sock_.portid(); }

  // Creates or adopts the table in one transaction (see the design note):
  // existing elements are untouched, chains' rules are replaced.
  Result<EnsureResult> ensure();

  // Applies a batch as one transaction, in the order of its changes, and
  // waits for the kernel's answer. Consecutive changes to the same set with
  // the same operation travel in one message (up to 512), which the kernel
  // handles for a fraction of the cost of one message each: a batch built as
  // a diff (set by set, removals then additions) is the cheapest to apply.
  // Only the last message asks for an ACK: the kernel answers failures
  // anyway, so a large batch costs one ACK, not one per element.
  Status commit(const ElementBatch& batch);

  // Whether the table exists, and its flags and owner.
  Result<TableState> state();
  // The elements of one set or map, as the kernel holds them. Interval sets
  // come back as prefixes. A dump torn by the kernel resizing the set's hash
  // is retried (up to 127 ms); EAGAIN if it never settles.
  Result<std::vector<Element>> elements(SetId set);

 private:
  Result<std::vector<Element>> dump_elements(SetId set, const std::string& what);

  NftTable(NetlinkSocket sock, std::string name);
  // Sends what out_ holds and reads the answers to a batch whose messages
  // carry first..last; only `last` asked for an ACK.
  Result<std::optional<Ack>> transact(uint32_t first, uint32_t last);
  Result<std::optional<Ack>> read_acks(uint32_t first, uint32_t last);
  Status grow_send_buffer(size_t bytes);
  void drain();
  // The sent message with that sequence number, nullptr if none.
  const nlmsghdr* sent_message(uint32_t seq) const;
  Error describe_commit_error(const ElementBatch& batch, uint32_t first, const Ack& e) const;
  Status run_schema(uint32_t table_flags, bool& table_refused);

  NetlinkSocket sock_;
  std::string name_;
  MessageBuffer out_;  // the batch being sent; kept until the next for error reports
  std::vector<uint32_t> message_first_;  // per element message: its first change, then the end
  int sndbuf_ = 0;
  bool stale_replies_ = false;  // a failed exchange may have left replies queued
};

}  // namespace fipd::nl::nft
