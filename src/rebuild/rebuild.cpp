// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/rebuild/rebuild.hpp"

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "src/json/bounded.hpp"
#include "src/state/runtime_state.hpp"

namespace fipd::rebuild {
namespace {

using nlohmann::json;
constexpr size_t kFinishedKept = 32;

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<Stage> stage_from(std::string_view s) {
  for (int i = 0; i <= static_cast<int>(Stage::failed); ++i)
    if (s == stage_name(static_cast<Stage>(i))) return static_cast<Stage>(i);
  return std::nullopt;
}

json addresses_json(const std::vector<IpAddress>& v) {
  json out = json::array();
  for (const auto& a : v) out.push_back(a.str());
  return out;
}

std::vector<IpAddress> addresses_from(const json& j) {
  std::vector<IpAddress> out;
  if (j.is_array())
    for (const auto& a : j)
      if (a.is_string())
        if (auto ip = IpAddress::parse(a.get<std::string>())) out.push_back(*ip);
  return out;
}

void merge(std::vector<IpAddress>& into, const std::vector<IpAddress>& more) {
  for (const auto& a : more)
    if (std::find(into.begin(), into.end(), a) == into.end()) into.push_back(a);
}

std::string ms_text(std::chrono::nanoseconds d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(d).count()) + "ms";
}

// A line that means to be the result, rather than progress.
bool looks_like_replacement(std::string_view line) {
  return line.front() == '{' && line.find("\"replacement\"") != std::string_view::npos;
}

json record_json(const Record& r) {
  json fips = addresses_json(r.fips);
  return {{"id", r.id},           {"server", r.server},     {"stage", stage_name(r.stage)},
          {"attempt", r.attempt}, {"manual", r.manual},     {"cause", r.cause},
          {"replacement", r.replacement}, {"error", r.error}, {"progress", r.progress},
          {"started_unix_ms", r.started_unix_ms}, {"finished_unix_ms", r.finished_unix_ms}, {"fips", fips}};
}

std::optional<Record> record_from(const json& j) {
  if (!j.is_object()) return std::nullopt;
  Record r;
  auto str = [&](const char* k, std::string& out) {
    if (auto it = j.find(k); it != j.end() && it->is_string()) out = it->get<std::string>();
  };
  str("id", r.id);
  str("server", r.server);
  str("cause", r.cause);
  str("replacement", r.replacement);
  str("error", r.error);
  str("progress", r.progress);
  std::string stage;
  str("stage", stage);
  auto s = stage_from(stage);
  if (r.id.empty() || r.server.empty() || !s) return std::nullopt;
  r.stage = *s;
  if (auto it = j.find("attempt"); it != j.end() && it->is_number_unsigned()) r.attempt = it->get<unsigned>();
  if (auto it = j.find("manual"); it != j.end() && it->is_boolean()) r.manual = it->get<bool>();
  for (const char* k : {"started_unix_ms", "finished_unix_ms"})
    if (auto it = j.find(k); it != j.end() && it->is_number_integer())
      (std::string(k) == "started_unix_ms" ? r.started_unix_ms : r.finished_unix_ms) = it->get<int64_t>();
  if (auto it = j.find("fips"); it != j.end()) r.fips = addresses_from(*it);
  return r;
}

}  // namespace

const char* stage_name(Stage s) {
  switch (s) {
    case Stage::settling: return "settling";
    case Stage::queued: return "queued";
    case Stage::rebuilding: return "rebuilding";
    case Stage::retry_wait: return "retry-wait";
    case Stage::awaiting_registration: return "awaiting-registration";
    case Stage::registered: return "registered";
    case Stage::replacement_up: return "replacement-up";
    case Stage::repointed: return "repointed";
    case Stage::done: return "done";
    case Stage::failed: return "failed";
  }
  return "?";
}

Result<std::unique_ptr<RebuildManager>> RebuildManager::create(RebuildHost& host, config::RebuildConfig cfg) {
  std::unique_ptr<RebuildManager> m(new RebuildManager(host, std::move(cfg)));
  auto http = HttpClient::create(host.rebuild_loop());
  if (!http) return std::unexpected(http.error());
  m->http_ = std::move(*http);
  return m;
}

RebuildManager::~RebuildManager() {
  for (auto& [server, run] : running_)
    if (run.timer != loop::kNoSource) host_.rebuild_loop().remove(run.timer);
}

