// SPDX-License-Identifier: GPL-2.0-or-later
// A growable buffer of netlink messages laid end to end, as the kernel reads
// a batch. Encoders write straight into its tail, so building a transaction
// costs no allocation once the buffer has grown to its working size.
#pragma once

#include <libmnl/libmnl.h>
#include <linux/netlink.h>

#include <cstddef>
#include <cstring>
#include <memory>

namespace fipd::nl::nft {

class MessageBuffer {
 public:
  // At least `n` writable bytes at the tail, valid until the next reserve().
  char* reserve(size_t n) {
    if (capacity_ - size_ < n) grow(size_ + n);
    return data_.get() + size_;
  }
  // Starts a message of at most `max_len` bytes at the tail.
  nlmsghdr* start_message(size_t max_len) { return mnl_nlmsg_put_header(reserve(max_len)); }
  // Takes the message just written at the tail into the buffer.
  void finish_message(const nlmsghdr* nlh) { size_ += NLMSG_ALIGN(nlh->nlmsg_len); }

  // A message already in the buffer, by its offset.
  nlmsghdr* message_at(size_t offset) { return reinterpret_cast<nlmsghdr*>(data_.get() + offset); }

  void clear() { size_ = 0; }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  void grow(size_t need) {
    size_t cap = capacity_ ? capacity_ : 4096;
    while (cap < need) cap *= 2;
    auto bigger = std::make_unique_for_overwrite<char[]>(cap);
    if (size_) std::memcpy(bigger.get(), data_.get(), size_);
    data_ = std::move(bigger);
    capacity_ = cap;
  }
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace fipd::nl::nft
