// The control requests, carried out against the engine: reading ones
// answered from its views, changing ones through its operator actions, each
// checked for permission first and logged with who asked.
#include <cerrno>

#include "src/control/connection.hpp"
#include "src/control/server.hpp"
#include "src/engine/compose.hpp"
#include "src/engine/log.hpp"

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
  return s;
}

void write_fip(JsonWriter& w, const state::FloatingIp& f) {
  w.begin_object()
      .field("address", f.address.str())
      .field("server", f.server)
      .field("mode", state::to_string(f.mode))
      .field("pin", f.pin)
      .field("failing_static", f.failing_static)
      .end_object();
}

void write_server(JsonWriter& w, const state::Server& s) {
  w.begin_object()
      .field("name", s.name)
      .field("health", state::to_string(s.health))
      .field("maintenance", state::to_string(s.maintenance))
      .field("draining", s.draining)
      .end_object();
}

}  // namespace

void ControlServer::handle_line(Client& c, std::string_view line) {
  auto parsed = parse_request(line, engine_.config().probe_defaults);
  if (!parsed) {
    metrics_.count_request("invalid", "error");
    c.out += error_response(parsed.error().id, parsed.error().code, parsed.error().message);
    return;
  }
  const Request& r = *parsed;
  if (changes_state(r.cmd) && !c.can_write) {
    metrics_.count_request(command_name(r.cmd), "denied");
    log::warning("control: refused " + describe(r) + ": the client may only read",
                 {{"uid", std::to_string(c.uid)}, {"pid", std::to_string(c.pid)}, {"cmd", command_name(r.cmd)}});
    std::string who = options_.group.empty() ? "root" : "root or members of group " + options_.group;
    c.out += error_response(r.id, EPERM, std::string(command_name(r.cmd)) + " changes state: only " + who +
                                             " may do that (this client has uid " + std::to_string(c.uid) + ")");
    return;
  }
  execute(c, r);
}

void ControlServer::execute(Client& c, const Request& r) {
  switch (r.cmd) {
    case Command::status:
      metrics_.count_request("status", "ok");
      c.status = std::make_unique<StatusWriter>(engine_, status_ctx_, r.id);
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
  nl::Status st;
  std::string result = run_change(r, st);
  // Applied to the kernel but not to the disk: an error for the client (EIO),
  // but not a refusal, so the log must not say "refused".
  bool applied = false;
  if (st && r.cmd != Command::reload)
    if (auto d = engine_.make_durable(); !d) {
      applied = true;
      st = nl::fail(EIO, "applied, not durable: the state file could not be written (" + d.error().message() +
                             "): the change is lost if fipd restarts");
    }
  std::initializer_list<log::Field> who = {
      {"uid", std::to_string(c.uid)}, {"pid", std::to_string(c.pid)}, {"cmd", command_name(r.cmd)}};
  if (st) {
    metrics_.count_request(command_name(r.cmd), "ok");
    log::notice("control: " + describe(r) + ": done", who);
    c.out += ok_response(r.id, result);
  } else {
    metrics_.count_request(command_name(r.cmd), "error");
    log::notice("control: " + describe(r) + (applied ? ": " : ": refused: ") + st.error().context, who);
    c.out += error_response(r.id, st.error().code, st.error().context);
  }
}

// Carries out one changing request; returns its result as JSON text.
std::string ControlServer::run_change(const Request& r, nl::Status& st) {
  std::string out;
  JsonWriter w(&out);
  const auto& inv = engine_.inventory();
  auto fip_result = [&](const nl::IpAddress& a) {
    if (const auto* f = inv.fip(a)) write_fip(w, *f);
    else w.begin_object().field("address", a.str()).end_object();
  };
  auto server_result = [&](const std::string& name) {
    if (const auto* s = inv.server(name)) write_server(w, *s);
    else w.begin_object().field("name", name).end_object();
  };
  switch (r.cmd) {
    case Command::move: {
      uint64_t before = engine_.counters().failovers;
      st = engine_.move(*r.fip, r.server);
      if (!st) return {};
      // The move's timeline, when it was one (not already there).
      w.begin_object().key("fip");
      fip_result(*r.fip);
      w.key("failover");
      if (engine_.counters().failovers != before && !engine_.timeline().empty())
        write_failover(w, engine_.timeline().back());
      else
        w.null();
      w.end_object();
      return out;
    }
    case Command::pin:
      st = engine_.pin(*r.fip, r.server);
      if (st) fip_result(*r.fip);
      return out;
    case Command::unpin:
      st = engine_.unpin(*r.fip);
      if (st) fip_result(*r.fip);
      return out;
    case Command::server_add: {
      config::ServerConfig sc{.name = r.server, .address = *r.address, .address6 = r.address6, .spare = r.spare,
                              .standby = r.standby, .probes = r.probes};
      if (sc.probes.empty()) sc.probes.push_back(engine_.config().probe_defaults);
      auto specs = engine::probe_specs(sc);
      state::Server s{.name = r.server, .address = *r.address, .address6 = r.address6, .spare = r.spare,
                      .standby = r.standby};
      st = engine_.add_server(s, specs, r.replaces);
      if (!st) return {};
      server_result(r.server);
      return out;
    }
    case Command::server_remove:
      st = engine_.remove_server(r.server);
      if (!st) return {};
      w.begin_object().field("name", r.server).field("removed", true).end_object();
      return out;
    case Command::server_drain:
      st = engine_.set_draining(r.server, r.on);
      if (st) server_result(r.server);
      return out;
    case Command::maintenance:
      st = engine_.set_maintenance(r.server, r.on);
      if (st) server_result(r.server);
      return out;
    case Command::fip_add: {
      state::FloatingIp f{.address = *r.fip, .server = r.server, .mode = r.mode, .lockout_ports = r.lockout_ports};
      st = engine_.add_fip(f);
      if (st) fip_result(*r.fip);
      return out;
    }
    case Command::fip_remove:
      st = engine_.remove_fip(*r.fip);
      if (st) w.begin_object().field("address", r.fip->str()).field("removed", true).end_object();
      return out;
    case Command::rebuild:
      st = engine_.rebuild(r.server);
      if (st) server_result(r.server);
      return out;
    case Command::reload:
      st = engine_.reload();
      if (st)
        w.begin_object()
            .field("servers", inv.servers().size())
            .field("floating_ips", engine_.inventory().fips().size())
            .end_object();
      return out;
    default:
      st = nl::fail(EOPNOTSUPP, std::string(command_name(r.cmd)) + " does not change state");
      return {};
  }
}

}  // namespace fipd::control
