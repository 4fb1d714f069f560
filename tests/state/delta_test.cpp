// SPDX-License-Identifier: GPL-2.0-or-later
// Deltas (puts and deletes of keyed entries) and their journal text: apply,
// diff and merge agree, a record reads back as written, and the replay
// drops a torn last record but names the line of any other bad one.
#include "src/state/delta.hpp"

#include <gtest/gtest.h>

#include <random>

#include "src/state/journal.hpp"

namespace fipd::state {
namespace {

IpAddress ip(const std::string& s) { return *IpAddress::parse(s); }

// A state drawn from a small universe of keys, so that two of them share
// some keys, differ in some, and lack others.
RuntimeState random_state(std::mt19937& rng) {
  auto coin = [&] { return rng() % 2 == 0; };
  auto pick = [&](std::initializer_list<const char*> names) {
    return std::string(*(names.begin() + rng() % names.size()));
  };
  RuntimeState s;
  for (int i = 0; i < 6; ++i) {
    IpAddress a = ip("203.0.113." + std::to_string(i));
    std::string name = "web-" + std::to_string(i);
    if (coin()) s.assignments[a] = {.server = pick({"web-1", "spare-1"}), .configured_server = "web-1",
                                    .pin = coin() ? "" : "spare-1"};
    if (coin()) s.servers[name] = {.maintenance = coin() ? Maintenance::failed : Maintenance::manual,
                                   .draining = coin()};
    if (coin())
      s.added_servers[name] = {.name = name, .address = ip("10.0.0." + std::to_string(i)), .spare = coin(),
                               .replaces = coin() ? "" : "web-9"};
    if (coin()) s.removed_servers.insert(name);
    if (coin()) s.added_fips[a] = {.address = a, .server = pick({"web-1", "web-2"}), .lockout_ports = {22}};
    if (coin()) s.removed_fips.insert(ip("198.51.100." + std::to_string(i)));
  }
  if (coin()) s.extra = R"({"rebuilds":[)" + std::string(coin() ? "" : R"({"id":"r1"})") + "]}";
  return s;
}

TEST(Delta, DiffThenApplyGivesTheOtherStateAndApplyingTwiceChangesNothing) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    RuntimeState from = random_state(rng), to = random_state(rng);
    Delta d = diff(from, to);
    RuntimeState s = from;
    apply(s, d);
    EXPECT_EQ(s, to) << "round " << round;
    apply(s, d);
    EXPECT_EQ(s, to) << "puts and deletes are absolute: round " << round;
    EXPECT_TRUE(diff(to, to).empty());
    EXPECT_EQ(d.empty(), from == to);
  }
}

TEST(Delta, MergeIsApplyingOneAfterTheOther) {
  std::mt19937 rng(11);
  for (int round = 0; round < 100; ++round) {
    RuntimeState a = random_state(rng), b = random_state(rng), c = random_state(rng);
    Delta ab = diff(a, b), bc = diff(b, c);
    Delta merged = ab;
    merged.merge(bc);
    RuntimeState s = a;
    apply(s, merged);
    EXPECT_EQ(s, c) << "round " << round;
  }
}

TEST(Delta, NoteChangeLeavesOutWhatDidNotChange) {
  RuntimeState saved;
  saved.servers["web-1"] = {.maintenance = Maintenance::manual};
  Delta d;
  note_change(d.servers, saved.servers, std::string("web-1"), std::optional(ServerRuntime{.maintenance = Maintenance::manual}));
  note_change(d.servers, saved.servers, std::string("web-2"), std::optional<ServerRuntime>());
  note_change(d.removed_servers, saved.removed_servers, std::string("web-3"), false);
  EXPECT_TRUE(d.empty());
  note_change(d.servers, saved.servers, std::string("web-1"), std::optional<ServerRuntime>());
  note_change(d.removed_servers, saved.removed_servers, std::string("web-3"), true);
  EXPECT_EQ(d.size(), 2u);
  EXPECT_FALSE(d.servers.at("web-1")) << "a delete";
  EXPECT_TRUE(d.removed_servers.at("web-3"));
}

TEST(Journal, RecordsReadBackAsWritten) {
  std::mt19937 rng(3);
  for (int round = 0; round < 200; ++round) {
    RuntimeState from = random_state(rng), to = random_state(rng);
    std::string text = journal_line(static_cast<uint64_t>(round + 1), diff(from, to));
    ASSERT_EQ(text.back(), '\n');
    ASSERT_EQ(text.find('\n'), text.size() - 1) << "one line";
    RuntimeState s = from;
    auto r = replay_journal(text, "state.json.journal", s);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->records, 1u);
    EXPECT_EQ(r->good_bytes, text.size());
    EXPECT_FALSE(r->torn);
    EXPECT_EQ(s, to) << text;
  }
}

TEST(Journal, ARecordHoldsOnlyItsKeys) {
  Delta d;
  d.assignments[ip("203.0.113.10")] = Assignment{.server = "spare-1", .configured_server = "web-1"};
  d.added_fips[ip("203.0.113.44")] = std::nullopt;
  d.removed_servers["old-1"] = true;
  EXPECT_EQ(journal_line(12, d),
            R"({"added_floating_ips":{"203.0.113.44":null},"assignments":{"203.0.113.10":{"configured_server":"web-1",)"
            R"("server":"spare-1"}},"removed_servers":{"old-1":true},"seq":12})"
            "\n");
}

