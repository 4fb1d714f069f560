// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the nf_tables decoders, fed any bytes as a netlink
// datagram from the kernel: the monitor's notifications (decode_nft, for
// the watched table and for every event it yields, describe()), the
// element dump (parse_element_message, then decode_elements for every set
// shape), GETTABLE's answer, and the extended ACK of an error. None may
// read outside a message or crash, whatever the lengths say.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "netlink/nft_encode.hpp"
#include "netlink/socket.hpp"
#include "tests/fuzz/netlink_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fipd::nl;
  static const NftWatch watch{.table = "fipd"};
  fipd::fuzz::for_each_fuzzed_message(data, size, [](const nlmsghdr* msg) {
    std::vector<MonitorEvent> events;
    auto st = decode_nft(msg, watch, events);
    if (!st && st.error().context.empty()) std::abort();
    for (const auto& e : events)
      if (describe(e).empty()) std::abort();
    std::vector<nft::RawElement> raw;
    (void)nft::parse_element_message(msg, raw);
    for (const auto& r : raw)
      if (r.key_len > r.key.size() || r.data_len > r.data.size()) std::abort();
    for (size_t s = 0; s < nft::kSetCount; ++s) {
      auto elements = nft::decode_elements(static_cast<nft::SetId>(s), raw);
      if (!elements && elements.error().context.empty()) std::abort();
    }
    (void)nft::parse_table_message(msg);
    (void)extack_message(msg);
  });
  return 0;
}
