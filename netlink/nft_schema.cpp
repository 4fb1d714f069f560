// SPDX-License-Identifier: GPL-2.0-or-later
#include "netlink/nft_schema.hpp"

// Before the kernel headers: <linux/netfilter.h> pulls <linux/in.h>, which
// steps aside only when glibc's definitions are already there.
#include <netinet/in.h>

#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include <memory>
#include <optional>

#include "netlink/nft.hpp"

namespace fipd::nl::nft {

namespace {

// nft's datatype numbers (nftables src/datatype.h), which `nft list` uses to
// print keys; a concatenation's type is its parts' types, 6 bits each.
constexpr uint32_t kTypeIpAddr = 7;
constexpr uint32_t kTypeIp6Addr = 8;
constexpr uint32_t kTypeInetService = 13;
constexpr uint32_t kTypeMark = 19;
constexpr uint32_t kByteorderHost = 1;  // nft's BYTEORDER_HOST_ENDIAN
constexpr uint32_t concat_type(uint32_t a, uint32_t b) { return a << 6 | b; }

// Hook priorities as nft names them (raw, dstnat, srcnat, filter): the
// values of NF_IP_PRI_*, whose header clashes with <netinet/in.h>.
constexpr int32_t kPrioRaw = -300;
constexpr int32_t kPrioDstNat = -100;
constexpr int32_t kPrioSrcNat = 100;
constexpr int32_t kPrioFilter = 0;

// The scratch room one libnftnl message may take; libnftnl's builders do not
// check bounds, so every message gets this much before it is built.
constexpr size_t kMaxSchemaMessage = 8192;

struct TableFree { void operator()(nftnl_table* p) const { nftnl_table_free(p); } };
struct UdataFree { void operator()(nftnl_udata_buf* p) const { nftnl_udata_buf_free(p); } };
struct ChainFree { void operator()(nftnl_chain* p) const { nftnl_chain_free(p); } };
struct SetFree { void operator()(nftnl_set* p) const { nftnl_set_free(p); } };
struct RuleFree { void operator()(nftnl_rule* p) const { nftnl_rule_free(p); } };

// Where a family keeps its addresses, and which of fipd's sets it uses.
struct Layout {
  uint8_t nfproto;
  uint32_t saddr, daddr, addr_len;  // network header offsets and length
  uint32_t csum_type, csum_offset;  // IPv4 has a header checksum, IPv6 none
  uint32_t port_reg;                // the register after the address, for concatenation
  Family family;
};
constexpr Layout kV4{NFPROTO_IPV4, 12, 16, 4, NFT_PAYLOAD_CSUM_INET, 10, NFT_REG32_01, Family::v4};
constexpr Layout kV6{NFPROTO_IPV6, 8, 24, 16, NFT_PAYLOAD_CSUM_NONE, 0, NFT_REG_2, Family::v6};

const char* name_of(SetId id) { return set_info(id).name.data(); }  // the names are literals

// Builds one rule's expressions. An allocation failure is remembered and
// reported by ok(), so the chain of calls needs no checks of its own.
class RuleBuilder {
 public:
  RuleBuilder(const std::string& table, std::string_view chain) : rule_(nftnl_rule_alloc()) {
    if (!rule_) return;
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_TABLE, table.c_str());
    nftnl_rule_set_str(rule_.get(), NFTNL_RULE_CHAIN, std::string(chain).c_str());
  }
  bool ok() const { return rule_ && ok_; }
  nftnl_rule* get() const { return rule_.get(); }

