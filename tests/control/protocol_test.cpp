// SPDX-License-Identifier: GPL-2.0-or-later
// The control protocol's request parser and response lines, without a
// daemon: every command's arguments, every kind of bad input, and the JSON
// writer's escaping (checked by parsing its output back strictly).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "src/control/json_out.hpp"
#include "src/control/protocol.hpp"

namespace fipd::control {
namespace {

using nlohmann::json;

const probe::ProbeSpec kDefaults{.kind = probe::ProbeKind::tcp, .port = 7000, .rise = 3};

Request ok(std::string_view line) {
  auto r = parse_request(line, kDefaults);
  EXPECT_TRUE(r) << line << ": " << (r ? "" : r.error().message);
  return r ? *r : Request{};
}

ProtocolError bad(std::string_view line) {
  auto r = parse_request(line, kDefaults);
  EXPECT_FALSE(r) << line << " parsed";
  return r ? ProtocolError{} : r.error();
}

TEST(ProtocolTest, EveryCommandWithItsArguments) {
  EXPECT_EQ(ok(R"({"cmd":"status"})").cmd, Command::status);
  EXPECT_EQ(ok(R"({"cmd":"watch"})").cmd, Command::watch);
  EXPECT_EQ(ok(R"({"cmd":"metrics"})").cmd, Command::metrics);
  EXPECT_EQ(ok(R"({"cmd":"reload"})").cmd, Command::reload);

  Request m = ok(R"({"cmd":"move","fip":"203.0.113.10","server":"spare-1"})");
  EXPECT_EQ(m.cmd, Command::move);
  EXPECT_EQ(m.fip->str(), "203.0.113.10");
  EXPECT_EQ(m.server, "spare-1");

  EXPECT_EQ(ok(R"({"cmd":"pin","fip":"2001:db8:f::10"})").server, "");
  EXPECT_EQ(ok(R"({"cmd":"pin","fip":"2001:db8:f::10","server":"web-1"})").server, "web-1");
  EXPECT_EQ(ok(R"({"cmd":"unpin","fip":"203.0.113.10"})").cmd, Command::unpin);

  Request a = ok(R"({"cmd":"server.add","name":"web-9","address":"10.0.9.2","address6":"fd00::9:2",)"
                 R"("spare":true,"standby":"spare-1","probe":{"kind":"http","port":8080,"path":"/ok","interval":"50ms"}})");
  EXPECT_EQ(a.cmd, Command::server_add);
  EXPECT_EQ(a.server, "web-9");
  EXPECT_EQ(a.address->str(), "10.0.9.2");
  EXPECT_EQ(a.address6->str(), "fd00::9:2");
  EXPECT_TRUE(a.spare);
  EXPECT_EQ(a.standby, "spare-1");
  ASSERT_EQ(a.probes.size(), 1u);
  EXPECT_EQ(a.probes[0].kind, probe::ProbeKind::http);
  EXPECT_EQ(a.probes[0].port, 8080);
  EXPECT_EQ(a.probes[0].http_path, "/ok");
  EXPECT_EQ(a.probes[0].interval, std::chrono::milliseconds(50));
  EXPECT_EQ(a.probes[0].rise, 3u) << "fields not given come from [probe_defaults]";

  Request two = ok(R"({"cmd":"server.add","name":"w","address":"10.0.9.3","probe":[{"port":1},{"kind":"icmp"}]})");
  ASSERT_EQ(two.probes.size(), 2u);
  EXPECT_EQ(two.probes[1].kind, probe::ProbeKind::icmp);
  EXPECT_TRUE(ok(R"({"cmd":"server.add","name":"w","address":"10.0.9.3"})").probes.empty());

  EXPECT_EQ(ok(R"({"cmd":"server.remove","name":"web-9"})").server, "web-9");
  Request d = ok(R"({"cmd":"server.drain","name":"web-9","on":true})");
  EXPECT_EQ(d.cmd, Command::server_drain);
  EXPECT_TRUE(d.on);
  Request mt = ok(R"({"cmd":"maintenance","server":"web-1","on":false})");
  EXPECT_EQ(mt.cmd, Command::maintenance);
  EXPECT_FALSE(mt.on);

  Request f = ok(R"({"cmd":"fip.add","address":"203.0.113.20","server":"web-1","mode":"stateless-nat","lockout_ports":[22,443]})");
  EXPECT_EQ(f.fip->str(), "203.0.113.20");
  EXPECT_EQ(f.mode, state::FipMode::stateless_nat);
  EXPECT_EQ(f.lockout_ports, (std::vector<uint16_t>{22, 443}));
  EXPECT_EQ(ok(R"({"cmd":"fip.remove","address":"203.0.113.20"})").cmd, Command::fip_remove);
  EXPECT_EQ(ok(R"({"cmd":"rebuild","server":"web-1"})").server, "web-1");
}

TEST(ProtocolTest, ReadingAndChangingCommands) {
  for (auto c : {Command::status, Command::watch, Command::metrics}) EXPECT_FALSE(changes_state(c));
  for (auto c : {Command::move, Command::pin, Command::unpin, Command::server_add, Command::server_remove,
                 Command::server_drain, Command::maintenance, Command::fip_add, Command::fip_remove, Command::rebuild,
                 Command::reload})
    EXPECT_TRUE(changes_state(c)) << command_name(c);
}

TEST(ProtocolTest, IdIsEchoedAsItCame) {
  EXPECT_EQ(ok(R"({"id":7,"cmd":"status"})").id, "7");
  EXPECT_EQ(ok(R"({"id":"abc","cmd":"status"})").id, "\"abc\"");
  EXPECT_EQ(ok(R"({"id":{"a":[1,2]},"cmd":"status"})").id, R"({"a":[1,2]})");
  EXPECT_EQ(ok(R"({"cmd":"status"})").id, "");
  // Even a refused request echoes it, so a client can match the answer.
  EXPECT_EQ(bad(R"({"id":9,"cmd":"fly"})").id, "9");
  EXPECT_EQ(bad(R"({"id":9,"cmd":"move"})").id, "9");
}

TEST(ProtocolTest, MalformedJson) {
  for (auto line : {"", "{", "not json", R"({"cmd":"status",})", "{\"cmd\":\"status\"}}", "\xff\xfe"}) {
    auto e = bad(line);
    EXPECT_EQ(e.code, EBADMSG) << line;
    EXPECT_NE(e.message.find("malformed JSON"), std::string::npos);
  }
}

TEST(ProtocolTest, NotAnObjectOrNoCommand) {
  EXPECT_EQ(bad("[1,2]").code, EINVAL);
  EXPECT_EQ(bad("42").code, EINVAL);
  EXPECT_NE(bad(R"({"id":1})").message.find("missing 'cmd'"), std::string::npos);
  EXPECT_NE(bad(R"({"cmd":5})").message.find("cmd: expected a string, got an integer"), std::string::npos);
}

TEST(ProtocolTest, UnknownCommandListsTheKnownOnes) {
  auto e = bad(R"({"cmd":"destroy"})");
  EXPECT_EQ(e.code, EOPNOTSUPP);
  EXPECT_NE(e.message.find("unknown command 'destroy'"), std::string::npos);
  EXPECT_NE(e.message.find("server.add"), std::string::npos);
  // A huge name is not echoed whole.
  auto big = bad(R"({"cmd":")" + std::string(10000, 'x') + "\"}");
  EXPECT_LT(big.message.size(), 400u);
}

TEST(ProtocolTest, WrongTypesAndValuesNameTheArgument) {
  struct Case {
    const char* line;
    const char* says;
  };
  for (auto [line, says] : std::initializer_list<Case>{
           {R"({"cmd":"move","fip":5,"server":"a"})", "move: fip: expected a string, got an integer"},
           {R"({"cmd":"move","fip":"203.0.113.300","server":"a"})", "is not an IPv4 or IPv6 address"},
           {R"({"cmd":"move","fip":"203.0.113.1"})", "missing argument 'server'"},
           {R"({"cmd":"move","fip":"203.0.113.1","server":"a b"})", "server: 'a b' is not a name"},
           {R"({"cmd":"move","fip":"203.0.113.1","server":"a","sever":"b"})", "unknown argument 'sever'"},
           {R"({"cmd":"status","verbose":true})", "unknown argument 'verbose' (known: cmd, id)"},
           {R"({"cmd":"maintenance","server":"a","on":"yes"})", "on: expected true or false, got a string"},
           {R"({"cmd":"server.drain","name":"a"})", "missing argument 'on'"},
           {R"({"cmd":"fip.add","address":"203.0.113.1","server":"a","mode":"magic"})", "unknown mode 'magic'"},
           {R"({"cmd":"fip.add","address":"203.0.113.1","server":"a","lockout_ports":[22,70000]})",
            "lockout_ports: expected an integer from 1 to 65535, got 70000"},
           {R"({"cmd":"fip.add","address":"203.0.113.1","server":"a","lockout_ports":[22.5]})",
            "expected an integer from 1 to 65535, got a number"},
           {R"({"cmd":"fip.add","address":"203.0.113.1","server":"a","lockout_ports":22})", "expected an array"},
           {R"({"cmd":"server.add","name":"a","address":"10.0.0.1","address6":"10.0.0.2"})", "same family"},
           {R"({"cmd":"server.add","name":"a","address":"10.0.0.1","probe":{"port":"80"}})",
            "probe: port: expected an integer from 1 to 65535, got a string"},
           {R"({"cmd":"server.add","name":"a","address":"10.0.0.1","probe":{"interval":"2"}})", "probe: interval:"},
           {R"({"cmd":"server.add","name":"a","address":"10.0.0.1","probe":{"kind":"udp"}})",
            "a udp probe needs a payload"},
           {R"({"cmd":"server.add","name":"a","address":"10.0.0.1","probe":[{"port":1},{"rise":0}]})",
            "probe[1]: rise: expected an integer from 1 to 100"},
           {R"({"cmd":"server.add","name":"a","address":"10.0.0.1","probe":[]})", "probe: the list is empty"},
           {R"({"cmd":"server.add","name":"a","address":"10.0.0.1","probe":7})", "probe: expected an object"},
           {R"({"cmd":"server.add","name":"a","address":"10.0.0.1","probe":{"path":"x y"}})", "must start with '/'"},
           {R"({"cmd":"rebuild","server":"a\u0000b"})", "NUL"},
           {R"({"cmd":"unpin","fip":"1.2.3.4","port":-1})", "unknown argument 'port'"},
       }) {
    auto e = bad(line);
    EXPECT_EQ(e.code, EINVAL) << line;
    EXPECT_NE(e.message.find(says), std::string::npos) << line << "\n  said: " << e.message;
  }
}

TEST(ProtocolTest, OversizedLine) {
  std::string line = R"({"cmd":"status","pad":")" + std::string(kMaxLine, 'x') + "\"}";
  EXPECT_EQ(bad(line).code, EMSGSIZE);
}