size_t RebuildManager::active() const {
  size_t n = 0;
  for (const auto& [s, r] : records_) n += r.stage == Stage::rebuilding;
  return n;
}

void RebuildManager::set_stage(Record& r, Stage s, const std::string& detail) {
  r.stage = s;
  std::string text = "rebuild " + r.id + " of " + r.server + ": " + stage_name(s) + (detail.empty() ? "" : " (" + detail + ")");
  host_.rebuild_event(text, {{"rebuild", r.id}, {"server", r.server}, {"stage", stage_name(s)}, {"detail", detail}},
                      s == Stage::failed || s == Stage::retry_wait);
  host_.rebuild_changed();
}

// The engine's storm guard tripped (src/policy/storm.hpp): automatic
// rebuilds stop, settling ones included, until an operator starts one.
void RebuildManager::hold_for_storm(const std::string& why) {
  if (!storm_) {
    storm_ = true;
    host_.rebuild_alarm("rebuild-storm",
                        "storm guard: " + why + "; this looks like the network, not the servers: automatic "
                        "rebuilds are stopped until an operator starts one (fipctl rebuild SERVER)",
                        true);
  }
  drop_settling("the storm guard holds automatic rebuilds");
}

void RebuildManager::drop_settling(const std::string& why) {
  std::vector<std::string> dropped;
  for (const auto& [server, r] : records_)
    if (r.stage == Stage::settling) dropped.push_back(server);
  for (const auto& server : dropped) {
    if (auto run = running_.find(server); run != running_.end()) {
      if (run->second.timer != loop::kNoSource) host_.rebuild_loop().remove(run->second.timer);
      running_.erase(run);
    }
    records_.erase(server);
    host_.rebuild_event("not rebuilding " + server + ": " + why, {{"server", server}}, true);
  }
  if (!dropped.empty()) host_.rebuild_changed();
}

void RebuildManager::on_server_failed(const std::string& server, const std::string& cause,
                                      std::vector<IpAddress> fips) {
  if (records_.contains(server)) return;
  // Kept whether or not a rebuild starts now: one started later, by hand
  // and after a restart perhaps, hands them back. Saved with the failover's
  // own write, which its report waits for; a call-out waits for its record.
  merge(stand_ins_[server], fips);
  host_.rebuild_changed();
  if (!cfg_.automatic) return;
  if (storm_) {
    host_.rebuild_event("not rebuilding " + server + ": the storm guard holds automatic rebuilds",
                        {{"server", server}}, true);
    return;
  }
  if (cfg_.settle <= std::chrono::nanoseconds::zero() || !host_.rebuild_storm_possible())
    return begin(server, cause, false, std::move(fips));
  Record& r = open_record(server, cause, false, std::move(fips));
  set_stage(r, Stage::settling, "starts in " + ms_text(cfg_.settle) + " unless the storm guard trips");
  arm(server, cfg_.settle, &RebuildManager::on_settled);
}

void RebuildManager::on_settled(const std::string& server) {
  auto it = records_.find(server);
  if (it == records_.end() || it->second.stage != Stage::settling) return;
  const state::Server* s = host_.rebuild_inventory().server(server);
  if (s && s->health == state::Health::up && s->maintenance == state::Maintenance::none) {
    records_.erase(it);
    running_.erase(server);
    host_.rebuild_event("not rebuilding " + server + ": it recovered while the rebuild settled",
                        {{"server", server}}, false);
    host_.rebuild_changed();
    return;
  }
  queue(it->second);
}

Status RebuildManager::start_manual(const std::string& server) {
  if (!host_.rebuild_inventory().server(server)) return fail(ENOENT, "unknown server " + server);
  if (auto it = records_.find(server); it != records_.end() && it->second.stage == Stage::settling) {
    // An operator does not wait for the storm guard.
    it->second.manual = true;
    queue(it->second);
    return {};
  }
  if (auto it = records_.find(server); it != records_.end())
    return fail(EALREADY, "a rebuild of " + server + " is already " + stage_name(it->second.stage) + " (" +
                                  it->second.id + ")");
  if (storm_) {
    storm_ = false;
    host_.rebuild_alarm("rebuild-storm", "", false);
  }
  begin(server, "operator", true, {});
  return {};
}

void RebuildManager::begin(const std::string& server, const std::string& cause, bool manual,
                           std::vector<IpAddress> fips) {
  queue(open_record(server, cause, manual, std::move(fips)));
}

