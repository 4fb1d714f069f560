// SPDX-License-Identifier: GPL-2.0-or-later
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <ctime>
#include <optional>
#include <tuple>

#include "netlink/nft.hpp"
#include "netlink/nft_encode.hpp"
#include "netlink/nft_schema.hpp"

namespace fipd::nl::nft {

namespace {

// ACKs are small and come one per datagram; the buffer only has to hold one.
// Room for the error ACKs of a large failed batch (each takes about 1 KiB of
// socket memory). Past that the kernel drops them and says ENOBUFS.
constexpr int kReceiveBuffer = 8 << 20;
// netlink_sendmsg() refuses a datagram larger than the send buffer less a
// little; batches of tens of thousands of changes need several MiB.
constexpr size_t kSendBufferSlack = 4096;

int get_sndbuf(int fd) {
  int v = 0;
  socklen_t len = sizeof(v);
  getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, &len);
  return v;
}

}  // namespace

NftTable::NftTable(NetlinkSocket sock, std::string name)
    : sock_(std::move(sock)), name_(std::move(name)) {}

Result<NftTable> NftTable::open(TableOptions options) {
  if (options.name.empty() || options.name.find('\0') != std::string::npos)
    return fail(EINVAL, "table name '" + options.name + "' is empty or holds a NUL");
  if (options.name.size() > kMaxNameLength)
    return fail(ENAMETOOLONG, "table name of " + std::to_string(options.name.size()) +
                                  " characters is longer than the kernel's " +
                                  std::to_string(kMaxNameLength));
  auto sock = NetlinkSocket::open(NETLINK_NETFILTER);
  if (!sock) return std::unexpected(sock.error());
  // Best effort: without it a huge failed batch may lose some error ACKs,
  // which read_acks() notices (ENOBUFS) and reports.
  (void)sock->set_receive_buffer(kReceiveBuffer);
  NftTable t(std::move(*sock), std::move(options.name));
  t.sndbuf_ = get_sndbuf(t.sock_.fd());
  return t;
}

Status NftTable::grow_send_buffer(size_t bytes) {
  size_t need = bytes + kSendBufferSlack;
  if (need <= static_cast<size_t>(sndbuf_)) return {};
  if (need > INT_MAX / 2) return fail(EMSGSIZE, "batch of " + std::to_string(bytes) + " bytes for table inet " + name_);
  // The kernel doubles the value it is given (bookkeeping overhead); asking
  // for `need` leaves room to spare. FORCE passes rmem/wmem_max as root.
  int want = static_cast<int>(need);
  if (setsockopt(sock_.fd(), SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) != 0)
    setsockopt(sock_.fd(), SOL_SOCKET, SO_SNDBUF, &want, sizeof(want));
  sndbuf_ = get_sndbuf(sock_.fd());
  if (need > static_cast<size_t>(sndbuf_))
    return fail(EMSGSIZE, "batch of " + std::to_string(bytes) + " bytes for table inet " + name_ +
                              " exceeds the netlink send buffer of " + std::to_string(sndbuf_) + " bytes");
  return {};
}

void NftTable::drain() {
  sock_.discard_queued();
  stale_replies_ = false;
}

Result<std::optional<Ack>> NftTable::transact(uint32_t first, uint32_t last) {
  if (stale_replies_) drain();
  if (auto r = grow_send_buffer(out_.size()); !r) return std::unexpected(r.error());
  if (auto r = sock_.send(out_.data(), out_.size()); !r) return std::unexpected(r.error());
  return read_acks(first, last);
}

// The kernel handles a batch inside sendmsg(), so by the time send() returns
// every answer is queued: an empty queue before `last` is answered means
// answers were dropped (ENOBUFS), not that they are late. The poll() is a
// guard against a kernel that ever behaves otherwise, never a normal wait.
// Kernel quirk: a failure of the commit phase itself (after every message
// passed) is reported against the batch's first message, without an
// offset, and so is named after that message's change.
Result<std::optional<Ack>> NftTable::read_acks(uint32_t first, uint32_t last) {
  auto acks = sock_.collect_acks({.first = first, .last = last, .whole_batch = true});
  if (!acks) {
    stale_replies_ = true;
    return fail(acks.error().code, "acknowledgements from table inet " + name_ + ": " + acks.error().context);
  }
  if (acks->first_error || acks->lost) drain();  // the batch's other errors may still be queued
  if (!acks->first_error && acks->lost)
    return fail(ENOBUFS, "acknowledgements from table inet " + name_ +
                             " were dropped (receive buffer full); the batch failed, dump to resync");
  return acks->first_error;
}