  RuleBuilder& meta(uint32_t key) {
    if (auto* e = expr("meta")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
      nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
    }
    return *this;
  }
  RuleBuilder& meta_is(uint32_t key, uint8_t value) {
    meta(key);
    if (auto* e = expr("cmp")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
      nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
      nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &value, sizeof(value));
    }
    return *this;
  }
  RuleBuilder& family_is(const Layout& l) { return meta_is(NFT_META_NFPROTO, l.nfproto); }
  RuleBuilder& load(uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg = NFT_REG_1) {
    if (auto* e = expr("payload")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
    }
    return *this;
  }
  RuleBuilder& load_addr(const Layout& l, uint32_t offset) {
    return load(NFT_PAYLOAD_NETWORK_HEADER, offset, l.addr_len);
  }
  RuleBuilder& lookup(const char* set, bool map = false) {
    if (auto* e = expr("lookup")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
      if (map) nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
      nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
    }
    return *this;
  }
  RuleBuilder& map(SetId id) { return lookup(name_of(id), true); }
  // The conntrack entry's mark from register 1 (the packet's entry: a nat
  // chain sees it before it is confirmed).
  RuleBuilder& set_ct_mark() {
    if (auto* e = expr("ct")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
      nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
    }
    return *this;
  }
  RuleBuilder& notrack() {
    expr("notrack");
    return *this;
  }
  // Writes register 1 over an address, fixing the IPv4 header checksum and
  // the TCP/UDP checksum (the pseudo-header holds the address), as nft does.
  RuleBuilder& write_addr(const Layout& l, uint32_t offset) {
    if (auto* e = expr("payload")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_SREG, NFT_REG_1);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_NETWORK_HEADER);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, l.addr_len);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_CSUM_TYPE, l.csum_type);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_CSUM_OFFSET, l.csum_offset);
      nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_FLAGS, NFT_PAYLOAD_L4CSUM_PSEUDOHDR);
    }
    return *this;
  }
  RuleBuilder& nat(uint32_t type, const Layout& l) {
    if (auto* e = expr("nat")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, type);
      nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, l.nfproto);
      nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
    }
    return *this;
  }
  RuleBuilder& verdict(int v) {
    if (auto* e = expr("immediate")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
      nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, static_cast<uint32_t>(v));
    }
    return *this;
  }
  // TCP is refused with a reset, anything else with an ICMP error. A reset
  // is not an ICMP message, so no rate limit holds it back (the kernel's ICMP
  // budget is shared by every namespace), and connect() fails on the first
  // SYN instead of waiting for a retransmission.
  RuleBuilder& reject(bool tcp) {
    if (auto* e = expr("reject")) {
      nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, tcp ? NFT_REJECT_TCP_RST : NFT_REJECT_ICMPX_UNREACH);
      nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, tcp ? 0 : NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
    }
    return *this;
  }

 private:
  nftnl_expr* expr(const char* name) {
    if (!ok()) return nullptr;
    nftnl_expr* e = nftnl_expr_alloc(name);
    if (!e) {
      ok_ = false;
      return nullptr;
    }
    nftnl_rule_add_expr(rule_.get(), e);  // the rule owns it from here
    return e;
  }
  std::unique_ptr<nftnl_rule, RuleFree> rule_;
  bool ok_ = true;
};

struct SetDef {
  SetId id;
  uint32_t key_type, key_len;
  uint32_t data_type, data_len;  // maps only
  uint32_t flags;
};

SetDef set_def(SetId id) {
  const SetInfo& info = set_info(id);
  bool v4 = info.family == Family::v4;
  uint32_t addr_type = v4 ? kTypeIpAddr : kTypeIp6Addr;
  uint32_t addr_len = v4 ? 4 : 16;
  switch (info.kind) {
    case SetKind::address_map: return {id, addr_type, addr_len, addr_type, addr_len, NFT_SET_MAP};
    case SetKind::address_set: return {id, addr_type, addr_len, 0, 0, 0};
    case SetKind::endpoint_set:  // each part of a concatenation takes 4-byte registers
      return {id, concat_type(addr_type, kTypeInetService), addr_len + 4, 0, 0, 0};
    case SetKind::prefix_set: return {id, addr_type, addr_len, 0, 0, NFT_SET_INTERVAL};
    case SetKind::mark_map: return {id, addr_type, addr_len, kTypeMark, 4, NFT_SET_MAP};
  }
  return {};
}

// Writes messages into the buffer, one sequence number each.
class SchemaWriter {
 public:
  SchemaWriter(MessageBuffer& buf, std::string_view table, uint32_t seq)
      : buf_(buf), table_(table), seq_(seq) {}

  std::vector<std::string> what;

  Status table(uint32_t flags);
  Status set(const SetDef& def, uint32_t set_id);
  Status chain(std::string_view name, uint32_t hook, int32_t prio, const char* type);
  Status flush(std::string_view chain);
  Status rule(const RuleBuilder& r, std::string_view chain);
  // Asks for an ACK of the last message written.
  void ack_last() {
    if (!what.empty()) buf_.message_at(last_)->nlmsg_flags |= NLM_F_ACK;
  }

 private:
  nlmsghdr* start(uint16_t type, uint16_t flags) {
    return nftnl_nlmsg_build_hdr(buf_.reserve(kMaxSchemaMessage), type, NFPROTO_INET, flags, seq_++);
  }
  void finish(nlmsghdr* nlh, std::string description) {
    last_ = buf_.size();  // an offset: the buffer may move as it grows
    buf_.finish_message(nlh);
    what.push_back(std::move(description));
  }
  MessageBuffer& buf_;
  std::string table_;
  uint32_t seq_;
  size_t last_ = 0;
};

