// SPDX-License-Identifier: GPL-2.0-or-later
// libFuzzer target: the configuration parser (toml++ and then every section
// and cross check of parse_config), fed any bytes as fipd.toml. It must
// never crash, throw or hang; a refusal must say where and why; and a
// configuration it accepts must hold what the engine relies on: servers
// that floating IPs name exist, names are unique, probe specs validate.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>

#include "src/config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fipd::config;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto c = parse_config(text, "fipd.toml");
  if (!c) {
    if (c.error().empty()) std::abort();
    for (const auto& e : c.error())
      if (e.message.empty() || e.str().empty()) std::abort();
    return 0;
  }
  std::set<std::string> names;
  for (const auto& s : c->servers) {
    if (s.name.empty() || !names.insert(s.name).second) std::abort();
    if (s.address6 && s.address6->family() == s.address.family()) std::abort();
    fipd::probe::ServerSpec server{.id = s.name, .address = s.address, .probes = s.probes};
    if (!fipd::probe::validate(server)) std::abort();
  }
  for (const auto& f : c->floating_ips)
    if (!f.server.empty() && !c->server(f.server)) std::abort();
  // parse_config is a function of the text alone.
  auto again = parse_config(text, "fipd.toml");
  if (!again || again->servers.size() != c->servers.size() || again->floating_ips.size() != c->floating_ips.size())
    std::abort();
  return 0;
}
