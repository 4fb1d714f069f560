// SPDX-License-Identifier: GPL-2.0-or-later
// The control socket's connections: accepting, reading request lines,
// writing answers and events, and the bounds that keep clients from hurting
// the loop. The requests themselves are carried out in commands.cpp.
#include "src/control/server.hpp"

#include <malloc.h>
#include <grp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "src/control/connection.hpp"
#include "base/log.hpp"

namespace fipd::control {


namespace {

// A drained client keeps a buffer up to this size for its next answers
// (not charged to the output budget); a larger one is freed.
constexpr size_t kKeptCapacity = 16 * 1024;
// Dropping a client that held more than this gives its memory back to the
// system (malloc_trim, at the next sweep): glibc would keep it in its free
// lists, and 200 watchers dropped past the budget left the process 33 MB
// larger though the budget held at 16 MiB. At most once a second, because
// malloc_trim walks the whole heap on the loop: 2 ms at 32 MB, 13 ms at
// 256 MB (measured here).
constexpr size_t kTrimAfter = 64 * 1024;

Status errno_fail(const std::string& what) { return fail(errno, what); }

// The peer's supplementary groups (SO_PEERGROUPS, Linux 4.13).
std::vector<gid_t> peer_groups(int fd) {
  std::vector<gid_t> groups(32);
  for (int attempt = 0; attempt < 2; ++attempt) {
    socklen_t len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &len) == 0) {
      groups.resize(len / sizeof(gid_t));
      return groups;
    }
    if (errno != ERANGE) break;
    groups.resize(len / sizeof(gid_t) + 1);
  }
  return {};
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path.data(), path.size());
  return sa;
}

}  // namespace

ControlServer::ControlServer(engine::Engine& engine, metrics::Metrics& metrics, ControlOptions options)
    : engine_(engine),
      metrics_(metrics),
      options_(std::move(options)),
      budget_(options_.output_budget ? options_.output_budget : std::make_shared<OutputBudget>()),
      stream_(engine.loop(), "control socket", options_.slice_budget,
              {.accept = [this](Fd fd) { accept_one(std::move(fd)); },
               .io = [this](Client& c, uint32_t ev) { on_client_io(c, ev); },
               .count = [this](size_t n) { metrics_.control().clients = n; }}),
      change_budget_(engine.loop(), options_.change_budget) {
  status_ctx_ = {.version = options_.version, .started = engine_.loop().now()};
}

Result<std::unique_ptr<ControlServer>> ControlServer::create(engine::Engine& engine, metrics::Metrics& metrics,
                                                                 ControlOptions options) {
  std::unique_ptr<ControlServer> s(new ControlServer(engine, metrics, std::move(options)));
  if (auto r = s->resolve_group(); !r) return std::unexpected(r.error());
  if (auto r = s->listen_on_path(); !r) return std::unexpected(r.error());
  s->sweep_timer_ = engine.loop().add_timer(engine.loop().now() + 1s, [p = s.get()](TimePoint now) {
    p->sweep(now);
    p->engine_.loop().rearm_timer(p->sweep_timer_, now + 1s);
  });
  s->commit_timer_ = engine.loop().add_timer(engine.loop().now() + 24h, [p = s.get()](TimePoint) {
    p->commit_batch();
  });
  s->subscription_ = engine.subscribe([p = s.get()](const engine::Event& e) { p->on_event(e); });
  return s;
}

ControlServer::~ControlServer() {
  engine_.unsubscribe(subscription_);
  auto& loop = engine_.loop();
  loop.remove(sweep_timer_);
  loop.remove(commit_timer_);
  // The file goes only if it is still ours: a newer fipd may have replaced it.
  struct stat st{};
  if (::lstat(options_.path.c_str(), &st) == 0 && st.st_dev == socket_dev_ && st.st_ino == socket_ino_)
    ::unlink(options_.path.c_str());
}