Status SchemaWriter::table(uint32_t flags) {
  std::unique_ptr<nftnl_table, TableFree> t(nftnl_table_alloc());
  if (!t) return fail(ENOMEM, "allocate table " + table_);
  nftnl_table_set_str(t.get(), NFTNL_TABLE_NAME, table_.c_str());
  nftnl_table_set_u32(t.get(), NFTNL_TABLE_FLAGS, flags);
  nlmsghdr* nlh = start(NFT_MSG_NEWTABLE, NLM_F_CREATE);
  nftnl_table_nlmsg_build_payload(nlh, t.get());
  std::string f = flags == (kTableFlagOwner | kTableFlagPersist) ? " with flags owner, persist" : "";
  finish(nlh, "create table inet " + table_ + f);
  return {};
}

Status SchemaWriter::set(const SetDef& def, uint32_t set_id) {
  std::unique_ptr<nftnl_set, SetFree> s(nftnl_set_alloc());
  if (!s) return fail(ENOMEM, "allocate set");
  nftnl_set_set_str(s.get(), NFTNL_SET_TABLE, table_.c_str());
  nftnl_set_set_str(s.get(), NFTNL_SET_NAME, name_of(def.id));
  nftnl_set_set_u32(s.get(), NFTNL_SET_FLAGS, def.flags);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_TYPE, def.key_type);
  nftnl_set_set_u32(s.get(), NFTNL_SET_KEY_LEN, def.key_len);
  if (def.flags & NFT_SET_MAP) {
    nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_TYPE, def.data_type);
    nftnl_set_set_u32(s.get(), NFTNL_SET_DATA_LEN, def.data_len);
  }
  nftnl_set_set_u32(s.get(), NFTNL_SET_ID, set_id);
  // A mark is a register's u32 in host order; nft reads the data's byte
  // order from the set's user data (as nft itself writes it) and, without
  // it, would list every mark byte-swapped.
  std::unique_ptr<nftnl_udata_buf, UdataFree> udata;
  if (def.data_type == kTypeMark) {
    udata.reset(nftnl_udata_buf_alloc(64));
    if (!udata || !nftnl_udata_put_u32(udata.get(), NFTNL_UDATA_SET_DATABYTEORDER, kByteorderHost))
      return fail(ENOMEM, "allocate the user data of map " + std::string(name_of(def.id)));
    nftnl_set_set_data(s.get(), NFTNL_SET_USERDATA, nftnl_udata_buf_data(udata.get()),
                       nftnl_udata_buf_len(udata.get()));
  }
  // Without NLM_F_EXCL an existing set is kept as it is, elements and all.
  nlmsghdr* nlh = start(NFT_MSG_NEWSET, NLM_F_CREATE);
  nftnl_set_nlmsg_build_payload(nlh, s.get());
  finish(nlh, "create " + std::string(set_noun(def.id)) + " " + name_of(def.id));
  return {};
}

Status SchemaWriter::chain(std::string_view name, uint32_t hook, int32_t prio, const char* type) {
  std::unique_ptr<nftnl_chain, ChainFree> c(nftnl_chain_alloc());
  if (!c) return fail(ENOMEM, "allocate chain");
  std::string n(name);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TABLE, table_.c_str());
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_NAME, n.c_str());
  nftnl_chain_set_u32(c.get(), NFTNL_CHAIN_HOOKNUM, hook);
  nftnl_chain_set_s32(c.get(), NFTNL_CHAIN_PRIO, prio);
  nftnl_chain_set_str(c.get(), NFTNL_CHAIN_TYPE, type);
  nlmsghdr* nlh = start(NFT_MSG_NEWCHAIN, NLM_F_CREATE);
  nftnl_chain_nlmsg_build_payload(nlh, c.get());
  finish(nlh, "create chain " + n);
  return {};
}

Status SchemaWriter::flush(std::string_view chain) {
  RuleBuilder r(table_, chain);  // a DELRULE without a handle empties the chain
  if (!r.ok()) return fail(ENOMEM, "allocate rule");
  nlmsghdr* nlh = start(NFT_MSG_DELRULE, 0);
  nftnl_rule_nlmsg_build_payload(nlh, r.get());
  finish(nlh, "flush chain " + std::string(chain));
  return {};
}

Status SchemaWriter::rule(const RuleBuilder& r, std::string_view chain) {
  if (!r.ok()) return fail(ENOMEM, "build a rule for chain " + std::string(chain));
  nlmsghdr* nlh = start(NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND);
  nftnl_rule_nlmsg_build_payload(nlh, r.get());
  finish(nlh, "add rule to chain " + std::string(chain));
  return {};
}

