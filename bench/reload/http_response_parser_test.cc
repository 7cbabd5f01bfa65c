#include "bench/reload/http_response_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace corral::bench {
namespace {

using State = HttpResponseParser::State;

struct Fed {
  State state;
  size_t used;
};

Fed feedAll(HttpResponseParser& p, const std::string& bytes) {
  size_t used = 0;
  State s = p.feed(bytes.data(), bytes.size(), &used);
  return {s, used};
}

// The same bytes one at a time: every split point must give the same answer.
State feedBytewise(HttpResponseParser& p, const std::string& bytes) {
  State s = State::kNeedMore;
  for (char c : bytes) {
    size_t used = 0;
    s = p.feed(&c, 1, &used);
    if (s != State::kNeedMore) return s;
  }
  return s;
}

TEST(HttpResponseParser, ContentLengthAnswerWithBackendHeader) {
  const std::string r =
      "HTTP/1.1 200 OK\r\nX-Backend: 127.1.1.1:20001\r\nContent-Length: 3\r\n\r\nok\n";
  HttpResponseParser p;
  Fed f = feedAll(p, r);
  EXPECT_EQ(f.state, State::kDone);
  EXPECT_EQ(f.used, r.size());
  EXPECT_EQ(p.status(), 200);
  EXPECT_EQ(p.backend(), "127.1.1.1:20001");
  EXPECT_FALSE(p.closeAfter());
  p.reset();
  EXPECT_EQ(feedBytewise(p, r), State::kDone);
  EXPECT_EQ(p.backend(), "127.1.1.1:20001");
}

TEST(HttpResponseParser, HeaderNamesAreCaseInsensitive) {
  HttpResponseParser p;
  EXPECT_EQ(feedAll(p,
                    "HTTP/1.1 503 Nope\r\nx-backend:  b1 \r\ncontent-LENGTH: 2\r\nCONNECTION: "
                    "Close\r\n\r\nno")
                .state,
            State::kDone);
  EXPECT_EQ(p.status(), 503);
  EXPECT_EQ(p.backend(), "b1");
  EXPECT_TRUE(p.closeAfter());
}

TEST(HttpResponseParser, ChunkedBodyWithExtensionsAndTrailers) {
  const std::string r =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Backend: a\r\n\r\n"
      "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
  HttpResponseParser p;
  Fed f = feedAll(p, r + "HTTP/1.1");  // what follows belongs to the next answer
  EXPECT_EQ(f.state, State::kDone);
  EXPECT_EQ(f.used, r.size());
  p.reset();
  EXPECT_EQ(feedBytewise(p, r), State::kDone);
  EXPECT_EQ(p.backend(), "a");
}

TEST(HttpResponseParser, BodyUntilCloseEndsOnClose) {
  HttpResponseParser p;
  EXPECT_EQ(feedAll(p, "HTTP/1.1 200 OK\r\n\r\nsome body").state, State::kNeedMore);
  EXPECT_TRUE(p.closeAfter());
  EXPECT_EQ(p.finishOnClose(), State::kDone);
}

TEST(HttpResponseParser, CloseBeforeOrInsideAnAnswerIsIncomplete) {
  HttpResponseParser p;
  EXPECT_EQ(p.finishOnClose(), State::kNeedMore);
  EXPECT_FALSE(p.started());
  EXPECT_EQ(feedAll(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").state,
            State::kNeedMore);
  EXPECT_TRUE(p.started());
  EXPECT_EQ(p.finishOnClose(), State::kNeedMore);
}

TEST(HttpResponseParser, NoBodyStatusesAndInterimAnswers) {
  HttpResponseParser p;
  EXPECT_EQ(feedAll(p, "HTTP/1.1 204 No Content\r\n\r\n").state, State::kDone);
  p.reset();
  EXPECT_EQ(
      feedAll(p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").state,
      State::kDone);
  EXPECT_EQ(p.status(), 200);
}

TEST(HttpResponseParser, Http10ClosesUnlessKeepAlive) {
  HttpResponseParser p;
  EXPECT_EQ(feedAll(p, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").state, State::kDone);
  EXPECT_TRUE(p.closeAfter());
  p.reset();
  EXPECT_EQ(
      feedAll(p, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n").state,
      State::kDone);
  EXPECT_FALSE(p.closeAfter());
}

TEST(HttpResponseParser, MalformedAnswers) {
  const char* bad[] = {
      "HTTP/1.1 2x0 Bad\r\n\r\n",                                           // status code
      "HTTP/2.0 200 OK\r\n\r\n",                                            // version
      "HTTP/1.1 200OK\r\n\r\n",                                             // separator
      "HTTP/1.1 099 Low\r\n\r\n",                                           // below 100
      "garbage\r\n\r\n",                                                    // no status line
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",                           // header without a name
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",                             // whitespace in a name
      "HTTP/1.1 200 OK\r\n: empty\r\n\r\n",                                 // empty name
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",                      // negative length
      "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",                      // junk length
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999\r\n\r\n",       // huge length
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",  // conflicting lengths
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",        // chunk size
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",          // empty chunk size
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",  // chunk longer than its
                                                                            // size
  };
  for (const char* r : bad) {
    HttpResponseParser p;
    EXPECT_EQ(feedAll(p, r).state, State::kMalformed) << r;
    EXPECT_FALSE(p.error().empty()) << r;
    HttpResponseParser q;
    EXPECT_EQ(feedBytewise(q, r), State::kMalformed) << r;
  }
}

TEST(HttpResponseParser, SizesAreBounded) {
  HttpResponseParser p;
  std::string head = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(HttpResponseParser::kMaxHead, 'a');
  EXPECT_EQ(feedAll(p, head).state, State::kMalformed);
  p.reset();
  std::string chunk_line = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" +
                           std::string(HttpResponseParser::kMaxLine + 1, 'e');
  EXPECT_EQ(feedAll(p, chunk_line).state, State::kMalformed);
  p.reset();
  std::string trailers = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n";
  for (int i = 0; i < 100; ++i) trailers += "T: x\r\n";
  EXPECT_EQ(feedAll(p, trailers).state, State::kMalformed);
  p.reset();
  std::string backend =
      "HTTP/1.1 200 OK\r\nX-Backend: " + std::string(500, 'b') + "\r\nContent-Length: 0\r\n\r\n";
  EXPECT_EQ(feedAll(p, backend).state, State::kDone);
  EXPECT_EQ(p.backend().size(), HttpResponseParser::kMaxBackend);
}

}  // namespace
}  // namespace corral::bench
