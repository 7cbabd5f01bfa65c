#include "base/http_response_parser.h"

#include <gtest/gtest.h>

namespace corral::http {
namespace {

using Event = ResponseParser::Event;
using Error = ResponseParser::Error;

// What a streaming reader saw: heads, bodies (chunks joined), ends, errors.
struct Seen {
  std::vector<int> statuses;
  std::vector<std::string> bodies;
  int completes = 0;
  int upgrades = 0;
  int bodyEvents = 0;
  Error error = Error::kNone;
  std::string errorMessage;
  std::string leftover;  // bytes not consumed (after an upgrade)
};

// Feeds `in` in pieces of `step` bytes, keeping unconsumed bytes like a
// connection buffer does, then signals EOF when `close`.
Seen run(const std::string& in, size_t step, std::string_view method = "GET", bool close = true,
         ResponseParser::Limits limits = ResponseParser::Limits{}) {
  ResponseParser p(limits);
  p.expectResponseTo(method);
  Seen seen;
  std::string buffer;
  bool stop = false;
  auto handle = [&](Event e) {
    switch (e) {
      case Event::kHead:
        seen.statuses.push_back(p.status());
        seen.bodies.emplace_back();
        break;
      case Event::kBody:
        ++seen.bodyEvents;
        seen.bodies.back().append(p.bodyChunk());
        break;
      case Event::kComplete:
        ++seen.completes;
        break;
      case Event::kUpgrade:
        ++seen.upgrades;
        stop = true;
        break;
      case Event::kError:
        seen.error = p.error();
        seen.errorMessage = p.errorMessage();
        stop = true;
        break;
      case Event::kNeedMore:
        break;
    }
  };
  for (size_t at = 0; at < in.size() && !stop; at += step) {
    buffer.append(in.substr(at, step));
    for (int guard = 0; guard < 1000 && !stop; ++guard) {
      size_t used = 0;
      Event e = p.feed(buffer, &used);
      EXPECT_LE(used, buffer.size());
      handle(e);
      buffer.erase(0, used);
      if (e == Event::kNeedMore) break;
    }
  }
  if (close && !stop) {
    for (int guard = 0; guard < 10 && !stop; ++guard) {
      Event e = p.finish();
      handle(e);
      if (e == Event::kNeedMore) break;
    }
  }
  seen.leftover = buffer;
  return seen;
}

TEST(ResponseParser, ContentLengthBodyInEverySplit) {
  std::string in = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";
  for (size_t step : {1, 2, 3, 7, 64}) {
    Seen s = run(in, step);
    ASSERT_EQ(s.error, Error::kNone) << s.errorMessage << " step " << step;
    ASSERT_EQ(s.statuses, std::vector<int>{200});
    EXPECT_EQ(s.bodies[0], "hello");
    EXPECT_EQ(s.completes, 1);
  }
}

TEST(ResponseParser, HeadThenBodyChunksThenCompleteAreSeparateEvents) {
  ResponseParser p;
  std::string in =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.feed(in, &used), Event::kHead);
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.head().header("transfer-encoding"), "chunked");
  EXPECT_FALSE(p.bodyUntilClose());
  in.erase(0, used);
  ASSERT_EQ(p.feed(in, &used), Event::kBody);
  EXPECT_EQ(p.bodyChunk(), "abc");  // in place, not copied
  EXPECT_EQ(p.bodyChunk().data(), in.data() + in.find("abc"));
  in.erase(0, used);
  ASSERT_EQ(p.feed(in, &used), Event::kBody);
  EXPECT_EQ(p.bodyChunk(), "de");
  in.erase(0, used);
  ASSERT_EQ(p.feed(in, &used), Event::kComplete);
  EXPECT_TRUE(p.keepAlive());
  EXPECT_EQ(used, in.size());
}

TEST(ResponseParser, StreamingNeverHoldsTheBody) {
  // A large body arrives in pieces; each piece is reported as it comes and
  // no event carries more than what was just fed.
  ResponseParser p;
  std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n";
  size_t used = 0;
  ASSERT_EQ(p.feed(head, &used), Event::kHead);
  std::string piece(4096, 'x');
  size_t total = 0;
  while (total < 1000000) {
    std::string_view in(piece.data(), std::min(piece.size(), 1000000 - total));
    Event e = p.feed(in, &used);
    ASSERT_EQ(e, Event::kBody);
    ASSERT_LE(p.bodyChunk().size(), in.size());
    total += p.bodyChunk().size();
  }
  ASSERT_EQ(p.feed("", &used), Event::kComplete);
  ASSERT_EQ(p.feed("HTTP/1.1 204 No Content\r\n\r\n", &used), Event::kHead);
  ASSERT_EQ(p.feed("", &used), Event::kComplete);
  ASSERT_EQ(p.feed("", &used), Event::kNeedMore);
}

