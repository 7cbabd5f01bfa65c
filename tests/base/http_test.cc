#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>

#include "base/http_client.h"
#include "base/http_server.h"
#include "base/metrics.h"
#include "base/sse.h"

namespace corral::http {
namespace {

// Blocking raw client used from a helper thread so that malformed bytes can be sent.
std::string rawExchange(int port, const std::string& bytes, int expectedResponses = 1) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return "connect failed";
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  (void)!write(fd, bytes.data(), bytes.size());
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    size_t count = 0, pos = 0;
    while ((pos = out.find("HTTP/1.1 ", pos)) != std::string::npos) ++count, ++pos;
    if (static_cast<int>(count) >= expectedResponses && out.find("\r\n\r\n") != std::string::npos &&
        expectedResponses > 1 && out.rfind("\r\n\r\n") + 4 <= out.size() &&
        out.substr(out.size() - 4) != "\r\n\r\n") {
      // bodies present; keep reading until close or timeout
    }
  }
  close(fd);
  return out;
}

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(
        loop_,
        [this](Request& req, std::shared_ptr<Exchange> ex) {
          ++requests_;
          if (req.path == "/stream") {
            ex->startStream(200, {{"Content-Type", "text/event-stream"}});
            ex->write(sse::format("1", "hello", "{\"a\":1}"));
            ex->write(sse::format("2", "bye", "x\ny"));
            ex->end();
            return;
          }
          Response r = Response::text(200, req.method + " " + req.path +
                                               " q=" + req.queryParam("x").value_or("-") +
                                               " body=" + req.body);
          ex->respond(std::move(r));
        },
        ServerOptions{
            .maxHeaderBytes = 4096, .maxBodyBytes = 1024, .idleTimeoutMs = 5000, .tls = nullptr});
    auto port = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
  }
  void TearDown() override { server_.reset(); }

  // Runs a raw exchange on a thread while the loop serves.
  std::string raw(const std::string& bytes) {
    std::string out;
    bool done = false;
    std::thread t([&] {
      out = rawExchange(port_, bytes);
      loop_.post([&] { done = true; });
    });
    EXPECT_TRUE(loop_.runUntil([&] { return done; }, 10000));
    t.join();
    return out;
  }

  Loop loop_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
  int requests_ = 0;
};

TEST(HeaderNames, CompareIgnoringAsciiCaseOnly) {
  EXPECT_TRUE(equalsIgnoreCase("Content-Length", "content-LENGTH"));
  EXPECT_TRUE(equalsIgnoreCase("", ""));
  EXPECT_FALSE(equalsIgnoreCase("Host", "Hosts"));
  EXPECT_FALSE(equalsIgnoreCase("Host", "Hose"));
  // Only A-Z fold: '@' and '`', '[' and '{' differ by the case bit but are
  // not letters; bytes above 127 are compared as they are.
  EXPECT_FALSE(equalsIgnoreCase("@", "`"));
  EXPECT_FALSE(equalsIgnoreCase("[", "{"));
  EXPECT_FALSE(equalsIgnoreCase("\xc9", "\xe9"));
  EXPECT_EQ(findHeader(Headers{{"x-a", "1"}, {"X-A", "2"}}, "X-a"), "1");
}

// Every HTTP edge (v2 API, master and agent endpoints) maps an error's kind
// with this one function; the layers below never pick a status code.
TEST(HttpStatusFor, EachErrorKindHasItsStatus) {
  EXPECT_EQ(statusFor(ErrorKind::kInvalid), 422);
  EXPECT_EQ(statusFor(ErrorKind::kNotFound), 404);
  EXPECT_EQ(statusFor(ErrorKind::kConflict), 409);
  EXPECT_EQ(statusFor(ErrorKind::kUnavailable), 503);
  EXPECT_EQ(statusFor(ErrorKind::kInternal), 500);
}