// The rules of each chain (see the design note in nft.hpp).
Status put_rules(SchemaWriter& w, const std::string& table) {
  for (const Layout* l : {&kV4, &kV6}) {
    Family f = l->family;
    RuleBuilder to_fip(table, "raw_pre");
    to_fip.family_is(*l).load_addr(*l, l->daddr).lookup(name_of(stateless_fips(f))).notrack();
    to_fip.load_addr(*l, l->daddr).map(dnat_map(f)).write_addr(*l, l->daddr);
    RuleBuilder from_srv(table, "raw_pre");
    from_srv.family_is(*l).load_addr(*l, l->saddr).lookup(name_of(stateless_servers(f))).notrack();
    for (auto* r : {&to_fip, &from_srv})
      if (auto s = w.rule(*r, "raw_pre"); !s) return s;
  }
  for (const Layout* l : {&kV4, &kV6}) {
    Family f = l->family;
    RuleBuilder r(table, "stateless_post");
    r.family_is(*l).load_addr(*l, l->saddr).lookup(name_of(stateless_servers(f)));
    r.load_addr(*l, l->saddr).map(snat_map(f)).write_addr(*l, l->saddr);
    if (auto s = w.rule(r, "stateless_post"); !s) return s;
  }
  for (const Layout* l : {&kV4, &kV6}) {
    // Before the dnat, which ends the chain: the mark names the server the
    // flow is sent to (a key without a mark element leaves the mark alone).
    RuleBuilder mark(table, "nat_pre");
    mark.family_is(*l).load_addr(*l, l->daddr).map(fipmark_map(l->family)).set_ct_mark();
    RuleBuilder r(table, "nat_pre");
    r.family_is(*l).load_addr(*l, l->daddr).map(dnat_map(l->family)).nat(NFT_NAT_DNAT, *l);
    for (auto* rule : {&mark, &r})
      if (auto s = w.rule(*rule, "nat_pre"); !s) return s;
  }
  for (const Layout* l : {&kV4, &kV6}) {
    RuleBuilder r(table, "nat_post");
    r.family_is(*l).load_addr(*l, l->saddr).map(snat_map(l->family)).nat(NFT_NAT_SNAT, *l);
    if (auto s = w.rule(r, "nat_post"); !s) return s;
  }
  for (const Layout* l : {&kV4, &kV6}) {
    RuleBuilder r(table, "lockout");
    r.family_is(*l).load_addr(*l, l->saddr).lookup(name_of(mgmt_set(l->family))).verdict(NFT_RETURN);
    if (auto s = w.rule(r, "lockout"); !s) return s;
  }
  for (const Layout* l : {&kV4, &kV6}) {
    for (uint8_t proto : {uint8_t{IPPROTO_TCP}, uint8_t{IPPROTO_UDP}}) {
      RuleBuilder r(table, "lockout");
      r.meta_is(NFT_META_L4PROTO, proto);
      r.family_is(*l).load_addr(*l, l->daddr).load(NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, l->port_reg);
      r.lookup(name_of(lockout_set(l->family))).reject(proto == IPPROTO_TCP);
      if (auto s = w.rule(r, "lockout"); !s) return s;
    }
  }
  return {};
}

struct ChainDef {
  std::string_view name;
  uint32_t hook;
  int32_t prio;
  const char* type;
};
constexpr ChainDef kChains[] = {
    {"raw_pre", NF_INET_PRE_ROUTING, kPrioRaw, "filter"},
    {"stateless_post", NF_INET_POST_ROUTING, kPrioSrcNat, "filter"},
    {"nat_pre", NF_INET_PRE_ROUTING, kPrioDstNat, "nat"},
    {"nat_post", NF_INET_POST_ROUTING, kPrioSrcNat, "nat"},
    {"lockout", NF_INET_FORWARD, kPrioFilter, "filter"},
};

}  // namespace

const std::vector<std::string_view>& schema_chains() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const ChainDef& c : kChains) v.push_back(c.name);
    return v;
  }();
  return names;
}

Result<std::vector<std::string>> put_schema(MessageBuffer& buf, std::string_view table,
                                            uint32_t table_flags, uint32_t first_seq) {
  SchemaWriter w(buf, table, first_seq);
  std::string table_name(table);
  if (auto s = w.table(table_flags); !s) return std::unexpected(s.error());
  uint32_t set_id = 1;
  for (size_t i = 0; i < kSetCount; ++i)
    if (auto s = w.set(set_def(static_cast<SetId>(i)), set_id++); !s) return std::unexpected(s.error());
  for (const ChainDef& c : kChains)
    if (auto s = w.chain(c.name, c.hook, c.prio, c.type); !s) return std::unexpected(s.error());
  // Flushed and refilled in the same transaction: the chains are never seen
  // empty, and a second ensure() leaves exactly one copy of each rule.
  for (const ChainDef& c : kChains)
    if (auto s = w.flush(c.name); !s) return std::unexpected(s.error());
  if (auto s = put_rules(w, table_name); !s) return std::unexpected(s.error());
  w.ack_last();
  return std::move(w.what);
}

}  // namespace fipd::nl::nft
