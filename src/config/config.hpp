// SPDX-License-Identifier: GPL-2.0-or-later
// The configuration file, /etc/fipd/fipd.toml, as operators write it.
//
// Parsing does no I/O beyond reading the one file (parse_config takes the
// text, so a fuzzer can drive it), never throws, and reports every problem
// it finds, each with file:line:column and what was expected, the way
// `nginx -t` does. Unknown keys are errors: a misspelt `intervall` must not
// silently fall back to a default. A Config is immutable once built; a
// reload builds a new one and the engine swaps it whole.
//
// Every check start-up makes is made here, so start, reload and
// --check-config refuse the same files: parse_config() makes those that
// need only the text (probe specs through probe::validate() included);
// load_config() adds what needs the file and the host: a regular file of at
// most kMaxFileSize, at least one server, a control_group that exists, no
// server or floating IP on one of the router's own addresses
// (addresses.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/ip_address.hpp"
#include "src/probe/spec_io.hpp"
#include "src/state/model.hpp"

namespace fipd::config {

using std::chrono::nanoseconds;

// The largest configuration file read (a file of 100,000 floating IPs is
// about 8 MiB); a larger one, or /dev/zero, is refused before it is parsed.
inline constexpr size_t kMaxFileSize = 16 << 20;

struct Position {
  uint32_t line = 0, column = 0;
};

struct ConfigError {
  std::string file;
  Position at;
  std::string message;
  std::string str() const;  // "fipd.toml:12:9: message"
};

struct Prefix {
  IpAddress address;
  uint8_t length = 0;
  std::string str() const;
};

struct ServerConfig {
  std::string name;
  IpAddress address;                 // the first address given
  std::optional<IpAddress> address6;  // a second one, of the other family

  bool spare = false;
  std::string standby;
  std::vector<probe::ProbeSpec> probes;  // [probe_defaults] applied, normalised (spec_io.hpp)
  Position at;

  // The server's address of family f, or null.
  const IpAddress* address_of(Family f) const;
};

struct FloatingIpConfig {
  IpAddress address;
  std::string server;
  state::FipMode mode = state::FipMode::nat;
  std::vector<uint16_t> lockout_ports;
  std::string pin;
  Position at;
};

struct EngineConfig {
  std::string control_socket = "/run/fipd/fipd.sock";
  std::string control_group;  // members may change state through the socket; root always may
  std::string state_file = "/var/lib/fipd/state.json";
  std::string health_listen = "127.0.0.1:9473";  // empty: off
  std::string nft_table = "fipd";
  uint32_t route_table = 254;  // main
  std::vector<Prefix> management_prefixes;
  bool auto_maintenance = true;
  // Mark every nat flow with its server (a hash of its name), so that the
  // entries of a server whose floating IPs all moved go in one kernel pass.
  // Restart-only: the mirror's marks and the kernel's must agree.
  bool conntrack_mark = true;
  nanoseconds min_move_interval = std::chrono::seconds(1);
  unsigned max_moves = 3;
  nanoseconds flap_window = std::chrono::seconds(60);
  nanoseconds audit_interval = std::chrono::seconds(10);
  unsigned timeline_history = 32;
  // A reload that would take more than this share of the running floating
  // IPs out of the kernel is refused unless forced (fipctl reload
  // --allow-removals): a file cut short must not empty the router.
  double max_reload_removal_share = 0.5;
  // The storm guard (src/policy/storm.hpp): when at least storm_min_failures
  // servers, and more than storm_share of all servers, fail within
  // storm_window, the network is the likelier culprit: no customer is locked
  // out and no rebuild starts by itself. Also accepted under [rebuild],
  // where earlier versions read them (never in both).
  double storm_share = 0.3;
  unsigned storm_min_failures = 3;
  nanoseconds storm_window = std::chrono::seconds(60);
};

// How failed servers are rebuilt: an executable hook or an HTTP webhook
// (exactly one, or neither: then failed servers wait in maintenance for an
// operator).
struct RebuildConfig {
  std::string hook;     // executable: JSON on stdin, replacement as JSON on stdout
  std::string webhook;  // http(s) URL: the same JSON POSTed; the replacement is registered later
  std::vector<std::pair<std::string, std::string>> environment;  // extra variables for hooks
  bool automatic = true;  // rebuild servers that fail by themselves
  nanoseconds timeout = std::chrono::minutes(10);          // one call-out
  nanoseconds healthy_timeout = std::chrono::minutes(10);  // registration -> replacement up
  unsigned retries = 3;                                    // further attempts after the first
  nanoseconds backoff = std::chrono::seconds(30);          // before the first retry; doubles
  unsigned max_concurrent = 2;
  // An automatic rebuild waits this long before it starts, so that the storm
  // guard sees a storm first.
  nanoseconds settle = std::chrono::seconds(5);
  std::string notify_hook;     // told when a rebuild completes
  std::string notify_webhook;

  bool enabled() const { return !hook.empty() || !webhook.empty(); }
};

struct Config {
  std::string file;
  EngineConfig engine;
  RebuildConfig rebuild;
  // As written, the base of every probe (the file's, `server add`'s, a
  // hook's replacement's); probe::normalised() of it is the probe of a
  // server that names none.
  probe::ProbeSpec probe_defaults = probe::written_defaults();
  probe::ProbeSpec default_probe() const { return probe::normalised(probe_defaults); }
  std::vector<ServerConfig> servers;
  std::vector<FloatingIpConfig> floating_ips;

  // By name, through an index built on first use and again whenever
  // `servers` was reallocated or resized: a linear search here, once per
  // server on reload, made a 50,000-server reload quadratic (9 s of a
  // stopped loop). Renaming a server in place after a lookup is not seen.
  const ServerConfig* server(const std::string& name) const;
  // By address, the same way: the state's capture of one changed floating
  // IP looks its file entry up.
  const FloatingIpConfig* floating_ip(const IpAddress& address) const;

 private:
  // Not copied with the Config: a copy's vector is another, and builds its own.
  template <class Key>
  struct Index {
    Index() = default;
    Index(const Index&) {}
    Index& operator=(const Index&) { return *this; }
    std::unordered_map<Key, size_t> by_key;
    const void* data = nullptr;
    size_t size = 0;
  };
  mutable Index<std::string> index_;
  mutable Index<IpAddress> fip_index_;
};

using ConfigResult = std::expected<Config, std::vector<ConfigError>>;

// Parses `text` as if read from `file` (the name only labels errors).
ConfigResult parse_config(std::string_view text, const std::string& file);
// Reads and parses a file and checks it against this host; an unreadable
// file is one error at 0:0. Blocking (a file read, a group lookup, one
// netlink dump): the engine calls it off its loop on reload.
ConfigResult load_config(const std::string& path);
// The text of a regular file of at most kMaxFileSize bytes; anything else
// (a directory, a FIFO, a device) is an error that says what it is.
Result<std::string> read_config_file(const std::string& path);
// The checks that need the host; parse_config() has made the others.
std::vector<ConfigError> check_on_this_host(const Config& c);

// "ADDRESS:PORT" or "[ADDRESS]:PORT" (health_listen); EINVAL naming what is wrong.
Result<std::pair<IpAddress, uint16_t>> parse_listen(std::string_view text);

}  // namespace fipd::config