Status ControlServer::resolve_group() {
  group_name_ = options_.group;
  have_group_ = false;
  if (group_name_.empty()) return {};
  std::vector<char> buf(16384);
  group g{};
  group* found = nullptr;
  int rc = ::getgrnam_r(group_name_.c_str(), &g, buf.data(), buf.size(), &found);
  if (rc != 0 || !found)
    return fail(rc ? rc : ENOENT, "control_group '" + group_name_ + "' is not a group on this system");
  gid_ = found->gr_gid;
  have_group_ = true;
  return {};
}

// Refuses a path that another fipd answers on, or that is not a socket;
// replaces a stale socket; never shows the socket with the wrong mode.
Status ControlServer::listen_on_path() {
  const std::string& path = options_.path;
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path))
    return fail(ENAMETOOLONG, "control socket '" + path + "': a socket path has 1 to 107 bytes");
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::exists(dir, ec)) {
    std::filesystem::create_directories(dir, ec);
    if (ec) return fail(ec.value(), "control socket: cannot create folder " + dir.string());
    ::chmod(dir.c_str(), 0755);
  }
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return fail(EEXIST, "control socket " + path + " exists and is not a socket; not replacing it");
    Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    sockaddr_un sa = unix_address(path);
    if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 || errno == EAGAIN ||
        errno == EINPROGRESS)
      return fail(EADDRINUSE, "control socket " + path +
                                      ": another fipd is answering there; stop it first, or give this one "
                                      "another --socket");
    if (errno != ECONNREFUSED && errno != ENOENT) return errno_fail("control socket " + path + ": connect");
    log::notice("replacing the stale control socket left by a fipd that did not stop cleanly", {{"path", path}});
  }
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return errno_fail("control socket: socket");
  // Bound under a temporary name, made 0660 and given its group, then renamed
  // over the final path (atomically replacing a stale socket).
  std::string tmp = (dir.empty() ? std::string(".") : dir.string()) + "/.fipd.sock." + std::to_string(::getpid());
  bool via_tmp = tmp.size() < sizeof(sockaddr_un::sun_path);
  const std::string& bind_path = via_tmp ? tmp : path;
  ::unlink(bind_path.c_str());
  if (!via_tmp) ::unlink(path.c_str());
  sockaddr_un sa = unix_address(bind_path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0)
    return errno_fail("control socket " + bind_path + ": bind");
  auto undo = [&](const std::string& what) {
    int e = errno;
    ::unlink(bind_path.c_str());
    return fail(e, "control socket " + bind_path + ": " + what);
  };
  if (::chmod(bind_path.c_str(), 0660) != 0) return undo("chmod 0660");
  if (have_group_ && ::chown(bind_path.c_str(), static_cast<uid_t>(-1), gid_) != 0)
    return undo("chown to group " + group_name_);
  if (::listen(fd.get(), SOMAXCONN) != 0) return undo("listen");
  if (via_tmp && ::rename(tmp.c_str(), path.c_str()) != 0) return undo("rename to " + path);
  if (::lstat(path.c_str(), &st) == 0) {
    socket_dev_ = st.st_dev;
    socket_ino_ = st.st_ino;
  }
  log::info("control socket listening",
            {{"path", path}, {"group", have_group_ ? group_name_ : std::string("(root only)")}});
  return stream_.listen(std::move(fd));
}

void ControlServer::accept_one(Fd fd) {
  if (clients_.size() >= options_.max_clients) {
    ++metrics_.control().refused_busy;
    std::string line = error_response("", EBUSY, "too many clients (" + std::to_string(options_.max_clients) +
                                                     "); try again later");
    [[maybe_unused]] ssize_t n = ::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    return;
  }
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return;
  if (group_name_ != engine_.config().engine.control_group) {
    // A reload changed control_group: who may write follows it at once, and
    // the socket file's group with it.
    options_.group = engine_.config().engine.control_group;
    if (auto r = resolve_group(); !r) log::error("control socket: " + r.error().message());
    else if (have_group_ && ::chown(options_.path.c_str(), static_cast<uid_t>(-1), gid_) != 0)
      log::error("control socket: chown to group " + group_name_ + ": " + std::strerror(errno));
  }
  bool member = have_group_ && cred.gid == gid_;
  if (have_group_ && !member)
    for (gid_t g : peer_groups(fd.get())) member |= g == gid_;
  auto c = std::make_unique<Client>();
  c->uid = cred.uid;
  c->pid = cred.pid;
  c->can_write = cred.uid == 0 || member;
  c->out = greeting(options_.version, c->can_write);
  c->charge = OutputBudget::Charge(*budget_);
  c->waiting_since = engine_.loop().now();
  auto added = stream_.add(std::move(c), std::move(fd), EPOLLIN | EPOLLOUT);
  if (!added) return log::warning("control socket: " + added.error().message());
  ++metrics_.control().accepted;
  service(**added);
}