Record& RebuildManager::open_record(const std::string& server, const std::string& cause, bool manual,
                                    std::vector<IpAddress> fips) {
  Record r{.id = server + "-" + std::to_string(unix_ms()) + "-" + std::to_string(next_id_++),
           .server = server,
           .stage = Stage::settling,
           .manual = manual,
           .cause = cause,
           .started_unix_ms = unix_ms(),
           .fips = std::move(fips)};
  merge(r.fips, {host_.rebuild_inventory().fips_of(server).begin(), host_.rebuild_inventory().fips_of(server).end()});
  // A rebuild started by hand after a failover (the storm guard held the
  // automatic one back) still owes the customer's floating IPs to the
  // replacement: those a spare took from this server, as this fipd saw it
  // happen, or as the state file remembers from a fipd before it.
  merge(r.fips, host_.fips_displaced_from(server));
  if (auto it = stand_ins_.find(server); it != stand_ins_.end()) {
    merge(r.fips, it->second);
    stand_ins_.erase(it);
  }
  std::sort(r.fips.begin(), r.fips.end());
  return records_[server] = std::move(r);
}

void RebuildManager::queue(Record& r) {
  if (auto run = running_.find(r.server); run != running_.end() && run->second.timer != loop::kNoSource)
    host_.rebuild_loop().remove(std::exchange(run->second.timer, loop::kNoSource));
  host_.hold_for_rebuild(r.server);
  set_stage(r, Stage::queued, r.cause);
  pump();
}

void RebuildManager::pump() {
  while (active() < cfg_.max_concurrent) {
    Record* next = nullptr;
    for (auto& [s, r] : records_)
      if (r.stage == Stage::queued && (!next || r.started_unix_ms < next->started_unix_ms)) next = &r;
    if (!next) return;
    call_out(*next);
  }
}

std::string RebuildManager::document(const Record& r) const {
  const state::Server* s = host_.rebuild_inventory().server(r.server);
  json fips = json::array();
  for (const auto& a : r.fips) fips.push_back(a.str());
  json server = {{"name", r.server}};
  if (s) {
    server["address"] = s->address.str();
    server["address6"] = s->address6 ? json(s->address6->str()) : json(nullptr);
  }
  return bounded_json::dump(json{{"rebuild_id", r.id},
                                 {"attempt", r.attempt},
                                 {"server", server},
                                 {"floating_ips", fips},
                                 {"cause", r.cause},
                                 {"manual", r.manual},
                                 {"control_socket", host_.control_socket()}});
}

void RebuildManager::call_out(Record& r) {
  ++r.attempt;
  set_stage(r, Stage::rebuilding, "attempt " + std::to_string(r.attempt));
  // A fipd killed once the hook runs must find this rebuild when it comes
  // back, so the hook waits until the record is on disk (the loop does not).
  host_.rebuild_durable([this, server = r.server, attempt = r.attempt] {
    auto it = records_.find(server);
    // Dropped, or called out again, meanwhile: no longer this call-out's.
    if (it == records_.end() || it->second.stage != Stage::rebuilding || it->second.attempt != attempt) return;
    start_call_out(it->second);
  });
}

void RebuildManager::start_call_out(Record& r) {
  std::string server = r.server;
  pending_replacement_.erase(server);
  running_[server].progress = {};
  if (!cfg_.hook.empty()) {
    std::vector<std::pair<std::string, std::string>> env = cfg_.environment;
    const state::Server* s = host_.rebuild_inventory().server(server);
    env.emplace_back("FIPD_REBUILD_ID", r.id);
    env.emplace_back("FIPD_SERVER", server);
    env.emplace_back("FIPD_SERVER_ADDRESS", s ? s->address.str() : "");
    env.emplace_back("FIPD_ATTEMPT", std::to_string(r.attempt));
    env.emplace_back("FIPD_SOCKET", host_.control_socket());
    auto hook = HookProcess::start(
        host_.rebuild_loop(), {.path = cfg_.hook, .environment = env, .input = document(r), .timeout = cfg_.timeout},
        [this, server](const HookLine& line) { on_hook_line(server, line); },
        [this, server](const HookExit& e) { on_hook_exit(server, e); });
    if (!hook) return call_out_failed(r, "cannot start the hook: " + hook.error().message());
    running_[server].hook = std::move(*hook);
    return;
  }
  auto posted = http_->post(cfg_.webhook, document(r), cfg_.timeout, [this, server](const HttpResult& res) {
    auto it = records_.find(server);
    if (it == records_.end() || it->second.stage != Stage::rebuilding) return;
    if (!res.ok()) return call_out_failed(it->second, "webhook " + cfg_.webhook + ": " + res.describe());
    set_stage(it->second, Stage::awaiting_registration, "webhook accepted: " + res.describe());
    arm(server, cfg_.healthy_timeout, &RebuildManager::on_healthy_timeout);
    pump();
  });
  if (!posted) call_out_failed(r, posted.error().message());
}