const nlmsghdr* NftTable::sent_message(uint32_t seq) const {
  int len = static_cast<int>(out_.size());
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(out_.data()); mnl_nlmsg_ok(nlh, len);
       nlh = mnl_nlmsg_next(nlh, &len))
    if (nlh->nlmsg_seq == seq) return nlh;
  return nullptr;
}

Error NftTable::describe_commit_error(const ElementBatch& batch, uint32_t first, const Ack& e) const {
  std::string kernel = e.kernel.empty() ? "" : " (kernel: " + e.kernel + ")";
  size_t message = e.seq - first;
  if (message + 1 >= message_first_.size()) return Error{e.code, "transaction on table inet " + name_ + kernel};
  auto changes =
      batch.changes().subspan(message_first_[message], message_first_[message + 1] - message_first_[message]);
  FailedAttribute where;
  if (const nlmsghdr* nlh = sent_message(e.seq); nlh && e.offset) where = locate_offset(nlh, changes, e.offset);
  // Without the kernel's offset (older kernels) a message of several
  // changes can only be named by its first.
  const ElementChange& c = changes[where.change.value_or(0)];
  if (!where.change && changes.size() > 1)
    kernel += " (one of " + std::to_string(changes.size()) + " changes sent together)";
  const bool add = c.op == ElementOp::add;
  std::string set = std::string(set_noun(c.set)) + " " + std::string(set_info(c.set).name);
  std::string change = add ? "add element " + c.element.str() + " to " + set
                           : "remove element " + c.element.key_str() + " from " + set;
  if (where.type == NFTA_SET_ELEM_LIST_TABLE)
    return Error{e.code, "table inet " + name_ + (e.code == ENOENT ? " does not exist" : "") + " (" + change + ")" +
                             kernel};
  if (where.type == NFTA_SET_ELEM_LIST_SET)
    return Error{e.code, set + " not in table inet " + name_ + " (" + change + ")" + kernel};
  if (!add && e.code == ENOENT) return Error{e.code, "element " + c.element.key_str() + " not in " + set + kernel};
  if (add && e.code == EEXIST) return Error{e.code, "element " + c.element.key_str() + " already in " + set + kernel};
  return Error{e.code, change + kernel};
}

Status NftTable::commit(const ElementBatch& batch) {
  if (batch.error()) return std::unexpected(*batch.error());
  if (batch.empty()) return {};
  auto changes = batch.changes();
  // At most one message per change: reserve that many sequence numbers.
  const uint32_t seq = sock_.reserve_seq(static_cast<uint32_t>(changes.size()) + 2);
  out_.clear();
  message_first_.clear();
  put_batch_begin(out_, seq);
  size_t last_message = 0;
  for (size_t at = 0; at < changes.size();) {
    size_t run = message_run(changes.subspan(at));
    last_message = out_.size();
    put_element_changes(out_, name_, changes.subspan(at, run),
                        seq + 1 + static_cast<uint32_t>(message_first_.size()), false);
    message_first_.push_back(static_cast<uint32_t>(at));
    at += run;
  }
  message_first_.push_back(static_cast<uint32_t>(changes.size()));
  out_.message_at(last_message)->nlmsg_flags |= NLM_F_ACK;
  const auto messages = static_cast<uint32_t>(message_first_.size() - 1);
  put_batch_end(out_, seq + messages + 1);
  auto acks = transact(seq + 1, seq + messages);
  if (!acks) return std::unexpected(acks.error());
  if (*acks) return std::unexpected(describe_commit_error(batch, seq + 1, **acks));
  return {};
}

Status NftTable::run_schema(uint32_t table_flags, bool& table_refused) {
  out_.clear();
  const uint32_t begin = sock_.next_seq();
  put_batch_begin(out_, begin);
  auto what = put_schema(out_, name_, table_flags, begin + 1);
  if (!what) return std::unexpected(what.error());
  const auto n = static_cast<uint32_t>(what->size());
  sock_.reserve_seq(n + 1);
  put_batch_end(out_, begin + n + 1);
  auto acks = transact(begin + 1, begin + n);
  if (!acks) return std::unexpected(acks.error());
  if (!*acks) return {};
  const Ack& e = **acks;
  size_t index = e.seq - (begin + 1);
  table_refused = index == 0;
  std::string ctx = index < n ? (*what)[index] + " in table inet " + name_ : "transaction on table inet " + name_;
  if (!e.kernel.empty()) ctx += " (kernel: " + e.kernel + ")";
  return fail(e.code, ctx);
}