void ControlServer::on_client_io(Client& c, uint32_t events) {
  if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN)) return drop(c, nullptr);
  // Spent on status answers: the socket is served at the next iteration.
  if (!stream_.budget().left()) return;
  if ((events & EPOLLIN) && !c.eof) {
    // At most 64 KiB per event: a fast writer cannot hold the loop.
    auto r = read_some(c.fd.get(), c.in, {.chunk = 16384, .reads = 4, .stop_past = c.in_off + kMaxLine + 1});
    if (!r) return drop(c, nullptr);
    if (r->eof) c.eof = true;
  }
  service(c);
}

size_t ControlServer::pending(const Client& c) const { return c.out.size() - c.out_off + c.held_events.size(); }

// Runs what the client's buffers allow: requests, then writing; again while
// either makes room for the other.
void ControlServer::service(Client& c) {
  for (int round = 0; round < 64 && !c.dead; ++round) {
    bool progressed = process_lines(c);
    progressed |= write_out(c);
    if (!progressed) break;
  }
  if (!c.dead) update_interest(c);
  if (!c.dead) account(c);
  enforce_budget();
}

// Takes complete lines while the client may send more requests, at most
// kTurn in this loop iteration; returns true when it took any.
bool ControlServer::process_lines(Client& c) {
  bool took = false;
  c.backlog = false;
  while (!c.dead && !c.closing && !c.status && !c.reloading && pending(c) < options_.high_water) {
    std::string_view rest(c.in.data() + c.in_off, c.in.size() - c.in_off);
    size_t nl = rest.find('\n', c.scanned);
    std::string_view line;
    size_t used = 0;
    if (nl == std::string_view::npos) {
      c.scanned = rest.size();
      if (rest.size() > kMaxLine) {
        ++metrics_.control().oversized;
        metrics_.count_request("invalid", "error");
        c.out += error_response("", EMSGSIZE, "request line longer than " + std::to_string(kMaxLine) +
                                                  " bytes: closing the connection");
        c.closing = true;
        return true;
      }
      if (!c.eof || rest.empty()) break;
      line = rest;  // the last request of a client that shut its side without a '\n'
      used = rest.size();
    } else {
      line = rest.substr(0, nl);
      used = nl + 1;
    }
    if (!take_turn(c)) {
      c.backlog = true;  // served again at the next iteration
      break;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLine) {
      ++metrics_.control().oversized;
      metrics_.count_request("invalid", "error");
      c.out += error_response("", EMSGSIZE, "request line longer than " + std::to_string(kMaxLine) +
                                                " bytes: closing the connection");
      c.in_off += used;
      c.closing = true;
      took = true;
      break;
    }
    // A request that must wait (behind a change not yet durable, or for the
    // next iteration's change budget) stays in the buffer.
    if (line.find_first_not_of(" \t") != std::string_view::npos && !handle_line(c, line)) break;
    c.in_off += used;
    c.scanned = 0;
    ++c.taken;
    took = true;
  }
  if (c.in_off > 0 && (c.in_off == c.in.size() || c.in_off > 65536)) {
    c.in.erase(0, c.in_off);
    c.in_off = 0;
  }
  return took;
}

bool ControlServer::take_turn(Client& c) {
  uint64_t it = engine_.loop().stats().iterations;
  if (c.turn != it) {
    c.turn = it;
    c.taken = 0;
  }
  return c.taken < kTurn;
}