void RebuildManager::on_hook_line(const std::string& server, const HookLine& line) {
  auto it = records_.find(server);
  if (it == records_.end() || line.text.empty()) return;
  Record& r = it->second;
  if (!line.from_stderr && looks_like_replacement(line.text)) {
    if (line.truncated) {
      r.error = "the hook's replacement line is longer than " + std::to_string(kMaxHookLine / 1024) +
                " KiB: ignored";
      return;
    }
    auto rep = parse_replacement(line.text, host_.rebuild_probe_defaults());
    if (rep) pending_replacement_[server] = *rep;
    else r.error = rep.error().context;
    return;
  }
  r.progress.assign(line.text);
  show_progress(r, running_[server], line.text, line.from_stderr);
}

void RebuildManager::show_progress(Record& r, Running& run, std::string_view line, bool from_stderr) {
  ProgressGate& g = run.progress;
  const TimePoint now = host_.rebuild_loop().now();
  if (now - g.window >= std::chrono::seconds(1)) {
    flush_progress(r, run);
    g.window = now;
    g.shown = 0;
  }
  if (g.shown >= kProgressPerSecond) {
    ++g.held;
    return;
  }
  ++g.shown;
  host_.rebuild_event("rebuild " + r.id + " of " + r.server + ": " + std::string(line),
                      {{"rebuild", r.id}, {"server", r.server}, {"progress", std::string(line)}}, from_stderr);
}

void RebuildManager::flush_progress(Record& r, Running& run) {
  if (run.progress.held == 0) return;
  const std::string text = "... " + std::to_string(run.progress.held) + " more lines";
  run.progress.held = 0;
  host_.rebuild_event("rebuild " + r.id + " of " + r.server + ": " + text,
                      {{"rebuild", r.id}, {"server", r.server}, {"progress", text}}, false);
}

void RebuildManager::on_hook_exit(const std::string& server, const HookExit& e) {
  Running& run = running_[server];
  run.hook.reset();
  auto it = records_.find(server);
  if (it == records_.end()) return;
  Record& r = it->second;
  flush_progress(r, run);
  if (e.timed_out || e.signaled || e.code != 0) return call_out_failed(r, "hook " + e.describe());
  auto rep = pending_replacement_.find(server);
  if (rep == pending_replacement_.end() || !rep->second) {
    std::string why = r.error.empty() ? "the hook exited 0 without a {\"replacement\": ...} line" : r.error;
    return call_out_failed(r, why);
  }
  Replacement accepted = *rep->second;
  pending_replacement_.erase(rep);
  accept_replacement(r, accepted);
}

void RebuildManager::call_out_failed(Record& r, const std::string& why) {
  r.error = why;
  std::string server = r.server;
  if (r.attempt <= cfg_.retries) {
    auto delay = cfg_.backoff * (1LL << std::min(r.attempt - 1, 20u));
    set_stage(r, Stage::retry_wait, why + "; retry " + std::to_string(r.attempt) + " of " +
                                        std::to_string(cfg_.retries) + " in " +
                                        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(delay).count()) + "ms");
    arm(server, delay, &RebuildManager::on_retry);
  } else {
    host_.rebuild_alarm("rebuild:" + server, "rebuild of " + server + " failed after " + std::to_string(r.attempt) +
                                                 " attempts: " + why + "; it stays in maintenance",
                        true);
    finish(r, Stage::failed);
    host_.give_up(server);
  }
  pump();
}

