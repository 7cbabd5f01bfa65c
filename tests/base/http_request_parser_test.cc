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

// ---- Streaming mode ----

using Event = RequestStreamParser::Event;

// Feeds `in` in pieces of `step` bytes and records the events: "H" head,
// "B" body bytes (collected in *body), "E" end, "X" error.
std::string drive(RequestStreamParser& p, std::string_view in, size_t step, std::string* body) {
  std::string events;
  std::string pending;
  size_t at = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    if (pending.empty() && at < in.size()) {
      pending.append(in.substr(at, step));
      at += step;
    }
    size_t used = 0;
    Event e = p.feed(pending, &used);
    EXPECT_LE(used, pending.size());
    if (e == Event::kBody) body->append(p.body());  // a view into `pending`
    pending.erase(0, used);
    switch (e) {
      case Event::kNeedMore:
        if (at >= in.size()) return events;
        if (!pending.empty()) {
          pending.append(in.substr(at, step));
          at += step;
        }
        break;
      case Event::kHead:
        events += 'H';
        break;
      case Event::kBody:
        if (events.empty() || events.back() != 'B') events += 'B';
        break;
      case Event::kEnd:
        events += 'E';
        break;
      case Event::kError:
        events += 'X';
        return events;
    }
  }
  ADD_FAILURE() << "no progress";
  return events;
}

TEST(RequestStreamParser, HeadBodyEndAsTheyArrive) {
  std::string in =
      "POST /up?x=1 HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
      "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  for (size_t step : {size_t{1}, size_t{3}, size_t{7}, in.size()}) {
    RequestStreamParser p({1024});
    std::string body;
    EXPECT_EQ(drive(p, in, step, &body), "HBEHE") << step;
    EXPECT_EQ(body, "hello world") << step;
    EXPECT_EQ(p.head().method(), "GET");
    EXPECT_EQ(p.head().target(), "/next");
  }
}

TEST(RequestStreamParser, StopsAfterTheHeadSoTheCallerCanPause) {
  RequestStreamParser p({1024});
  std::string in = "PUT /f HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nContent-Length: 4\r\n\r\nbody";
  size_t used = 0;
  ASSERT_EQ(p.feed(in, &used), Event::kHead);
  EXPECT_EQ(in.substr(used), "body");  // the body stays with the caller
  const RequestHead& h = p.head();
  EXPECT_EQ(h.method(), "PUT");
  EXPECT_EQ(h.target(), "/f");
  ASSERT_EQ(h.headerCount(), 3u);
  EXPECT_EQ(h.headerName(1), "X-Empty");
  EXPECT_EQ(h.headerValue(1), "");
  EXPECT_EQ(h.header("content-length"), "4");
  EXPECT_TRUE(h.hasContentLength());
  EXPECT_EQ(h.contentLength(), 4u);
  EXPECT_FALSE(h.chunked());
  EXPECT_TRUE(p.inBody());
  in.erase(0, used);
  ASSERT_EQ(p.feed(in.substr(0, 2), &used), Event::kBody);
  EXPECT_EQ(p.body(), "bo");
  ASSERT_EQ(p.feed(in.substr(2), &used), Event::kBody);
  EXPECT_EQ(p.body(), "dy");
  ASSERT_EQ(p.feed("", &used), Event::kEnd);
  EXPECT_TRUE(p.keepAlive());
}

TEST(RequestStreamParser, BodilessRequestEndsWithoutMoreBytes) {
  RequestStreamParser p({1024});
  size_t used = 0;
  ASSERT_EQ(p.feed("GET / HTTP/1.0\r\n\r\n", &used), Event::kHead);
  EXPECT_FALSE(p.head().keepAlive());
  ASSERT_EQ(p.feed("", &used), Event::kEnd);
  EXPECT_FALSE(p.keepAlive());
  EXPECT_FALSE(p.upgraded());
}

TEST(RequestStreamParser, ExpectContinueAndUpgradeAreReported) {
  RequestStreamParser p({1024});
  size_t used = 0;
  ASSERT_EQ(p.feed("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", &used),
            Event::kHead);
  EXPECT_TRUE(p.head().expectsContinue());
  ASSERT_EQ(p.feed("x", &used), Event::kBody);
  ASSERT_EQ(p.feed("", &used), Event::kEnd);

  std::string up =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05";
  ASSERT_EQ(p.feed(up, &used), Event::kHead);
  EXPECT_TRUE(p.head().upgradeRequested());
  up.erase(0, used);
  ASSERT_EQ(p.feed(up, &used), Event::kEnd);
  EXPECT_TRUE(p.upgraded());
  EXPECT_EQ(used, 0u);  // the frame bytes belong to the tunnel
  EXPECT_EQ(p.feed(up, &used), Event::kError);
}

