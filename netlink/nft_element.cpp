// SPDX-License-Identifier: GPL-2.0-or-later
// The table's sets, their elements, and the checks a batch makes before
// anything reaches the kernel.
#include <array>
#include <cstdio>

#include "netlink/nft.hpp"

namespace fipd::nl::nft {

namespace {

using enum SetKind;
constexpr Family v4 = Family::v4;
constexpr Family v6 = Family::v6;

// Indexed by SetId.
constexpr std::array<SetInfo, kSetCount> kSets{{
    {"dnat4", v4, address_map},
    {"dnat6", v6, address_map},
    {"snat4", v4, address_map},
    {"snat6", v6, address_map},
    {"stateless_fip4", v4, address_set},
    {"stateless_fip6", v6, address_set},
    {"stateless_srv4", v4, address_set},
    {"stateless_srv6", v6, address_set},
    {"lockout4", v4, endpoint_set},
    {"lockout6", v6, endpoint_set},
    {"mgmt4", v4, prefix_set},
    {"mgmt6", v6, prefix_set},
    {"fipmark4", v4, mark_map},
    {"fipmark6", v6, mark_map},
}};

const char* kind_name(SetKind k) {
  switch (k) {
    case address_map: return "a mapping";
    case address_set: return "an address";
    case endpoint_set: return "an address . port";
    case prefix_set: return "a prefix";
    case mark_map: return "an address : mark";
  }
  return "?";
}

bool is_map(SetKind k) { return k == address_map || k == mark_map; }

// True when the address has no bit set past the first `len`.
bool host_bits_clear(const IpAddress& a, unsigned len) {
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned first_bit = static_cast<unsigned>(i) * 8;
    uint8_t mask = 0xff;
    if (len > first_bit) mask = len >= first_bit + 8 ? 0 : static_cast<uint8_t>(0xff >> (len - first_bit));
    if (a.data()[i] & mask) return false;
  }
  return true;
}

Error refuse(SetId set, const Element& e, const std::string& why) {
  return Error{EINVAL, "element " + e.str() + " refused for " + std::string(set_noun(set)) + " " +
                           std::string(set_info(set).name) + ": " + why};
}

// Checks that `e` fits `set` for `op`; nothing here talks to the kernel.
std::optional<Error> check(SetId set, ElementOp op, const Element& e) {
  const SetInfo& info = set_info(set);
  bool shape_ok = e.kind == info.kind ||
                  (op == ElementOp::remove && is_map(info.kind) && e.kind == address_set);
  if (!shape_ok)
    return refuse(set, e, std::string(kind_name(e.kind)) + " where " + kind_name(info.kind) + " belongs");
  if (e.key.family() != info.family)
    return refuse(set, e, std::string(family_name(e.key.family())) + " key, " +
                              family_name(info.family) + " " + std::string(set_noun(set)));
  if (e.kind == address_map && op == ElementOp::add && e.value.family() != info.family)
    return refuse(set, e, std::string(family_name(e.value.family())) + " value, " +
                              family_name(info.family) + " map");
  // Mark 0 is every unmarked entry's: dropping by it would drop them all.
  if (e.kind == mark_map && op == ElementOp::add && e.mark == 0) return refuse(set, e, "mark 0 marks nothing");
  if (e.kind == prefix_set) {
    if (e.prefix_len > e.key.max_prefix())
      return refuse(set, e, "prefix longer than " + std::to_string(e.key.max_prefix()));
    if (!host_bits_clear(e.key, e.prefix_len)) return refuse(set, e, "host bits set");
  }
  return std::nullopt;
}

}  // namespace

const SetInfo& set_info(SetId id) { return kSets[static_cast<size_t>(id)]; }

std::optional<SetId> find_set(std::string_view name) {
  for (size_t i = 0; i < kSets.size(); ++i)
    if (kSets[i].name == name) return static_cast<SetId>(i);
  return std::nullopt;
}

std::string_view set_noun(SetId id) { return is_map(set_info(id).kind) ? "map" : "set"; }

std::string Element::key_str() const {
  switch (kind) {
    case endpoint_set: return key.str() + " . " + std::to_string(port);
    case prefix_set: return key.str() + "/" + std::to_string(prefix_len);
    default: return key.str();
  }
}

std::string Element::str() const {
  if (kind == address_map) return key.str() + " : " + value.str();
  if (kind == mark_map) {
    char hex[11];
    std::snprintf(hex, sizeof(hex), "0x%08x", mark);
    return key.str() + " : " + hex;
  }
  return key_str();
}

Status ElementBatch::push(SetId set, ElementOp op, const Element& e) {
  if (auto err = check(set, op, e)) {
    if (!error_) error_ = *err;
    return std::unexpected(std::move(*err));
  }
  changes_.push_back({set, op, e});
  return {};
}

Status ElementBatch::add(SetId set, const Element& e) { return push(set, ElementOp::add, e); }

Status ElementBatch::remove(SetId set, const Element& e) { return push(set, ElementOp::remove, e); }

Status ElementBatch::replace(SetId map, const Element& mapping) {
  // Checked as an add first, so a bad value refuses the pair, not half of it.
  if (auto err = check(map, ElementOp::add, mapping)) {
    if (!error_) error_ = *err;
    return std::unexpected(std::move(*err));
  }
  changes_.push_back({map, ElementOp::remove, mapping});
  changes_.push_back({map, ElementOp::add, mapping});
  return {};
}

}  // namespace fipd::nl::nft
