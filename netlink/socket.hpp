// SPDX-License-Identifier: GPL-2.0-or-later
// One netlink socket (libmnl), with sequence numbers, ACK collection and dumps.
//
// Why synchronous: a request to the kernel is processed inside the sendmsg()
// call itself, so by the time send() returns the ACKs are already queued on
// the socket. Reading them is a bounded, non-sleeping step (a few µs), and a
// synchronous API keeps every kernel write a function that returns its result.
// Only dumps of large tables (conntrack) are long, and those are bounded by the
// table size, not by anything remote. A missing reply is a bug, not a wait: it
// ends in ETIMEDOUT after `reply_timeout`, never in a hang.
//
// Owns: the libmnl socket and a receive buffer. Thread: whichever thread owns
// the object; not shared. Errors: Error values with the kernel's errno and,
// where the kernel gave one, its extended-ACK message.
#pragma once

#include <libmnl/libmnl.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.hpp"

namespace fipd::nl {

// One error ACK (NLMSG_ERROR): the errno, where in the request the kernel
// points, and its own words.
struct Ack {
  uint32_t seq = 0;
  int code = 0;          // positive errno; 0: success
  uint32_t offset = 0;   // NLMSGERR_ATTR_OFFS into the failed message; 0: none
  std::string kernel;    // NLMSGERR_ATTR_MSG, empty when the kernel gave none
};
Ack parse_ack(const nlmsghdr* error_msg);

// The answers to messages first..last (those that asked for an ACK, and the
// errors of any other).
struct AckWait {
  uint32_t first = 0, last = 0;
  int tolerated = 0;  // an errno that is counted, not an error (0: none)
  // The kernel answered all inside sendmsg() (an nft batch): then an empty
  // queue after an error, or after answers were dropped (ENOBUFS: reported
  // as `lost`, not as a failed read), is the end: the kernel's out-of-memory
  // answer is one error against the first message and no ACK for the last.
  bool whole_batch = false;
};
struct Acks {
  std::optional<Ack> first_error;
  size_t tolerated = 0;
  bool lost = false;
};

class NetlinkSocket {
 public:
  // Names the message a sequence number belongs to, for error texts.
  using Describe = std::function<std::string(uint32_t seq)>;
  // Called for each data message of a dump or a reply; returns false to fail
  // the dump with the Error it sets.
  using OnMessage = std::function<Status(const nlmsghdr*)>;

  // bus: NETLINK_NETFILTER, NETLINK_ROUTE, ...; groups: legacy multicast bitmask.
  static Result<NetlinkSocket> open(int bus, unsigned groups = 0);

  int fd() const { return mnl_socket_get_fd(sock_.get()); }
  uint32_t portid() const { return portid_; }
  uint32_t next_seq() { return ++seq_; }
  // Sequence numbers are consumed by the caller as it builds messages; this
  // reserves `n` consecutive ones and returns the first.
  uint32_t reserve_seq(uint32_t n) {
    uint32_t first = seq_ + 1;
    seq_ += n;
    return first;
  }

  // Joins a multicast group by number (NFNLGRP_*, RTNLGRP_*).
  Status join_group(unsigned group);
  // Kernel receive buffer; root may exceed rmem_max (SO_RCVBUFFORCE).
  Status set_receive_buffer(int bytes);

  // Sends one or many messages in one sendmsg().
  Status send(const void* buf, size_t len);

  // Reads replies until the message with `last_seq` is answered (ACK or error).
  // Messages from first_seq to last_seq that asked for an ACK must all be
  // answered; the first error is returned, described by `describe`. An error
  // for a sequence number outside the range (a rejected batch header) ends the
  // wait too. Data messages in between go to `on_data` when given. Errors
  // with the errno `tolerated` (0: none) are not errors; `tolerated_count`
  // counts them.
  Status await_acks(uint32_t first_seq, uint32_t last_seq, const Describe& describe,
                    const OnMessage& on_data = {}, int tolerated = 0, size_t* tolerated_count = nullptr);
  // The one reader of ACKs under await_acks() and the batch writers (nft,
  // conntrack): reads until `last` is answered, or an error outside
  // first..last (a refused batch header) ends the exchange. Data messages
  // in range go to `on_data`. Errors: the socket's (receive, ETIMEDOUT
  // after reply_timeout), with a context the caller completes.
  Result<Acks> collect_acks(const AckWait& wait, const std::function<void(const nlmsghdr*)>& on_data = {});
  // Drops whatever answers are queued (after a failed exchange, whose other
  // answers may still be there).
  void discard_queued();

  // Sends a dump request (NLM_F_DUMP set by the caller) and feeds every
  // message of the answer to `on_message` until NLMSG_DONE.
  Status dump(const void* req, size_t len, const std::string& what, const OnMessage& on_message);

  // Reads whatever is queued without waiting (for monitor sockets). Returns
  // the number of bytes read, 0 when nothing was queued. ENOBUFS is returned
  // as an error: the caller must resync.
  Result<size_t> read_available(std::vector<char>& out);

  std::chrono::milliseconds reply_timeout{2000};

 private:
  struct Closer {
    void operator()(mnl_socket* s) const { mnl_socket_close(s); }
  };
  explicit NetlinkSocket(mnl_socket* s);
  // Receives one datagram into buf_, waiting at most reply_timeout; with
  // `unless_empty`, 0 at once when nothing is queued.
  Result<size_t> receive(const std::string& what, bool unless_empty = false);

  std::unique_ptr<mnl_socket, Closer> sock_;
  uint32_t portid_ = 0;
  uint32_t seq_ = 0;
  std::vector<char> buf_;
};

// The kernel's error text from an extended ACK, empty when it gave none.
inline std::string extack_message(const nlmsghdr* error_msg) { return parse_ack(error_msg).kernel; }

}  // namespace fipd::nl
