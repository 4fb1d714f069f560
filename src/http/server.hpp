// SPDX-License-Identifier: GPL-2.0-or-later
// The health responder: what monitoring systems, load balancers and peer
// routers ask fipd over HTTP (TCP, [engine] health_listen; off when empty).
//
//   GET /healthz              200 when the loop answers and the kernel holds
//                             the desired state (Engine::kernel_in_sync()),
//                             503 with the reason otherwise
//   GET /healthz/fip/ADDRESS  200 when that floating IP points at a server
//                             that is up and serving; 503 when it is failing
//                             static, held, or its server is not up or must
//                             be evacuated (maintenance, draining); 404 when
//                             unknown; 400 when ADDRESS is not an address
//   GET /metrics              the Prometheus text (metrics.hpp)
// Bodies of /healthz are small JSON objects; HEAD is answered like GET
// without the body.
//
// It runs on the engine's loop: answering it proves the loop is alive, and
// every answer is computed from the engine's views in microseconds (the
// metrics' inventory counts are refreshed apart, in slices), and the time
// spent answering in one loop iteration is bounded (slice_budget): clients
// hammering it delay probes by no more than that. Connections are
// HTTP/1.1 keep-alive. Bounds: max_connections (at the bound, a new
// connection closes the idlest one, idle keep-alive connections first: they
// must not lock out a load balancer's probe, and 503 on /healthz means only
// that the router is unhealthy, never that fipd is busy); output queued for
// clients counts against the OutputBudget it shares with the control
// socket (output_budget.hpp); a request head of 8 KiB; a head must be complete within
// header_timeout of the connection or of the previous answer (slowloris),
// and an idle connection is closed after idle_timeout; an answer the client
// does not read within header_timeout closes it too.
//
// Owns: the listening socket and the connections (in a StreamServer,
// stream_server.hpp, as the control socket's), one timer per connection.
// Uses the engine and the metrics, which must outlive it. Thread: the
// loop's. Failures: create() returns an Error naming the address (bad
// syntax, address in use); per-connection failures close that connection.
#pragma once

#include <memory>
#include <string>

#include "base/fd.hpp"
#include "src/control/output_budget.hpp"
#include "src/control/stream_server.hpp"
#include "src/engine/engine.hpp"
#include "src/metrics/metrics.hpp"

namespace fipd::http {

using namespace std::chrono_literals;

struct HealthOptions {
  std::string listen;  // "127.0.0.1:9473", "[::1]:9473", "0.0.0.0:9473"
  size_t max_connections = 256;
  Duration header_timeout = 5s;
  Duration idle_timeout = 30s;
  // Loop time spent answering per loop iteration, over all connections;
  // past it the rest wait for the next iteration (after the timers).
  Duration slice_budget = 100us;
  // Shared with the control socket; null: one of its own.
  std::shared_ptr<control::OutputBudget> output_budget;
};

// "ADDRESS:PORT" or "[ADDRESS]:PORT"; EINVAL naming what is wrong. The
// configuration's, so that a bad health_listen is refused with the file.
using config::parse_listen;

class HealthServer {
 public:
  static Result<std::unique_ptr<HealthServer>> create(engine::Engine& engine, metrics::Metrics& metrics,
                                                          HealthOptions options);
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  uint16_t port() const { return port_; }

 private:
  struct Conn;
  HealthServer(engine::Engine& engine, metrics::Metrics& metrics, HealthOptions options);
  void on_accept(Fd fd);
  void on_io(Conn& c, uint32_t events);
  void serve_io(Conn& c, uint32_t events);
  void on_timeout(uint64_t id);
  void serve(Conn& c);
  void answer(Conn& c, std::string_view method, std::string_view target, bool keep_alive);
  void flush(Conn& c);
  void close(Conn& c);
  void evict_idlest();

  engine::Engine& engine_;
  metrics::Metrics& metrics_;
  HealthOptions options_;
  std::shared_ptr<control::OutputBudget> budget_;  // before the connections' charges
  uint16_t port_ = 0;
  control::StreamServer<Conn> stream_;
};

}  // namespace fipd::http