TEST(ProtocolTest, ResponsesAreOneJsonLine) {
  std::string r = ok_response("7", R"({"a":1})");
  ASSERT_EQ(r.back(), '\n');
  json j = json::parse(r);
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["result"]["a"], 1);

  json e = json::parse(error_response("", EPERM, "no \"way\"\n"));
  EXPECT_FALSE(e.contains("id"));
  EXPECT_EQ(e["ok"], false);
  EXPECT_EQ(e["code"], "EPERM");
  EXPECT_EQ(e["error"], "no \"way\"\n");
  EXPECT_EQ(json::parse(error_response("1", ENOSYS, "x"))["code"], "ENOSYS");

  json g = json::parse(greeting("0.1.0", true));
  EXPECT_EQ(g["fipd"], "0.1.0");
  EXPECT_EQ(g["protocol"], kProtocolVersion);
  EXPECT_EQ(g["can_write"], true);
}

// Issue 14, item 1: a 32,700-deep id overflowed the stack in dump() before
// any permission check. The depth is refused while parsing, at once.
TEST(ProtocolTest, DeepNestingIsRefusedWhileParsing) {
  std::string deep = "{\"id\": " + std::string(32700, '[') + std::string(32700, ']') + ", \"cmd\": \"status\"}";
  ASSERT_LE(deep.size(), kMaxLine);
  ProtocolError e = bad(deep);
  EXPECT_EQ(e.code, EBADMSG);
  EXPECT_NE(e.message.find("nested deeper than 32 levels at byte 38"), std::string::npos) << e.message;
  // 65,000 '[' (the issue's loop-blocking line) costs 33 bytes of parsing.
  e = bad(std::string(65000, '['));
  EXPECT_NE(e.message.find("nested deeper than 32 levels at byte 32"), std::string::npos) << e.message;
  // An id within the bound is echoed as it came.
  std::string id = std::string(30, '[') + std::string(30, ']');
  EXPECT_EQ(ok("{\"id\":" + id + ",\"cmd\":\"status\"}").id, id);
}

