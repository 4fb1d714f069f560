// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/control/status.hpp"

#include <unistd.h>

#include <charconv>

#include "src/control/protocol.hpp"
#include "src/engine/compose.hpp"

namespace fipd::control {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;

int64_t us(Duration d) { return duration_cast<microseconds>(d).count(); }

void write_lag(JsonWriter& w, const char* key, const loop::LagHistogram& h) {
  w.key(key)
      .begin_object()
      .field("p50", us(h.percentile(0.5)))
      .field("p99", us(h.percentile(0.99)))
      .field("max", us(h.max()))
      .field("count", h.count())
      .end_object();
}

// A field of an event whose value is a number: durations in µs and counts.
bool numeric_key(std::string_view k) {
  return (k.size() > 3 && k.ends_with("_us")) || k == "conntrack_deleted";
}

}  // namespace

int64_t mono_us(TimePoint t) { return us(t.time_since_epoch()); }

void write_failover(JsonWriter& w, const engine::Failover& f) {
  w.begin_object().field("id", f.id).key("fips").begin_array();
  for (const auto& a : f.fips) w.value(a.str());
  w.end_array()
      .field("from", f.from)
      .field("to", f.to)
      .field("cause", f.cause)
      .field("manual", f.manual)
      .field("detected_mono_us", mono_us(f.detected))
      .field("decided_mono_us", mono_us(f.decided))
      .field("committed_mono_us", mono_us(f.committed))
      .field("flushed_mono_us", mono_us(f.flushed))
      .field("detect_to_commit_us", us(f.committed - f.detected))
      .field("conntrack_deleted", f.conntrack_deleted)
      .field("error", f.error)
      .end_object();
}

std::string event_line(const engine::Event& e) {
  std::string out;
  JsonWriter w(&out);
  w.begin_object()
      .field("event", engine::kind_name(e.kind))
      .field("at_mono_us", mono_us(e.at))
      .field("text", e.text);
  for (const auto& [k, v] : e.fields) {
    if (k == "event" || k == "at_mono_us" || k == "text" || k == "failover") continue;
    int64_t n = 0;
    auto r = std::from_chars(v.data(), v.data() + v.size(), n);
    if (numeric_key(k) && r.ec == std::errc() && r.ptr == v.data() + v.size()) {
      w.field(k, n);
    } else {
      w.field(k, v);
    }
  }
  if (e.failover) {
    w.key("failover");
    write_failover(w, *e.failover);
  }
  w.end_object();
  out.push_back('\n');
  return out;
}

StatusWriter::StatusWriter(engine::Engine& engine, const StatusContext& ctx, std::string id)
    : engine_(engine), ctx_(ctx), id_(std::move(id)), w_(nullptr) {}

// The port of probe i of a server, from whatever defined its probes.
std::optional<uint16_t> StatusWriter::probe_port(const std::string& server, size_t i) {
  if (const auto* rp = engine_.runtime_probes(server)) {
    if (i >= rp->size() || (*rp)[i].kind == probe::ProbeKind::icmp) return std::nullopt;
    return (*rp)[i].port;
  }
  const auto& servers = engine_.config().servers;
  if (servers.data() != indexed_data_ || servers.size() != indexed_size_) {
    config_index_.clear();
    for (const auto& sc : servers) config_index_.emplace(sc.name, &sc);
    indexed_data_ = servers.data();
    indexed_size_ = servers.size();
  }
  // The defaults as written: their port is the normalised probe's unless icmp, which has none.
  const probe::ProbeSpec* p = &engine_.config().probe_defaults;
  if (auto it = config_index_.find(server); it != config_index_.end()) {
    if (i >= it->second->probes.size()) return std::nullopt;
    p = &it->second->probes[i];
  }
  if (p->kind == probe::ProbeKind::icmp) return std::nullopt;
  return p->port;
}

std::string StatusWriter::object(const state::Server& s) {
  std::string out;
  w_ = JsonWriter(&out);
  write_server(s);
  return out;
}

std::string StatusWriter::object(const state::FloatingIp& f) {
  std::string out;
  w_ = JsonWriter(&out);
  write_fip(f);
  return out;
}

bool StatusWriter::produce(std::string& out, size_t max_bytes, TimePoint deadline) {
  w_.retarget(&out);
  const size_t start = out.size();
  const auto& inv = engine_.inventory();
  bool timed = deadline != TimePoint::max();
  while (phase_ != Phase::done && out.size() - start < max_bytes &&
         !(timed && RealClock::read() >= deadline)) {
    switch (phase_) {
      case Phase::head:
        write_head();
        phase_ = Phase::servers;
        break;
      case Phase::servers: {
        const auto& m = inv.servers();
        auto it = last_server_ ? m.upper_bound(*last_server_) : m.begin();
        // Entries in small groups, so the size check stays cheap and close.
        for (int n = 0; n < 16 && it != m.end(); ++n, ++it) write_server(it->second);
        if (it == m.end()) {
          w_.end_array().key("floating_ips").begin_array();
          phase_ = Phase::fips;
        } else {
          last_server_ = std::prev(it)->first;
        }
        break;
      }
      case Phase::fips: {
        const auto& m = inv.fips();
        auto it = last_fip_ ? m.upper_bound(*last_fip_) : m.begin();
        for (int n = 0; n < 64 && it != m.end(); ++n, ++it) write_fip(it->second);
        if (it == m.end()) {
          phase_ = Phase::tail;
        } else {
          last_fip_ = std::prev(it)->first;
        }
        break;
      }
      case Phase::tail:
        write_tail();
        phase_ = Phase::done;
        break;
      case Phase::done: break;
    }
  }
  return phase_ == Phase::done;
}

