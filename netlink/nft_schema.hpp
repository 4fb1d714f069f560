// SPDX-License-Identifier: GPL-2.0-or-later
// The ensure() transaction: fipd's table, its sets and maps, its chains and
// their rules, as nf_tables messages (see the design note in nft.hpp).
//
// Built with libnftnl, which knows every expression's attributes; this path
// runs once per start, not per repoint. The expressions mirror, one for one,
// what `nft --debug=netlink` prints for the equivalent ruleset.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "netlink/nft_message.hpp"

namespace fipd::nl::nft {

// Appends the messages of the transaction (without the batch markers),
// numbered from `first_seq`, the last one asking for an ACK. Returns what
// each message does, in order, for error reports ("create map dnat4").
Result<std::vector<std::string>> put_schema(MessageBuffer& buf, std::string_view table,
                                            uint32_t table_flags, uint32_t first_seq);

// The chain names, in the order the transaction creates them.
const std::vector<std::string_view>& schema_chains();

}  // namespace fipd::nl::nft