void RebuildManager::arm(const std::string& server, std::chrono::nanoseconds after,
                         void (RebuildManager::*what)(const std::string&)) {
  Running& run = running_[server];
  auto when = host_.rebuild_loop().now() + after;
  auto fire = [this, server, what](TimePoint) {
    running_[server].timer = loop::kNoSource;  // one-shot; freed below
    (this->*what)(server);
  };
  if (run.timer != loop::kNoSource) host_.rebuild_loop().remove(run.timer);
  run.timer = host_.rebuild_loop().add_timer(when, fire);
}

void RebuildManager::on_retry(const std::string& server) {
  auto it = records_.find(server);
  if (it == records_.end() || it->second.stage != Stage::retry_wait) return;
  set_stage(it->second, Stage::queued, "retrying");
  pump();
}

void RebuildManager::accept_replacement(Record& r, const Replacement& rep) {
  if (auto s = host_.register_replacement(r.server, rep); !s)
    return call_out_failed(r, "cannot register replacement " + rep.name + ": " + s.error().context);
  // register_replacement tells us through on_registered.
  pump();
}

Status RebuildManager::on_registered(const std::string& failed, const std::string& replacement) {
  auto it = records_.find(failed);
  if (it == records_.end()) {
    // Registered by hand for a server no rebuild was running for: follow it all the same.
    begin(failed, "replacement registered by an operator", true, {});
    it = records_.find(failed);
  }
  Record& r = it->second;
  r.replacement = replacement;
  r.error.clear();
  set_stage(r, Stage::registered, "replacement " + replacement + " waits for its probes");
  arm(failed, cfg_.healthy_timeout, &RebuildManager::on_healthy_timeout);
  if (const state::Server* s = host_.rebuild_inventory().server(replacement); s && s->health == state::Health::up)
    on_health(replacement, state::Health::up);
  pump();
  return {};
}

void RebuildManager::on_healthy_timeout(const std::string& server) {
  auto it = records_.find(server);
  if (it == records_.end()) return;
  Record& r = it->second;
  if (r.stage == Stage::awaiting_registration)
    return call_out_failed(r, "no replacement was registered within the healthy timeout");
  if (r.stage != Stage::registered) return;
  std::string name = r.replacement;
  host_.drop_replacement(name);
  r.replacement.clear();
  call_out_failed(r, "replacement " + name + " did not become healthy in time");
}

void RebuildManager::on_health(const std::string& server, state::Health h) {
  for (auto& [failed, r] : records_) {
    if (r.replacement != server || r.stage != Stage::registered || h != state::Health::up) continue;
    set_stage(r, Stage::replacement_up, server + " passed its probes");
    check_done(r);
    return;
  }
}

void RebuildManager::on_moved(const std::string& from, const std::string&) {
  if (auto it = records_.find(from); it != records_.end()) check_done(it->second);
}

void RebuildManager::check_done(Record& rec) {
  if (rec.stage != Stage::replacement_up) return;
  const std::string server = rec.server;
  if (!handing_over_) {
    // Copies: the hand-over's moves may finish this rebuild, erasing `rec`.
    const std::vector<IpAddress> fips = rec.fips;
    const std::string replacement = rec.replacement;
    handing_over_ = true;
    host_.hand_over(server, fips, replacement);
    handing_over_ = false;
  }
  // The hand-over's moves come back through on_moved(), which may have
  // finished this rebuild already.
  auto it = records_.find(server);
  if (it == records_.end()) return;
  Record& r = it->second;
  const auto& inv = host_.rebuild_inventory();
  if (!inv.fips_of(r.server).empty()) return;  // the policy has not moved them yet
  std::string moved;
  for (const auto& a : r.fips) moved += (moved.empty() ? "" : ",") + a.str();
  set_stage(r, Stage::repointed,
            (moved.empty() ? std::string("no floating IPs to move") : moved + " now on " + r.replacement) +
                "; lockout released");
  host_.rebuild_alarm("rebuild:" + r.server, "", false);
  finish(r, Stage::done);
  host_.retire(server);
}

void RebuildManager::finish(Record& r, Stage final_stage) {
  r.finished_unix_ms = unix_ms();
  std::string server = r.server;
  Record done = r;
  done.stage = final_stage;
  if (auto run = running_.find(server); run != running_.end()) {
    if (run->second.timer != loop::kNoSource) host_.rebuild_loop().remove(run->second.timer);
    running_.erase(run);
  }
  records_.erase(server);
  set_stage(done, final_stage,
            final_stage == Stage::done
                ? "in " + std::to_string(done.finished_unix_ms - done.started_unix_ms) + "ms"
                : done.error);
  finished_.push_back(done);
  while (finished_.size() > kFinishedKept) finished_.pop_front();
  if (final_stage == Stage::done) notify(done);
}

