// SPDX-License-Identifier: GPL-2.0-or-later
#include "netlink/nft_encode.hpp"

#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include <algorithm>
#include <cstring>

#include "netlink/nft_attr.hpp"

namespace fipd::nl::nft {

namespace {

// Key bytes of an element: the address, and for address . port the port in
// network order padded to four bytes, as the kernel lays out concatenations.
size_t encode_key(const Element& e, uint8_t* out) {
  size_t n = e.key.size();
  std::memcpy(out, e.key.data(), n);
  if (e.kind == SetKind::endpoint_set) {
    uint16_t port = htons(e.port);
    std::memcpy(out + n, &port, 2);
    out[n + 2] = out[n + 3] = 0;
    n += 4;
  }
  return n;
}

// The first address past base/len; false when that overflows the family.
bool interval_end(const IpAddress& base, unsigned len, uint8_t* out) {
  size_t size = base.size();
  std::memcpy(out, base.data(), size);
  unsigned host_bits = base.max_prefix() - len;
  if (host_bits == base.max_prefix()) return false;
  size_t i = size - 1 - host_bits / 8;
  unsigned carry = 1u << (host_bits % 8);
  for (;; --i) {
    unsigned sum = out[i] + carry;
    out[i] = static_cast<uint8_t>(sum);
    carry = sum >> 8;
    if (!carry) return true;
    if (i == 0) return false;
  }
}

void put_data(nlmsghdr* nlh, uint16_t type, const void* data, size_t len) {
  nlattr* nest = nest_start(nlh, type);
  put_attr(nlh, NFTA_DATA_VALUE, data, len);
  nest_end(nlh, nest);
}

// One entry of NFTA_SET_ELEM_LIST_ELEMENTS. libnftnl numbers the entries
// 1, 2, ... (the kernel ignores the number); mirrored for byte-equal output.
struct Value {
  const void* data = nullptr;
  size_t len = 0;
};

// What a map's element translates to; a mark is a register's u32, so in host order.
Value value_of(const Element& e) {
  if (e.kind == SetKind::address_map) return {e.value.data(), e.value.size()};
  if (e.kind == SetKind::mark_map) return {&e.mark, sizeof(e.mark)};
  return {};
}

void put_one_element(nlmsghdr* nlh, uint16_t index, const uint8_t* key, size_t key_len, Value value, bool end) {
  nlattr* nest = nest_start(nlh, index);
  if (end) {
    uint32_t flags = htonl(NFT_SET_ELEM_INTERVAL_END);
    put_attr(nlh, NFTA_SET_ELEM_FLAGS, &flags, sizeof(flags));
  }
  put_data(nlh, NFTA_SET_ELEM_KEY, key, key_len);
  if (value.data) put_data(nlh, NFTA_SET_ELEM_DATA, value.data, value.len);
  nest_end(nlh, nest);
}

void put_nft_header(nlmsghdr* nlh, uint16_t msg, uint16_t flags, uint32_t seq) {
  nlh->nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg);
  nlh->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = NFPROTO_INET;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
}

void put_batch_marker(MessageBuffer& buf, uint16_t type, uint32_t seq) {
  nlmsghdr* nlh = buf.start_message(64);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons(NFNL_SUBSYS_NFTABLES);
  buf.finish_message(nlh);
}

unsigned __int128 to_u128(const uint8_t* bytes, size_t len) {
  unsigned __int128 v = 0;
  for (size_t i = 0; i < len; ++i) v = (v << 8) | bytes[i];
  return v;
}

void parse_one_element(const nlattr* elem, RawElement& out) {
  for_each_nested(elem, [&](const nlattr* a) {
    switch (mnl_attr_get_type(a)) {
      case NFTA_SET_ELEM_KEY:
      case NFTA_SET_ELEM_DATA: {
        bool is_key = mnl_attr_get_type(a) == NFTA_SET_ELEM_KEY;
        for_each_nested(a, [&](const nlattr* v) {
          if (mnl_attr_get_type(v) != NFTA_DATA_VALUE) return;
          size_t len = mnl_attr_get_payload_len(v);
          uint8_t* dst = is_key ? out.key.data() : out.data.data();
          size_t cap = is_key ? out.key.size() : out.data.size();
          len = std::min(len, cap);
          std::memcpy(dst, mnl_attr_get_payload(v), len);
          (is_key ? out.key_len : out.data_len) = static_cast<uint8_t>(len);
        });
        break;
      }
      case NFTA_SET_ELEM_FLAGS:
        // A shorter attribute would have us read past it.
        if (mnl_attr_get_payload_len(a) >= sizeof(uint32_t))
          out.interval_end = ntohl(mnl_attr_get_u32(a)) & NFT_SET_ELEM_INTERVAL_END;
        break;
      default:
        break;
    }
  });
}

// Pairs interval starts and ends (sorted by address, an end before a start
// at the same address: adjacent prefixes share that boundary).
Result<std::vector<Element>> decode_intervals(SetId set, std::vector<RawElement>& raw) {
  const SetInfo& info = set_info(set);
  const size_t size = info.family == Family::v4 ? 4 : 16;
  const unsigned bits = static_cast<unsigned>(size * 8);
  std::sort(raw.begin(), raw.end(), [&](const RawElement& a, const RawElement& b) {
    int c = std::memcmp(a.key.data(), b.key.data(), size);
    return c != 0 ? c < 0 : a.interval_end > b.interval_end;
  });
  std::vector<Element> out;
  auto add_range = [&](const RawElement& start, const RawElement* end) -> Status {
    using u128 = unsigned __int128;
    u128 lo = to_u128(start.key.data(), size);
    // One past the range; an open range ends at the top of the family (for
    // IPv6, 2^128 wraps to 0, and the arithmetic below is modulo 2^128).
    u128 past = end ? to_u128(end->key.data(), size) : (bits == 128 ? 0 : static_cast<u128>(1) << bits);
    u128 mask = past - lo - 1;  // 2^host_bits - 1 when the range is a prefix
    auto base = IpAddress::from_bytes(start.key.data(), size);
    if ((mask & (mask + 1)) != 0 || (lo & mask) != 0)
      return fail(EINVAL, "set " + std::string(info.name) + " holds a range from " + base->str() +
                              " that is not a prefix");
    unsigned host_bits = 0;
    for (u128 m = mask; m; m >>= 1) ++host_bits;
    out.push_back(Element::prefix(*base, static_cast<uint8_t>(bits - host_bits)));
    return {};
  };
  const RawElement* open = nullptr;
  for (const RawElement& e : raw) {
    if (e.key_len != size) return fail(EPROTO, "element of " + std::to_string(e.key_len) + " bytes in set " + std::string(info.name));
    if (e.interval_end) {
      if (open)
        if (auto r = add_range(*open, &e); !r) return std::unexpected(r.error());
      open = nullptr;
    } else {
      if (open)
        if (auto r = add_range(*open, &e); !r) return std::unexpected(r.error());
      open = &e;
    }
  }
  if (open)
    if (auto r = add_range(*open, nullptr); !r) return std::unexpected(r.error());
  return out;
}

}  // namespace

