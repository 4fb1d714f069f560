// SPDX-License-Identifier: GPL-2.0-or-later
// Helpers shared by the nft tests: opening fipd's table inside a throwaway
// namespace, and reading it back with the independent tool, `nft -j`.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "netlink/nft.hpp"
#include "testbed/netns.hpp"

namespace fipd::testbed {

// Opens the table with its socket inside `ns` (the socket stays there).
inline Result<nl::nft::NftTable> open_table_in(const Netns& ns, nl::nft::TableOptions options = {}) {
  std::optional<Result<nl::nft::NftTable>> r;
  ns.enter([&] { r.emplace(nl::nft::NftTable::open(std::move(options))); });
  return std::move(*r);
}

// `nft -j list table inet NAME`, parsed; a JSON null when nft fails (no table).
inline nlohmann::json nft_list_table(const Netns& ns, const std::string& name = "fipd") {
  auto out = ns.run({"nft", "-j", "list", "table", "inet", name});
  if (!out) return nullptr;
  return nlohmann::json::parse(*out, nullptr, false);
}

// The objects of one kind ("set", "map", "chain", "rule", "table") in a listing.
inline std::vector<nlohmann::json> nft_objects(const nlohmann::json& listing, const std::string& kind) {
  std::vector<nlohmann::json> out;
  if (!listing.is_object() || !listing.contains("nftables")) return out;
  for (const auto& item : listing["nftables"])
    if (item.contains(kind)) out.push_back(item[kind]);
  return out;
}

// `nft list ...` as text, for comparing whole rulesets.
inline std::string nft_text(const Netns& ns, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"nft"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto out = ns.run(argv);
  return out ? *out : "error: " + out.error().message();
}

}  // namespace fipd::testbed
