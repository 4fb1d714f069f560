// SPDX-License-Identifier: GPL-2.0-or-later
// The answers that describe the engine: the status document, events as
// watch lines, and a failover's timeline, in the JSON of the control
// protocol (docs/control-protocol.md).
//
// The status of 100,000 floating IPs is about 17 MB. Writing it at once
// would stop the loop for tens of milliseconds, long enough to delay probes,
// so StatusWriter produces it in slices: the caller asks for the next slice
// whenever the client's buffer has room and the loop has time. Between
// slices it remembers where it stopped by key (a server's name, a floating
// IP's address), not by iterator, so servers or floating IPs added, removed
// or replaced by a reload between two slices cannot invalidate it: each
// entry is written as it is when its slice runs.
//
// Owns: its position and JSON nesting state. Uses the engine, which must
// outlive it. Thread: the loop's. Failures: none; an entry that vanished
// between slices is simply not written.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "src/control/json_out.hpp"
#include "src/engine/engine.hpp"

namespace fipd::control {

// What the status needs besides the engine.
struct StatusContext {
  std::string version;
  TimePoint started;
};

class StatusWriter {
 public:
  StatusWriter(engine::Engine& engine, const StatusContext& ctx, std::string id);

  // Appends the next part of the response line to `out`, stopping once it
  // has written at least `max_bytes`, or at `deadline` (checked after each
  // small group of entries), or at the end. Returns true when the response
  // is complete, its '\n' included.
  bool produce(std::string& out, size_t max_bytes, TimePoint deadline = TimePoint::max());

  // One server or floating IP as the status shows it: the answers of the
  // commands that change one (fipctl pin, server add, ...) have the same
  // shape, from this one writer.
  std::string object(const state::Server& s);
  std::string object(const state::FloatingIp& f);

 private:
  enum class Phase : uint8_t { head, servers, fips, tail, done };
  void write_head();
  void write_server(const state::Server& s);
  void write_fip(const state::FloatingIp& f);
  void write_rebuild(const rebuild::Record& r, bool active);
  void write_tail();
  std::optional<uint16_t> probe_port(const std::string& server, size_t i);

  engine::Engine& engine_;
  const StatusContext& ctx_;
  std::string id_;
  JsonWriter w_;
  Phase phase_ = Phase::head;
  std::optional<std::string> last_server_;
  std::optional<IpAddress> last_fip_;
  // Config::server() is a linear search: with 10,000 servers, once per
  // server it made the status quadratic. An index, rebuilt when a reload
  // replaced the configuration (its vector of servers is then another).
  std::unordered_map<std::string_view, const config::ServerConfig*> config_index_;
  const config::ServerConfig* indexed_data_ = nullptr;
  size_t indexed_size_ = 0;
};

// Writes one failover as in status "failovers" and watch events.
void write_failover(JsonWriter& w, const engine::Failover& f);
// One watch line (with '\n') for an event.
std::string event_line(const engine::Event& e);
// Microseconds of CLOCK_MONOTONIC, as `*_mono_us` fields carry them.
int64_t mono_us(TimePoint t);

}  // namespace fipd::control