// Every framing a smuggler could use to make a proxy and a task disagree is
// refused with 400 (or 431 for size), and the refusal is final.
TEST(RequestStreamParser, SmugglingAndMalformedFramingAreRefused) {
  struct Case {
    std::string name;
    std::string in;
    int status;
  };
  for (const auto& c : std::vector<Case>{
           {"cl+te", "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400},
           {"te+cl", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
            400},
           {"empty te+cl", "POST / HTTP/1.1\r\nTransfer-Encoding:\r\nContent-Length: 3\r\n\r\n",
            400},
           {"duplicate cl", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
            400},
           {"conflicting cl", "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            400},
           {"cl list", "POST / HTTP/1.1\r\nContent-Length: 3, 4\r\n\r\n", 400},
           {"negative cl", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
           {"te not chunked last", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            400},
           {"bad chunk size", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
           {"chunk size overflow",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\n", 400},
           {"bare LF in head", "GET / HTTP/1.1\nHost: h\n\n", 400},
           {"bare LF ending head", "GET / HTTP/1.1\r\nHost: h\r\n\n", 400},
           {"bare CR in head", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400},
           {"obs-fold", "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400},
           {"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
           {"bad version", "GET / HTTP/9.9\r\n\r\n", 400},
           // Found by http_fuzz: llhttp ends an HTTP/0.9 request at its first line.
           {"http/0.9", "GET /a\x8dTP/1.1\r\nHost: x\r\n\r\n", 400},
           {"garbage", "GARBAGE\r\n\r\n", 400},
           {"oversized head", "GET / HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n", 431},
       }) {
    RequestStreamParser p({1024});
    std::string body;
    std::string events = drive(p, c.in, 5, &body);
    ASSERT_FALSE(events.empty()) << c.name;
    EXPECT_EQ(events.back(), 'X') << c.name << ": " << events;
    EXPECT_EQ(p.errorStatus(), c.status) << c.name;
    EXPECT_FALSE(p.errorReason().empty()) << c.name;
    size_t used = 0;
    EXPECT_EQ(p.feed("GET / HTTP/1.1\r\n\r\n", &used), Event::kError) << c.name;
  }
}

// Found by the proxy's data-plane integration test: llhttp waits for the
// rest of the HTTP/2 preface after "PRI * HTTP/2.0\r\n\r\n", so the parser
// reported kNeedMore with bytes left over and the proxy waited for more
// (until its header timeout) instead of answering.
TEST(RequestStreamParser, Http2PrefaceIsRefusedAtOnce) {
  for (std::string in : {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "PRI * HTTP/2.0\r\n\r\n"}) {
    RequestStreamParser p({1024});
    size_t used = 0;
    EXPECT_EQ(p.feed(in, &used), Event::kError);
    EXPECT_EQ(p.errorStatus(), 400);
    EXPECT_NE(p.errorReason().find("HTTP/2"), std::string::npos) << p.errorReason();
  }
}

// Found by the proxy's data-plane integration test: a Transfer-Encoding
// other than chunked was refused only at the body, so the head reached a
// task first. It is refused with the head now, before any event.
TEST(RequestStreamParser, TransferEncodingNotEndingInChunkedIsRefusedWithTheHead) {
  for (std::string te : {"gzip", "chunked, gzip", "identity", ""}) {
    RequestStreamParser p({1024});
    std::string body;
    std::string in = "POST / HTTP/1.1\r\nTransfer-Encoding: " + te + "\r\n\r\nhello";
    EXPECT_EQ(drive(p, in, in.size(), &body), "X") << te;
    EXPECT_EQ(p.errorStatus(), 400) << te;
  }
}

TEST(RequestStreamParser, BareLineEndsInsideChunkFramingAreRefused) {
  for (std::string chunks : {"5\nhello\r\n0\r\n\r\n", "5\r\nhello\n0\r\n\r\n",
                             "5\r\nhelloXY0\r\n\r\n", "5\r\nhello\r\n0\r\n\n"}) {
    RequestStreamParser p({1024});
    std::string body;
    std::string in = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks;
    std::string events = drive(p, in, in.size(), &body);
    EXPECT_NE(events.find('X'), std::string::npos) << chunks << " -> " << events;
    EXPECT_EQ(events.find('E'), std::string::npos) << chunks << " -> " << events;
  }
}

TEST(RequestParser, LeadingEmptyLinesBeforeARequestAreSkipped) {
  RequestParser p({1024, 1024});
  size_t used = 0;
  ASSERT_EQ(p.feed("\r\n\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n", &used), Outcome::kRequest);
  EXPECT_EQ(p.takeRequest().path, "/x");
}

// Found by http_fuzz: llhttp's state after a closing request let the next
// bytes be framed differently; they are refused instead.
TEST(RequestStreamParser, BytesAfterAClosingRequestAreRefused) {
  RequestStreamParser p({1024});
  size_t used = 0;
  std::string in = "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
  ASSERT_EQ(p.feed(in, &used), Event::kHead);
  in.erase(0, used);
  ASSERT_EQ(p.feed(in, &used), Event::kEnd);
  EXPECT_FALSE(p.keepAlive());
  EXPECT_EQ(p.feed(in, &used), Event::kError);
}

}  // namespace
}  // namespace corral::http
