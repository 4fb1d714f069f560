// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/control/format.hpp"

#include <chrono>
#include <map>

#include "base/printable.hpp"

namespace fipd::control {
namespace {

using nlohmann::json;

// Safe readers: a missing key or a value of another type gives the fallback.
// Every string is shown escaped: names, causes, hook progress and error
// messages may hold text from outside, terminal escape sequences included.
std::string str(const json& j, const char* key, std::string fallback = "?") {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return fallback;
  return printable(it->get_ref<const std::string&>());
}

// An array element as text, escaped.
std::string text(const json& v) { return printable(v.get_ref<const std::string&>()); }

int64_t num(const json& j, const char* key, int64_t fallback = 0) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return fallback;
  return it->get<int64_t>();
}

bool flag(const json& j, const char* key) {
  if (!j.is_object()) return false;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

const json& member(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string paint(const std::string& text, const char* code, bool color) {
  if (!color || text.empty()) return text;
  return std::string("\033[") + code + "m" + text + "\033[0m";
}

const char* health_color(const std::string& h) {
  if (h == "up") return "32";
  if (h == "down") return "31";
  return "33";
}

size_t visible_width(const std::string& s) {
  size_t w = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\033') {
      while (i < s.size() && s[i] != 'm') ++i;
      continue;
    }
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++w;  // count UTF-8 code points
  }
  return w;
}

std::string dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string failover_line(const json& f, int64_t now_us) {
  std::string fips;
  size_t n = 0;
  for (const auto& a : member(f, "fips"))
    if (a.is_string() && ++n <= 8) fips += (fips.empty() ? "" : ",") + text(a);
  if (n > 8) fips += ",... (" + std::to_string(n) + " in all)";
  int64_t t1 = num(f, "detected_mono_us"), t2 = num(f, "decided_mono_us"), t3 = num(f, "committed_mono_us"),
          t4 = num(f, "flushed_mono_us");
  std::string s = "#" + std::to_string(num(f, "id")) + " " + format_us(now_us - t3) + " ago: " + str(f, "from") +
                  " -> " + str(f, "to") + " [" + fips + "] " + str(f, "cause") +
                  (flag(f, "manual") ? " (operator)" : "") + "; detect->decide " + format_us(t2 - t1) +
                  ", decide->commit " + format_us(t3 - t2) + ", commit->flush " + format_us(t4 - t3) + " (" +
                  std::to_string(num(f, "conntrack_deleted")) + " conntrack entries)";
  std::string err = str(f, "error", "");
  if (!err.empty()) s += "; KERNEL ERROR: " + err;
  return s;
}

}  // namespace

std::string format_us(int64_t us) {
  if (us < 0) us = 0;
  char buf[48];
  if (us < 1000) {
    std::snprintf(buf, sizeof(buf), "%lldus", static_cast<long long>(us));
  } else if (us < 1'000'000) {
    std::snprintf(buf, sizeof(buf), "%.1fms", static_cast<double>(us) / 1e3);
  } else if (us < 60'000'000) {
    std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(us) / 1e6);
  } else {
    long long s = us / 1'000'000;
    if (s < 3600) std::snprintf(buf, sizeof(buf), "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400) std::snprintf(buf, sizeof(buf), "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else std::snprintf(buf, sizeof(buf), "%lldd%lldh", s / 86400, s % 86400 / 3600);
  }
  return buf;
}

std::string format_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = visible_width(header[i]);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], visible_width(r[i]));
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
      l += cells[i];
      if (i + 1 < cells.size()) l += std::string(width[i] - visible_width(cells[i]) + 2, ' ');
    }
    while (!l.empty() && l.back() == ' ') l.pop_back();
    out += l + "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
  return out;
}