Result<EnsureResult> NftTable::ensure() {
  auto before = state();
  if (!before) return std::unexpected(before.error());
  EnsureResult res{.created = !before->exists};
  bool table_refused = false;
  auto owned = run_schema(kTableFlagOwner | kTableFlagPersist, table_refused);
  if (owned) {
    res.flags = {.owner = true, .persist = true};
    return res;
  }
  // EOPNOTSUPP: a kernel without persist (or owner); EPERM: an existing table
  // created without persist, which the kernel will not hand to an owner.
  // Both are worth running without flags; anything else is not.
  int code = owned.error().code;
  if (!table_refused || (code != EOPNOTSUPP && code != EPERM && code != EINVAL))
    return std::unexpected(owned.error());
  if (before->exists && before->owner() && before->owner_portid != portid())
    return fail(EPERM, "table inet " + name_ + " is owned by another process (netlink port " +
                           std::to_string(before->owner_portid) + ")");
  res.fallback = owned.error();
  if (auto plain = run_schema(0, table_refused); !plain) return std::unexpected(plain.error());
  return res;
}

Result<TableState> NftTable::state() {
  if (stale_replies_) drain();
  MessageBuffer req;
  const uint32_t seq = sock_.next_seq();
  put_table_get(req, name_, seq);
  if (auto r = sock_.send(req.data(), req.size()); !r) return std::unexpected(r.error());
  TableState st;
  auto r = sock_.await_acks(
      seq, seq, [&](uint32_t) { return "get table inet " + name_; },
      [&](const nlmsghdr* nlh) -> Status {
        if ((nlh->nlmsg_type & 0xff) == NFT_MSG_NEWTABLE) st = parse_table_message(nlh);
        return {};
      });
  if (!r) {
    if (r.error().code == ENOENT) return TableState{};
    return std::unexpected(r.error());
  }
  return st;
}

namespace {

// A dump of a hash set that met a resize of the kernel's table reads the
// same element twice (and, with it, misses another): the kernel resumes each
// part of a dump by skipping as many elements as it already sent, counted in
// the new table's order. No flag says so (the generation does not change), so
// a repeated key is the sign.
bool has_repeated_key(std::vector<Element> elems) {
  auto key = [](const Element& e) { return std::tuple(e.key, e.port, e.prefix_len); };
  std::sort(elems.begin(), elems.end(), [&](const Element& a, const Element& b) { return key(a) < key(b); });
  return std::adjacent_find(elems.begin(), elems.end(), [&](const Element& a, const Element& b) {
           return key(a) == key(b);
         }) != elems.end();
}

bool same_elements(std::vector<Element> a, std::vector<Element> b) {
  auto less = [](const Element& x, const Element& y) {
    return std::tuple(x.key, x.port, x.prefix_len, x.value) < std::tuple(y.key, y.port, y.prefix_len, y.value);
  };
  std::sort(a.begin(), a.end(), less);
  std::sort(b.begin(), b.end(), less);
  return a == b;
}

}  // namespace

Result<std::vector<Element>> NftTable::dump_elements(SetId set, const std::string& what) {
  if (stale_replies_) drain();
  MessageBuffer req;
  put_element_dump(req, name_, set, sock_.next_seq());
  std::vector<RawElement> raw;
  auto r = sock_.dump(req.data(), req.size(), what,
                      [&](const nlmsghdr* nlh) { return parse_element_message(nlh, raw); });
  if (!r) return std::unexpected(r.error());
  return decode_elements(set, std::move(raw));
}

Result<std::vector<Element>> NftTable::elements(SetId set) {
  const std::string what = "list " + std::string(set_noun(set)) + " " + std::string(set_info(set).name) +
                           " of table inet " + name_;
  // A resize runs in a kernel worker right after large changes and takes a
  // few milliseconds at 100,000 elements: wait for it, doubling, 127 ms in all.
  constexpr int kAttempts = 8;
  bool torn = false;
  std::optional<std::vector<Element>> previous;  // the last clean dump after a torn one
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    if (attempt > 0) {
      const timespec pause{0, (1L << (attempt - 1)) * 1'000'000L};
      nanosleep(&pause, nullptr);
    }
    auto got = dump_elements(set, what);
    if (!got) return got;
    if (has_repeated_key(*got)) {
      torn = true;
      continue;
    }
    // Once a resize has been seen, a clean-looking dump may still have missed
    // elements; trust it only when the next dump agrees.
    if (!torn || (previous && same_elements(*previous, *got))) return got;
    previous = std::move(*got);
  }
  return std::unexpected(Error{EAGAIN, what + ": the kernel's set was resizing throughout " +
                                           std::to_string(kAttempts) + " dumps; try again"});
}

}  // namespace fipd::nl::nft