void StatusWriter::write_head() {
  const auto& cfg = engine_.config();
  const auto& c = engine_.counters();
  const auto now = engine_.loop().now();
  w_.begin_object();
  if (!id_.empty()) w_.key("id").raw(id_);
  w_.field("ok", true).key("result").begin_object().key("engine").begin_object();
  w_.field("version", ctx_.version)
      .field("protocol", kProtocolVersion)
      .field("pid", static_cast<int64_t>(::getpid()))
      .field("uptime_us", us(now - ctx_.started))
      .field("now_mono_us", mono_us(now))
      .field("table", cfg.engine.nft_table)
      .field("kernel_in_sync", engine_.kernel_in_sync())
      .field("servers", engine_.inventory().servers().size())
      .field("floating_ips", engine_.inventory().fips().size());
  w_.key("alarms").begin_array();
  for (const auto& a : engine_.active_alarms()) w_.value(a);
  w_.end_array();
  w_.key("counters")
      .begin_object()
      .field("failovers", c.failovers)
      .field("failover_errors", c.failover_errors)
      .field("drift_repairs", c.drift_repairs)
      .field("drift_changes", c.drift_changes)
      .field("audits", c.audits)
      .field("netlink_errors", c.netlink_errors)
      .field("conntrack_deleted", c.conntrack_deleted)
      .field("reloads", c.reloads)
      .field("reload_errors", c.reload_errors)
      .field("alarms", c.alarms)
      .end_object();
  write_lag(w_, "loop_lag_us", engine_.loop().stats().timer_lag);
  const auto& ps = engine_.probes().stats();
  write_lag(w_, "probe_delay_us", ps.schedule_delay);
  w_.field("probes_in_flight", ps.in_flight);
  w_.end_object().key("servers").begin_array();
}

void StatusWriter::write_server(const state::Server& s) {
  const auto now = engine_.loop().now();
  auto ps = engine_.probes().status(s.name);
  TimePoint since = s.health_since;
  if (since == TimePoint{} && ps) since = ps->since;
  w_.begin_object().field("name", s.name).field("address", s.address.str()).key("address6");
  if (s.address6) w_.value(s.address6->str());
  else w_.null();
  w_.field("spare", s.spare)
      .field("standby", s.standby)
      .field("health", state::to_string(s.health))
      .field("since_us_ago", us(now - since))
      .field("cause", s.health_cause)
      .field("maintenance", state::to_string(s.maintenance))
      .field("draining", s.draining)
      .field("fips", engine_.inventory().fips_of(s.name).size())
      .field("probes_late", ps && ps->probes_late);  // its probes are behind their schedule: health is stale
  w_.key("probes").begin_array();
  if (ps) {
    for (size_t i = 0; i < ps->probes.size(); ++i) {
      const auto& p = ps->probes[i];
      w_.begin_object().field("kind", probe::kind_name(p.kind)).key("port");
      if (auto port = probe_port(s.name, i)) w_.value(*port);
      else w_.null();
      w_.field("state", probe::health_name(p.state))
          .field("sent", p.counters.sent)
          .field("failed", p.counters.failed)
          .field("late", p.counters.late);
      if (p.last) {
        w_.field("last_latency_us", us(p.last->latency))
            .field("last_result", probe::describe(p.last->result.cause, p.last->result.detail))
            .field("last_us_ago", us(now - p.last->at));
      } else {
        w_.key("last_latency_us").null().key("last_result").null().key("last_us_ago").null();
      }
      w_.end_object();
    }
  }
  w_.end_array().end_object();
}

void StatusWriter::write_fip(const state::FloatingIp& f) {
  w_.begin_object()
      .field("address", f.address.str())
      .field("server", f.server)
      .field("mode", state::to_string(f.mode))
      .field("pin", f.pin)
      .field("failing_static", f.failing_static)
      .field("held", f.held)
      .key("lockout_ports")
      .begin_array();
  for (uint16_t p : f.lockout_ports) w_.value(p);
  w_.end_array().end_object();
}

void StatusWriter::write_rebuild(const rebuild::Record& r, bool active) {
  w_.begin_object()
      .field("id", r.id)
      .field("server", r.server)
      .field("stage", rebuild::stage_name(r.stage))
      .field("active", active)
      .field("attempt", static_cast<int64_t>(r.attempt))
      .field("manual", r.manual)
      .field("cause", r.cause)
      .field("replacement", r.replacement)
      .field("progress", r.progress)
      .field("error", r.error)
      .field("started_unix_ms", r.started_unix_ms)
      .field("finished_unix_ms", r.finished_unix_ms)
      .key("fips")
      .begin_array();
  for (const auto& a : r.fips) w_.value(a.str());
  w_.end_array().end_object();
}

void StatusWriter::write_tail() {
  w_.end_array().key("rebuilds").begin_object();
  const rebuild::RebuildManager* rm = engine_.rebuilds();
  w_.field("configured", rm != nullptr).field("storm", rm && rm->storm());
  // Those running first, then the last few that ended (oldest first).
  w_.key("records").begin_array();
  if (rm) {
    for (const auto& [server, r] : rm->records()) write_rebuild(r, true);
    for (const auto& r : rm->finished()) write_rebuild(r, false);
  }
  w_.end_array().end_object().key("failovers").begin_array();
  for (const auto& f : engine_.timeline()) write_failover(w_, f);
  w_.end_array().end_object().end_object();
  w_.out().push_back('\n');
}

}  // namespace fipd::control
