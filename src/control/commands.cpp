// SPDX-License-Identifier: GPL-2.0-or-later
// The control requests, carried out against the engine: reading ones
// answered from its views, changing ones through its operator actions, each
// checked for permission first and logged with who asked.
#include <algorithm>
#include <cerrno>

#include "src/control/connection.hpp"
#include "src/control/server.hpp"
#include "src/engine/compose.hpp"
#include "base/log.hpp"

namespace fipd::control {
namespace {

// What a changing request asked for, for the log: "move 203.0.113.10 spare-1".
std::string describe(const Request& r) {
  std::string s = command_name(r.cmd);
  if (r.cmd == Command::server_add && r.address) s += " " + r.server + " " + r.address->str();
  else if (!r.server.empty() && r.cmd != Command::pin && r.cmd != Command::move) s += " " + r.server;
  if (r.fip) s += " " + r.fip->str();
  if ((r.cmd == Command::move || r.cmd == Command::pin) && !r.server.empty()) s += " " + r.server;
  if (r.cmd == Command::fip_add) s += " " + r.server;
  if (r.cmd == Command::server_drain || r.cmd == Command::maintenance) s += r.on ? " on" : " off";
  if (r.cmd == Command::reload && r.allow_removals) s += " --allow-removals";
  return s;
}

}  // namespace

// Carries out one request line; false when it must wait, untaken: behind a
// change of this client not yet durable (answers keep the order of the
// requests), unless it is another change, or for the next iteration's
// change budget.
bool ControlServer::handle_line(Client& c, std::string_view line) {
  auto parsed = parse_request(line, engine_.config().probe_defaults);
  bool change = parsed && changes_state(parsed->cmd) && c.can_write;
  // A reload is answered later, off the batch: it waits for the batch too.
  if (c.awaiting > 0 && (!change || parsed->cmd == Command::reload)) return false;
  if (change && !change_budget_left()) {
    c.backlog = true;
    return false;
  }
  if (!parsed) {
    metrics_.count_request("invalid", "error");
    c.out += error_response(parsed.error().id, parsed.error().code, parsed.error().message);
    return true;
  }
  const Request& r = *parsed;
  if (changes_state(r.cmd) && !c.can_write) {
    metrics_.count_request(command_name(r.cmd), "denied");
    log::warning("control: refused " + describe(r) + ": the client may only read",
                 {{"uid", std::to_string(c.uid)}, {"pid", std::to_string(c.pid)}, {"cmd", command_name(r.cmd)}});
    std::string who = options_.group.empty() ? "root" : "root or members of group " + options_.group;
    c.out += error_response(r.id, EPERM, std::string(command_name(r.cmd)) + " changes state: only " + who +
                                             " may do that (this client has uid " + std::to_string(c.uid) + ")");
    return true;
  }
  execute(c, r);
  return true;
}

void ControlServer::execute(Client& c, const Request& r) {
  switch (r.cmd) {
    case Command::status:
      metrics_.count_request("status", "ok");
      ask_status(c, r.id);
      return;
    case Command::watch:
      metrics_.count_request("watch", "ok");
      if (!c.watching) {
        c.watching = true;
        ++watchers_;
        metrics_.control().watchers = watchers_;
      }
      c.out += ok_response(r.id, R"({"watching":true})");
      return;
    case Command::reload: {
      // The file is read and checked off the loop: the answer comes once it
      // is applied (or refused). The client's further requests wait, so its
      // answers keep their order.
      c.reloading = true;
      engine_.reload({.allow_removals = r.allow_removals},
                     [this, alive = alive_, id = c.id, rid = r.id, what = describe(r), uid = c.uid,
                      pid = c.pid](Status st) {
                       if (!*alive) return;
                       std::initializer_list<log::Field> who = {
                           {"uid", std::to_string(uid)}, {"pid", std::to_string(pid)}, {"cmd", "reload"}};
                       metrics_.count_request("reload", st ? "ok" : "error");
                       log::notice("control: " + what + (st ? ": done" : ": refused: " + st.error().context), who);
                       auto it = clients_.find(id);
                       if (it == clients_.end() || it->second->dead) return;
                       Client& cl = *it->second;
                       cl.reloading = false;
                       if (st) {
                         std::string result;
                         JsonWriter w(&result);
                         w.begin_object()
                             .field("servers", engine_.inventory().servers().size())
                             .field("floating_ips", engine_.inventory().fips().size())
                             .end_object();
                         cl.out += ok_response(rid, result);
                       } else {
                         cl.out += error_response(rid, st.error().code, st.error().context);
                       }
                       service(cl);
                     });
      return;
    }
    case Command::metrics: {
      metrics_.count_request("metrics", "ok");
      std::string result;
      JsonWriter w(&result);
      w.begin_object().field("text", metrics_.render()).end_object();
      c.out += ok_response(r.id, result);
      return;
    }
    default: break;
  }
  // Carried out now; answered by commit_batch(), after the state write
  // that covers every change of this iteration.
  auto t0 = RealClock::read();
  Change ch{.client = c.id, .uid = c.uid, .pid = c.pid, .request = r};
  ch.outcome = run_change(ch);
  change_used_ += RealClock::read() - t0;
  ++generation_;
  ++c.awaiting;
  if (batch_.empty()) engine_.loop().rearm_timer(commit_timer_, engine_.loop().now());
  batch_.push_back(std::move(ch));
}

// One state write (one fsync) for the iteration's changes, then their
// answers, in order, once it is durable; the loop serves everyone else
// meanwhile. A client that went meanwhile is only logged.
void ControlServer::commit_batch() {
  std::vector<Change> batch;
  batch.swap(batch_);
  bool write = std::any_of(batch.begin(), batch.end(),
                           [](const Change& ch) { return ch.outcome && ch.request.cmd != Command::reload; });
  auto answer = [this, alive = alive_, batch = std::move(batch)](const Status& durable) {
    if (!*alive) return;
    std::vector<uint64_t> answered;
    for (const Change& ch : batch) {
      auto it = clients_.find(ch.client);
      Client* c = it == clients_.end() || it->second->dead ? nullptr : it->second.get();
      if (c && --c->awaiting == 0) answered.push_back(ch.client);
      answer_change(c, ch, durable);
    }
    for (uint64_t id : answered)
      if (auto it = clients_.find(id); it != clients_.end() && !it->second->dead) service(*it->second);
  };
  if (write) engine_.when_durable(std::move(answer));
  else answer({});
}

void ControlServer::answer_change(Client* c, const Change& ch, const Status& durable) {
  const Request& r = ch.request;
  Result<std::string> st = ch.outcome;
  // Applied to the kernel but not to the disk: an error for the client (EIO),
  // but not a refusal, so the log must not say "refused".
  bool applied = false;
  if (st && r.cmd != Command::reload)
    if (auto d = durable; !d) {
      applied = true;
      st = fail(EIO, "applied, not durable: the state file could not be written (" + d.error().message() +
                             "): the change is lost if fipd restarts");
    }
  std::initializer_list<log::Field> who = {
      {"uid", std::to_string(ch.uid)}, {"pid", std::to_string(ch.pid)}, {"cmd", command_name(r.cmd)}};
  if (st) {
    metrics_.count_request(command_name(r.cmd), "ok");
    log::notice("control: " + describe(r) + ": done", who);
    if (c) c->out += ok_response(r.id, r.cmd == Command::move ? move_result(ch) : *st);
  } else {
    metrics_.count_request(command_name(r.cmd), "error");
    log::notice("control: " + describe(r) + (applied ? ": " : ": refused: ") + st.error().context, who);
    if (c) c->out += error_response(r.id, st.error().code, st.error().context);
  }
}

// A move's answer: the floating IP as status shows it, and its failover's
// timeline when the move was one (not already there).
std::string ControlServer::move_result(const Change& ch) const {
  std::string out;
  JsonWriter w(&out);
  const IpAddress& fip = *ch.request.fip;
  w.begin_object().key("fip");
  StatusWriter one(engine_, status_ctx_, "");
  if (const auto* f = engine_.inventory().fip(fip)) w.raw(one.object(*f));
  else w.begin_object().field("address", fip.str()).end_object();
  // The move's timeline, when it was one (not already there).
  w.key("failover");
  const engine::Failover* found = nullptr;
  if (ch.failover != 0)
    for (auto it = engine_.timeline().rbegin(); it != engine_.timeline().rend() && !found; ++it)
      if (it->id == ch.failover) found = &*it;
  if (found) write_failover(w, *found);
  else w.null();
  w.end_object();
  return out;
}

// Carries out one changing request: what it did, as the answer's result, or
// why it was refused. A move's result is written at the answer
// (move_result()): it shows the failover's timeline, recorded once durable.
Result<std::string> ControlServer::run_change(Change& ch) {
  const Request& r = ch.request;
  const auto& inv = engine_.inventory();
  StatusWriter one(engine_, status_ctx_, "");
  // The changed object as status shows it, or what the request named when
  // the change took it away.
  auto fip_result = [&](const Status& st) -> Result<std::string> {
    if (!st) return std::unexpected(st.error());
    if (const auto* f = inv.fip(*r.fip)) return one.object(*f);
    std::string out;
    JsonWriter(&out).begin_object().field("address", r.fip->str()).field("removed", true).end_object();
    return out;
  };
  auto server_result = [&](const Status& st) -> Result<std::string> {
    if (!st) return std::unexpected(st.error());
    if (const auto* s = inv.server(r.server)) return one.object(*s);
    std::string out;
    JsonWriter(&out).begin_object().field("name", r.server).field("removed", true).end_object();
    return out;
  };
  switch (r.cmd) {
    case Command::move: {
      uint64_t id = engine_.next_failover_id();
      Status st = engine_.move(*r.fip, r.server);
      if (!st) return std::unexpected(st.error());
      if (engine_.next_failover_id() != id) ch.failover = id;
      return std::string();
    }
    case Command::pin: return fip_result(engine_.pin(*r.fip, r.server));
    case Command::unpin: return fip_result(engine_.unpin(*r.fip));
    case Command::server_add: {
      std::vector<probe::ProbeSpec> specs = r.probes;
      if (specs.empty()) specs.push_back(engine_.config().default_probe());
      state::Server s{.name = r.server, .address = *r.address, .address6 = r.address6, .spare = r.spare,
                      .standby = r.standby};
      return server_result(engine_.add_server(s, specs, r.replaces));
    }
    case Command::server_remove: return server_result(engine_.remove_server(r.server));
    case Command::server_drain: return server_result(engine_.set_draining(r.server, r.on));
    case Command::maintenance: return server_result(engine_.set_maintenance(r.server, r.on));
    case Command::fip_add:
      return fip_result(engine_.add_fip(
          {.address = *r.fip, .server = r.server, .mode = r.mode, .lockout_ports = r.lockout_ports}));
    case Command::fip_remove: return fip_result(engine_.remove_fip(*r.fip));
    case Command::rebuild: return server_result(engine_.rebuild(r.server));
    default: return fail(EOPNOTSUPP, std::string(command_name(r.cmd)) + " does not change state");
  }
}

}  // namespace fipd::control
