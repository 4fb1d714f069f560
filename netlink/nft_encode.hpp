// SPDX-License-Identifier: GPL-2.0-or-later
// Encoders and decoders of the nf_tables messages that carry set elements.
//
// Pure functions: the encoders write into a caller's MessageBuffer and touch
// nothing else, the decoders read a message and return values, so both are
// tested byte for byte without a kernel (tests/netlink/nft_encode_test.cpp).
// Elements are encoded with libmnl directly rather than through libnftnl
// objects: the hot path (a repoint: four messages) then allocates nothing.
// The layout mirrors libnftnl's, attribute for attribute.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "netlink/nft.hpp"
#include "netlink/nft_message.hpp"

namespace fipd::nl::nft {

// Upper bound of one element message carrying `changes` changes.
size_t max_element_message_size(size_t changes);

void put_batch_begin(MessageBuffer& buf, uint32_t seq);
void put_batch_end(MessageBuffer& buf, uint32_t seq);

// At most this many changes travel in one message: the element list is one
// attribute, whose length field has 16 bits (a change takes at most 64 bytes).
inline constexpr size_t kMaxChangesPerMessage = 512;

// How many changes from the front of `changes` share one message: the run
// of consecutive changes to the same set with the same operation.
size_t message_run(std::span<const ElementChange> changes);

// One NEWSETELEM or DELSETELEM message carrying `changes`, which must all
// name the same set and operation (see message_run()); `ack` asks the kernel
// to acknowledge it even on success. Adds are exclusive (NLM_F_EXCL): an
// element already present is an error, not a silent no-op. A prefix is sent
// as nft sends intervals: its first address, and the first address past it
// flagged NFT_SET_ELEM_INTERVAL_END (omitted when the prefix reaches the top
// of the address space, which leaves the interval open-ended).
void put_element_changes(MessageBuffer& buf, std::string_view table, std::span<const ElementChange> changes,
                         uint32_t seq, bool ack);
inline void put_element_change(MessageBuffer& buf, std::string_view table, const ElementChange& change,
                               uint32_t seq, bool ack) {
  put_element_changes(buf, table, {&change, 1}, seq, ack);
}

// Where an extended ACK's offset points in a message we sent: the type of
// the top-level attribute holding it (0: none), and, inside the element
// list, which of the message's `changes` the failing entry belongs to.
struct FailedAttribute {
  uint16_t type = 0;
  std::optional<size_t> change;
};
FailedAttribute locate_offset(const nlmsghdr* nlh, std::span<const ElementChange> changes, uint32_t offset);

// A dump request for the elements of `set`.
void put_element_dump(MessageBuffer& buf, std::string_view table, SetId set, uint32_t seq);
// A GETTABLE request, answered with the table or ENOENT.
void put_table_get(MessageBuffer& buf, std::string_view table, uint32_t seq);

// One element as the kernel reports it in a dump.
struct RawElement {
  std::array<uint8_t, 20> key{};
  std::array<uint8_t, 16> data{};
  uint8_t key_len = 0;
  uint8_t data_len = 0;
  bool interval_end = false;
};

// Appends the elements of one NEWSETELEM message of a dump.
Status parse_element_message(const nlmsghdr* nlh, std::vector<RawElement>& out);
// Turns the raw elements of `set` into Elements: checks key and value sizes,
// and pairs interval starts with their ends into prefixes. An end without a
// start (nft's sentinel at address zero) is skipped; a range that is not a
// prefix is an error, since fipd never writes one.
Result<std::vector<Element>> decode_elements(SetId set, std::vector<RawElement> raw);

// The flags and owner of a NEWTABLE message (GETTABLE's answer).
TableState parse_table_message(const nlmsghdr* nlh);

}  // namespace fipd::nl::nft