size_t max_element_message_size(size_t changes) {
  // Header, nfgenmsg, set and table names at their longest, and per change
  // at most two entries: flags, a 20-byte key and a 16-byte value, nested.
  constexpr size_t kPerChange = 64;
  return NLMSG_HDRLEN + sizeof(nfgenmsg) + 2 * (MNL_ATTR_HDRLEN + MNL_ALIGN(kMaxNameLength + 1)) +
         MNL_ATTR_HDRLEN + changes * kPerChange;
}

void put_batch_begin(MessageBuffer& buf, uint32_t seq) { put_batch_marker(buf, NFNL_MSG_BATCH_BEGIN, seq); }

void put_batch_end(MessageBuffer& buf, uint32_t seq) { put_batch_marker(buf, NFNL_MSG_BATCH_END, seq); }

size_t message_run(std::span<const ElementChange> changes) {
  size_t n = 1;
  while (n < changes.size() && n < kMaxChangesPerMessage && changes[n].set == changes[0].set &&
         changes[n].op == changes[0].op)
    ++n;
  return changes.empty() ? 0 : n;
}

void put_element_changes(MessageBuffer& buf, std::string_view table, std::span<const ElementChange> changes,
                         uint32_t seq, bool ack) {
  const SetInfo& info = set_info(changes.front().set);
  const bool add = changes.front().op == ElementOp::add;
  nlmsghdr* nlh = buf.start_message(max_element_message_size(changes.size()));
  put_nft_header(nlh, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM,
                 static_cast<uint16_t>((add ? NLM_F_CREATE | NLM_F_EXCL : 0) | (ack ? NLM_F_ACK : 0)), seq);
  put_strz(nlh, NFTA_SET_ELEM_LIST_SET, info.name);
  put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
  nlattr* list = nest_start(nlh, NFTA_SET_ELEM_LIST_ELEMENTS);
  uint16_t index = 0;
  for (const ElementChange& c : changes) {
    const Element& e = c.element;
    uint8_t key[20];
    size_t key_len = encode_key(e, key);
    // A map's value goes with an add only; a delete names the key alone.
    put_one_element(nlh, ++index, key, key_len, add ? value_of(e) : Value{}, false);
    if (info.kind == SetKind::prefix_set && interval_end(e.key, e.prefix_len, key))
      put_one_element(nlh, ++index, key, key_len, {}, true);
  }
  nest_end(nlh, list);
  buf.finish_message(nlh);
}

