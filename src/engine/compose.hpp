// The inventory from the configuration file and the runtime state, and the
// runtime state back from the inventory. The rule (README "State and
// configuration"): the file defines servers and floating IPs; the runtime
// state overlays what was decided while running. An assignment made at
// runtime wins while the file's `server` for that floating IP is still the
// one it was made against; an operator who edits it in the file wins.
#pragma once

#include <string>
#include <vector>

#include "src/config/config.hpp"
#include "src/probe/spec.hpp"
#include "src/state/model.hpp"
#include "src/state/runtime_state.hpp"

namespace fipd::engine {

struct Composed {
  state::Inventory inventory;
  // Parts of the runtime state that no longer fit the file (an assignment
  // to a server that is gone): dropped, each said once in the log.
  std::vector<std::string> dropped;
};

Composed compose(const config::Config& cfg, const state::RuntimeState& rt);

// What to save: everything in `inv` that differs from what `cfg` says.
state::RuntimeState capture(const state::Inventory& inv, const config::Config& cfg,
                            const state::RuntimeState& previous);

// The probe engine's specs for a configured server's probes.
std::vector<probe::ProbeSpec> probe_specs(const config::ServerConfig& s);

}  // namespace fipd::engine
