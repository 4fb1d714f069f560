// SPDX-License-Identifier: GPL-2.0-or-later
// ctnetlink messages: pure encoders into a caller's buffer, and the few
// parsers the dump needs. No I/O here.
#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include <array>
#include <cstring>

#include "netlink/conntrack.hpp"

namespace fipd::nl::ct {

namespace {

// The kernel keeps these in net/netfilter/nf_internals.h, not in the UAPI:
// bit n of CTA_FILTER_ORIG_FLAGS selects one field of the original tuple.
constexpr uint32_t kFilterIpDst = 1u << 1;  // CTA_FILTER_F_CTA_IP_DST

// Upper bounds of the messages we build, checked against `room` up front.
constexpr size_t kDumpMax = 128;
constexpr size_t kCreateMax = 256;
constexpr size_t kStatsMax = 32;

nlmsghdr* start(void* buf, uint8_t msg_type, uint16_t flags, uint32_t seq, uint8_t family) {
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
  nlh->nlmsg_type = static_cast<uint16_t>((NFNL_SUBSYS_CTNETLINK << 8) | msg_type);
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  auto* nfg = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
  nfg->nfgen_family = family;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = 0;
  return nlh;
}

// The source is left out of a filter's tuple.
void put_tuple_ip(nlmsghdr* nlh, const IpAddress* src, const IpAddress& dst) {
  nlattr* ip = mnl_attr_nest_start(nlh, CTA_TUPLE_IP);
  if (src) mnl_attr_put(nlh, src->is_v4() ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, src->size(), src->data());
  mnl_attr_put(nlh, dst.is_v4() ? CTA_IP_V4_DST : CTA_IP_V6_DST, dst.size(), dst.data());
  mnl_attr_nest_end(nlh, ip);
}

void put_udp_tuple(nlmsghdr* nlh, uint16_t type, const IpAddress& src, const IpAddress& dst,
                   uint16_t sport, uint16_t dport) {
  nlattr* t = mnl_attr_nest_start(nlh, type);
  put_tuple_ip(nlh, &src, dst);
  nlattr* proto = mnl_attr_nest_start(nlh, CTA_TUPLE_PROTO);
  mnl_attr_put_u8(nlh, CTA_PROTO_NUM, IPPROTO_UDP);
  mnl_attr_put_u16(nlh, CTA_PROTO_SRC_PORT, htons(sport));
  mnl_attr_put_u16(nlh, CTA_PROTO_DST_PORT, htons(dport));
  mnl_attr_nest_end(nlh, proto);
  mnl_attr_nest_end(nlh, t);
}

// Selects the entries whose original destination is `dst`: the address in
// an original tuple, and a filter saying only that field counts.
void put_destination_filter(nlmsghdr* nlh, const IpAddress& dst) {
  nlattr* t = mnl_attr_nest_start(nlh, CTA_TUPLE_ORIG);
  put_tuple_ip(nlh, nullptr, dst);
  mnl_attr_nest_end(nlh, t);
  nlattr* f = mnl_attr_nest_start(nlh, CTA_FILTER);
  mnl_attr_put_u32(nlh, CTA_FILTER_ORIG_FLAGS, kFilterIpDst);
  mnl_attr_put_u32(nlh, CTA_FILTER_REPLY_FLAGS, 0);
  mnl_attr_nest_end(nlh, f);
}

// Attribute table of one level: tb[type] for every type below N.
template <size_t N>
struct Attrs {
  std::array<const nlattr*, N> tb{};
  static int add(const nlattr* a, void* data) {
    auto* self = static_cast<Attrs*>(data);
    uint16_t type = mnl_attr_get_type(a);
    if (type < N) self->tb[type] = a;
    return MNL_CB_OK;
  }
  // Up to nlmsg_len, not to its aligned end as mnl_attr_parse() walks: the
  // last message of a datagram may end unaligned, at the datagram's end.
  bool parse(const nlmsghdr* nlh) {
    auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, sizeof(nfgenmsg)));
    auto* end = reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len;
    for (; mnl_attr_ok(a, static_cast<int>(end - reinterpret_cast<const char*>(a))); a = mnl_attr_next(a)) add(a, this);
    return true;
  }
  bool parse(const nlattr* nest) { return mnl_attr_parse_nested(nest, add, this) >= MNL_CB_STOP; }
  const nlattr* operator[](size_t i) const { return tb[i]; }
};

// Appends an attribute as it came, header and flags included.
void put_raw(nlmsghdr* nlh, const nlattr* a) {
  size_t len = MNL_ALIGN(a->nla_len);
  std::memcpy(mnl_nlmsg_get_payload_tail(nlh), a, a->nla_len);
  std::memset(static_cast<char*>(mnl_nlmsg_get_payload_tail(nlh)) + a->nla_len, 0, len - a->nla_len);
  nlh->nlmsg_len += static_cast<uint32_t>(len);
}

bool is_conntrack_msg(const nlmsghdr* nlh) {
  return (nlh->nlmsg_type >> 8) == NFNL_SUBSYS_CTNETLINK &&
         nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(nfgenmsg));
}

}  // namespace

size_t put_dump(void* buf, size_t room, uint32_t seq, Family family, const IpAddress* dst) {
  if (room < kDumpMax) return 0;
  nlmsghdr* nlh = start(buf, IPCTNL_MSG_CT_GET, NLM_F_REQUEST | NLM_F_DUMP, seq, static_cast<uint8_t>(family));
  if (dst) put_destination_filter(nlh, *dst);
  return nlh->nlmsg_len;
}