FailedAttribute locate_offset(const nlmsghdr* nlh, std::span<const ElementChange> changes, uint32_t offset) {
  FailedAttribute found;
  auto holds = [&](const nlattr* a) {
    size_t at = reinterpret_cast<const char*>(a) - reinterpret_cast<const char*>(nlh);
    return offset >= at && offset < at + MNL_ALIGN(a->nla_len);
  };
  for_each_attr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
    if (!holds(a)) return;
    found.type = mnl_attr_get_type(a);
    if (found.type != NFTA_SET_ELEM_LIST_ELEMENTS) return;
    // Entries to changes: one each, but a prefix has a second (its end)
    // unless it reaches the top of the address space.
    size_t change = 0, entries_left = 0;
    bool first = true;
    for_each_nested(a, [&](const nlattr* e) {
      if (entries_left == 0) {
        if (!first) ++change;
        first = false;
        entries_left = 1;
        if (change < changes.size() && changes[change].element.kind == SetKind::prefix_set) {
          uint8_t scratch[16];
          const Element& p = changes[change].element;
          if (interval_end(p.key, p.prefix_len, scratch)) entries_left = 2;
        }
      }
      if (holds(e) && change < changes.size()) found.change = change;
      --entries_left;
    });
  });
  return found;
}

void put_element_dump(MessageBuffer& buf, std::string_view table, SetId set, uint32_t seq) {
  nlmsghdr* nlh = buf.start_message(max_element_message_size(0));
  put_nft_header(nlh, NFT_MSG_GETSETELEM, NLM_F_DUMP, seq);
  put_strz(nlh, NFTA_SET_ELEM_LIST_TABLE, table);
  put_strz(nlh, NFTA_SET_ELEM_LIST_SET, set_info(set).name);
  buf.finish_message(nlh);
}

void put_table_get(MessageBuffer& buf, std::string_view table, uint32_t seq) {
  nlmsghdr* nlh = buf.start_message(max_element_message_size(0));
  put_nft_header(nlh, NFT_MSG_GETTABLE, NLM_F_ACK, seq);
  put_strz(nlh, NFTA_TABLE_NAME, table);
  buf.finish_message(nlh);
}

Status parse_element_message(const nlmsghdr* nlh, std::vector<RawElement>& out) {
  for_each_attr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
    if (mnl_attr_get_type(a) != NFTA_SET_ELEM_LIST_ELEMENTS) return;
    for_each_nested(a, [&](const nlattr* elem) { parse_one_element(elem, out.emplace_back()); });
  });
  return {};
}

Result<std::vector<Element>> decode_elements(SetId set, std::vector<RawElement> raw) {
  const SetInfo& info = set_info(set);
  if (info.kind == SetKind::prefix_set) return decode_intervals(set, raw);
  const uint8_t addr_len = info.family == Family::v4 ? 4 : 16;
  const uint8_t key_len = info.kind == SetKind::endpoint_set ? addr_len + 4 : addr_len;
  std::vector<Element> out;
  out.reserve(raw.size());
  for (const RawElement& r : raw) {
    const uint8_t data_len = info.kind == SetKind::address_map ? addr_len
                             : info.kind == SetKind::mark_map  ? sizeof(uint32_t)
                                                               : r.data_len;
    if (r.key_len != key_len || r.data_len != data_len)
      return fail(EPROTO, "element with a " + std::to_string(r.key_len) + "-byte key and a " +
                              std::to_string(r.data_len) + "-byte value in " +
                              std::string(set_noun(set)) + " " + std::string(info.name));
    IpAddress key = *IpAddress::from_bytes(r.key.data(), addr_len);
    switch (info.kind) {
      case SetKind::address_map:
        out.push_back(Element::mapping(key, *IpAddress::from_bytes(r.data.data(), addr_len)));
        break;
      case SetKind::mark_map: {
        uint32_t mark;
        std::memcpy(&mark, r.data.data(), sizeof(mark));
        out.push_back(Element::marking(key, mark));
        break;
      }
      case SetKind::endpoint_set: {
        uint16_t port;
        std::memcpy(&port, r.key.data() + addr_len, 2);
        out.push_back(Element::endpoint(key, ntohs(port)));
        break;
      }
      default:
        out.push_back(Element::address(key));
        break;
    }
  }
  return out;
}

TableState parse_table_message(const nlmsghdr* nlh) {
  TableState s{.exists = true};
  for_each_attr(nlh, sizeof(nfgenmsg), [&](const nlattr* a) {
    if (mnl_attr_get_payload_len(a) < sizeof(uint32_t)) return;  // would read past it
    if (mnl_attr_get_type(a) == NFTA_TABLE_FLAGS) s.flags = ntohl(mnl_attr_get_u32(a));
    if (mnl_attr_get_type(a) == NFTA_TABLE_OWNER) s.owner_portid = ntohl(mnl_attr_get_u32(a));
  });
  return s;
}

}  // namespace fipd::nl::nft