// Issue 14, item 19.
TEST(ProtocolTest, TrailingBytesNulAndDuplicateKeysAreRefused) {
  using namespace std::string_literals;
  for (std::string line : {"{\"cmd\":\"status\"}\0junk"s, "{\"cmd\":\"status\"}\0"s, "\0{\"cmd\":\"status\"}"s,
                           "{\"cmd\":\"status\"} x"s}) {
    ProtocolError e = bad(line);
    EXPECT_EQ(e.code, EBADMSG) << e.message;
    EXPECT_NE(e.message.find("at byte "), std::string::npos) << e.message;
  }
  ProtocolError e = bad(R"({"cmd":"move","cmd":"status"})");
  EXPECT_EQ(e.code, EBADMSG);
  EXPECT_NE(e.message.find("duplicate key \"cmd\""), std::string::npos) << e.message;
  EXPECT_NE(bad(R"({"cmd":"move","fip":"203.0.113.10","server":"a","server":"b"})").message.find("duplicate key"),
            std::string::npos);
}

// Issue 14, item 18: an escaped NUL in an address is refused, not cut short.
TEST(ProtocolTest, NulInsideAnAddressIsRefused) {
  ProtocolError e = bad(R"({"cmd":"move","fip":"127.0.0.11\u0000junk","server":"a"})");
  EXPECT_EQ(e.code, EINVAL);
  EXPECT_EQ(e.message.find('\0'), std::string::npos) << "the message is not cut at a NUL";
}

