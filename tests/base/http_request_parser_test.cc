#include "base/http_request_parser.h"

#include <gtest/gtest.h>

namespace corral::http {
namespace {

using Outcome = RequestParser::Outcome;

TEST(RequestParser, PipelinedRequestsComeOutOneAtATime) {
  RequestParser p({1024, 1024});
  std::string in =
      "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  size_t used = 0;
  ASSERT_EQ(p.feed(in, &used), Outcome::kRequest);
  Request a = p.takeRequest();
  EXPECT_EQ(a.method, "GET");
  EXPECT_EQ(a.path, "/a");
  EXPECT_EQ(a.queryParam("x"), "1");
  EXPECT_TRUE(p.keepAlive());
  in.erase(0, used);
  ASSERT_EQ(p.feed(in, &used), Outcome::kRequest);
  Request b = p.takeRequest();
  EXPECT_EQ(b.body, "abc");
  EXPECT_EQ(used, in.size());
}

TEST(RequestParser, ByteAtATimeIsTheSame) {
  RequestParser p({1024, 1024});
  std::string in = "PUT /c HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi";
  int requests = 0;
  for (char c : in) {
    size_t used = 0;
    auto o = p.feed(std::string_view(&c, 1), &used);
    ASSERT_NE(o, Outcome::kError);
    if (o == Outcome::kRequest) {
      ++requests;
      EXPECT_EQ(p.takeRequest().body, "hi");
      EXPECT_FALSE(p.keepAlive());  // HTTP/1.0 without keep-alive
    }
  }
  EXPECT_EQ(requests, 1);
}

TEST(RequestParser, ErrorsAreFinalAndPrecise) {
  struct Case {
    std::string in;
    int status;
  };
  for (const auto& c : std::vector<Case>{
           {"GARBAGE\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
           {"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
           // Found by http_fuzz: an empty Transfer-Encoding next to Content-Length.
           {"POST /p HTTP/1.1\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\nhello", 400},
           {"POST / HTTP/1.1\r\nContent-Length: 99999\r\n\r\n", 413},
           {"GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n", 431},
       }) {
    RequestParser p({1024, 1024});
    size_t used = 0;
    ASSERT_EQ(p.feed(c.in, &used), Outcome::kError) << c.in.substr(0, 60);
    EXPECT_EQ(p.errorStatus(), c.status) << c.in.substr(0, 60);
    EXPECT_FALSE(p.errorReason().empty());
    EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n\r\n", &used), Outcome::kError);
  }
}

}  // namespace
}  // namespace corral::http