// Writes what is queued, then the status answer from its shared text,
// rendering more of it when the client has taken all there is; returns
// true when a status answer completed (so requests after it may run).
bool ControlServer::write_out(Client& c) {
  bool completed = false;
  for (;;) {
    if (c.out_off < c.out.size()) {
      auto n = send_some(c, std::string_view(c.out).substr(c.out_off));
      if (!n) return false;
      c.out_off += *n;
      if (c.out_off < c.out.size()) {
        // The socket is full. What was sent goes, so that a watcher that
        // reads slowly but never catches up does not keep it all.
        if (c.out_off > 65536 && c.out_off * 2 > c.out.size()) {
          c.out.erase(0, c.out_off);
          c.out_off = 0;
        }
        break;
      }
    }
    c.out_off = 0;
    if (c.out.capacity() > kKeptCapacity) std::string().swap(c.out);
    else c.out.clear();
    if (!c.status) break;
    const StatusRound& r = *c.status;
    if (c.status_off < r.text.size()) {
      // Sending a status counts against the loop budget too: a thousand
      // clients taking megabytes each must not hold the loop either.
      if (!stream_.budget().left()) break;
      auto n = stream_.budget().timed([&] { return send_some(c, std::string_view(r.text).substr(c.status_off)); });
      if (!n) return false;
      c.status_off += *n;
      if (c.status_off < r.text.size()) break;  // the socket is full
    } else if (r.done()) {
      c.status.reset();
      c.out += c.held_events;
      std::string().swap(c.held_events);
      completed = true;
    } else if (!render_slice()) {
      break;  // out of this iteration's budget
    }
  }
  if (c.closing && !c.status && c.out_off >= c.out.size()) drop(c, nullptr);
  return completed;
}

// Sends what the socket takes of `bytes`: how much, or nullopt when the
// client was dropped for an error.
std::optional<size_t> ControlServer::send_some(Client& c, std::string_view bytes) {
  auto n = control::send_some(c.fd.get(), bytes);
  if (!n) {
    drop(c, nullptr);
    return std::nullopt;
  }
  if (*n > 0) c.waiting_since = engine_.loop().now();
  return *n;
}

// A status request joins the rendering under way when the engine has not
// moved on since it began (no event, no change: what it asked about is
// what that rendering shows), or else the next one, begun once the one
// under way ends: two at most, however many ask.
void ControlServer::ask_status(Client& c, const std::string& id) {
  std::shared_ptr<StatusRound> r = next_round_;
  if (!r && round_ && !round_->done() && round_->generation == generation_) r = round_;
  if (!r) {
    r = std::make_shared<StatusRound>();
    r->writer = std::make_unique<StatusWriter>(engine_, status_ctx_, "");
    r->generation = generation_;
    r->charge = OutputBudget::Charge(*budget_);
    (round_ ? next_round_ : round_) = r;
  }
  c.status = std::move(r);
  c.status_off = 0;
  if (!id.empty()) {
    // The shared text has no id: this client's answer is '{"id":ID,' and
    // the rest of the text after its '{'.
    c.out += "{\"id\":" + id + ",";
    c.status_off = 1;
  }
}

// Renders the next slice of the rendering under way, within this
// iteration's budget; false when there was nothing to render or no time.
bool ControlServer::render_slice() {
  if (round_ && round_.use_count() == 1) round_.reset();  // nobody waits for it any more
  if (!round_ && next_round_) {
    round_ = std::move(next_round_);
    round_->generation = generation_;
  }
  SliceBudget& budget = stream_.budget();
  if (!round_ || !budget.left()) return false;
  StatusRound& r = *round_;
  const auto deadline = RealClock::read() + budget.remaining();
  bool done = budget.timed([&] { return r.writer->produce(r.text, 64 * 1024, deadline); });
  r.charge.set(r.text.size());
  if (done) {
    r.writer.reset();
    round_.reset();  // its readers keep it; the next begins at the next request
  }
  return true;
}

