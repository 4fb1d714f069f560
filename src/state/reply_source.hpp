// SPDX-License-Identifier: GPL-2.0-or-later
// Which floating IPs may point at the same server address (README "The three
// modes").
//
// The kernel rewrites a server's replies by the server's address alone: the
// snat maps have one entry per server address. That is enough for `nat`:
// conntrack un-NATs the replies of an inbound flow itself, from the floating
// IP the flow was sent to, and the map only chooses the source of flows the
// server opens. It is not for `stateless-nat`: nothing remembers a flow, the
// map is all there is, and every reply of the server would leave from one
// floating IP (a nat floating IP on the same server breaks as well, because
// the server's address is then notracked). Keying the map by more than the
// address does not help in general: the reply's source port is the service's,
// shared by all floating IPs, and its destination is any client.
//
// So a stateless-nat floating IP must be the only floating IP of its family
// on its server that is not in route mode (route mode is free: the server
// answers from the floating IP itself). The configuration check, the control
// requests and the policy (which never picks a target that would break it)
// all ask can_share_server().
#pragma once

#include "src/state/model.hpp"

namespace fipd::state {

// Whether floating IPs of modes `a` and `b`, of one family, can point at one server.
inline bool can_share_server(FipMode a, FipMode b) {
  if (a == FipMode::route || b == FipMode::route) return true;
  return a == FipMode::nat && b == FipMode::nat;
}

}  // namespace fipd::state
