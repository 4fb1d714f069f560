// SPDX-License-Identifier: GPL-2.0-or-later
// A builder of the Prometheus text exposition format (version 0.0.4): each
// family once, with its HELP and TYPE before its samples, label values
// escaped, numbers in a form Prometheus parses. It does not check that a
// family's samples are contiguous; the caller writes each family in one go.
//
// Owns: the text. Thread: any, one at a time. Failures: none.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace fipd::metrics {

using Label = std::pair<std::string_view, std::string_view>;

class PromText {
 public:
  // type: "counter", "gauge", "histogram", "summary".
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  void sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value);
  // One-line shorthands for families with a single unlabelled sample.
  void counter(std::string_view name, std::string_view help, uint64_t value);
  void gauge(std::string_view name, std::string_view help, double value);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void labels(std::initializer_list<Label> labels);
  std::string out_;
};

// "1", "0.25", "0.00001", "+Inf", "NaN".
std::string format_value(double v);

}  // namespace fipd::metrics
