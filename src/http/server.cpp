// SPDX-License-Identifier: GPL-2.0-or-later
#include "src/http/server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "src/control/json_out.hpp"
#include "src/control/output_budget.hpp"
#include "base/log.hpp"
#include "src/http/http.hpp"

namespace fipd::http {

struct HealthServer::Conn {
  uint64_t id = 0;
  Fd fd;
  loop::SourceId source = loop::kNoSource, timer = loop::kNoSource;
  std::string in, out;
  size_t out_off = 0;
  bool close_after = false;  // after the queued answer
  bool eof = false;
  bool dead = false;
  uint32_t events = 0;
  TimePoint last_active{};  // accepted, or last read a byte or answered
  control::OutputBudget::Charge charge;
};

namespace {

constexpr size_t kMaxQueued = 64 * 1024;  // answers queued before reading more requests
constexpr std::string_view kJson = "application/json";

using control::JsonWriter;

int64_t us(Duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count(); }

}  // namespace

HealthServer::HealthServer(engine::Engine& engine, metrics::Metrics& metrics, HealthOptions options)
    : engine_(engine),
      metrics_(metrics),
      options_(std::move(options)),
      budget_(options_.output_budget ? options_.output_budget : std::make_shared<control::OutputBudget>()),
      stream_(engine.loop(), "health listener", options_.slice_budget,
              {.accept = [this](Fd fd) { on_accept(std::move(fd)); },
               .io = [this](Conn& c, uint32_t ev) { on_io(c, ev); },
               .count = [this](size_t n) { metrics_.http().connections = n; }}) {}

Result<std::unique_ptr<HealthServer>> HealthServer::create(engine::Engine& engine, metrics::Metrics& metrics,
                                                               HealthOptions options) {
  auto where = parse_listen(options.listen);
  if (!where) return std::unexpected(where.error());
  std::unique_ptr<HealthServer> s(new HealthServer(engine, metrics, std::move(options)));
  const auto& [addr, port] = *where;
  Fd fd(::socket(addr.af(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail(errno, "health listener: socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  auto sa = SockAddr::of(addr, port);
  const std::string at = "health listener " + s->options_.listen;
  if (::bind(fd.get(), sa.get(), sa.len) != 0) return fail(errno, at + ": bind");
  if (::listen(fd.get(), 1024) != 0) return fail(errno, at + ": listen");
  sa.len = sizeof(sa.storage);
  ::getsockname(fd.get(), sa.get(), &sa.len);
  s->port_ = ntohs(addr.is_v4() ? reinterpret_cast<sockaddr_in*>(&sa.storage)->sin_port
                                : reinterpret_cast<sockaddr_in6*>(&sa.storage)->sin6_port);
  if (auto r = s->stream_.listen(std::move(fd)); !r) return std::unexpected(r.error());
  log::info("health listener ready", {{"listen", s->options_.listen}, {"port", std::to_string(s->port_)}});
  return s;
}

HealthServer::~HealthServer() {
  for (auto& [id, c] : stream_.conns()) engine_.loop().remove(c->timer);
}

void HealthServer::on_accept(Fd fd) {
  auto& loop = engine_.loop();
  // At the bound, the idlest connection makes room: idle keep-alive
  // connections must not lock out a load balancer's probe, and a 503
  // here would read as "this router is unhealthy".
  if (stream_.live() >= options_.max_connections) evict_idlest();
  auto c = std::make_unique<Conn>();
  c->last_active = loop.now();
  c->charge = control::OutputBudget::Charge(*budget_);
  auto added = stream_.add(std::move(c), std::move(fd), EPOLLIN);
  if (!added) return;
  Conn& a = **added;
  a.timer = loop.add_timer(loop.now() + options_.header_timeout, [this, id = a.id](TimePoint) { on_timeout(id); });
  ++metrics_.http().accepted;
}

// Closes the connection idle the longest, one with no request or answer
// under way first.
void HealthServer::evict_idlest() {
  Conn* idlest = nullptr;
  auto busy = [](const Conn& c) { return !c.in.empty() || c.out_off < c.out.size(); };
  for (auto& [id, cp] : stream_.conns()) {
    Conn& c = *cp;
    if (c.dead) continue;
    if (!idlest || std::pair(busy(c), c.last_active) < std::pair(busy(*idlest), idlest->last_active)) idlest = &c;
  }
  if (!idlest) return;
  ++metrics_.http().timeouts;
  close(*idlest);
}

void HealthServer::on_io(Conn& c, uint32_t events) {
  // Past the budget, the socket is served at the next iteration (stream_server.hpp).
  if (!stream_.budget().left()) return;
  stream_.budget().timed([&] { serve_io(c, events); });
}

void HealthServer::serve_io(Conn& c, uint32_t events) {
  if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN)) return close(c);
  if (events & EPOLLIN) {
    auto r = control::read_some(c.fd.get(), c.in, {.chunk = 8192, .reads = 2, .stop_past = kMaxHead});
    if (!r) return close(c);
    if (r->bytes > 0) c.last_active = engine_.loop().now();
    if (r->eof) c.eof = true;
  }
  if (events & EPOLLOUT) flush(c);
  if (!c.dead) serve(c);
}

void HealthServer::on_timeout(uint64_t id) {
  Conn* c = stream_.find(id);
  if (!c) return;
  ++metrics_.http().timeouts;
  close(*c);
}

// Answers every complete request in the buffer, while the answers queued
// stay small.
void HealthServer::serve(Conn& c) {
  auto& loop = engine_.loop();
  bool answered = false;
  while (!c.dead && !c.close_after && c.out.size() - c.out_off < kMaxQueued) {
    ParseResult r = parse_request_head(c.in);
    if (r.status == ParseStatus::incomplete) break;
    answered = true;
    if (r.status != ParseStatus::complete || r.request.has_body) {
      int code = r.status == ParseStatus::too_large ? 431 : 400;
      metrics_.count_http("invalid", code);
      std::string body = code == 431 ? "request head larger than 8 KiB\n"
                         : r.request.has_body ? "requests with a body are not served here\n"
                                              : "malformed request\n";
      c.out += make_response(code, "text/plain; charset=utf-8", body, false);
      c.close_after = true;
      break;
    }
    const HttpRequest& q = r.request;
    answer(c, q.method, q.target, q.keep_alive);
    if (!q.keep_alive) c.close_after = true;
    c.in.erase(0, r.consumed);
  }
  if (c.dead) return;
  // A client that shut its side gets the answers to what it sent, then the
  // connection closes.
  if (c.eof && parse_request_head(c.in).status == ParseStatus::incomplete) c.close_after = true;
  if (answered) {
    c.last_active = loop.now();
    // A new deadline for the next request (or for the client to read this answer).
    loop.rearm_timer(c.timer, loop.now() + (c.in.empty() ? options_.idle_timeout : options_.header_timeout));
  }
  flush(c);
}

void HealthServer::answer(Conn& c, std::string_view method, std::string_view target, bool keep_alive) {
  bool head = method == "HEAD";
  if (method != "GET" && !head) {
    metrics_.count_http("invalid", 405);
    c.out += make_response(405, "text/plain; charset=utf-8", "only GET and HEAD\n", keep_alive, false,
                           "Allow: GET, HEAD\r\n");
    return;
  }
  std::string_view path = target.substr(0, target.find('?'));
  std::string body;
  JsonWriter w(&body);
  int code = 200;
  if (path == "/metrics") {
    metrics_.count_http("metrics", 200);
    c.out += make_response(200, "text/plain; version=0.0.4; charset=utf-8", metrics_.render(), keep_alive, head);
    return;
  }
  const std::string_view kFip = "/healthz/fip/";
  if (path == "/healthz" || path == "/healthz/") {
    auto problem = engine_.health_problem();
    bool ok = !problem;
    code = ok ? 200 : 503;
    const auto& lag = engine_.loop().stats().timer_lag;
    const auto& delay = engine_.probes().stats().schedule_delay;
    w.begin_object().field("ok", ok);
    if (problem) w.field("reason", *problem);
    w.field("kernel_in_sync", engine_.kernel_in_sync())
        .field("servers", engine_.inventory().servers().size())
        .field("floating_ips", engine_.inventory().fips().size())
        .field("loop_lag_p99_us", us(lag.percentile(0.99)))
        .field("probe_delay_p99_us", us(delay.percentile(0.99)))
        .key("alarms")
        .begin_array();
    for (const auto& a : engine_.active_alarms()) w.value(a);
    w.end_array().end_object();
    metrics_.count_http("healthz", code);
  } else if (path.starts_with(kFip)) {
    auto text = percent_decode(path.substr(kFip.size()));
    auto addr = text ? IpAddress::parse(*text)
                     : fail(EINVAL, "the path holds a malformed %-escape or an escaped control character");
    const state::FloatingIp* f = addr ? engine_.inventory().fip(*addr) : nullptr;
    w.begin_object();
    if (!addr) {
      code = 400;
      w.field("ok", false).field("reason", addr.error().context);
    } else if (!f) {
      code = 404;
      w.field("ok", false).field("fip", addr->str()).field("reason", "unknown floating IP");
    } else {
      const state::Server* s = engine_.inventory().server(f->server);
      std::string reason;
      if (f->failing_static)
        reason = "failing static: server " + f->server + " must be evacuated and no target is up; the floating "
                 "IP stays where it is";
      else if (!s)
        reason = "its server " + f->server + " is unknown";
      else if (s->health != state::Health::up)
        reason = "server " + f->server + " is " + std::string(state::to_string(s->health)) +
                 (s->health_cause.empty() ? "" : " (" + s->health_cause + ")");
      else if (s->maintenance != state::Maintenance::none)
        reason = "server " + f->server + " is in maintenance (" + std::string(state::to_string(s->maintenance)) + ")";
      else if (s->draining)
        reason = "server " + f->server + " is draining";
      code = reason.empty() ? 200 : 503;
      w.field("ok", reason.empty()).field("fip", f->address.str()).field("server", f->server);
      if (s) w.field("health", state::to_string(s->health));
      w.field("mode", state::to_string(f->mode)).field("pinned", !f->pin.empty()).field("held", f->held);
      if (!reason.empty()) w.field("reason", reason);
    }
    w.end_object();
    metrics_.count_http("fip", code);
  } else {
    code = 404;
    w.begin_object().field("ok", false).field("reason", "not found: try /healthz, /healthz/fip/ADDRESS or /metrics");
    w.end_object();
    metrics_.count_http("other", 404);
  }
  body.push_back('\n');
  c.out += make_response(code, kJson, body, keep_alive, head);
}

void HealthServer::flush(Conn& c) {
  while (c.out_off < c.out.size()) {
    auto n = control::send_some(c.fd.get(), std::string_view(c.out).substr(c.out_off));
    if (!n) return close(c);
    if (*n == 0) break;
    c.out_off += *n;
  }
  bool drained = c.out_off >= c.out.size();
  if (drained) {
    c.out.clear();
    c.out_off = 0;
    if (c.close_after) return close(c);
  }
  c.charge.set(c.out.size() - c.out_off);
  bool want_in = !c.close_after && !c.eof && c.out.size() - c.out_off < kMaxQueued;
  uint32_t ev = (drained ? 0u : EPOLLOUT) | (want_in ? EPOLLIN : 0u);
  if (!drained) {
    // The client must read its answer within header_timeout too.
    auto& loop = engine_.loop();
    if (c.events == ev) return;
    loop.rearm_timer(c.timer, loop.now() + options_.header_timeout);
  }
  stream_.set_events(c, ev);
}

void HealthServer::close(Conn& c) {
  if (c.dead) return;
  c.charge.set(0);
  engine_.loop().remove(c.timer);
  stream_.close(c);
}

}  // namespace fipd::http
