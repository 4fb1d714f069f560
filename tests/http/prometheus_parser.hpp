// SPDX-License-Identifier: GPL-2.0-or-later
// A strict reader of the Prometheus text exposition format (0.0.4), for the
// tests: it refuses what Prometheus would refuse and also what it merely
// tolerates but a careful exporter never writes. Checks: metric and label
// names; label value escapes; numbers as Go's ParseFloat takes them; HELP
// and TYPE at most once per family, TYPE before the family's samples; the
// samples of a family together; no series twice; counters not negative;
// histograms with an le label on every bucket, cumulative buckets, a +Inf
// bucket equal to _count, and a _sum; summaries with quantile labels, _sum
// and _count.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace fipd::testbed {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromFamily {
  std::string type = "untyped";
  std::string help;
  std::vector<PromSample> samples;
};

struct PromParse {
  std::string error;  // empty when valid; else "line N: what"
  std::map<std::string, PromFamily> families;

  // The value of one series, or NaN.
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& [f, fam] : families)
      for (const auto& s : fam.samples)
        if (s.name == name && s.labels == labels) return s.value;
    return std::nan("");
  }
};

namespace prom_detail {

inline bool name_ok(const std::string& n, bool label) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!label && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

inline bool number(const std::string& s, double& out) {
  if (s == "+Inf" || s == "Inf") return out = INFINITY, true;
  if (s == "-Inf") return out = -INFINITY, true;
  if (s == "NaN") return out = NAN, true;
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return *end == '\0' && s.find_first_of("xXpP") == std::string::npos && s.find("inf") == std::string::npos &&
         s.find("nan") == std::string::npos;
}

// The family a sample name belongs to, given the TYPEs seen.
inline std::string family_of(const std::string& name, const std::map<std::string, PromFamily>& fams) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string s = suffix;
    if (name.size() > s.size() && name.ends_with(s)) {
      std::string base = name.substr(0, name.size() - s.size());
      auto it = fams.find(base);
      if (it != fams.end() && (it->second.type == "histogram" || (it->second.type == "summary" && s != "_bucket")))
        return base;
    }
  }
  return name;
}

}  // namespace prom_detail

inline PromParse parse_prometheus(const std::string& text) {
  using namespace prom_detail;
  PromParse p;
  std::set<std::string> finished;  // families whose samples have ended
  std::set<std::string> series;
  std::string current;
  size_t lineno = 0;
  auto fail = [&](const std::string& why) {
    p.error = "line " + std::to_string(lineno) + ": " + why;
    return p;
  };
  if (!text.empty() && text.back() != '\n') return fail("the text must end with a newline");
  size_t at = 0;
  while (at < text.size()) {
    size_t nl = text.find('\n', at);
    std::string line = text.substr(at, nl - at);
    at = nl + 1;
    ++lineno;
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        bool help = line[2] == 'H';
        std::string rest = line.substr(7);
        size_t sp = rest.find(' ');
        std::string name = rest.substr(0, sp);
        std::string arg = sp == std::string::npos ? "" : rest.substr(sp + 1);
        if (!name_ok(name, false)) return fail("bad metric name '" + name + "'");
        if (finished.contains(name) || (current == name && !p.families[name].samples.empty()))
          return fail((help ? "HELP" : "TYPE") + std::string(" after the samples of ") + name);
        PromFamily& f = p.families[name];
        if (help) {
          if (!f.help.empty()) return fail("second HELP for " + name);
          for (size_t i = 0; i < arg.size(); ++i)
            if (arg[i] == '\\' && (i + 1 >= arg.size() || (arg[i + 1] != '\\' && arg[i + 1] != 'n')))
              return fail("bad escape in HELP of " + name);
            else if (arg[i] == '\\')
              ++i;
          f.help = arg.empty() ? " " : arg;
        } else {
          if (f.type != "untyped") return fail("second TYPE for " + name);
          if (arg != "counter" && arg != "gauge" && arg != "histogram" && arg != "summary" && arg != "untyped")
            return fail("unknown type '" + arg + "'");
          f.type = arg;
        }
        if (current != name && !current.empty()) finished.insert(current);
        current = name;
      }
      continue;
    }
    // name{labels} value [timestamp]
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    PromSample s;
    s.name = line.substr(0, i);
    if (!name_ok(s.name, false)) return fail("bad metric name '" + s.name + "'");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) return fail("label without '='");
        std::string ln = line.substr(i, eq - i);
        if (!name_ok(ln, true) || ln.rfind("__", 0) == 0) return fail("bad label name '" + ln + "'");
        if (eq + 1 >= line.size() || line[eq + 1] != '"') return fail("label value not quoted");
        std::string v;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            if (j + 1 >= line.size()) return fail("dangling escape");
            char e = line[++j];
            if (e == 'n') v += '\n';
            else if (e == '\\' || e == '"') v += e;
            else return fail("bad escape \\" + std::string(1, e));
          } else {
            v += line[j];
          }
        }
        if (j >= line.size()) return fail("unterminated label value");
        if (s.labels.contains(ln)) return fail("label " + ln + " twice");
        s.labels[ln] = v;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) return fail("unterminated labels");
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') return fail("no value");
    std::string rest = line.substr(i + 1);
    std::string val = rest.substr(0, rest.find(' '));
    if (!number(val, s.value)) return fail("bad value '" + val + "'");
    if (rest.find(' ') != std::string::npos) {
      std::string ts = rest.substr(rest.find(' ') + 1);
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos) return fail("bad timestamp");
    }
    std::string fam = family_of(s.name, p.families);
    if (finished.contains(fam)) return fail("samples of " + fam + " are not together");
    if (fam != current && !current.empty()) finished.insert(current);
    current = fam;
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "\x01" + k + "=" + v;
    if (!series.insert(key).second) return fail("series twice: " + s.name);
    PromFamily& f = p.families[fam];
    if (f.type == "counter" && (s.value < 0 || std::isnan(s.value))) return fail("negative counter " + s.name);
    if (f.type == "histogram" && s.name == fam) return fail("histogram sample without a suffix: " + s.name);
    if (f.type == "histogram" && s.name.ends_with("_bucket") && !s.labels.contains("le"))
      return fail("bucket without le");
    if (f.type == "summary" && s.name == fam && !s.labels.contains("quantile")) return fail("summary without quantile");
    f.samples.push_back(std::move(s));
  }
  // Histograms: cumulative, +Inf == _count, _sum present (per label set less le).
  for (const auto& [name, f] : p.families) {
    if (f.type != "histogram" && f.type != "summary") continue;
    bool sum = false, count = false;
    double last = -1, inf = -1, cnt = -2;
    for (const auto& s : f.samples) {
      if (s.name == name + "_sum") sum = true;
      if (s.name == name + "_count") count = true, cnt = s.value;
      if (s.name == name + "_bucket") {
        double le;
        if (!number(s.labels.at("le"), le)) return fail("bad le in " + name);
        if (s.value < last) return fail("buckets of " + name + " are not cumulative");
        last = s.value;
        if (std::isinf(le)) inf = s.value;
      }
    }
    if (!sum || !count) return fail(name + " lacks _sum or _count");
    if (f.type == "histogram" && inf != cnt) return fail(name + ": the +Inf bucket differs from _count");
  }
  return p;
}

}  // namespace fipd::testbed