TEST(ResponseParser, KeepAliveResponsesFollowEachOther) {
  Seen s =
      run("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
          "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"
          "HTTP/1.1 204 No Content\r\n\r\n",
          5);
  ASSERT_EQ(s.error, Error::kNone) << s.errorMessage;
  EXPECT_EQ(s.statuses, (std::vector<int>{200, 404, 204}));
  EXPECT_EQ(s.bodies, (std::vector<std::string>{"a", "no", ""}));
  EXPECT_EQ(s.completes, 3);
}

TEST(ResponseParser, ReadUntilCloseBody) {
  Seen s = run("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it", 4);
  ASSERT_EQ(s.error, Error::kNone) << s.errorMessage;
  EXPECT_EQ(s.bodies[0], "all of it");
  EXPECT_EQ(s.completes, 1);
  ResponseParser p;
  size_t used = 0;
  ASSERT_EQ(p.feed("HTTP/1.0 200 OK\r\n\r\n", &used), Event::kHead);
  EXPECT_TRUE(p.bodyUntilClose());
  EXPECT_EQ(p.finish(), Event::kComplete);
  EXPECT_FALSE(p.keepAlive());
}

TEST(ResponseParser, NoBodyForHeadAnd1xx204304) {
  // HEAD: Content-Length announces the size of the GET body; none follows.
  Seen head =
      run("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
          "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
          3, "HEAD");
  ASSERT_EQ(head.error, Error::kNone) << head.errorMessage;
  EXPECT_EQ(head.statuses, (std::vector<int>{200, 200}));
  EXPECT_EQ(head.bodies, (std::vector<std::string>{"", ""}));
  EXPECT_EQ(head.completes, 2);
  for (int status : {204, 304}) {
    std::string code = std::to_string(status);
    Seen s =
        run("HTTP/1.1 " + code + " X\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 1);
    ASSERT_EQ(s.error, Error::kNone) << s.errorMessage;
    EXPECT_EQ(s.statuses, (std::vector<int>{status, 200}));
    EXPECT_EQ(s.bodies, (std::vector<std::string>{"", "ok"}));
  }
  // A length or a chunked coding on them announces nothing (RFC 9112 6.3):
  // the next response follows the head directly (found by http_response_fuzz).
  Seen framed =
      run("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
          "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
          "HTTP/1.1 105 X\r\nTransfer-Encoding: identity\r\n\r\n"
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
          3);
  ASSERT_EQ(framed.error, Error::kNone) << framed.errorMessage;
  EXPECT_EQ(framed.statuses, (std::vector<int>{204, 304, 105, 200}));
  EXPECT_EQ(framed.bodies, (std::vector<std::string>{"", "", "", "ok"}));
  Seen interim =
      run("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz", 2);
  ASSERT_EQ(interim.error, Error::kNone);
  EXPECT_EQ(interim.statuses, (std::vector<int>{100, 200}));
  EXPECT_EQ(interim.bodies[1], "z");
}

TEST(ResponseParser, SwitchingProtocolsIsAnUpgrade) {
  Seen s =
      run("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
          "\x81\x05hello",
          200, "GET", false);
  ASSERT_EQ(s.error, Error::kNone) << s.errorMessage;
  EXPECT_EQ(s.statuses, std::vector<int>{101});
  EXPECT_EQ(s.upgrades, 1);
  EXPECT_EQ(s.leftover, "\x81\x05hello");  // the new protocol's bytes stay with the caller
  ResponseParser p;
  size_t used = 0;
  std::string in = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\nxyz";
  ASSERT_EQ(p.feed(in, &used), Event::kHead);
  in.erase(0, used);
  ASSERT_EQ(p.feed(in, &used), Event::kUpgrade);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(p.feed(in, &used), Event::kError);
  EXPECT_EQ(p.error(), Error::kAfterUpgrade);
}

TEST(ResponseParser, HostileFramingIsAPreciseError) {
  struct Case {
    std::string in;
    Error error;
  };
  std::vector<Case> cases = {
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       Error::kFraming},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
       Error::kFraming},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\nContent-Length: 3\r\n\r\nabc", Error::kFraming},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", Error::kFraming},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", Error::kFraming},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc", Error::kFraming},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nabc", Error::kFraming},
      {"HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\nabc", Error::kFraming},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
       Error::kFraming},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n",
       Error::kFraming},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nabc\r\n",
       Error::kFraming},
      {"HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\na", Error::kMalformed},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\n\r\na", Error::kMalformed},
      {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\na", Error::kMalformed},
      {"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 1\r\n\r\na", Error::kMalformed},
      {"HTTP/1.1 200 OK\rContent-Length: 1\r\n\r\na", Error::kMalformed},
      {"HTTP/1.1 2000 OK\r\n\r\n", Error::kMalformed},
      {"HTTP/1.1 0 TTP/1.4\r\n\r\n", Error::kMalformed},  // found by http_response_fuzz
      {"HTTP/1.1 099 X\r\nContent-Length: 1\r\n\r\na", Error::kMalformed},
      {"HTTP/1.1 600 X\r\nContent-Length: 1\r\n\r\na", Error::kMalformed},
      {"HTTX/1.1 200 OK\r\n\r\n", Error::kMalformed},
      {"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", Error::kMalformed},
      {"HTTP/1.1 200 OK\r\n X: folded\r\n\r\n", Error::kMalformed},
      // obs-fold after a header, which llhttp takes as part of its value
      // (found by the proxy's data-plane integration test).
      {"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\nContent-Length: 1\r\n\r\na", Error::kMalformed},
      {"HTTP/1.1 200 OK\r\nX: a\r\n\tfolded\r\nContent-Length: 1\r\n\r\na", Error::kMalformed},
      {"HTTP/1.1 200 OK\r\nX: " + std::string(300, 'a') + "\r\n\r\n", Error::kHeadersTooLarge},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", Error::kTruncated},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", Error::kTruncated},
      {"HTTP/1.1 200 O", Error::kTruncated},
  };
  for (const auto& c : cases) {
    for (size_t step : {1, 1000}) {
      Seen s = run(c.in, step, "GET", true, {256});
      EXPECT_EQ(s.error, c.error) << "input: " << c.in << " step " << step << ": "
                                  << s.errorMessage;
      EXPECT_FALSE(s.errorMessage.empty());
      // No body bytes of a response whose framing is in doubt get out.
      if (c.error == Error::kFraming) {
        EXPECT_EQ(s.bodyEvents, 0) << c.in;
      }
    }
  }
}

