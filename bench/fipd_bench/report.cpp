// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/report.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "bench/fipd_bench/system.hpp"

namespace fipd::bench {
namespace {

// A pause of the generator longer than this inside a gap is worth a note.
constexpr int64_t kStallUs = 5000;

std::string first_line_of(const std::string& cmd) {
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[256];
    if (fgets(buf, sizeof(buf), p)) out = buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string pad(std::string s, size_t width, bool right = false) {
  if (s.size() >= width) return s + " ";
  std::string fill(width - s.size(), ' ');
  return right ? fill + s + " " : s + fill + " ";
}

std::string opt_us(const std::optional<Summary>& s, int64_t Summary::*field) {
  return s ? format_us(s.value().*field) : "-";
}

const char* kHeader =
    "system                    trials rec     gap p50      p90      p99      max    xfipd  lost p50  new-udp p50  "
    "tcp p50    t1-t0    t3-t0    t4-t0    t5-t0\n";

std::string table_row(const CellRecord& c, const CellRecord* ref) {
  std::string row = pad(c.system->id, 25);
  if (c.status != CellStatus::measured) {
    std::string why = c.reason.size() > 110 ? c.reason.substr(0, 107) + "..." : c.reason;
    return row + pad(cell_status_name(c.status), 16) + why + "\n";
  }
  auto gap = gap_summary(c, FlowKind::pinned_udp);
  row += pad(std::to_string(c.trials.size()), 6, true);
  row += pad(std::to_string(recovered(c, FlowKind::pinned_udp)) + "/" + std::to_string(c.trials.size()), 7);
  for (auto field : {&Summary::median, &Summary::p90, &Summary::p99, &Summary::max})
    row += pad(opt_us(gap, field), 8, true);
  auto r = ratio_vs_reference(c, ref);
  char ratio[32] = "-";
  // Two significant digits at least: 0.012x, 0.35x, 1.4x, 167x.
  if (r) std::snprintf(ratio, sizeof(ratio), *r >= 100 ? "%.0fx" : *r >= 1 ? "%.1fx" : *r >= 0.1 ? "%.2fx" : "%.3fx", *r);
  row += pad(ratio, 8, true);
  auto lost = lost_summary(c, FlowKind::pinned_udp);
  row += pad(lost ? std::to_string(lost->median) : "-", 9, true);
  row += pad(opt_us(gap_summary(c, FlowKind::new_udp), &Summary::median), 12, true);
  row += pad(opt_us(gap_summary(c, FlowKind::tcp_connect), &Summary::median), 8, true);
  for (Point p : {Point::t1, Point::t3, Point::t4, Point::t5}) row += pad(opt_us(point_summary(c, p), &Summary::median), 8, true);
  return row + "\n";
}

nlohmann::json summary_json(const std::optional<Summary>& s) {
  if (!s) return nullptr;
  return {{"count", s->count}, {"min", s->min}, {"median", s->median}, {"p90", s->p90}, {"p99", s->p99}, {"max", s->max}};
}

nlohmann::json trial_json(const TrialRecord& t) {
  nlohmann::json j = {{"t0_mono_us", t.t0_us}, {"inject_us", t.inject_us}, {"timeline_source", t.timeline.source}};
  if (!t.error.empty()) j["error"] = t.error;
  const char* names[] = {"t1_us", "t2_us", "t3_us", "t4_us", "t5_us"};
  for (int i = 0; i < 5; ++i) {
    int64_t v = since_t0(t, static_cast<Point>(i));
    j[names[i]] = v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v);
  }
  for (FlowKind f : kFlowKinds) {
    const auto& o = t.flows[static_cast<size_t>(f)];
    j["flows"][std::string(flow_name(f))] = {{"measured", o.measured}, {"recovered", o.recovered},
                                             {"gap_us", o.gap_us}, {"lost", o.lost}, {"sent", o.sent},
                                             {"send_stall_us", o.send_stall_us},
                                             {"t5_us", o.t5_us < 0 ? nlohmann::json(nullptr) : nlohmann::json(o.t5_us - t.t0_us)}};
  }
  return j;
}

nlohmann::json cell_json(const CellRecord& c, const CellRecord* ref) {
  nlohmann::json j = {{"system", c.system->id}, {"label", c.system->label}, {"status", cell_status_name(c.status)},
                      {"reason", c.reason}, {"trials_planned", c.trials_planned},
                      {"trials_measured", c.trials.size()}};
  for (FlowKind f : kFlowKinds)
    j["summary"][std::string(flow_name(f))] = {{"gap_us", summary_json(gap_summary(c, f))},
                                               {"lost", summary_json(lost_summary(c, f))},
                                               {"recovered", recovered(c, f)}};
  const char* names[] = {"t1_us", "t2_us", "t3_us", "t4_us", "t5_us"};
  for (int i = 0; i < 5; ++i) j["summary"][names[i]] = summary_json(point_summary(c, static_cast<Point>(i)));
  auto r = ratio_vs_reference(c, ref);
  j["ratio_vs_fipd"] = r ? nlohmann::json(*r) : nlohmann::json(nullptr);
  j["trials"] = nlohmann::json::array();
  for (const auto& t : c.trials) j["trials"].push_back(trial_json(t));
  j["failed_trials"] = nlohmann::json::array();
  for (const auto& t : c.failed_trials) j["failed_trials"].push_back(trial_json(t));
  return j;
}

}  // namespace

std::string MachineInfo::load_average_text() const {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.1f", load_average);
  return buf;
}

std::string MachineInfo::str() const {
  std::ostringstream s;
  s << cpus << " CPU" << (cpus == 1 ? "" : "s") << " (" << (cpu_model.empty() ? "?" : cpu_model) << "), "
    << memory_mib << " MiB, load " << load_average_text() << ", Linux " << kernel << ", " << (fipd_version.empty() ? "fipd ?" : fipd_version);
  if (!keepalived_version.empty()) s << ", " << keepalived_version;
  return s.str();
}

MachineInfo describe_machine(const std::string& fipd_binary) {
  MachineInfo m;
  m.cpus = static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN));
  utsname u{};
  if (uname(&u) == 0) m.kernel = u.release;
  std::ifstream cpu("/proc/cpuinfo");
  for (std::string line; std::getline(cpu, line);)
    if (line.rfind("model name", 0) == 0) {
      m.cpu_model = line.substr(line.find(':') + 2);
      break;
    }
  std::ifstream("/proc/loadavg") >> m.load_average;
  m.memory_mib = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) / (1024 * 1024);
  if (access(fipd_binary.c_str(), X_OK) == 0) m.fipd_version = first_line_of("'" + fipd_binary + "' --version 2>/dev/null");
  m.keepalived_version = first_line_of("keepalived --version 2>&1 | head -1");
  if (m.keepalived_version.find("Keepalived") == std::string::npos) m.keepalived_version.clear();
  return m;
}

