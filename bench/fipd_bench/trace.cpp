// SPDX-License-Identifier: GPL-2.0-or-later
#include "bench/fipd_bench/trace.hpp"

#include <algorithm>

namespace fipd::bench {
namespace {

bool timely(const Probe& p, int64_t deadline_us) {
  return p.answered_us >= 0 && p.answered_us - p.sent_us <= deadline_us;
}

struct Answer {
  int64_t at_us;
  size_t probe;  // index into the probes
  char server;
};

std::vector<Answer> timely_answers(const std::vector<Probe>& probes, int64_t deadline_us) {
  std::vector<Answer> out;
  for (size_t i = 0; i < probes.size(); ++i)
    if (timely(probes[i], deadline_us)) out.push_back({probes[i].answered_us, i, probes[i].server});
  // Answers may overtake each other (TCP attempts, new flows): order by arrival.
  std::stable_sort(out.begin(), out.end(), [](const Answer& a, const Answer& b) { return a.at_us < b.at_us; });
  return out;
}

}  // namespace

std::string_view flow_name(FlowKind k) {
  switch (k) {
    case FlowKind::pinned_udp: return "udp-pinned";
    case FlowKind::new_udp: return "udp-new";
    case FlowKind::tcp_connect: return "tcp-connect";
  }
  return "?";
}

FlowOutcome analyse(const std::vector<Probe>& probes, const AnalysisOptions& o) {
  FlowOutcome out{.sent = probes.size()};
  auto answers = timely_answers(probes, o.answer_deadline_us);
  // The last answer at or before the failure: where the stretch starts.
  auto after = std::upper_bound(answers.begin(), answers.end(), o.t0_us,
                                [](int64_t t, const Answer& a) { return t < a.at_us; });
  if (after == answers.begin()) return out;
  out.measured = true;
  auto first = std::prev(after);
  auto recovery = std::find_if(after, answers.end(), [&](const Answer& a) { return a.server == o.new_server; });
  out.recovered = recovery != answers.end();
  auto last = out.recovered ? recovery : std::prev(answers.end());
  for (auto it = first; it != last; ++it) out.gap_us = std::max(out.gap_us, std::next(it)->at_us - it->at_us);
  int64_t stop_sent_us;
  if (out.recovered) {
    out.t5_us = recovery->at_us;
    stop_sent_us = probes[recovery->probe].sent_us;
  } else {
    out.gap_us = std::max(out.gap_us, o.end_us - last->at_us);
    // Probes still within their deadline at the end cannot be judged yet.
    stop_sent_us = o.end_us - o.answer_deadline_us;
  }
  const int64_t start_sent_us = probes[first->probe].sent_us;
  int64_t previous_sent_us = start_sent_us;
  for (const auto& p : probes) {
    if (p.sent_us <= start_sent_us || p.sent_us > stop_sent_us) continue;
    out.send_stall_us = std::max(out.send_stall_us, p.sent_us - previous_sent_us);
    previous_sent_us = p.sent_us;
    if (p.sent_us < stop_sent_us && !timely(p, o.answer_deadline_us)) ++out.lost;
  }
  return out;
}

}  // namespace fipd::bench
