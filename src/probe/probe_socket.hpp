// SPDX-License-Identifier: GPL-2.0-or-later
// What every probe socket shares: addresses, where it leaves from (source,
// device, mark), and what an errno means for the server's health.
#pragma once

#include <sys/socket.h>

#include "base/error.hpp"
#include "base/fd.hpp"
#include "base/ip_address.hpp"
#include "src/probe/health.hpp"
#include "src/probe/spec.hpp"

namespace fipd::probe {


// A non-blocking, close-on-exec socket with the spec's device, mark and
// source applied. Errors carry the errno; the caller maps them to a Cause.
Result<Fd> open_probe_socket(int family, int type, int protocol, const ProbeSpec& spec);

// What an errno from connect(), SO_ERROR, send() or recv() says about the
// server: refused, reset, unreachable, timeout, or (ours) local_error.
ProbeResult result_of_errno(int err);

}  // namespace fipd::probe
