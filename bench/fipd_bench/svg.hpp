// SPDX-License-Identifier: GPL-2.0-or-later
// The picture of a run: for every scenario, one row per system with each
// trial's gap as a dot on a logarithmic time axis (hollow when the system
// did not recover within its window: the dot is then a lower bound), the
// median as a bar and the median..p90 range as a band. Systems that did not
// run say why in the row. Self-contained SVG 1.1, no scripts, no fonts to
// fetch. Pure function of the report.
#pragma once

#include <string>

#include "bench/fipd_bench/report.hpp"

namespace fipd::bench {

std::string render_svg(const RunReport& report);

}  // namespace fipd::bench