TEST_F(HttpTest, FetchGetsAResponse) {
  std::optional<Result<Response>> got;
  Request req;
  req.method = "POST";
  req.target = "/v2/apps?x=a%20b";
  req.body = "hello";
  auto call =
      fetch(loop_, "127.0.0.1", port_, req, [&](Result<Response> r) { got = std::move(r); });
  ASSERT_TRUE(loop_.runUntil([&] { return got.has_value(); }, 5000));
  ASSERT_TRUE(got->ok()) << got->error().message;
  EXPECT_EQ((*got)->status, 200);
  EXPECT_EQ((*got)->body, "POST /v2/apps q=a b body=hello");
}

TEST_F(HttpTest, FetchToClosedPortIsAnError) {
  server_->close();
  std::optional<Result<Response>> got;
  auto call =
      fetch(loop_, "127.0.0.1", port_, Request{}, [&](Result<Response> r) { got = std::move(r); });
  ASSERT_TRUE(loop_.runUntil([&] { return got.has_value(); }, 5000));
  EXPECT_FALSE(got->ok());
  EXPECT_NE(got->error().message.find("cannot connect"), std::string::npos);
}

TEST_F(HttpTest, PipelinedRequestsAreAnsweredInOrder) {
  std::string out =
      raw("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
          "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
          "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto a = out.find("GET /a");
  auto b = out.find("POST /b q=- body=abc");
  auto c = out.find("GET /c");
  ASSERT_NE(a, std::string::npos) << out;
  ASSERT_NE(b, std::string::npos) << out;
  ASSERT_NE(c, std::string::npos) << out;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

TEST_F(HttpTest, ChunkedRequestBodyIsDecoded) {
  std::string out =
      raw("POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
          "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_NE(out.find("body=abcde"), std::string::npos) << out;
}

TEST_F(HttpTest, SmugglingContentLengthWithChunkedIsRejected) {
  std::string out =
      raw("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
          "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << out;
  EXPECT_EQ(out.find("/smuggled"), std::string::npos) << out;
}

TEST_F(HttpTest, DuplicateContentLengthIsRejected) {
  std::string out =
      raw("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
  EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << out;
  EXPECT_EQ(requests_, 0);
}

TEST_F(HttpTest, GarbageGetsA400AndTheServerKeepsServing) {
  std::string out = raw("\x01\x02garbage\r\n\r\n");
  EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << out;
  std::string ok = raw("GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(ok.find("GET /ok"), std::string::npos) << ok;
}

TEST_F(HttpTest, OversizedBodyGets413) {
  std::string out =
      raw("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'a'));
  EXPECT_NE(out.find("HTTP/1.1 413"), std::string::npos) << out;
  EXPECT_EQ(requests_, 0);
}

TEST_F(HttpTest, OversizedHeadersGet431) {
  std::string out =
      raw("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n");
  EXPECT_NE(out.find("HTTP/1.1 431"), std::string::npos) << out;
}

TEST_F(HttpTest, ClientDisconnectingMidRequestIsHarmless) {
  std::string out = raw("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc");
  EXPECT_TRUE(out.empty() || out.find("HTTP/1.1 ") != std::string::npos);
  EXPECT_EQ(requests_, 0);
  ASSERT_TRUE(loop_.runUntil([&] { return server_->connectionCount() == 0; }, 5000));
}

TEST_F(HttpTest, StreamDeliversServerSentEvents) {
  std::vector<sse::Event> events;
  bool ended = false;
  int status = 0;
  sse::Parser parser([&](const sse::Event& e) { events.push_back(e); });
  Request req;
  req.target = "/stream";
  auto h = openStream(loop_, "127.0.0.1", port_, req,
                      StreamCallbacks{
                          .onHead = [&](const Response& r) { status = r.status; },
                          .onData = [&](std::string_view d) { parser.feed(d); },
                          .onEnd = [&](Status) { ended = true; },
                      });
  ASSERT_TRUE(loop_.runUntil([&] { return ended; }, 5000));
  EXPECT_EQ(status, 200);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].type, "hello");
  EXPECT_EQ(events[0].id, "1");
  EXPECT_EQ(events[1].data, "x\ny");
  EXPECT_EQ(parser.lastEventId(), "2");
}

TEST(Sse, ParserHandlesCrLfCommentsAndSplitInput) {
  std::vector<sse::Event> events;
  std::vector<std::string> comments;
  sse::Parser p([&](const sse::Event& e) { events.push_back(e); },
                [&](std::string_view text) { comments.emplace_back(text); });
  std::string text =
      ":hb\r\nid: 7\r\nevent: t\r\ndata: a\r\ndata:b\r\n\r\n: resync-required\ndata: c\n\n";
  for (char c : text) p.feed(std::string_view(&c, 1));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].data, "a\nb");
  EXPECT_EQ(events[0].type, "t");
  EXPECT_EQ(events[1].type, "message");
  EXPECT_EQ(events[1].id, "7");
  EXPECT_EQ(comments, (std::vector<std::string>{"hb", "resync-required"}));
}

TEST(Sse, ParserReadsWholeAndSplitLinesAlike) {
  // One read holding every line, then the same bytes cut at every place (a
  // CR and its LF in different reads included): the same events.
  std::string text =
      ":hb\r\nid: 7\r\nevent: t\r\ndata: a\r\ndata:b\r\n\r\ndata: c\rdata: d\r\rdata: e\n\n";
  auto parse = [](const std::vector<std::string_view>& reads) {
    std::vector<std::string> out;
    sse::Parser p([&](const sse::Event& e) { out.push_back(e.id + "|" + e.type + "|" + e.data); });
    for (auto r : reads) EXPECT_TRUE(p.feed(r));
    return out;
  };
  std::vector<std::string> whole = parse({text});
  EXPECT_EQ(whole, (std::vector<std::string>{"7|t|a\nb", "7|message|c\nd", "7|message|e"}));
  std::string_view all(text);
  for (size_t cut = 1; cut < text.size(); ++cut) {
    EXPECT_EQ(parse({all.substr(0, cut), all.substr(cut)}), whole) << "cut at " << cut;
  }
}

TEST(Sse, ParserBoundsALineSplitAcrossReads) {
  sse::Parser p([](const sse::Event&) {}, nullptr, 100);
  EXPECT_TRUE(p.feed("data: " + std::string(60, 'x')));
  EXPECT_FALSE(p.feed(std::string(60, 'x') + "\n"));
}

TEST(Sse, ResetFromACallbackStopsTheFeed) {
  std::vector<std::string> data;
  sse::Parser* self = nullptr;
  sse::Parser p([&](const sse::Event& e) {
    data.push_back(e.data);
    self->reset();
  });
  self = &p;
  EXPECT_TRUE(p.feed("data: a\n\ndata: b\n\n"));
  EXPECT_EQ(data, std::vector<std::string>{"a"});
  EXPECT_TRUE(p.feed("data: c\n\n"));
  EXPECT_EQ(data, (std::vector<std::string>{"a", "c"}));
}

TEST(Sse, ParserBoundsEventSize) {
  sse::Parser p([](const sse::Event&) {}, nullptr, 100);
  EXPECT_FALSE(p.feed("data: " + std::string(200, 'x')));
}

TEST(HostPort, Splits) {
  std::string h;
  int p;
  ASSERT_TRUE(splitHostPort("127.0.0.1:8080", 1, &h, &p));
  EXPECT_EQ(h, "127.0.0.1");
  EXPECT_EQ(p, 8080);
  ASSERT_TRUE(splitHostPort("[::1]:53", 1, &h, &p));
  EXPECT_EQ(h, "::1");
  ASSERT_TRUE(splitHostPort("master", 5050, &h, &p));
  EXPECT_EQ(p, 5050);
  EXPECT_FALSE(splitHostPort("x:99999", 1, &h, &p));
  EXPECT_FALSE(splitHostPort("x:ab", 1, &h, &p));
}

}  // namespace
}  // namespace corral::http

namespace corral::http {
namespace {

TEST(HttpServer, AThrowingHandlerAnswers500AndKeepsServing) {
  Loop loop;
  Server server(loop, [](Request& req, std::shared_ptr<Exchange> ex) {
    if (req.path == "/throw") throw std::runtime_error("boom");
    ex->respond(Response::text(200, "ok"));
  });
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  for (const char* path : {"/throw", "/fine"}) {
    std::optional<Result<Response>> got;
    Request req;
    req.target = path;
    auto call =
        fetch(loop, "127.0.0.1", *port, req, [&](Result<Response> r) { got = std::move(r); });
    ASSERT_TRUE(loop.runUntil([&] { return got.has_value(); }, 5000));
    ASSERT_TRUE(got->ok());
    EXPECT_EQ((*got)->status, std::string(path) == "/throw" ? 500 : 200) << (*got)->body;
  }
}

}  // namespace
}  // namespace corral::http

namespace corral::http {
namespace {

int connectRaw(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True once the peer closed fd (read returns 0 or the connection reset).
bool peerClosed(int fd) {
  char c;
  ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

TEST(HttpServerLimits, HalfSentRequestsAreClosedByTheHeaderReadTimeout) {
  Loop loop;
  Server server(
      loop, [](Request&, std::shared_ptr<Exchange> ex) { ex->respond(Response::text(200, "ok")); },
      ServerOptions{.idleTimeoutMs = 60000, .headerReadTimeoutMs = 200, .tls = nullptr});
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  constexpr int kClients = 50;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    int fd = connectRaw(*port);
    ASSERT_GE(fd, 0);
    std::string partial = "GET /slow HTTP/1.1\r\nHost: x\r\nX-Trickle: ";
    ASSERT_EQ(write(fd, partial.data(), partial.size()), static_cast<ssize_t>(partial.size()));
    fds.push_back(fd);
  }
  uint64_t start = loop.nowMs();
  ASSERT_TRUE(loop.runUntil([&] { return server.connectionCount() == kClients; }, 5000));
  // Closed by the header-read timeout, long before the 60 s idle timeout.
  ASSERT_TRUE(loop.runUntil([&] { return server.connectionCount() == 0; }, 5000));
  EXPECT_GE(loop.nowMs() - start, 150u);
  loop.runUntil([] { return false; }, 50);
  for (int fd : fds) {
    EXPECT_TRUE(peerClosed(fd));
    close(fd);
  }
  // A request that arrives whole in time is served as before.
  std::optional<Result<Response>> got;
  auto call =
      fetch(loop, "127.0.0.1", *port, Request{}, [&](Result<Response> r) { got = std::move(r); });
  ASSERT_TRUE(loop.runUntil([&] { return got.has_value(); }, 5000));
  ASSERT_TRUE(got->ok());
  EXPECT_EQ((*got)->status, 200);
}

TEST(HttpServerLimits, TheConnectionCapRefusesTheNextConnection) {
  Loop loop;
  Server server(
      loop, [](Request&, std::shared_ptr<Exchange> ex) { ex->respond(Response::text(200, "ok")); },
      ServerOptions{.maxConnections = 3, .tls = nullptr});
  auto port = server.listen("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  auto& refused = metrics::global().counter(
      "corral_http_connections_refused_total",
      "Connections closed at once because the server had its maximum open.");
  double refusedBefore = refused.value();
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(connectRaw(*port));
  ASSERT_TRUE(loop.runUntil([&] { return server.connectionCount() == 3; }, 5000));
  int extra = connectRaw(*port);
  ASSERT_GE(extra, 0);
  ASSERT_TRUE(loop.runUntil([&] { return refused.value() == refusedBefore + 1; }, 5000));
  ASSERT_TRUE(loop.runUntil([&] { return peerClosed(extra); }, 2000));
  EXPECT_EQ(server.connectionCount(), 3u);
  for (int fd : fds) EXPECT_FALSE(peerClosed(fd));
  close(extra);
  // Below the cap again, a new connection is served.
  close(fds.back());
  fds.pop_back();
  ASSERT_TRUE(loop.runUntil([&] { return server.connectionCount() == 2; }, 5000));
  std::optional<Result<Response>> got;
  auto call =
      fetch(loop, "127.0.0.1", *port, Request{}, [&](Result<Response> r) { got = std::move(r); });
  ASSERT_TRUE(loop.runUntil([&] { return got.has_value(); }, 5000));
  ASSERT_TRUE(got->ok()) << got->error().message;
  EXPECT_EQ(refused.value(), refusedBefore + 1);
  for (int fd : fds) close(fd);
  server.close();
  loop.runUntil([] { return false; }, 20);
}

}  // namespace
}  // namespace corral::http