size_t put_flush(void* buf, size_t room, uint32_t seq, const IpAddress& dst) {
  if (room < kDumpMax) return 0;
  nlmsghdr* nlh = start(buf, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, seq,
                        static_cast<uint8_t>(dst.is_v4() ? Family::v4 : Family::v6));
  // A non-zero version tells the flush path the family is meant: without it
  // ctnetlink flushes all families and cannot read the tuple's address.
  static_cast<nfgenmsg*>(mnl_nlmsg_get_payload(nlh))->version = 1;
  put_destination_filter(nlh, dst);
  return nlh->nlmsg_len;
}

size_t put_mark_flush(void* buf, size_t room, uint32_t seq, uint32_t mark, uint32_t mask) {
  if (room < kDumpMax) return 0;
  // AF_UNSPEC: the filter matches entries of every family (version 0 says
  // the same; a non-zero one would restrict the flush to nfgen_family).
  nlmsghdr* nlh = start(buf, IPCTNL_MSG_CT_DELETE, NLM_F_REQUEST | NLM_F_ACK, seq, AF_UNSPEC);
  mnl_attr_put_u32(nlh, CTA_MARK, htonl(mark));
  mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
  return nlh->nlmsg_len;
}

size_t put_delete_of(void* buf, size_t room, uint32_t seq, const nlmsghdr* dumped, bool ack) {
  if (!is_conntrack_msg(dumped)) return 0;
  Attrs<CTA_MAX + 1> top;
  if (!top.parse(dumped) || !top[CTA_TUPLE_ORIG]) return 0;
  size_t need = MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(nfgenmsg)) + MNL_ALIGN(top[CTA_TUPLE_ORIG]->nla_len);
  if (top[CTA_ZONE]) need += MNL_ALIGN(top[CTA_ZONE]->nla_len);
  if (top[CTA_ID]) need += MNL_ALIGN(top[CTA_ID]->nla_len);
  if (room < need) return 0;
  auto* nfg = static_cast<const nfgenmsg*>(mnl_nlmsg_get_payload(dumped));
  uint16_t flags = NLM_F_REQUEST | (ack ? NLM_F_ACK : 0);
  nlmsghdr* nlh = start(buf, IPCTNL_MSG_CT_DELETE, flags, seq, nfg->nfgen_family);
  put_raw(nlh, top[CTA_TUPLE_ORIG]);
  if (top[CTA_ZONE]) put_raw(nlh, top[CTA_ZONE]);
  // The id names the very entry we saw, so one created since with the same
  // tuple (the client's next packet, already through the new mapping) is
  // mostly left alone. Mostly: the kernel derives the id from the entry's
  // address and tuple, and its slab may hand a recycled object the same id.
  // Deleting such a fresh entry costs the flow nothing but a new lookup.
  if (top[CTA_ID]) put_raw(nlh, top[CTA_ID]);
  return nlh->nlmsg_len;
}

size_t put_create_udp(void* buf, size_t room, uint32_t seq, const UdpFlow& flow,
                      std::chrono::seconds timeout, bool ack) {
  if (room < kCreateMax || flow.src.family() != flow.dst.family()) return 0;
  uint16_t flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | (ack ? NLM_F_ACK : 0);
  nlmsghdr* nlh = start(buf, IPCTNL_MSG_CT_NEW, flags, seq, static_cast<uint8_t>(flow.src.af()));
  put_udp_tuple(nlh, CTA_TUPLE_ORIG, flow.src, flow.dst, flow.sport, flow.dport);
  put_udp_tuple(nlh, CTA_TUPLE_REPLY, flow.dst, flow.src, flow.dport, flow.sport);
  mnl_attr_put_u32(nlh, CTA_TIMEOUT, htonl(static_cast<uint32_t>(timeout.count())));
  if (flow.mark) mnl_attr_put_u32(nlh, CTA_MARK, htonl(flow.mark));
  return nlh->nlmsg_len;
}

size_t put_get_stats(void* buf, size_t room, uint32_t seq) {
  if (room < kStatsMax) return 0;
  return start(buf, IPCTNL_MSG_CT_GET_STATS, NLM_F_REQUEST | NLM_F_ACK, seq, AF_UNSPEC)->nlmsg_len;
}

std::optional<IpAddress> orig_dst(const nlmsghdr* dumped) {
  if (!is_conntrack_msg(dumped)) return std::nullopt;
  Attrs<CTA_MAX + 1> top;
  if (!top.parse(dumped) || !top[CTA_TUPLE_ORIG]) return std::nullopt;
  Attrs<CTA_TUPLE_MAX + 1> tuple;
  if (!tuple.parse(top[CTA_TUPLE_ORIG]) || !tuple[CTA_TUPLE_IP]) return std::nullopt;
  Attrs<CTA_IP_MAX + 1> ip;
  if (!ip.parse(tuple[CTA_TUPLE_IP])) return std::nullopt;
  const nlattr* dst = ip[CTA_IP_V4_DST] ? ip[CTA_IP_V4_DST] : ip[CTA_IP_V6_DST];
  if (!dst) return std::nullopt;
  auto a = IpAddress::from_bytes(mnl_attr_get_payload(dst), mnl_attr_get_payload_len(dst));
  if (!a) return std::nullopt;
  return *a;
}

std::optional<uint32_t> stats_entries(const nlmsghdr* answer) {
  if (!is_conntrack_msg(answer)) return std::nullopt;
  Attrs<CTA_STATS_GLOBAL_MAX + 1> top;
  if (!top.parse(answer) || !top[CTA_STATS_GLOBAL_ENTRIES]) return std::nullopt;
  if (mnl_attr_validate(top[CTA_STATS_GLOBAL_ENTRIES], MNL_TYPE_U32) < 0) return std::nullopt;
  return ntohl(mnl_attr_get_u32(top[CTA_STATS_GLOBAL_ENTRIES]));
}

}  // namespace fipd::nl::ct