int64_t since_t0(const TrialRecord& t, Point p) {
  int64_t at = -1;
  switch (p) {
    case Point::t1: at = t.timeline.detected_us; break;
    case Point::t2: at = t.timeline.decided_us; break;
    case Point::t3: at = t.timeline.committed_us; break;
    case Point::t4: at = t.timeline.flushed_us; break;
    case Point::t5: at = t.flows[0].t5_us; break;
  }
  return at < 0 ? -1 : at - t.t0_us;
}

std::optional<Summary> gap_summary(const CellRecord& c, FlowKind f) {
  std::vector<int64_t> v;
  for (const auto& t : c.trials) v.push_back(t.flows[static_cast<size_t>(f)].gap_us);
  return summarize(std::move(v));
}

std::optional<Summary> lost_summary(const CellRecord& c, FlowKind f) {
  std::vector<int64_t> v;
  for (const auto& t : c.trials) v.push_back(static_cast<int64_t>(t.flows[static_cast<size_t>(f)].lost));
  return summarize(std::move(v));
}

std::optional<Summary> point_summary(const CellRecord& c, Point p) {
  std::vector<int64_t> v;
  for (const auto& t : c.trials)
    if (int64_t x = since_t0(t, p); x >= 0) v.push_back(x);
  return summarize(std::move(v));
}

int recovered(const CellRecord& c, FlowKind f) {
  int n = 0;
  for (const auto& t : c.trials) n += t.flows[static_cast<size_t>(f)].recovered;
  return n;
}

const CellRecord* reference_cell(const std::vector<CellRecord>& cells, const Scenario& s) {
  const CellRecord* first_fipd = nullptr;
  for (const auto& c : cells) {
    if (c.scenario.id() != s.id() || c.status != CellStatus::measured || c.system->family != SystemFamily::fipd)
      continue;
    if (c.system->id == "fipd-nat-fast") return &c;
    if (!first_fipd) first_fipd = &c;
  }
  return first_fipd;
}