std::string format_status(const json& st, bool color) {
  const json& e = member(st, "engine");
  const int64_t now = num(e, "now_mono_us");
  std::string out;
  bool sync = flag(e, "kernel_in_sync");
  out += "fipd " + str(e, "version") + " (pid " + std::to_string(num(e, "pid")) + "), up " +
         format_us(num(e, "uptime_us")) + ", table " + str(e, "table") + ", kernel " +
         (sync ? paint("in sync", "32", color) : paint("NOT IN SYNC", "31;1", color)) + ", " +
         std::to_string(num(member(e, "counters"), "failovers")) + " failovers\n";
  const json& lag = member(e, "loop_lag_us");
  const json& delay = member(e, "probe_delay_us");
  out += "loop lag p99 " + format_us(num(lag, "p99")) + " (max " + format_us(num(lag, "max")) +
         "), probe start delay p99 " + format_us(num(delay, "p99")) + " (max " + format_us(num(delay, "max")) + ")\n";
  const json& alarms = member(e, "alarms");
  if (alarms.is_array() && !alarms.empty()) {
    out += "\n" + paint("ALARMS (" + std::to_string(alarms.size()) + ")", "31;1", color) + "\n";
    for (const auto& a : alarms)
      if (a.is_string()) out += "  " + text(a) + "\n";
  }

  const json& servers = member(st, "servers");
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : servers) {
    std::string h = str(s, "health");
    std::string maint = str(s, "maintenance", "none");
    std::string state = maint == "none" ? "" : "maintenance (" + maint + ")";
    if (flag(s, "draining")) state += std::string(state.empty() ? "" : ", ") + "draining";
    if (flag(s, "spare")) state += std::string(state.empty() ? "" : ", ") + "spare";
    std::string probes;
    for (const auto& p : member(s, "probes")) {
      std::string port = member(p, "port").is_number_integer() ? "/" + std::to_string(num(p, "port")) : "";
      probes += (probes.empty() ? "" : " ") + str(p, "kind") + port + " " + str(p, "state") + " " +
                std::to_string(num(p, "failed")) + "/" + std::to_string(num(p, "sent")) + " failed";
    }
    // Behind their schedule: the health shown is older than it should be.
    if (member(s, "probes_late").is_boolean() && member(s, "probes_late").get<bool>()) probes += " (late)";
    std::string addr = str(s, "address");
    if (member(s, "address6").is_string()) addr += " " + str(s, "address6");
    rows.push_back({str(s, "name"), addr, paint(h, health_color(h), color), format_us(num(s, "since_us_ago")),
                    dash(str(s, "cause", "")), dash(state), std::to_string(num(s, "fips")), probes});
  }
  out += "\nSERVERS (" + std::to_string(rows.size()) + ")\n";
  out += format_table({"NAME", "ADDRESS", "HEALTH", "SINCE", "CAUSE", "STATE", "FIPS", "PROBES"}, rows);

  // The last failover of each floating IP, from the timelines (oldest first).
  std::map<std::string, const json*> last;
  const json& failovers = member(st, "failovers");
  for (const auto& f : failovers)
    for (const auto& a : member(f, "fips"))
      if (a.is_string()) last[text(a)] = &f;
  rows.clear();
  for (const auto& f : member(st, "floating_ips")) {
    std::string a = str(f, "address");
    std::string target = str(f, "server");
    if (flag(f, "failing_static")) target += " " + paint("(failing static)", "31", color);
    else if (flag(f, "held")) target += " " + paint("(held)", "33", color);
    std::string lf = "-", dur = "-";
    if (auto it = last.find(a); it != last.end()) {
      const json& fo = *it->second;
      lf = str(fo, "from") + " -> " + str(fo, "to") + ", " + format_us(now - num(fo, "committed_mono_us")) + " ago" +
           (flag(fo, "manual") ? " (operator)" : "");
      dur = format_us(num(fo, "committed_mono_us") - num(fo, "detected_mono_us"));
    }
    rows.push_back({a, target, str(f, "mode"), dash(str(f, "pin", "")), lf, dur});
  }
  out += "\nFLOATING IPS (" + std::to_string(rows.size()) + ")\n";
  out += format_table({"ADDRESS", "TARGET", "MODE", "PIN", "LAST FAILOVER", "DETECT->COMMIT"}, rows);

  const json& rebuilds = member(member(st, "rebuilds"), "records");
  if (rebuilds.is_array() && !rebuilds.empty()) {
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    rows.clear();
    for (const auto& r : rebuilds) {
      const std::string stage = str(r, "stage");
      const char* code = stage == "done" ? "32" : stage == "failed" ? "31" : "33";
      const int64_t started = num(r, "started_unix_ms"), finished = num(r, "finished_unix_ms");
      const int64_t took = (finished > 0 ? finished : now_ms) - started;
      std::string detail = str(r, "error", "");
      if (detail.empty()) detail = str(r, "progress", "");
      rows.push_back({str(r, "server"), str(r, "id"), paint(stage, code, color),
                      std::to_string(num(r, "attempt")) + (flag(r, "manual") ? " (operator)" : ""),
                      dash(str(r, "replacement", "")), started > 0 ? format_us(took * 1000) : "-", dash(detail)});
    }
    out += "\nREBUILDS (" + std::to_string(rows.size()) + ")" +
           (flag(member(st, "rebuilds"), "storm") ? " " + paint("STORM GUARD: automatic rebuilds paused", "31;1", color)
                                                  : "") +
           "\n";
    out += format_table({"SERVER", "ID", "STAGE", "ATTEMPT", "REPLACEMENT", "FOR", "DETAIL"}, rows);
  }

  if (failovers.is_array() && !failovers.empty()) {
    out += "\nFAILOVERS (last " + std::to_string(failovers.size()) + ", oldest first)\n";
    for (const auto& f : failovers) out += "  " + failover_line(f, now) + "\n";
  }
  return out;
}

std::string format_event(const json& ev, const std::string& timestamp, bool color) {
  std::string kind = str(ev, "event");
  std::string text = str(ev, "text");
  const char* code = kind == "failover" ? "36;1" : kind == "alarm" ? "31;1" : kind == "health" ? "33" : "0";
  if (kind == "health") code = health_color(str(ev, "to"));
  std::string padded = kind;
  if (padded.size() < 11) padded.resize(11, ' ');
  return timestamp + "  " + paint(padded, code, color) + " " + text + "\n";
}

}  // namespace fipd::control
