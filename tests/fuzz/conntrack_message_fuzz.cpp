// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the ctnetlink parsers, fed any bytes as a netlink
// datagram of a conntrack dump or a stats answer: orig_dst(),
// stats_entries(), and put_delete_of(), which copies a dumped entry's
// attributes into a delete request. That request, when one is built, must
// fit the room given and itself parse as a conntrack message with the same
// original destination.
#include <linux/netlink.h>

#include <cstdint>
#include <cstdlib>

#include "netlink/conntrack.hpp"
#include "tests/fuzz/netlink_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fipd::nl;
  fipd::fuzz::for_each_fuzzed_message(data, size, [](const nlmsghdr* msg) {
    auto dst = ct::orig_dst(msg);
    (void)ct::stats_entries(msg);
    // Room for any one message the walk can give, and a small room that
    // must be refused rather than overrun.
    alignas(nlmsghdr) static uint8_t out[70000];
    size_t n = ct::put_delete_of(out, sizeof out, 1, msg, true);
    if (n > sizeof out) std::abort();
    if (n) {
      auto* del = reinterpret_cast<const nlmsghdr*>(out);
      if (del->nlmsg_len != n) std::abort();
      if (ct::orig_dst(del) != dst) std::abort();
    }
    alignas(nlmsghdr) uint8_t small[32];
    if (ct::put_delete_of(small, sizeof small, 1, msg, true) > sizeof small) std::abort();
  });
  return 0;
}