TEST(ResponseParser, ErrorIsFinal) {
  ResponseParser p;
  size_t used = 0;
  ASSERT_EQ(p.feed("nonsense\r\n\r\n", &used), Event::kError);
  EXPECT_EQ(p.feed("HTTP/1.1 200 OK\r\n\r\n", &used), Event::kError);
  EXPECT_EQ(used, 0u);
  EXPECT_EQ(p.finish(), Event::kError);
}

TEST(ResponseParser, ResetStartsAFreshConnectionAfterAnErrorOrACutResponse) {
  ResponseParser p;
  size_t used = 0;
  ASSERT_EQ(p.feed("HTTP/1.1 200 OK\nX: 1\r\n\r\n", &used), Event::kError);
  p.reset();
  EXPECT_EQ(p.error(), Error::kNone);
  ASSERT_EQ(p.feed("HTTP/1.1 201 Created\r\nContent-Length: 10\r\nX-A: a\r\n\r\nabc", &used),
            Event::kHead);
  EXPECT_EQ(p.status(), 201);
  ASSERT_EQ(p.headers().size(), 2u);
  // Cut in the middle of its body and of a CRLF: nothing of it is left.
  p.reset();
  ASSERT_EQ(p.feed("HTTP/1.1 204 No Content\r", &used), Event::kNeedMore);
  p.reset();
  p.expectResponseTo("HEAD");
  ASSERT_EQ(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", &used), Event::kHead);
  EXPECT_EQ(p.status(), 200);
  ASSERT_EQ(p.headers().size(), 1u);
  EXPECT_EQ(p.headers()[0].first, "Content-Length");
  EXPECT_EQ(p.feed("", &used), Event::kComplete);  // a HEAD answer has no body
  EXPECT_TRUE(p.keepAlive());
}

TEST(ResponseParser, EachHeadHasOnlyItsOwnHeaders) {
  // The header storage is reused: a shorter head after a longer one, and a
  // longer one after that, must see exactly their own fields.
  ResponseParser p;
  size_t used = 0;
  std::string in = "HTTP/1.1 200 OK\r\nA: " + std::string(40, 'a') +
                   "\r\nB: b\r\nContent-Length: 0\r\n\r\n"
                   "HTTP/1.1 204 No Content\r\nC: c\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nD: d\r\nE: e\r\nF: f\r\nContent-Length: 0\r\n\r\n";
  std::vector<Headers> heads;
  std::string_view rest = in;
  for (int guard = 0; guard < 20 && heads.size() < 3; ++guard) {
    Event e = p.feed(rest, &used);
    rest.remove_prefix(used);
    ASSERT_NE(e, Event::kError) << p.errorMessage();
    if (e == Event::kHead) heads.push_back(p.headers());
  }
  ASSERT_EQ(heads.size(), 3u);
  EXPECT_EQ(heads[0], (Headers{{"A", std::string(40, 'a')}, {"B", "b"}, {"Content-Length", "0"}}));
  EXPECT_EQ(heads[1], (Headers{{"C", "c"}}));
  EXPECT_EQ(heads[2], (Headers{{"D", "d"}, {"E", "e"}, {"F", "f"}, {"Content-Length", "0"}}));
}

TEST(ResponseParser, CleanCloseBetweenResponsesIsNotAnError) {
  ResponseParser p;
  size_t used = 0;
  ASSERT_EQ(p.feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &used), Event::kHead);
  // The head consumed everything; the end follows on the next call, bytes or not.
  ASSERT_EQ(p.feed("", &used), Event::kComplete);
  EXPECT_EQ(p.finish(), Event::kNeedMore);
  ResponseParser q;
  ASSERT_EQ(q.feed("HTTP/1.1 204 No Content\r\n\r\n", &used), Event::kHead);
  EXPECT_EQ(q.finish(), Event::kComplete);
}