TEST(JsonOutTest, EscapesEverythingAndRepairsUtf8) {
  std::string out;
  JsonWriter w(&out);
  std::string nasty = std::string("q\"b\\s\n\t\x01\x1f", 10) + std::string(1, '\0') + "é€😀" + "\xff" + "\xc3" +
                      "\xed\xa0\x80" + "\xf4\x90\x80\x80" + "\xe0\x80\x80" + "end";
  w.begin_object().field("s", nasty).key("n").value(int64_t{-5}).key("b").value(false).key("z").null();
  w.key("arr").begin_array().value("x").value(uint64_t{18446744073709551615u}).begin_object().end_object().end_array();
  w.end_object();
  json j = json::parse(out);  // throws, failing the test, on anything invalid
  std::string s = j["s"];
  EXPECT_EQ(s.substr(0, 11), std::string("q\"b\\s\n\t\x01\x1f\0", 10) + std::string(1, '\0'));
  EXPECT_NE(s.find("é€😀"), std::string::npos);
  EXPECT_NE(s.find("\xEF\xBF\xBD"), std::string::npos) << "invalid bytes become U+FFFD";
  EXPECT_TRUE(s.ends_with("end"));
  EXPECT_EQ(j["n"], -5);
  EXPECT_EQ(j["arr"][1], 18446744073709551615u);
  EXPECT_EQ(j["arr"][2], json::object());
}

}  // namespace
}  // namespace fipd::control
