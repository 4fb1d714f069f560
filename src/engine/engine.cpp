// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/engine/engine.hpp"

#include <sys/epoll.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <fstream>
#include <utility>

#include "src/probe/duration.hpp"
#include "src/engine/compose.hpp"
#include "base/log.hpp"

namespace fipd::engine {
namespace {

using namespace std::chrono_literals;

std::string micros(Duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

}  // namespace

policy::StormOptions storm_options(const config::EngineConfig& e) {
  return {.share = e.storm_share, .min_failures = e.storm_min_failures, .window = e.storm_window};
}

// Addresses for a person to read: a host with 10,000 floating IPs would
// otherwise log a 300 KB line (journald cuts lines at 48 KiB). The whole list
// stays in the failover's timeline (status, watch).
std::string join(const std::vector<IpAddress>& v) {
  constexpr size_t kShown = 8;
  std::string s;
  for (size_t i = 0; i < v.size() && i < kShown; ++i) s += (s.empty() ? "" : ",") + v[i].str();
  if (v.size() > kShown) s += ",... (" + std::to_string(v.size()) + " in all)";
  return s;
}

const char* kind_name(Event::Kind k) {
  switch (k) {
    case Event::Kind::health: return "health";
    case Event::Kind::failover: return "failover";
    case Event::Kind::alarm: return "alarm";
    case Event::Kind::drift: return "drift";
    case Event::Kind::maintenance: return "maintenance";
    case Event::Kind::inventory: return "inventory";
    case Event::Kind::config: return "config";
    case Event::Kind::rebuild: return "rebuild";
  }
  return "?";
}

Engine::Engine(config::Config cfg, EngineOptions options)
    : cfg_(std::move(cfg)), options_(std::move(options)), storm_(storm_options(cfg_.engine)) {}

Engine::~Engine() {
  // The probe engine cancels its attempts through the prober: it goes first.
  probes_.reset();
  prober_.reset();
  if (store_) {
    if (state_dirty_) write_state();
    (void)store_->flush();
  }
}

Result<std::unique_ptr<Engine>> Engine::create(config::Config cfg, EngineOptions options) {
  std::unique_ptr<Engine> e(new Engine(std::move(cfg), std::move(options)));
  auto loop = loop::Loop::create({.clock = e->options_.clock});
  if (!loop) return std::unexpected(loop.error());
  e->loop_ = std::move(*loop);
  if (!e->options_.socket_path.empty()) e->cfg_.engine.control_socket = e->options_.socket_path;
  auto reader = ConfigReader::create(*e->loop_);
  if (!reader) return std::unexpected(reader.error());
  e->config_reader_ = std::move(*reader);
  std::string path = e->options_.state_path.empty() ? e->cfg_.engine.state_file : e->options_.state_path;
  e->store_ = e->options_.make_store ? e->options_.make_store(path) : std::make_unique<state::FileStore>(path);
  return e;
}

policy::Options Engine::policy_options() const {
  return {.damping = {.min_move_interval = cfg_.engine.min_move_interval,
                      .max_moves = cfg_.engine.max_moves,
                      .flap_window = cfg_.engine.flap_window},
          .auto_maintenance = cfg_.engine.auto_maintenance && !storm_holds_};
}

reconcile::IntentOptions Engine::intent_options() const {
  reconcile::IntentOptions o{.route_table = cfg_.engine.route_table, .conntrack_mark = cfg_.engine.conntrack_mark};
  for (const auto& p : cfg_.engine.management_prefixes) o.management_prefixes.push_back({p.address, p.length});
  return o;
}

Status Engine::start() {
  auto loaded = store_->load();
  if (!loaded) return std::unexpected(loaded.error());
  for (const auto& w : loaded->warnings) log::warning("state: " + w);
  if (loaded->state) saved_ = std::move(*loaded->state);
  auto own = config::read_local_addresses();
  if (!own) return std::unexpected(own.error());
  auto composed = compose(cfg_, saved_, *own);
  for (const auto& d : composed.dropped) log::warning("state: " + d + ", ignoring");
  inv_ = std::move(composed.inventory);
  unplaced_fips_ = std::move(composed.unplaced_fips);
  for (const auto& [name, a] : saved_.added_servers) {
    if (!a.replaces.empty()) replacements_[name] = a.replaces;
    if (!a.probes.empty() && inv_.server(name)) runtime_probes_[name] = a.probes;
  }

  if (auto r = open_kernel(); !r) return r;
  if (auto r = start_probes(); !r) return r;
  if (auto r = start_rebuilds(); !r) return r;

  for (int sig : {SIGTERM, SIGINT}) {
    auto s = loop_->add_signal(sig, [this](const signalfd_siginfo& si) {
      log::notice(std::string("received ") + (si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT") +
                  ": stopping; the kernel keeps the floating IPs as they are");
      loop_->quit();
    });
    if (!s) return std::unexpected(s.error());
  }
  auto hup = loop_->add_signal(SIGHUP, [this](const signalfd_siginfo&) { reload(); });
  if (!hup) return std::unexpected(hup.error());
  if (int fd = store_->result_fd(); fd >= 0) {
    auto src = loop_->add_io(fd, EPOLLIN, [this](uint32_t) {
      store_->drain_result();
      check_durability();
      resolve_durable(store_->written());
    });
    if (!src) return std::unexpected(src.error());
  }

  audit_timer_ = loop_->add_timer(loop_->now() + cfg_.engine.audit_interval, [this](TimePoint now) {
    ++counters_.audits;
    repair_reason_ = "periodic audit";
    repair();
    loop_->rearm_timer(audit_timer_, now + cfg_.engine.audit_interval);
  });
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0) {
    auto half = std::chrono::microseconds(watchdog_usec / 2);
    watchdog_timer_ = loop_->add_timer(loop_->now() + half, [this, half](TimePoint now) {
      sd_notify(0, "WATCHDOG=1");
      loop_->rearm_timer(watchdog_timer_, now + half);
    });
  }
  warn_about_linkdown_routes();
  save_state();
  sd_notify(0, "READY=1");
  log::notice("fipd running", {{"servers", std::to_string(inv_.servers().size())},
                               {"floating_ips", std::to_string(inv_.fips().size())},
                               {"table", cfg_.engine.nft_table}});
  return {};
}

// With the kernel's default, routes over a link without carrier stay in use:
// a probe toward a server behind a dead link waits for its timeout instead of
// failing at once, so a link-down failover takes a timeout longer. Say so
// once; changing routing behaviour for the whole router is the operator's call.
void Engine::warn_about_linkdown_routes() {
  for (const char* family : {"ipv4", "ipv6"}) {
    const std::string path = std::string("/proc/sys/net/") + family + "/conf/all/ignore_routes_with_linkdown";
    std::ifstream in(path);
    int v = 1;
    if (in >> v && v == 0)
      log::warning(std::string("net.") + family + ".conf.all.ignore_routes_with_linkdown is 0: a server behind a " +
                       "link that lost carrier is found down only after a probe timeout; set it to 1 " +
                       "(see README, Operating fipd)",
                   {{"sysctl", std::string("net.") + family + ".conf.all.ignore_routes_with_linkdown"}});
  }
}

Status Engine::open_kernel() {
  auto rec = reconcile::Reconciler::open({.table = cfg_.engine.nft_table, .intent = intent_options()},
                                         options_.make_dataplane);
  if (!rec) return std::unexpected(rec.error());
  reconciler_ = std::move(*rec);
  auto started = reconciler_->start(inv_, [this](const reconcile::KernelView& found) { prefer_kernel_targets(found); });
  if (!started) return std::unexpected(started.error());
  note_flush(started->applied);
  kernel_in_sync_ = true;
  const auto& t = started->table;
  if (t.fallback)
    log::warning("the kernel refused the table flags owner and persist (" + t.fallback->message() +
                     "): the table runs without them, so another process can change it and it does not"
                     " outlive a kernel without persist support",
                 {{"table", cfg_.engine.nft_table}});
  log::info(t.created ? "created the kernel table" : "adopted the kernel table",
            {{"table", cfg_.engine.nft_table},
             {"elements_found", std::to_string(started->adopted_elements)},
             {"routes_found", std::to_string(started->adopted_routes)},
             {"changes", std::to_string(started->applied.changes())}});

  // With the owner flag nobody else can change the table, so there are no
  // foreign nftables changes to watch for; and an nftables listener anywhere
  // on the machine makes every transaction format an event per element
  // (about 3.4x the cost of a 10,000-repoint batch, and 40,000 events for
  // the monitor to read). Watch nftables only when the kernel refused owner.
  bool watch_nft = !t.flags.owner;
  if (options_.attach_kernel_events) {
    options_.attach_kernel_events([this](const nl::MonitorEvent& e) { on_kernel_event(e); });
    return {};
  }
  auto mon = nl::Monitor::open({.table = cfg_.engine.nft_table, .nftables = watch_nft});
  if (!mon) return std::unexpected(mon.error());
  monitor_ = std::move(*mon);
  for (int fd : {monitor_->nft_fd(), monitor_->route_fd()}) {
    if (fd < 0) continue;
    bool nft = fd == monitor_->nft_fd();
    auto src = loop_->add_io(fd, EPOLLIN, [this, nft](uint32_t) {
      auto cb = [this](const nl::MonitorEvent& e) { on_kernel_event(e); };
      auto r = nft ? monitor_->read_nft(cb) : monitor_->read_route(cb);
      if (!r) log::error("kernel monitor: " + r.error().message());
    });
    if (!src) return std::unexpected(src.error());
  }
  return {};
}

Status Engine::register_server(const std::string& name, const std::vector<probe::ProbeSpec>& probes) {
  const state::Server* s = inv_.server(name);
  probe::ServerSpec spec{.id = name, .address = s->address, .probes = probes};
  return probes_->add_server(std::move(spec));
}

Status Engine::start_probes() {
  prober_ = options_.make_prober(*loop_);
  probes_ = std::make_unique<probe::ProbeScheduler>(*loop_, *prober_, options_.probe_options,
                                                 [this](const probe::Transition& t) { on_transition(t); });
  for (const auto& [name, s] : inv_.servers()) {
    const config::ServerConfig* sc = cfg_.server(name);
    if (auto r = register_server(name, probes_of(name)); !r) {
      // A server added at runtime under older, looser bounds keeps being
      // probed, with the defaults, rather than stopping fipd or being lost.
      if (sc || !runtime_probes_.contains(name)) return r;
      log::warning("state: runtime server '" + name + "': its saved probes are refused (" + r.error().context +
                       "); probing it with [probe_defaults]",
                   {{"server", name}});
      runtime_probes_.erase(name);
      if (auto d = register_server(name, probes_of(name)); !d) return d;
    }
  }
  return {};
}

Status Engine::run() {
  auto r = loop_->run();
  sd_notify(0, "STOPPING=1");
  if (state_dirty_) write_state();
  if (auto f = store_->flush(); !f) log::error("state file: " + f.error().message());
  return r;
}

void Engine::on_transition(const probe::Transition& t) {
  state::Server* s = inv_.server(t.server);
  if (!s) return;
  s->health = t.to;
  s->health_since = t.at;
  s->health_cause = t.to == probe::Health::up ? "" : probe::describe(t.cause, t.detail);
  std::string text = "server " + t.server + " " + probe::health_name(t.from) + " -> " + probe::health_name(t.to) +
                     (s->health_cause.empty() ? "" : " (" + s->health_cause + ")");
  auto level = t.to == probe::Health::down ? log::Level::warning : log::Level::info;
  log::write(level, text, {{"server", t.server}, {"health", probe::health_name(t.to)}, {"cause", s->health_cause}});
  publish({.kind = Event::Kind::health,
           .at = t.at,
           .text = text,
           .fields = {{"server", t.server}, {"from", probe::health_name(t.from)},
                      {"to", probe::health_name(t.to)}, {"cause", s->health_cause}}});
  if (t.to == probe::Health::up) s->seen_up = true;
  if (t.to == probe::Health::down) note_failure(t.server, t.at);
  if (rebuild_) rebuild_->on_health(t.server, s->health);
  settle_kept_targets(t.server, t.to);
  if (t.to == probe::Health::suspect) {
    suspect_since_[t.server] = t.at;
  } else {
    // A server found down without being suspect first (its probe failed
    // before the kernel's signal was read) marks the burst by its own time.
    TimePoint seen = t.at;
    if (auto it = suspect_since_.find(t.server); it != suspect_since_.end()) {
      seen = it->second;
      suspect_since_.erase(it);
    }
    if (!undecided_burst_ || *undecided_burst_ < seen) undecided_burst_ = seen;
    if (!undecided_burst_first_ || *undecided_burst_first_ > seen) undecided_burst_first_ = seen;
  }
  if (undecided_at_.emplace(t.server, t.at).second) undecided_.push_back(t.server);
  if (!decide_scheduled_) {
    decide_scheduled_ = true;
    loop_->at_iteration_end([this] { decide_health(); });
  }
}

// One slice of decisions: at 10,000 failing servers a slice holds thousands
// of them (tests/engine, bench_storm), and the loop serves its sources
// between slices. Checked every kSliceCheck servers, as reading the clock
// costs more than deciding for one server that holds nothing.
constexpr Duration kDecideSlice = std::chrono::milliseconds(25);
constexpr size_t kSliceCheck = 64;

// Suspects whose suspicion came with that of a server about to be decided
// (within kSameSignal of the first or last of theirs: one kernel signal, one
// rack; reading 200 carrier events took more than 5 ms under a sanitizer,
// and the first servers were decided, and locked out, before the guard saw
// the storm) are waited for, at most
// kHoldForSuspects after the first change: then the rack is one plan. A
// single failure has no such company and waits for nothing, nor does a
// storm that held on long enough.
constexpr Duration kSameSignal = std::chrono::milliseconds(20);
constexpr Duration kHoldForSuspects = std::chrono::milliseconds(50);

bool Engine::hold_for_suspects() const {
  if (!undecided_burst_ || undecided_.empty()) return false;
  for (const auto& [name, since] : suspect_since_)
    if (since + kSameSignal >= *undecided_burst_first_ && since <= *undecided_burst_ + kSameSignal) return true;
  return false;
}

void Engine::decide_health() {
  decide_scheduled_ = false;
  const TimePoint start = loop_->now();
  // The alarm and the rebuild hold do not wait for the suspects: an operator
  // asking status while the rack's last servers are confirmed sees the storm.
  if (storm_alarm_due_) {
    storm_alarm_due_ = false;
    const std::string what = policy::describe(storm_);
    raise_alarm("storm", "storm guard: " + what +
                             ": the network is the likelier culprit; floating IPs still move to targets that "
                             "answer, but no customer is locked out and no rebuild starts by itself until it ends");
    if (rebuild_) rebuild_->hold_for_storm(what);
  }
  if (!undecided_.empty() && hold_for_suspects()) {
    // undecided_ is in order of arrival: its front waited longest.
    const TimePoint oldest = undecided_at_.at(undecided_.front());
    if (start - oldest < kHoldForSuspects) {
      // Each confirmation schedules decide_health() again; the timer bounds the wait.
      TimePoint until = oldest + kHoldForSuspects;
      if (hold_timer_ == loop::kNoSource) hold_timer_ = loop_->add_timer(until, [this](TimePoint) { decide_health(); });
      else loop_->rearm_timer(hold_timer_, until);
      return;
    }
  }
  if (hold_timer_ != loop::kNoSource) loop_->disarm_timer(hold_timer_);
  undecided_burst_.reset();
  undecided_burst_first_.reset();
  policy::Planner planner(inv_, start, policy_options());
  if (lift_storm_lockouts_) {
    lift_storm_lockouts_ = false;
    storm_.each_failed([&](const std::string& name) { planner.lift_lockout(name); });
  }
  std::unordered_map<std::string, TimePoint> detected;
  TimePoint first = start;
  for (size_t n = 0; !undecided_.empty(); ++n) {
    if (n > 0 && n % kSliceCheck == 0 && loop_->now() - start > kDecideSlice) break;
    std::string name = std::move(undecided_.front());
    undecided_.pop_front();
    auto it = undecided_at_.find(name);
    first = std::min(first, it->second);
    detected.emplace(name, it->second);
    undecided_at_.erase(it);
    planner.react(name);
  }
  execute(planner.take(), first, false, &detected);
  if (!undecided_.empty() && !decide_scheduled_) {
    decide_scheduled_ = true;
    loop_->at_iteration_end([this] { decide_health(); });
  }
}

void Engine::note_failure(const std::string& server, TimePoint at) {
  if (!storm_.failed(server, at, inv_.servers().size(), inv_.server(server) != nullptr)) return;
  storm_holds_ = true;
  lift_storm_lockouts_ = true;
  storm_alarm_due_ = true;  // once the iteration's failures are all counted: its decide_health() is scheduled
  check_storm();
}

// The guard ends once a whole window passes without enough failures: looked
// at when the window's oldest failure ages out.
void Engine::check_storm() {
  if (!storm_holds_) return;
  if (!storm_.active(loop_->now())) {
    storm_holds_ = false;
    log::notice("storm guard: the storm is over; a server that fails now is locked out and rebuilt as usual");
    clear_alarm("storm");
    return;
  }
  TimePoint next = *storm_.first() + storm_.options().window + std::chrono::milliseconds(1);
  if (storm_timer_ == loop::kNoSource) storm_timer_ = loop_->add_timer(next, [this](TimePoint) { check_storm(); });
  else loop_->rearm_timer(storm_timer_, next);
}

// Each server once: in a storm many moves share a spare, and its floating
// IPs are gathered once, not once per move.
std::vector<IpAddress> Engine::touched_addresses(const policy::Plan& plan) const {
  std::vector<IpAddress> out;
  std::set<std::string> servers;
  for (const auto& m : plan.moves) {
    out.insert(out.end(), m.fips.begin(), m.fips.end());
    servers.insert(m.from);
    servers.insert(m.to);
  }
  servers.insert(plan.enter_maintenance.begin(), plan.enter_maintenance.end());
  servers.insert(plan.leave_maintenance.begin(), plan.leave_maintenance.end());
  for (const auto& name : servers) {
    if (const state::Server* s = inv_.server(name)) {
      out.push_back(s->address);
      if (s->address6) out.push_back(*s->address6);
      for (const auto& f : inv_.fips_of(name)) out.push_back(f);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void Engine::execute(policy::Plan plan, TimePoint detected, bool manual,
                     const std::unordered_map<std::string, TimePoint>* detected_at) {
  if (plan.empty()) return;
  ++counters_.plans;
  TimePoint decided = loop_->now();
  // Addresses are gathered before and after the plan is recorded: a move
  // changes which floating IPs a server has.
  std::vector<IpAddress> touched = touched_addresses(plan);
  policy::record_plan(inv_, plan, decided);
  for (const auto& a : touched_addresses(plan)) touched.push_back(a);
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());

  auto applied = reconciler_->apply(inv_, touched);
  TimePoint committed = loop_->now();
  std::string error;
  if (!applied) {
    error = applied.error().message();
    ++counters_.netlink_errors;
    kernel_in_sync_ = false;
    raise_alarm("kernel", "the kernel refused a change: " + error + "; retrying at the next audit");
  } else {
    kernel_in_sync_ = true;
    clear_alarm("kernel");
  }

  // The reconciler dropped the conntrack entries of moved nat floating IPs
  // (they pin established flows to the old server) right after the commit.
  size_t deleted = applied ? applied->conntrack_deleted : 0;
  if (applied) note_flush(*applied);
  TimePoint flushed = committed;
  if (applied) committed -= applied->flush_time;

  for (const auto& name : plan.enter_maintenance) {
    log::warning("server " + name + " enters maintenance: its customers are locked out", {{"server", name}});
    publish({.kind = Event::Kind::maintenance, .at = decided, .text = "server " + name + " in maintenance (failed)",
             .fields = {{"server", name}, {"maintenance", "failed"}}});
  }
  for (const auto& name : plan.leave_maintenance) {
    const state::Server* s = inv_.server(name);
    log::notice("server " + name +
                    (s && s->health == probe::Health::up ? " is healthy again and leaves maintenance"
                                                         : " leaves maintenance: the storm guard lifted its lockout"),
                {{"server", name}});
    publish({.kind = Event::Kind::maintenance, .at = decided, .text = "server " + name + " out of maintenance",
             .fields = {{"server", name}, {"maintenance", "none"}}});
  }
  if (rebuild_) {
    for (const auto& name : plan.enter_maintenance) {
      const state::Server* s = inv_.server(name);
      if (!s) continue;
      std::vector<IpAddress> served;  // moved away just now, or still there (failing static)
      for (const auto& m : plan.moves)
        if (m.from == name) served.insert(served.end(), m.fips.begin(), m.fips.end());
      rebuild_->on_server_failed(name, "server " + name + " down: " + s->health_cause, std::move(served));
    }
    for (const auto& m : plan.moves) rebuild_->on_moved(m.from, m.to);
  }
  if (!plan.moves.empty()) {
    std::vector<Failover> done;
    for (const auto& m : plan.moves) {
      TimePoint seen = detected;
      if (detected_at)
        if (auto it = detected_at->find(m.from); it != detected_at->end()) seen = it->second;
      done.push_back({.id = next_failover_id_++, .fips = m.fips, .from = m.from, .to = m.to, .cause = m.cause,
                      .manual = manual, .detected = seen, .decided = decided, .committed = committed,
                      .flushed = flushed, .conntrack_deleted = deleted, .error = error});
    }
    // A failover is reported once its state is durable, so that whoever
    // acts on the report (an operator, a watcher) never sees a fipd killed
    // right after come back and undo it. The loop does not wait for that:
    // the kernel already holds the move, and the failovers of a storm share
    // a few writes.
    when_durable([this, done = std::move(done)](const Status& st) mutable {
      if (!st) log::error("state file: " + st.error().message() + "; reporting the failover all the same");
      for (auto& f : done) record(std::move(f));
    });
  }
  // Each server's decision is a log line of its own (as each failover is);
  // the alarms of a storm's many servers are told as one (raise_alarm()).
  for (const auto& a : plan.alarms) {
    const std::string kind(policy::to_string(a.kind)), text = a.message + " [" + join(a.fips) + "]";
    log::notice(kind + ": " + text, {{"server", a.server}});
    raise_alarm(kind + ":" + a.server, text);
  }
  // A wait that ended, by a move or because the server serves again, ends
  // its alarms.
  auto clear_for = [this](const std::string& server) {
    for (auto kind : {policy::Alarm::Kind::no_target, policy::Alarm::Kind::held, policy::Alarm::Kind::pinned_down})
      clear_alarm(std::string(policy::to_string(kind)) + ":" + server);
  };
  for (const auto& m : plan.moves)
    if (inv_.fips_of(m.from).empty()) clear_for(m.from);
  for (const auto& a : plan.wait_over)
    if (const auto* f = inv_.fip(a)) clear_for(f->server);
  if (plan.retry_at) schedule_sweep(*plan.retry_at);
  note_plan(plan, touched);
}

void Engine::record(Failover f) {
  ++counters_.failovers;
  if (!f.error.empty()) ++counters_.failover_errors;
  std::string text = std::string(f.manual ? "moved " : "failover ") + join(f.fips) + " " + f.from + " -> " + f.to +
                     " (" + f.cause + "): detect->commit " + micros(f.committed - f.detected) + "us";
  std::vector<std::pair<std::string, std::string>> fields = {
      {"fips", join(f.fips)},
      {"from", f.from},
      {"to", f.to},
      {"cause", f.cause},
      {"decide_us", micros(f.decided - f.detected)},
      {"commit_us", micros(f.committed - f.decided)},
      {"flush_us", micros(f.flushed - f.committed)},
      {"conntrack_deleted", std::to_string(f.conntrack_deleted)}};
  if (!f.error.empty()) fields.emplace_back("error", f.error);
  log::write(f.error.empty() ? log::Level::notice : log::Level::error, text,
             {{"fips", join(f.fips)}, {"from", f.from}, {"to", f.to}, {"decide_us", fields[4].second},
              {"commit_us", fields[5].second}, {"flush_us", fields[6].second}});
  timeline_.push_back(std::move(f));
  while (timeline_.size() > cfg_.engine.timeline_history) timeline_.pop_front();
  publish({.kind = Event::Kind::failover, .at = timeline_.back().committed, .text = text, .fields = fields,
           .failover = &timeline_.back()});
}

void Engine::schedule_sweep(TimePoint when) {
  auto fire = [this](TimePoint) {
    execute(policy::sweep(inv_, loop_->now(), policy_options()), loop_->now(), false);
  };
  if (sweep_timer_ == loop::kNoSource) {
    sweep_timer_ = loop_->add_timer(when, fire);
  } else {
    loop_->rearm_timer(sweep_timer_, when);
  }
}

void Engine::note_fip(const IpAddress& fip) {
  dirty_.fips.insert(fip);
  schedule_write();
}

void Engine::note_server(const std::string& name) {
  dirty_.servers.insert(name);
  schedule_write();
}

void Engine::note_rebuilds() {
  dirty_.rebuilds = true;
  schedule_write();
}

void Engine::note_plan(const policy::Plan& plan, const std::vector<IpAddress>& touched) {
  // A plan changes targets (of the floating IPs among `touched`: the rest
  // are servers' addresses, which capture nothing) and maintenance.
  dirty_.fips.insert(touched.begin(), touched.end());
  for (const auto& m : plan.moves) dirty_.servers.insert({m.from, m.to});
  dirty_.servers.insert(plan.enter_maintenance.begin(), plan.enter_maintenance.end());
  dirty_.servers.insert(plan.leave_maintenance.begin(), plan.leave_maintenance.end());
  schedule_write();
}

void Engine::save_state() {
  dirty_.all = true;
  schedule_write();
}

void Engine::schedule_write() {
  if (state_dirty_) return;
  state_dirty_ = true;
  loop_->defer([this] {
    if (!state_dirty_) return;
    write_state();
    bind_waiters();
  });
}

CaptureInputs Engine::capture_inputs() const {
  return {.cfg = cfg_, .unplaced = unplaced_fips_, .replacements = replacements_, .probes = runtime_probes_};
}

state::RuntimeState Engine::captured_state() const {
  state::RuntimeState rt = capture(inv_, capture_inputs());
  rt.extra = rebuild_ ? rebuild_->to_json() : saved_.extra;
  return rt;
}

void Engine::write_state() {
  state_dirty_ = false;
  Dirty dirty = std::exchange(dirty_, {});
  state::Delta change;
  if (dirty.all) {
    change = state::diff(saved_, captured_state());
  } else {
    change = capture_changes(inv_, capture_inputs(), saved_, dirty.fips, dirty.servers);
    if (dirty.rebuilds && rebuild_)
      if (std::string extra = rebuild_->to_json(); extra != saved_.extra) change.extra = std::move(extra);
  }
  if (change.empty()) return;
  state::apply(saved_, change);
  saved_seq_ = store_->save(std::move(change));
  ++counters_.state_saves;
}

void Engine::resolve_durable(const state::Written& w) {
  while (!durable_waiters_.empty() && durable_waiters_.front().seq && *durable_waiters_.front().seq <= w.seq) {
    auto done = std::move(durable_waiters_.front().done);
    durable_waiters_.pop_front();
    if (w.error) done(std::unexpected(*w.error));
    else done({});
  }
}

void Engine::publish(Event e) {
  // Listeners may unsubscribe during delivery: iterate over a copy of ids.
  std::vector<uint64_t> ids;
  for (const auto& [id, l] : listeners_) ids.push_back(id);
  for (uint64_t id : ids)
    if (auto it = listeners_.find(id); it != listeners_.end()) it->second(e);
}

uint64_t Engine::subscribe(Listener l) {
  uint64_t id = next_listener_++;
  listeners_[id] = std::move(l);
  return id;
}

void Engine::unsubscribe(uint64_t id) { listeners_.erase(id); }

// Every alarm goes through the book: one announcement per condition, and a
// flapping one summarised with its count (src/engine/alarms.hpp). The
// announcements wait for the iteration's end, where more than
// kAnnouncedEach of a kind (a storm's servers without a standby) are told as
// one: a thousand servers must not cost a thousand alarm lines.
constexpr size_t kAnnouncedEach = 3;
// Status lists this many alarms of a kind, and one line for the rest.
constexpr size_t kShownEach = 10;

void Engine::raise_alarm(const std::string& key, const std::string& text) {
  auto n = alarms_.raise(key, text, loop_->now());
  counters_.alarms = alarms_.raised_total();
  if (n) pending_notices_.push_back(std::move(*n));
  schedule_alarm_summaries();
}

void Engine::clear_alarm(const std::string& key) {
  if (auto n = alarms_.clear(key, loop_->now())) pending_notices_.push_back(std::move(*n));
  schedule_alarm_summaries();
}

void Engine::announce(const AlarmNotice& n) {
  std::vector<std::pair<std::string, std::string>> fields = {{"alarm", n.key},
                                                             {"state", n.raised ? "raised" : "cleared"}};
  if (n.repeats > 0) fields.emplace_back("repeats", std::to_string(n.repeats));
  if (n.count > 1) fields.emplace_back("count", std::to_string(n.count));
  if (n.raised) log::error("ALARM " + n.text + n.summary, {{"alarm", n.key}});
  else log::notice("alarm cleared" + n.summary, {{"alarm", n.key}});
  publish({.kind = Event::Kind::alarm, .at = loop_->now(),
           .text = n.raised ? n.text + n.summary : "alarm " + n.key + " cleared" + n.summary,
           .fields = std::move(fields)});
}

// Once per loop iteration, however many alarms it raised or cleared: its
// notices are grouped and announced, and the next summary is looked for (a
// walk over every alarm, and a storm raises one per failed server).
void Engine::schedule_alarm_summaries() {
  if (alarm_schedule_pending_) return;
  alarm_schedule_pending_ = true;
  loop_->at_iteration_end([this] {
    alarm_schedule_pending_ = false;
    for (const auto& n : group_notices(std::exchange(pending_notices_, {}), kAnnouncedEach)) announce(n);
    arm_alarm_summaries();
  });
}

void Engine::arm_alarm_summaries() {
  auto next = alarms_.next_due();
  if (!next) return;
  if (alarm_timer_ == loop::kNoSource) {
    alarm_timer_ = loop_->add_timer(*next, [this](TimePoint now) {
      for (const auto& n : group_notices(alarms_.due(now), kAnnouncedEach)) announce(n);
      if (auto again = alarms_.next_due()) loop_->rearm_timer(alarm_timer_, *again);
    });
  } else {
    loop_->rearm_timer(alarm_timer_, *next);
  }
}

std::vector<std::string> Engine::active_alarms() const { return alarms_.active_texts(kShownEach); }

}  // namespace fipd::engine
