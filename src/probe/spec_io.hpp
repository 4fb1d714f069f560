// SPDX-License-Identifier: GPL-2.0-or-later
// A probe as operators write it, read and written in one place.
//
// Four sources describe probes: the TOML file ([probe_defaults] and each
// [[server]]'s probes), the control protocol (`server add`), the state file
// (servers added at runtime) and a rebuild hook's replacement line. They
// all spell a probe the same way, with the file's keys (fipd.toml(5)):
// kind, port, interval, timeout, fastinter, downinter, detect_time, rise,
// fall, path, host, expect (http status codes), send, expect_prefix,
// source, interface, fwmark. read_probe() holds the one rule set for them;
// a source only says how to get a typed value out of its format and how to
// name a key in an error (a file position, a JSON path). probe_json() writes
// the same keys back, as the state file keeps them.
//
// Decision: the reader fills a ProbeSpec over a base (the file's
// [probe_defaults], or written_defaults()), and normalised() then drops what
// the kind ignores (an icmp probe's port, a tcp probe's http settings), so
// that inherited defaults never make a spec that validate() refuses, and
// two probes that act the same compare equal on reload.
//
// Thread: any. Failures: reported to the source, which keeps them (the TOML
// source every one, with its position; JsonFields the first).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/probe/spec.hpp"

namespace fipd::probe {

// What a probe is when its text sets nothing: tcp to port 80, every second,
// and an http probe wants 200.
ProbeSpec written_defaults();
// `p` without the fields its kind ignores.
ProbeSpec normalised(ProbeSpec p);

// Typed values out of one probe's object. Each getter returns nullopt both
// when the key is absent and when its value is of the wrong type (then it
// has called fail()). `expected` says what the key wants, for that error.
class FieldSource {
 public:
  virtual ~FieldSource() = default;
  // Reports the keys of the object that are not in `known`.
  virtual void check_keys(std::span<const std::string_view> known) = 0;
  virtual std::optional<std::string> str(std::string_view key, std::string_view expected) = 0;
  virtual std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max) = 0;
  virtual std::optional<std::vector<int64_t>> integers(std::string_view key, int64_t min, int64_t max) = 0;
  // A value broke a rule: "KEY: WHY" at the key's place; an empty key
  // names the probe as a whole.
  virtual void fail(std::string_view key, const std::string& why) = 0;
};

// Reads the keys present over `base`, as written: a server's probe is
// normalised() next, a base ([probe_defaults]) is kept whole, so that an
// http probe inherits the defaults' path even when they are tcp. Whatever
// failed has been reported to `s`; the spec returned is only meaningful
// without one.
ProbeSpec read_probe(FieldSource& s, const ProbeSpec& base);

// A FieldSource over a JSON object; it keeps the first error.
class JsonFields final : public FieldSource {
 public:
  explicit JsonFields(const nlohmann::json& obj) : obj_(obj) {}
  struct Failure {
    std::string key;  // empty: the probe as a whole
    std::string why;
    std::string str() const { return key.empty() ? why : key + ": " + why; }
  };
  std::optional<Failure> error;

  void check_keys(std::span<const std::string_view> known) override;
  std::optional<std::string> str(std::string_view key, std::string_view expected) override;
  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max) override;
  std::optional<std::vector<int64_t>> integers(std::string_view key, int64_t min, int64_t max) override;
  void fail(std::string_view key, const std::string& why) override;

 private:
  std::optional<int64_t> number(const nlohmann::json& v, std::string_view key, int64_t min, int64_t max);
  const nlohmann::json& obj_;
};

// The probe with the file's keys; what is unset (fastinter 0, no source)
// and what its kind ignores is left out, so read_probe() over
// ProbeSpec{} gives it back.
nlohmann::json probe_json(const ProbeSpec& p);

}  // namespace fipd::probe
