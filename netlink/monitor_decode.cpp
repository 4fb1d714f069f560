// SPDX-License-Identifier: GPL-2.0-or-later
// Decoders of the monitor's notifications: pure functions over one message.
//
// Every length is checked before it is read: fixed headers against the
// payload length, attributes by mnl_attr_ok() (a truncated attribute ends the
// walk), and each attribute's payload against the size its type needs. Values
// are copied out with memcpy, never read through casted pointers, because a
// u64 attribute is only 4-byte aligned.
#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/neighbour.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/rtnetlink.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "netlink/monitor.hpp"

// Linux 6.3 added idempotent deletes; their notifications may carry the
// DESTROY type. Debian 12's headers predate them.
#ifndef NFT_MSG_DESTROYTABLE
#define NFT_MSG_DESTROYTABLE 26
#define NFT_MSG_DESTROYCHAIN 27
#define NFT_MSG_DESTROYRULE 28
#define NFT_MSG_DESTROYSET 29
#define NFT_MSG_DESTROYSETELEM 30
#endif

namespace fipd::nl {
namespace {

// Attributes of one level, indexed by type; types beyond N (newer kernels)
// are ignored.
template <size_t N>
struct Attrs {
  std::array<const nlattr*, N> at{};
  const nlattr* operator[](unsigned type) const { return type < N ? at[type] : nullptr; }
  void add(const nlattr* a) {
    if (auto t = mnl_attr_get_type(a); t < N) at[t] = a;
  }
};

// Calls fn for each attribute in [begin, end); a truncated one ends the walk.
// (libmnl's iteration macros rely on C's implicit void* conversions.)
template <class Fn>
void for_each_attr(const void* begin, const void* end, Fn&& fn) {
  for (auto* a = static_cast<const nlattr*>(begin);
       mnl_attr_ok(a, static_cast<int>(static_cast<const char*>(end) - reinterpret_cast<const char*>(a)));
       a = mnl_attr_next(a))
    fn(a);
}

template <size_t N>
Attrs<N> index_attrs(const nlmsghdr* msg, size_t header_len) {
  Attrs<N> attrs;
  // To nlmsg_len, not libmnl's aligned tail: the last message of a datagram
  // may end unaligned, at the datagram's end.
  for_each_attr(mnl_nlmsg_get_payload_offset(msg, header_len), reinterpret_cast<const char*>(msg) + msg->nlmsg_len,
                [&](const nlattr* a) { attrs.add(a); });
  return attrs;
}

template <class Fn>
void for_each_nested(const nlattr* nest, Fn&& fn) {
  auto* begin = static_cast<const char*>(mnl_attr_get_payload(nest));
  for_each_attr(begin, begin + mnl_attr_get_payload_len(nest), fn);
}

template <size_t N>
Attrs<N> index_nested(const nlattr* nest) {
  Attrs<N> attrs;
  for_each_nested(nest, [&](const nlattr* a) { attrs.add(a); });
  return attrs;
}

// The fixed header after nlmsghdr, copied out; nullopt when the payload is shorter.
template <class T>
std::optional<T> fixed_header(const nlmsghdr* msg) {
  if (mnl_nlmsg_get_payload_len(msg) < sizeof(T)) return std::nullopt;
  T h;
  std::memcpy(&h, mnl_nlmsg_get_payload(msg), sizeof(T));
  return h;
}

template <class T>
std::optional<T> attr_raw(const nlattr* a) {
  if (!a || mnl_attr_get_payload_len(a) < sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, mnl_attr_get_payload(a), sizeof(T));
  return v;
}

std::optional<uint32_t> attr_be32(const nlattr* a) {
  auto v = attr_raw<uint32_t>(a);
  return v ? std::optional(ntohl(*v)) : std::nullopt;
}

std::optional<uint64_t> attr_be64(const nlattr* a) {
  auto v = attr_raw<uint64_t>(a);
  return v ? std::optional(be64toh(*v)) : std::nullopt;
}

// Strings end at their NUL or at the attribute's end, whichever comes first.
std::optional<std::string_view> attr_str(const nlattr* a) {
  if (!a) return std::nullopt;
  auto* p = static_cast<const char*>(mnl_attr_get_payload(a));
  return std::string_view(p, strnlen(p, mnl_attr_get_payload_len(a)));
}

Result<IpAddress> attr_address(const nlattr* a, uint8_t family, const char* what) {
  auto addr = IpAddress::from_bytes(mnl_attr_get_payload(a), mnl_attr_get_payload_len(a));
  if (!addr || addr->af() != family)
    return fail(EBADMSG, std::string(what) + " of " + std::to_string(mnl_attr_get_payload_len(a)) +
                             " bytes in a family " + std::to_string(family) + " message");
  return addr;
}

std::unexpected<Error> malformed(const std::string& what) { return fail(EBADMSG, what); }

// ------------------------------------------------------------ nftables

// The watched table's name in `a`: false for another table, an Error when missing.
Result<bool> is_watched(const nlattr* a, const NftWatch& watch, const char* what) {
  auto name = attr_str(a);
  if (!name) return malformed(std::string(what) + " notification without a table name");
  return *name == watch.table;
}

// nft_data: a value (NFTA_DATA_VALUE) or a verdict; nullopt for a verdict.
Result<std::optional<NftData>> decode_data(const nlattr* nest, const char* what) {
  auto attrs = index_nested<NFTA_DATA_MAX + 1>(nest);
  if (auto* v = attrs[NFTA_DATA_VALUE]) {
    size_t len = mnl_attr_get_payload_len(v);
    if (len > sizeof(NftData{}.bytes))
      return malformed(std::string(what) + " of " + std::to_string(len) + " bytes");
    return NftData::from(mnl_attr_get_payload(v), len);
  }
  if (attrs[NFTA_DATA_VERDICT]) return std::optional<NftData>();
  return malformed(std::string(what) + " without a value");
}

// One NFTA_LIST_ELEM; nullopt for an interval's closing element.
template <class Event>
Result<std::optional<Event>> decode_element(const nlattr* elem, std::string_view set, uint32_t portid) {
  auto attrs = index_nested<NFTA_SET_ELEM_MAX + 1>(elem);
  uint32_t flags = attr_be32(attrs[NFTA_SET_ELEM_FLAGS]).value_or(0);
  if (flags & NFT_SET_ELEM_INTERVAL_END) return std::optional<Event>();
  Event ev{.set = std::string(set), .key = {}, .value = {}, .origin = {.portid = portid}};
  if (auto* key = attrs[NFTA_SET_ELEM_KEY]) {
    auto k = decode_data(key, "element key");
    if (!k) return std::unexpected(k.error());
    if (!*k) return malformed("element key of set " + std::string(set) + " is a verdict");
    ev.key = **k;
  } else if (!(flags & NFT_SET_ELEM_CATCHALL)) {
    return malformed("element of set " + std::string(set) + " without a key");
  }
  if (auto* data = attrs[NFTA_SET_ELEM_DATA]) {
    auto d = decode_data(data, "element value");
    if (!d) return std::unexpected(d.error());
    ev.value = *d;
  }
  return std::optional(std::move(ev));
}

template <class Event>
Status decode_elements(const nlmsghdr* msg, const NftWatch& watch, std::vector<MonitorEvent>& out) {
  auto attrs = index_attrs<NFTA_SET_ELEM_LIST_MAX + 1>(msg, sizeof(nfgenmsg));
  auto watched = is_watched(attrs[NFTA_SET_ELEM_LIST_TABLE], watch, "set element");
  if (!watched) return std::unexpected(watched.error());
  if (!*watched) return {};
  auto set = attr_str(attrs[NFTA_SET_ELEM_LIST_SET]);
  auto* list = attrs[NFTA_SET_ELEM_LIST_ELEMENTS];
  if (!set || !list) return malformed("set element notification without a set or elements");
  // Decode every element that can be; report the first fault afterwards.
  Status status;
  for_each_nested(list, [&](const nlattr* elem) {
    if (mnl_attr_get_type(elem) != NFTA_LIST_ELEM) return;
    auto ev = decode_element<Event>(elem, *set, msg->nlmsg_pid);
    if (!ev) {
      if (status) status = std::unexpected(ev.error());
    } else if (*ev) {
      out.emplace_back(std::move(**ev));
    }
  });
  return status;
}

Status decode_generation(const nlmsghdr* msg, std::vector<MonitorEvent>& out) {
  auto attrs = index_attrs<NFTA_GEN_MAX + 1>(msg, sizeof(nfgenmsg));
  auto id = attr_be32(attrs[NFTA_GEN_ID]);
  if (!id) return malformed("nftables generation notification without an id");
  NftOrigin origin{.portid = msg->nlmsg_pid, .generation = *id, .pid = {}, .process = {}};
  if (auto pid = attr_be32(attrs[NFTA_GEN_PROC_PID])) origin.pid = static_cast<pid_t>(*pid);
  if (auto name = attr_str(attrs[NFTA_GEN_PROC_NAME])) origin.process = *name;
  out.emplace_back(NftCommitted{std::move(origin)});
  return {};
}

// The name (chain, set) in `name` of an object of the watched table; nullopt
// for another table's.
Result<std::optional<std::string>> watched_name(const nlattr* table, const nlattr* name,
                                                const NftWatch& watch, const char* what) {
  auto watched = is_watched(table, watch, what);
  if (!watched) return std::unexpected(watched.error());
  if (!*watched) return std::optional<std::string>();
  auto n = attr_str(name);
  if (!n) return malformed(std::string(what) + " notification without a name");
  return std::optional(std::string(*n));
}

Status decode_table_deleted(const nlmsghdr* msg, const NftWatch& watch, std::vector<MonitorEvent>& out) {
  auto a = index_attrs<NFTA_TABLE_MAX + 1>(msg, sizeof(nfgenmsg));
  auto watched = is_watched(a[NFTA_TABLE_NAME], watch, "table");
  if (!watched) return std::unexpected(watched.error());
  if (*watched) out.emplace_back(NftTableDeleted{.origin = {.portid = msg->nlmsg_pid}});
  return {};
}

Status decode_chain_deleted(const nlmsghdr* msg, const NftWatch& watch, std::vector<MonitorEvent>& out) {
  auto a = index_attrs<NFTA_CHAIN_MAX + 1>(msg, sizeof(nfgenmsg));
  auto chain = watched_name(a[NFTA_CHAIN_TABLE], a[NFTA_CHAIN_NAME], watch, "chain");
  if (!chain) return std::unexpected(chain.error());
  if (*chain) out.emplace_back(NftChainDeleted{.chain = **chain, .origin = {.portid = msg->nlmsg_pid}});
  return {};
}

Status decode_rule_deleted(const nlmsghdr* msg, const NftWatch& watch, std::vector<MonitorEvent>& out) {
  auto a = index_attrs<NFTA_RULE_MAX + 1>(msg, sizeof(nfgenmsg));
  auto chain = watched_name(a[NFTA_RULE_TABLE], a[NFTA_RULE_CHAIN], watch, "rule");
  if (!chain) return std::unexpected(chain.error());
  if (*chain)
    out.emplace_back(NftRuleDeleted{.chain = **chain,
                                    .handle = attr_be64(a[NFTA_RULE_HANDLE]).value_or(0),
                                    .origin = {.portid = msg->nlmsg_pid}});
  return {};
}

Status decode_set_deleted(const nlmsghdr* msg, const NftWatch& watch, std::vector<MonitorEvent>& out) {
  auto a = index_attrs<NFTA_SET_MAX + 1>(msg, sizeof(nfgenmsg));
  auto set = watched_name(a[NFTA_SET_TABLE], a[NFTA_SET_NAME], watch, "set");
  if (!set) return std::unexpected(set.error());
  if (*set) out.emplace_back(NftSetDeleted{.set = **set, .origin = {.portid = msg->nlmsg_pid}});
  return {};
}

// ------------------------------------------------------------ route bus

NeighbourState state_of(uint16_t nud) {
  // One state at a time; test the ones that matter most first all the same.
  if (nud & NUD_FAILED) return NeighbourState::failed;
  if (nud & NUD_INCOMPLETE) return NeighbourState::incomplete;
  if (nud & NUD_REACHABLE) return NeighbourState::reachable;
  if (nud & NUD_STALE) return NeighbourState::stale;
  if (nud & NUD_DELAY) return NeighbourState::delay;
  if (nud & NUD_PROBE) return NeighbourState::probe;
  if (nud & NUD_PERMANENT) return NeighbourState::permanent;
  if (nud & NUD_NOARP) return NeighbourState::noarp;
  return NeighbourState::none;
}

IpAddress any_address(uint8_t family) {
  return family == AF_INET ? IpAddress::v4(in_addr{}) : IpAddress::v6(in6_addr{});
}

Result<std::optional<IpAddress>> route_gateway(const Attrs<RTA_MAX + 1>& a, uint8_t family) {
  if (auto* gw = a[RTA_GATEWAY]) {
    auto addr = attr_address(gw, family, "route gateway");
    if (!addr) return std::unexpected(addr.error());
    return std::optional(*addr);
  }
  // RTA_VIA: an IPv4 route through an IPv6 next hop (struct rtvia).
  if (auto* via = a[RTA_VIA]) {
    size_t len = mnl_attr_get_payload_len(via);
    if (len < sizeof(rtvia)) return malformed("route via shorter than its header");
    auto* v = static_cast<const uint8_t*>(mnl_attr_get_payload(via));
    auto addr = IpAddress::from_bytes(v + sizeof(rtvia), len - sizeof(rtvia));
    if (!addr) return malformed("route via of " + std::to_string(len) + " bytes");
    return std::optional(*addr);
  }
  return std::optional<IpAddress>();
}

}  // namespace

// ------------------------------------------------------------ public

NftData NftData::from(const void* data, size_t len) {
  NftData d;
  d.len = static_cast<uint8_t>(std::min(len, d.bytes.size()));
  std::memcpy(d.bytes.data(), data, d.len);
  const uint8_t* b = d.bytes.data();
  if (d.len == 4 || d.len == 16) {
    d.address = *IpAddress::from_bytes(b, d.len);
  } else if ((d.len == 8 || d.len == 20) && b[d.len - 2] == 0 && b[d.len - 1] == 0) {
    d.address = *IpAddress::from_bytes(b, d.len - 4);
    d.port = static_cast<uint16_t>(b[d.len - 4] << 8 | b[d.len - 3]);
  }
  return d;
}

std::string NftData::str() const {
  if (address) return port ? address->str() + " . " + std::to_string(*port) : address->str();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "0x";
  for (uint8_t i = 0; i < len; ++i) {
    s += kHex[bytes[i] >> 4];
    s += kHex[bytes[i] & 0xf];
  }
  return s;
}

void for_each_message(const void* datagram, size_t len, const std::function<void(const nlmsghdr*)>& fn) {
  auto* p = static_cast<const char*>(datagram);
  while (len >= sizeof(nlmsghdr)) {
    auto* msg = reinterpret_cast<const nlmsghdr*>(p);
    if (msg->nlmsg_len < sizeof(nlmsghdr) || msg->nlmsg_len > len) return;
    fn(msg);
    size_t step = std::min<size_t>(NLMSG_ALIGN(msg->nlmsg_len), len);
    p += step;
    len -= step;
  }
}

bool LinkInfo::carrier() const { return flags & IFF_LOWER_UP; }

Status decode_nft(const nlmsghdr* msg, const NftWatch& watch, std::vector<MonitorEvent>& out) {
  if ((msg->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) return {};
  auto gen = fixed_header<nfgenmsg>(msg);
  if (!gen) return malformed("nftables notification shorter than its header");
  uint8_t type = msg->nlmsg_type & 0xff;
  if (type == NFT_MSG_NEWGEN) return decode_generation(msg, out);
  if (gen->nfgen_family != watch.family) return {};
  switch (type) {
    case NFT_MSG_DELTABLE:
    case NFT_MSG_DESTROYTABLE:
      return decode_table_deleted(msg, watch, out);
    case NFT_MSG_DELCHAIN:
    case NFT_MSG_DESTROYCHAIN:
      return decode_chain_deleted(msg, watch, out);
    case NFT_MSG_DELRULE:
    case NFT_MSG_DESTROYRULE:
      return decode_rule_deleted(msg, watch, out);
    case NFT_MSG_DELSET:
    case NFT_MSG_DESTROYSET:
      return decode_set_deleted(msg, watch, out);
    case NFT_MSG_NEWSETELEM:
      return decode_elements<NftElementAdded>(msg, watch, out);
    case NFT_MSG_DELSETELEM:
    case NFT_MSG_DESTROYSETELEM:
      return decode_elements<NftElementDeleted>(msg, watch, out);
    default:
      return {};
  }
}

Result<std::optional<RouteChange>> decode_route(const nlmsghdr* msg) {
  if (msg->nlmsg_type != RTM_NEWROUTE && msg->nlmsg_type != RTM_DELROUTE) return std::nullopt;
  auto rt = fixed_header<rtmsg>(msg);
  if (!rt) return malformed("route notification shorter than its header");
  // Multicast, MPLS and cached (cloned) routes are not what fipd manages.
  if (rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) return std::nullopt;
  if (rt->rtm_flags & RTM_F_CLONED) return std::nullopt;
  auto a = index_attrs<RTA_MAX + 1>(msg, sizeof(rtmsg));
  RouteChange r{.deleted = msg->nlmsg_type == RTM_DELROUTE,
                .dst = any_address(rt->rtm_family),
                .prefix_len = rt->rtm_dst_len,
                .table = attr_raw<uint32_t>(a[RTA_TABLE]).value_or(rt->rtm_table),
                .protocol = rt->rtm_protocol,
                .type = rt->rtm_type,
                .scope = rt->rtm_scope,
                .gateway = {},
                .oif = static_cast<int>(attr_raw<uint32_t>(a[RTA_OIF]).value_or(0)),
                .priority = attr_raw<uint32_t>(a[RTA_PRIORITY]).value_or(0),
                .multipath = a[RTA_MULTIPATH] != nullptr,
                .portid = msg->nlmsg_pid};
  if (auto* dst = a[RTA_DST]) {
    auto addr = attr_address(dst, rt->rtm_family, "route destination");
    if (!addr) return std::unexpected(addr.error());
    r.dst = *addr;
  }
  if (r.prefix_len > r.dst.max_prefix())
    return malformed("route prefix length " + std::to_string(r.prefix_len));
  auto gw = route_gateway(a, rt->rtm_family);
  if (!gw) return std::unexpected(gw.error());
  r.gateway = *gw;
  return std::optional(r);
}

Result<std::optional<NeighbourChange>> decode_neighbour(const nlmsghdr* msg) {
  if (msg->nlmsg_type != RTM_NEWNEIGH && msg->nlmsg_type != RTM_DELNEIGH) return std::nullopt;
  auto nd = fixed_header<ndmsg>(msg);
  if (!nd) return malformed("neighbour notification shorter than its header");
  // Bridge FDB entries share the group; proxy entries are not neighbours.
  if (nd->ndm_family != AF_INET && nd->ndm_family != AF_INET6) return std::nullopt;
  if (nd->ndm_flags & NTF_PROXY) return std::nullopt;
  auto a = index_attrs<NDA_MAX + 1>(msg, sizeof(ndmsg));
  if (!a[NDA_DST]) return malformed("neighbour notification without an address");
  auto addr = attr_address(a[NDA_DST], nd->ndm_family, "neighbour address");
  if (!addr) return std::unexpected(addr.error());
  NeighbourChange n{.deleted = msg->nlmsg_type == RTM_DELNEIGH,
                    .address = *addr,
                    .ifindex = nd->ndm_ifindex,
                    .state = state_of(nd->ndm_state),
                    .nud = nd->ndm_state,
                    .lladdr = {},
                    .lladdr_len = 0,
                    .portid = msg->nlmsg_pid};
  if (auto* ll = a[NDA_LLADDR]) {
    size_t len = mnl_attr_get_payload_len(ll);
    if (len > n.lladdr.size()) return malformed("link-layer address of " + std::to_string(len) + " bytes");
    std::memcpy(n.lladdr.data(), mnl_attr_get_payload(ll), len);
    n.lladdr_len = static_cast<uint8_t>(len);
  }
  return std::optional(n);
}

Result<std::optional<LinkInfo>> decode_link(const nlmsghdr* msg) {
  if (msg->nlmsg_type != RTM_NEWLINK && msg->nlmsg_type != RTM_DELLINK) return std::nullopt;
  auto ifi = fixed_header<ifinfomsg>(msg);
  if (!ifi) return malformed("link notification shorter than its header");
  // AF_BRIDGE messages describe bridge ports, not the link itself.
  if (ifi->ifi_family != AF_UNSPEC) return std::nullopt;
  if (ifi->ifi_index <= 0) return malformed("link notification for ifindex " + std::to_string(ifi->ifi_index));
  auto a = index_attrs<IFLA_MAX + 1>(msg, sizeof(ifinfomsg));
  LinkInfo l{.deleted = msg->nlmsg_type == RTM_DELLINK,
             .ifindex = ifi->ifi_index,
             .name = std::string(attr_str(a[IFLA_IFNAME]).value_or("")),
             .flags = ifi->ifi_flags,
             .operstate = attr_raw<uint8_t>(a[IFLA_OPERSTATE]).value_or(IF_OPER_UNKNOWN)};
  return std::optional(std::move(l));
}

}  // namespace fipd::nl
