// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace fipd::bench {
namespace {

constexpr double kWidth = 1000, kLabelX = 12, kPlotX0 = 250, kPlotX1 = 900, kValueX = 910;
constexpr double kRow = 22, kPanelHead = 26, kPanelGap = 26, kTop = 84;

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

const char* color(const SystemSpec& s) {
  switch (s.family) {
    case SystemFamily::fipd:
      if (s.mode == "nat") return s.fast ? "#1f5fbf" : "#7fa6e0";
      if (s.mode == "stateless-nat") return s.fast ? "#138a72" : "#7cc7b6";
      return s.fast ? "#6a3fb5" : "#b39ddb";
    case SystemFamily::shell: return "#d9822b";
    case SystemFamily::keepalived: return s.fast ? "#c0392b" : "#e39a91";
  }
  return "#555";
}

// The decades the axis spans, from every measured gap.
struct Axis {
  double lo_exp = 2, hi_exp = 7;  // log10 of microseconds: 100us .. 10s
  double x(int64_t us) const {
    double e = std::log10(std::max<double>(static_cast<double>(us), 1.0));
    e = std::clamp(e, lo_exp, hi_exp);
    return kPlotX0 + (e - lo_exp) / (hi_exp - lo_exp) * (kPlotX1 - kPlotX0);
  }
};

Axis axis_for(const std::vector<CellRecord>& cells) {
  int64_t lo = INT64_MAX, hi = 0;
  for (const auto& c : cells)
    for (const auto& t : c.trials) {
      lo = std::min(lo, t.flows[0].gap_us);
      hi = std::max(hi, t.flows[0].gap_us);
    }
  Axis a;
  if (hi == 0) return a;
  // Room below the smallest gap, so that no dot sits on the axis's edge.
  a.lo_exp = std::min(3.0, std::floor(std::log10(std::max<double>(static_cast<double>(lo) * 0.8, 100.0))));
  a.hi_exp = std::max(a.lo_exp + 2, std::ceil(std::log10(static_cast<double>(hi) * 1.2)));
  return a;
}

std::string tick_label(double exp) {
  static const char* names[] = {"1us", "10us", "100us", "1ms", "10ms", "100ms", "1s", "10s", "100s", "1000s"};
  int e = static_cast<int>(std::lround(exp));
  return e >= 0 && e < 10 ? names[e] : "?";
}

void grid(std::ostringstream& s, const Axis& a, double y0, double y1, bool labels) {
  for (double e = a.lo_exp; e <= a.hi_exp + 1e-9; e += 1) {
    double x = a.x(static_cast<int64_t>(std::pow(10.0, e)));
    s << "<line x1=\"" << x << "\" y1=\"" << y0 << "\" x2=\"" << x << "\" y2=\"" << y1
      << "\" stroke=\"#ddd\" stroke-width=\"1\"/>\n";
    if (labels)
      s << "<text x=\"" << x << "\" y=\"" << y1 + 11 << "\" font-size=\"10\" fill=\"#777\" text-anchor=\"middle\">"
        << tick_label(e) << "</text>\n";
  }
}

void row(std::ostringstream& s, const CellRecord& c, const Axis& a, double y) {
  s << "<text x=\"" << kLabelX << "\" y=\"" << y + 4 << "\" font-size=\"12\" fill=\"#222\">" << esc(c.system->id)
    << "</text>\n";
  if (c.status != CellStatus::measured) {
    std::string why = std::string(cell_status_name(c.status)) + ": " + c.reason;
    if (why.size() > 100) why = why.substr(0, 97) + "...";
    s << "<text x=\"" << kPlotX0 << "\" y=\"" << y + 4 << "\" font-size=\"11\" fill=\"#999\" font-style=\"italic\">"
      << esc(why) << "</text>\n";
    return;
  }
  const char* col = color(*c.system);
  auto sum = gap_summary(c, FlowKind::pinned_udp);
  if (sum) {
    double xm = a.x(sum->median), x9 = a.x(sum->p90);
    s << "<rect x=\"" << xm << "\" y=\"" << y - 7 << "\" width=\"" << std::max(1.0, x9 - xm)
      << "\" height=\"14\" fill=\"" << col << "\" opacity=\"0.18\"/>\n"
      << "<line x1=\"" << xm << "\" y1=\"" << y - 9 << "\" x2=\"" << xm << "\" y2=\"" << y + 9 << "\" stroke=\"" << col
      << "\" stroke-width=\"3\"/>\n"
      << "<text x=\"" << kValueX << "\" y=\"" << y + 4 << "\" font-size=\"11\" fill=\"#222\">" << format_us(sum->median)
      << "</text>\n";
  }
  for (size_t i = 0; i < c.trials.size(); ++i) {
    const auto& f = c.trials[i].flows[0];
    // A fixed spread, so that equal gaps stay visible as several dots.
    double jitter = (static_cast<double>((i * 37) % 11) - 5.0) * 1.2;
    s << "<circle cx=\"" << a.x(f.gap_us) << "\" cy=\"" << y + jitter << "\" r=\"3\" "
      << (f.recovered ? std::string("fill=\"") + col + "\" fill-opacity=\"0.55\""
                      : std::string("fill=\"none\" stroke=\"") + col + "\"")
      << "/>\n";
  }
}

}  // namespace

std::string render_svg(const RunReport& r) {
  auto scenarios = scenarios_of(r.cells);
  Axis a = axis_for(r.cells);
  double height = kTop;
  for (const auto& sc : scenarios) {
    size_t rows = 0;
    for (const auto& c : r.cells) rows += c.scenario.id() == sc.id();
    height += kPanelHead + static_cast<double>(rows) * kRow + kPanelGap;
  }
  std::ostringstream s;
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth
    << "\" height=\"" << height + 20 << "\" viewBox=\"0 0 " << kWidth << " " << height + 20
    << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << kLabelX << "\" y=\"24\" font-size=\"16\" font-weight=\"bold\">Client-visible gap when a server "
    << "fails: fipd and the alternatives</text>\n"
    << "<text x=\"" << kLabelX << "\" y=\"44\" font-size=\"11\" fill=\"#444\">Fixed-port UDP flow at " << r.rate_hz
    << " Hz; each dot one trial, bar the median, band median to p90; hollow: no recovery within the window "
    << "(lower bound). Log scale.</text>\n"
    << "<text x=\"" << kLabelX << "\" y=\"60\" font-size=\"11\" fill=\"#444\">" << esc(r.mode + " run, " + r.started_utc)
    << ": " << esc(r.machine.str()) << "</text>\n";
  double y = kTop;
  for (const auto& sc : scenarios) {
    size_t rows = 0;
    for (const auto& c : r.cells) rows += c.scenario.id() == sc.id();
    double body = static_cast<double>(rows) * kRow;
    s << "<text x=\"" << kLabelX << "\" y=\"" << y + 12 << "\" font-size=\"13\" font-weight=\"bold\">" << esc(sc.id())
      << " (" << sc.fips << " floating IP" << (sc.fips == 1 ? "" : "s") << ")</text>\n";
    grid(s, a, y + kPanelHead - 8, y + kPanelHead + body - 8, true);
    double ry = y + kPanelHead + kRow / 2 - 8;
    for (const auto& c : r.cells)
      if (c.scenario.id() == sc.id()) {
        row(s, c, a, ry);
        ry += kRow;
      }
    y += kPanelHead + body + kPanelGap;
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace fipd::bench