std::optional<double> ratio_vs_reference(const CellRecord& c, const CellRecord* ref) {
  if (!ref) return std::nullopt;
  auto mine = gap_summary(c, FlowKind::pinned_udp), theirs = gap_summary(*ref, FlowKind::pinned_udp);
  if (!mine || !theirs || theirs->median <= 0) return std::nullopt;
  return static_cast<double>(mine->median) / static_cast<double>(theirs->median);
}

std::vector<Scenario> scenarios_of(const std::vector<CellRecord>& cells) {
  std::vector<Scenario> out;
  for (const auto& c : cells) {
    bool seen = false;
    for (const auto& s : out) seen = seen || s.id() == c.scenario.id();
    if (!seen) out.push_back(c.scenario);
  }
  return out;
}

std::string format_us(int64_t us) {
  char buf[32];
  if (us < 1000) {
    std::snprintf(buf, sizeof(buf), "%ldus", static_cast<long>(us));
  } else if (us < 1000000) {
    std::snprintf(buf, sizeof(buf), us < 100000 ? "%.1fms" : "%.0fms", static_cast<double>(us) / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2fs", static_cast<double>(us) / 1e6);
  }
  return buf;
}

std::string render_table(const RunReport& r) {
  std::ostringstream s;
  s << "fipd-bench, " << r.mode << " run: " << r.machine.str() << "\n"
    << "gap: longest stretch without a timely answer (<= " << format_us(r.answer_deadline_us)
    << ") of the fixed-port UDP flow at " << r.rate_hz << " Hz; rec: trials in which it recovered; xfipd: median gap "
    << "over fipd-nat-fast's; t1 detected, t3 kernel commit, t4 conntrack flushed (as each system records them), t5 first answer from "
    << "the new server\n";
  for (const auto& sc : scenarios_of(r.cells)) {
    const CellRecord* ref = reference_cell(r.cells, sc);
    s << "\n== " << sc.id() << " (" << sc.fips << " floating IP" << (sc.fips == 1 ? "" : "s") << " moved)\n" << kHeader;
    int stalled = 0, measured = 0;
    for (const auto& c : r.cells) {
      if (c.scenario.id() != sc.id()) continue;
      s << table_row(c, ref);
      for (const auto& t : c.trials) {
        ++measured;
        stalled += t.flows[0].send_stall_us > kStallUs;
      }
    }
    if (stalled > 0)
      s << "   (" << stalled << " of " << measured << " trials: the generator itself paused over "
        << format_us(kStallUs) << " inside the gap; the machine was busy)\n";
  }
  char tail[128];
  std::snprintf(tail, sizeof(tail), "\n%s in %.1f s\n", r.interrupted ? "interrupted" : "done", r.elapsed_s);
  s << tail;
  return s.str();
}

nlohmann::json to_json(const RunReport& r) {
  nlohmann::json j = {{"fipd_bench", 1}, {"mode", r.mode}, {"started_utc", r.started_utc},
                      {"elapsed_s", r.elapsed_s}, {"interrupted", r.interrupted},
                      {"machine", {{"cpus", r.machine.cpus}, {"cpu_model", r.machine.cpu_model},
                                   {"kernel", r.machine.kernel}, {"memory_mib", r.machine.memory_mib},
                                   {"load_average", r.machine.load_average},
                                   {"fipd", r.machine.fipd_version}, {"keepalived", r.machine.keepalived_version}}},
                      {"options", {{"trials", r.trials}, {"rate_hz", r.rate_hz},
                                   {"answer_deadline_us", r.answer_deadline_us}}}};
  j["scenarios"] = nlohmann::json::array();
  for (const auto& sc : scenarios_of(r.cells)) {
    const CellRecord* ref = reference_cell(r.cells, sc);
    nlohmann::json js = {{"scenario", sc.id()}, {"failure", failure_name(sc.kind)}, {"fips", sc.fips},
                         {"reference", ref ? nlohmann::json(ref->system->id) : nlohmann::json(nullptr)}};
    js["systems"] = nlohmann::json::array();
    for (const auto& c : r.cells)
      if (c.scenario.id() == sc.id()) js["systems"].push_back(cell_json(c, ref));
    j["scenarios"].push_back(std::move(js));
  }
  return j;
}

}  // namespace fipd::bench
