// SPDX-License-Identifier: GPL-2.0-or-later
// The health responder's HTTP request parser and response writer, alone.
#include <gtest/gtest.h>

#include "src/http/http.hpp"

namespace fipd::http {
namespace {

TEST(HttpTest, CompleteRequests) {
  auto r = parse_request_head("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /next");
  ASSERT_EQ(r.status, ParseStatus::complete);
  EXPECT_EQ(r.request.method, "GET");
  EXPECT_EQ(r.request.target, "/healthz");
  EXPECT_TRUE(r.request.keep_alive);
  EXPECT_FALSE(r.request.has_body);
  EXPECT_EQ(r.consumed, 34u);

  r = parse_request_head("HEAD /metrics HTTP/1.0\n\n");
  ASSERT_EQ(r.status, ParseStatus::complete);
  EXPECT_FALSE(r.request.keep_alive) << "HTTP/1.0 closes unless asked";
  r = parse_request_head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  EXPECT_TRUE(r.request.keep_alive);
  r = parse_request_head("GET / HTTP/1.1\r\nconnection: foo, close\r\n\r\n");
  EXPECT_FALSE(r.request.keep_alive);
  r = parse_request_head("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(r.request.has_body);
  r = parse_request_head("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n");
  EXPECT_TRUE(r.request.has_body);
  r = parse_request_head("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_TRUE(r.request.has_body);
}

TEST(HttpTest, IncompleteBadAndTooLarge) {
  EXPECT_EQ(parse_request_head("").status, ParseStatus::incomplete);
  EXPECT_EQ(parse_request_head("GET /healthz HTTP/1.1\r\nHost: x\r\n").status, ParseStatus::incomplete);
  for (const char* bad : {"GET\r\n\r\n", "GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/2.0\r\n\r\n",
                          "GET / HTTP/1.x\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n", "GET /a\x01 HTTP/1.1\r\n\r\n",
                          "GET / HTTP/1.1\r\nno colon\r\n\r\n", "GET / HTTP/1.1\r\n: empty\r\n\r\n",
                          "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n"})
    EXPECT_EQ(parse_request_head(bad).status, ParseStatus::bad) << bad;
  std::string big = "GET / HTTP/1.1\r\nX: " + std::string(kMaxHead, 'a');
  EXPECT_EQ(parse_request_head(big).status, ParseStatus::too_large);
  EXPECT_EQ(parse_request_head(big + "\r\n\r\n").status, ParseStatus::too_large);
}

// Issue 14, item 18: /healthz/fip/203.0.113.10%00junk answered 200.
TEST(HttpTest, PercentDecodingRefusesControlCharacters) {
  EXPECT_EQ(percent_decode("203.0.113.10"), "203.0.113.10");
  EXPECT_EQ(percent_decode("2001%3adb8%3A%3a1"), "2001:db8::1");
  for (const char* bad : {"203.0.113.10%00junk", "%00", "a%0a", "a%1B[2J", "%7f", "%", "%4", "%zz", "a%g1"})
    EXPECT_FALSE(percent_decode(bad)) << bad;
}

TEST(HttpTest, Responses) {
  EXPECT_EQ(make_response(200, "text/plain", "hi\n", true),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nCache-Control: no-store\r\n"
            "Connection: keep-alive\r\n\r\nhi\n");
  std::string head = make_response(503, "application/json", "{}", false, true, "Retry-After: 1\r\n");
  EXPECT_EQ(head,
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\nRetry-After: 1\r\n\r\n");
}

}  // namespace
}  // namespace fipd::http