TEST(BufferedResponseParser, WholeResponseSkippingInterim) {
  BufferedResponseParser b;
  std::string in =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nLocation: /x\r\n\r\n"
      "4\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: t\r\n\r\n";
  BufferedResponseParser::Outcome o = BufferedResponseParser::Outcome::kNeedMore;
  for (char c : in) o = b.feed(std::string_view(&c, 1));
  ASSERT_EQ(o, BufferedResponseParser::Outcome::kDone) << b.errorMessage();
  Response r = b.take();
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.header("Location"), "/x");
  EXPECT_EQ(r.body, "wikipedia");
}

TEST(BufferedResponseParser, BodyLimitAndTruncationAndHead) {
  BufferedResponseParser small("GET", 4);
  EXPECT_EQ(small.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
            BufferedResponseParser::Outcome::kError);
  EXPECT_EQ(small.error(), Error::kBodyTooLarge);
  BufferedResponseParser cut;
  EXPECT_EQ(cut.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel"),
            BufferedResponseParser::Outcome::kNeedMore);
  EXPECT_EQ(cut.finish(), BufferedResponseParser::Outcome::kError);
  EXPECT_EQ(cut.error(), Error::kTruncated);
  BufferedResponseParser nothing;
  EXPECT_EQ(nothing.finish(), BufferedResponseParser::Outcome::kError);
  EXPECT_EQ(nothing.error(), Error::kTruncated);
  BufferedResponseParser head("HEAD");
  EXPECT_EQ(head.feed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"),
            BufferedResponseParser::Outcome::kDone);
  EXPECT_EQ(head.take().body, "");
  BufferedResponseParser eof;
  EXPECT_EQ(eof.feed("HTTP/1.1 200 OK\r\n\r\nuntil close"),
            BufferedResponseParser::Outcome::kNeedMore);
  ASSERT_EQ(eof.finish(), BufferedResponseParser::Outcome::kDone);
  EXPECT_EQ(eof.take().body, "until close");
}

}  // namespace
}  // namespace corral::http
