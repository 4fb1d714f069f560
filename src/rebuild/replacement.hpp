// SPDX-License-Identifier: GPL-2.0-or-later
// The replacement a hook reports, and the parser of the line that reports
// it. Apart from the manager so that a fuzzer builds it with nothing of the
// loop, the HTTP client or the hook runner.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.hpp"
#include "base/ip_address.hpp"
#include "src/probe/spec.hpp"

namespace fipd::rebuild {

struct Replacement {
  std::string name;
  IpAddress address;
  std::optional<IpAddress> address6;
  bool spare = false;
  std::vector<probe::ProbeSpec> probes;  // empty: the failed server's
};

// Parses the hook's {"replacement": {...}} line; an Error names the field.
// Its probe is read over `probe_defaults` (the file's [probe_defaults]),
// with the rules of every other probe (src/probe/spec_io.hpp).
Result<Replacement> parse_replacement(std::string_view json_line, const probe::ProbeSpec& probe_defaults);

}  // namespace fipd::rebuild
