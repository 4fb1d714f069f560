// SPDX-License-Identifier: GPL-2.0-or-later
// The inventory from the configuration file and the runtime state, and the
// runtime state back from the inventory. The rule (README "State and
// configuration"): the file defines servers and floating IPs; the runtime
// state overlays what was decided while running. An assignment made at
// runtime wins while the file's `server` for that floating IP is still the
// one it was made against; an operator who edits it in the file wins.
//
// What the runtime state removed, a file entry can bring back: only an
// operator's removal is saved as one. A file floating IP compose() cannot
// place (its server was removed at runtime) is `unplaced`, and capture()
// does not record it as removed, so the file brings it back as soon as its
// server is there again. Added servers and floating IPs from the state file
// are held to the same address rules as the file's (addresses.hpp).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "src/config/addresses.hpp"
#include "src/config/config.hpp"
#include "src/probe/spec.hpp"
#include "src/state/model.hpp"
#include "src/state/delta.hpp"
#include "src/state/runtime_state.hpp"

namespace fipd::engine {

struct Composed {
  state::Inventory inventory;
  // Parts of the runtime state that no longer fit the file (an assignment
  // to a server that is gone): dropped, each said once in the log.
  std::vector<std::string> dropped;
  // File floating IPs left out because their server is not there.
  std::set<IpAddress> unplaced_fips;
};

// `own`: the router's addresses, which no added server may have.
Composed compose(const config::Config& cfg, const state::RuntimeState& rt, const config::LocalAddresses& own = {});

// What the capture reads besides the inventory.
struct CaptureInputs {
  const config::Config& cfg;
  const std::set<IpAddress>& unplaced;  // compose()'s, which are not removals
  // Of servers added at runtime: the failed server each replaces (a
  // rebuild's replacement), and their probes as resolved when added.
  const std::map<std::string, std::string>& replacements;
  const std::map<std::string, std::vector<probe::ProbeSpec>>& probes;
};

// What to save: everything in `inv` that differs from what the file says,
// apart from `extra`, which its owner (the rebuild module) gives. The
// whole state, O(n): for start-up and reload.
state::RuntimeState capture(const state::Inventory& inv, const CaptureInputs& in);
// The same with no replacements and no probes (tests).
state::RuntimeState capture(const state::Inventory& inv, const config::Config& cfg,
                            const std::set<IpAddress>& unplaced = {});

// What capture() would change in `saved` for these floating IPs and
// servers only, by the same rules, key by key: O(keys * log n), however
// large the inventory. Keys that did not change are left out.
state::Delta capture_changes(const state::Inventory& inv, const CaptureInputs& in, const state::RuntimeState& saved,
                             const std::set<IpAddress>& fips, const std::set<std::string>& servers);

}  // namespace fipd::engine