// Two records, then a third cut short by a crash: it was never
// acknowledged (its fdatasync never returned), so it is dropped, and said.
TEST(Journal, ATornLastRecordIsDroppedAndSaid) {
  Delta one, two, three;
  one.servers["web-1"] = ServerRuntime{.maintenance = Maintenance::failed};
  two.removed_servers["old-1"] = true;
  three.removed_servers["old-2"] = true;
  std::string whole = journal_line(1, one) + journal_line(2, two);
  std::string torn = journal_line(3, three);
  torn.pop_back();  // its newline never landed
  for (const std::string& tail : {torn.substr(0, 10), torn, std::string(40, '\0'), std::string(40, '\0') + "\n"}) {
    RuntimeState s;
    auto r = replay_journal(whole + tail, "state.json.journal", s);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->records, 2u);
    EXPECT_EQ(r->good_bytes, whole.size());
    ASSERT_TRUE(r->torn);
    EXPECT_NE(r->torn->find("state.json.journal: line 3: the last "), std::string::npos) << *r->torn;
    EXPECT_FALSE(s.removed_servers.contains("old-2"));
    EXPECT_TRUE(s.removed_servers.contains("old-1"));
  }
}

std::string replay_error(const std::string& text) {
  RuntimeState s;
  auto r = replay_journal(text, "state.json.journal", s);
  EXPECT_FALSE(r) << text;
  return r ? std::string() : r.error().context;
}

// Anything but a torn last line is an error naming the line (and, where the
// text stops being JSON, the byte and column), never a state half replayed.
TEST(Journal, ABadLineInTheMiddleIsAnErrorThatNamesIt) {
  Delta one;
  one.removed_servers["old-1"] = true;
  const std::string first = journal_line(1, one), last = journal_line(3, one);
  struct Case {
    std::string line;
    std::string want;
  } cases[] = {
      {R"({"seq":2,"servers":{,}})", "state.json.journal: line 2: not a JSON record: syntax error"},
      {R"({"seq":2,"servers":{,}})", "(line 2, column 21)"},
      {R"({"seq":2,"servers":{"web-1":{"maintenance":"lunch","draining":false}}})",
       "state.json.journal: line 2: servers.web-1.maintenance: unknown value 'lunch'"},
      {R"({"seq":2,"assignments":{"nonsense":null}})",
       "state.json.journal: line 2: assignments.nonsense: 'nonsense' is not an IPv4 or IPv6 address"},
      {R"({"seq":2,"added_servers":{"../x":null}})", "line 2: added_servers.../x: '../x' is not a name"},
      {R"({"seq":2,"removed_floating_ips":{"203.0.113.1":1}})",
       "line 2: removed_floating_ips.203.0.113.1: expected true or false"},
      {R"({"seq":2,"added_floating_ips":{"203.0.113.1":{"server":"web-1","mode":"nat","lockout_ports":[0]}}})",
       "line 2: added_floating_ips.203.0.113.1.lockout_ports: expected ports from 1 to 65535"},
      {R"({"seq":2,"moves":{}})", "line 2: unknown part 'moves'"},
      {R"({"servers":{}})", "line 2: seq: expected a number from 1"},
      {R"([1,2])", "line 2: not a JSON object (the line is array)"},
      {"", "line 2: not a JSON record: empty"},
      {std::string(R"({"seq":2,"extra":)") + std::string(100, '[') + std::string(100, ']') + "}",
       "line 2: not a JSON record: nested deeper than 32 levels"},
  };
  for (const auto& c : cases) {
    std::string e = replay_error(first + c.line + "\n" + last);
    EXPECT_NE(e.find(c.want), std::string::npos) << "want: " << c.want << "\ngot: " << e;
  }
}

TEST(Journal, AnAddedEntryTakesItsKey) {
  RuntimeState s;
  auto r = replay_journal(
      R"({"seq":1,"added_servers":{"web-4":{"address":"10.0.0.14","spare":true}},)"
      R"("added_floating_ips":{"203.0.113.44":{"server":"web-4","mode":"route"}},"extra":{"rebuilds":[]}})"
      "\n"
      R"({"seq":2,"extra":null})"
      "\n",
      "state.json.journal", s);
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_TRUE(s.added_servers.contains("web-4"));
  EXPECT_EQ(s.added_servers.at("web-4").name, "web-4");
  EXPECT_TRUE(s.added_servers.at("web-4").spare);
  ASSERT_TRUE(s.added_fips.contains(ip("203.0.113.44")));
  EXPECT_EQ(s.added_fips.at(ip("203.0.113.44")).address, ip("203.0.113.44"));
  EXPECT_EQ(s.added_fips.at(ip("203.0.113.44")).mode, FipMode::route);
  EXPECT_EQ(s.extra, "") << "null deletes the rebuilds' part";
}

}  // namespace
}  // namespace fipd::state