void RebuildManager::notify(const Record& r) {
  if (cfg_.notify_hook.empty() && cfg_.notify_webhook.empty()) return;
  json doc = {{"event", "rebuild-done"},
              {"rebuild_id", r.id},
              {"server", r.server},
              {"replacement", r.replacement},
              {"duration_ms", r.finished_unix_ms - r.started_unix_ms},
              {"attempts", r.attempt}};
  json fips = json::array();
  for (const auto& a : r.fips) fips.push_back(a.str());
  doc["floating_ips"] = fips;
  std::string id = r.id;
  if (!cfg_.notify_webhook.empty()) {
    (void)http_->post(cfg_.notify_webhook, bounded_json::dump(doc), cfg_.timeout, [this, id](const HttpResult& res) {
      host_.rebuild_event("rebuild " + id + ": notification " + res.describe(), {{"rebuild", id}}, !res.ok());
    });
    return;
  }
  auto hook = HookProcess::start(
      host_.rebuild_loop(),
      {.path = cfg_.notify_hook, .environment = {{"FIPD_REBUILD_ID", id}}, .input = bounded_json::dump(doc), .timeout = cfg_.timeout},
      [](const HookLine&) {},
      [this, id](const HookExit& e) {
        host_.rebuild_event("rebuild " + id + ": notify hook " + e.describe(), {{"rebuild", id}},
                            e.timed_out || e.signaled || e.code != 0);
        running_.erase("notify:" + id);
      });
  if (hook) running_["notify:" + id].hook = std::move(*hook);
}

std::string RebuildManager::to_json() const {
  json active = json::array(), done = json::array();
  for (const auto& [s, r] : records_) active.push_back(record_json(r));
  for (const auto& r : finished_) done.push_back(record_json(r));
  json stand_ins = json::object();
  for (const auto& [server, fips] : stand_ins_)
    if (!fips.empty() && host_.rebuild_inventory().server(server)) stand_ins[server] = addresses_json(fips);
  return bounded_json::dump(json{{"rebuilds", active}, {"finished", done}, {"stand_ins", stand_ins}});
}

void RebuildManager::restore(std::string_view text) {
  auto parsed = bounded_json::parse(text, {.max_depth = state::kMaxStateDepth, .max_bytes = state::kMaxStateBytes});
  if (!parsed || !parsed->is_object()) return;
  const json& j = *parsed;
  if (auto it = j.find("finished"); it != j.end() && it->is_array())
    for (const auto& e : *it)
      if (auto r = record_from(e)) finished_.push_back(*r);
  if (auto it = j.find("stand_ins"); it != j.end() && it->is_object())
    for (const auto& [server, fips] : it->items())
      if (host_.rebuild_inventory().server(server)) merge(stand_ins_[server], addresses_from(fips));
  auto it = j.find("rebuilds");
  if (it == j.end() || !it->is_array()) return;
  for (const auto& e : *it) {
    auto r = record_from(e);
    if (!r || !host_.rebuild_inventory().server(r->server)) continue;
    std::string server = r->server;
    Record& rec = records_[server] = *r;
    switch (rec.stage) {
      case Stage::settling:
        // The storm guard's memory died with the previous fipd: settle again.
        arm(server, cfg_.settle, &RebuildManager::on_settled);
        break;
      case Stage::queued:
      case Stage::rebuilding:
      case Stage::retry_wait:
        // The call-out died with the previous fipd: issue it again, same id,
        // same attempt.
        if (rec.attempt > 0) --rec.attempt;
        set_stage(rec, Stage::queued, "re-issued after a restart");
        break;
      case Stage::awaiting_registration:
      case Stage::registered:
      case Stage::replacement_up:
        if (rec.stage == Stage::replacement_up) rec.stage = Stage::registered;
        arm(server, cfg_.healthy_timeout, &RebuildManager::on_healthy_timeout);
        host_.rebuild_event("rebuild " + rec.id + " of " + server + ": followed again after a restart (" +
                                stage_name(rec.stage) + ")",
                            {{"rebuild", rec.id}, {"server", server}}, false);
        break;
      default:
        records_.erase(server);
        break;
    }
  }
  pump();
}

}  // namespace fipd::rebuild