void ControlServer::update_interest(Client& c) {
  size_t p = pending(c);
  if (c.eof && !c.watching && p == 0 && !c.status && c.awaiting == 0 && !c.reloading && c.in_off >= c.in.size())
    return drop(c, nullptr);
  bool want_in = !c.eof && !c.closing && !c.status && !c.reloading && p < options_.high_water &&
                 c.in.size() - c.in_off <= kMaxLine + 1;
  // A backlog waits for the socket to be writable: at once for a client
  // that reads, which brings it back at the next iteration.
  bool want_out = p > 0 || c.status || c.backlog;
  stream_.set_events(c, (want_in ? EPOLLIN : 0u) | (want_out ? EPOLLOUT : 0u));
  if (!want_out) c.waiting_since = engine_.loop().now();
}

void ControlServer::on_event(const engine::Event& e) {
  ++generation_;
  if (watchers_ == 0) return;
  std::string line = event_line(e);
  for (auto& [id, cp] : clients_) {
    Client& c = *cp;
    if (!c.watching || c.dead) continue;
    // Only queued here: writing (and so reading more requests) waits for the
    // loop, never runs inside the engine's own delivery.
    if (pending(c) == 0) c.waiting_since = engine_.loop().now();
    (c.status ? c.held_events : c.out) += line;
    if (pending(c) > options_.max_output) {
      ++metrics_.control().dropped_slow;
      drop(c, "a watcher that does not read its events");
      continue;
    }
    account(c);
    stream_.set_events(c, c.events | EPOLLOUT);
  }
  enforce_budget();
}

// What the client's buffers take in memory while it has output pending
// (their capacity, not only the bytes unread); an idle one keeps little.
void ControlServer::account(Client& c) {
  c.charge.set(pending(c) == 0 ? 0 : c.out.capacity() + c.held_events.capacity());
}

// Past the budget, drops the client holding the most unread output, again
// while the total stays past it; only clients holding more than their fair
// share of the budget, so that one reading its answers is never dropped
// for what the others hold. Watchers go first: their events come without
// end, while a client's answers are bounded by what it asked (and a
// pipelining client gets the answers of a whole state write at once).
void ControlServer::enforce_budget() {
  while (budget_->over()) {
    Client* worst = nullptr;
    const size_t fair = budget_->limit() / std::max<size_t>(1, clients_.size());
    for (bool watchers : {true, false}) {
      size_t most = fair;
      for (auto& [id, cp] : clients_)
        if (!cp->dead && cp->watching == watchers && cp->charge.held() > most) {
          most = cp->charge.held();
          worst = cp.get();
        }
      if (worst) break;
    }
    if (!worst) return;
    ++(worst->watching ? metrics_.control().dropped_slow : metrics_.control().dropped_stalled);
    drop(*worst, "the client holding the most unread output: all clients together are past the output "
                 "budget");
  }
}

void ControlServer::sweep(TimePoint now) {
  if (std::exchange(trim_owed_, false)) ::malloc_trim(0);
  for (auto& [id, cp] : clients_) {
    Client& c = *cp;
    if (c.dead || (pending(c) == 0 && !c.status)) continue;
    if (now - c.waiting_since > options_.stall_timeout) {
      ++metrics_.control().dropped_stalled;
      drop(c, "a client that stopped reading its answer");
    }
  }
}

// Closes at once; the Client goes after the current callback (StreamServer::close).
void ControlServer::drop(Client& c, const char* why) {
  if (c.dead) return;
  if (why)
    log::warning(std::string("control socket: dropping ") + why,
                 {{"uid", std::to_string(c.uid)}, {"pid", std::to_string(c.pid)},
                  {"queued", std::to_string(pending(c))}});
  c.status.reset();
  bool large = c.charge.held() > kTrimAfter;
  std::string().swap(c.out);
  std::string().swap(c.held_events);
  c.charge.set(0);
  if (large) trim_owed_ = true;
  if (c.watching) --watchers_;
  metrics_.control().watchers = watchers_;
  stream_.close(c);
}

}  // namespace fipd::control
