// The proxy's data plane end to end: the real `corral proxy` against a real
// master and agent, its tasks running proxy_test_backend.py (a raw-socket
// HTTP/1.1 server that streams, stalls, speaks WebSocket and misbehaves on
// request). Clients are raw sockets (tests/integration/raw_http.h) so that
// the bytes on the wire are the test's own: pipelined requests in one
// write, malformed requests, a head sent byte by byte, a reader that stops.
// Every wait has a deadline and every load loop a bound.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/integration/proxy_fixture.h"
#include "tests/integration/raw_http.h"
#include "tests/proxy/tls_test_certs.h"

namespace corral::it {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kMiB = 1024 * 1024;

// Byte i of every large body is i % 251 (the backend's pattern).
class Pattern {
 public:
  Pattern() {
    block_.resize(kPiece + 251);
    for (size_t i = 0; i < block_.size(); ++i) block_[i] = static_cast<char>(i % 251);
  }
  static constexpr size_t kPiece = 256 * 1024;
  // Up to kPiece bytes of the pattern starting at body offset `at`.
  std::string_view at(uint64_t offset, size_t n) const {
    return std::string_view(block_).substr(offset % 251, n);
  }

 private:
  std::string block_;
};

std::string chunkSizeLine(size_t n) {
  char line[32];
  std::snprintf(line, sizeof line, "%zx\r\n", n);
  return line;
}

struct App {
  std::string id;
  int instances;
  Json labels;
};

class ProxyDataPlaneTest : public ProxyFixture {
 protected:
  static std::string backendCmd() {
    return std::string("exec /usr/bin/python3 ") + PROXY_TEST_BACKEND;
  }

  // Posts every app at once (tasks start in parallel), then waits until
  // each runs its tasks and the proxy routes them.
  void deployAll(const std::vector<App>& apps) {
    for (const App& a : apps) {
      Json app = appJson(a.id, a.instances, a.labels, false, backendCmd());
      auto r = api("POST", "/v2/apps", dumpJson(app), {{"Content-Type", "application/json"}});
      ASSERT_EQ(r.status, 201) << r.body;
    }
    for (const App& a : apps) {
      ASSERT_TRUE(waitAppStable(a.id, a.instances)) << a.id;
      ASSERT_TRUE(waitBackends(a.id, static_cast<size_t>(a.instances))) << a.id;
    }
    // A task is RUNNING a little before it listens: wait for each to answer.
    for (const App& a : apps) {
      for (const Json& t : tasks(a.id)) {
        std::string host = t.value("host", "");
        int port = t["ports"][0].get<int>();
        ASSERT_TRUE(client_.waitFor(
            [&] {
              return client_.request("GET", host, port, "/health", "", {}, 1000).status == 200;
            },
            15000, 50))
            << a.id << " task " << host << ":" << port << " never answered";
      }
    }
  }

  // A task's own address (to steer or inspect it directly).
  std::pair<std::string, int> taskAddress(const std::string& appId, size_t index) {
    std::vector<Json> ts = tasks(appId);
    if (index >= ts.size()) return {"", 0};
    return {ts[index].value("host", ""), ts[index]["ports"][0].get<int>()};
  }
  Json taskStats(const std::pair<std::string, int>& task) {
    auto r = client_.request("GET", task.first, task.second, "/stats", "", {}, 3000);
    Json j = r.status == 200 ? r.json() : Json();
    if (!j.is_object()) {
      ADD_FAILURE() << "task /stats: " << r.status << " " << r.error << " " << r.body;
      return Json::object();
    }
    return j;
  }

  // One request on a fresh connection to the HTTP frontend.
  RawResponse once(const std::string& host, const std::string& target,
                   const std::string& extra = "", const std::string& sourceIp = "") {
    RawConn c;
    RawResponse r;
    if (!c.connect(proxyIp_, httpPort_, sourceIp)) {
      r.error = "cannot connect";
      return r;
    }
    if (!c.send(requestHead("GET", target, host, extra))) {
      r.error = "cannot send";
      return r;
    }
    return c.readResponse(5000);
  }

  // `clients` keep-alive connections each sending `perClient` requests in
  // turn, all at once: requests per task.
  std::map<std::string, int> concurrentSpread(const std::string& host, int clients, int perClient,
                                              std::string* firstError) {
    std::map<std::string, int> seen;
    std::mutex mu;
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&] {
        RawConn conn;
        bool ok = conn.connect(proxyIp_, httpPort_);
        for (int i = 0; i < perClient && ok; ++i) {
          ok = conn.send(requestHead("GET", "/", host));
          RawResponse r = ok ? conn.readResponse(10000) : RawResponse();
          std::lock_guard<std::mutex> lock(mu);
          if (r.status != 200) {
            if (firstError->empty()) *firstError = std::to_string(r.status) + " " + r.error;
            ok = false;
          } else {
            ++seen[r.header("X-Task")];
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    return seen;
  }

  // The proxy's resident memory in KiB.
  long proxyRss() const { return rssKiB(proxy_.pid); }
};

// Each balance algorithm through the running proxy, one app per algorithm.
TEST_F(ProxyDataPlaneTest, EachBalanceAlgorithmSpreadsAsLabelled) {
  startCluster(121, 1);
  startProxy();
  auto labels = [](const std::string& vhost,
                   std::vector<std::pair<std::string, std::string>> more) {
    Json l = {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", vhost}};
    for (auto& [k, v] : more) l[k] = v;
    return l;
  };
  deployAll({
      {"/rr", 2, labels("rr.example.test", {{"HAPROXY_0_BALANCE", "roundrobin"}})},
      {"/lc", 2, labels("lc.example.test", {{"HAPROXY_0_BALANCE", "leastconn"}})},
      {"/p2c", 3, labels("p2c.example.test", {{"HAPROXY_0_BALANCE", "random"}})},
      {"/src", 3, labels("src.example.test", {{"HAPROXY_0_BALANCE", "source"}})},
      {"/hdr", 3, labels("hdr.example.test", {{"HAPROXY_0_BALANCE", "hdr(X-User)"}})},
      {"/cookie", 3, labels("cookie.example.test", {{"CORRAL_0_BALANCE_HASH", "cookie:user"}})},
      {"/sticky", 2, labels("sticky.example.test", {{"HAPROXY_0_STICKY", "true"}})},
  });

  // roundrobin: strict alternation, an even spread.
  {
    std::map<std::string, int> seen;
    std::string previous;
    for (int i = 0; i < 20; ++i) {
      RawResponse r = once("rr.example.test", "/");
      ASSERT_EQ(r.status, 200) << r.error;
      std::string task = r.header("X-Task");
      EXPECT_NE(task, previous) << "round robin served twice in a row";
      previous = task;
      ++seen[task];
    }
    ASSERT_EQ(seen.size(), 2u);
    for (const auto& [task, n] : seen) EXPECT_EQ(n, 10) << task;
  }

  // leastconn and power-of-two choices: a task made slow (300 ms a
  // request) gets fewer of the concurrent requests than each fast peer
  // (round robin would give it its full share).
  for (auto [app, host, taskCount] :
       {std::tuple<std::string, std::string, int>{"/lc", "lc.example.test", 2},
        std::tuple<std::string, std::string, int>{"/p2c", "p2c.example.test", 3}}) {
    auto slow = taskAddress(app, 0);
    ASSERT_EQ(
        client_.request("POST", slow.first, slow.second, "/delay?ms=300", "", {}, 3000).status,
        200);
    std::string slowId = tasks(app)[0].value("id", "");
    std::string error;
    std::map<std::string, int> seen = concurrentSpread(host, 4, 8, &error);
    EXPECT_TRUE(error.empty()) << app << ": " << error;
    int total = 0;
    for (const auto& [task, n] : seen) total += n;
    EXPECT_EQ(total, 32) << app;
    EXPECT_EQ(seen.size(), static_cast<size_t>(taskCount)) << app << ": every fast task serves";
    std::string spread;
    for (const auto& [task, n] : seen) spread += " " + task + "=" + std::to_string(n);
    for (const auto& [task, n] : seen) {
      if (task != slowId) {
        EXPECT_LT(seen[slowId], n) << app << ":" << spread;
      }
    }
    // leastconn sends to the slow task only when it is idle; the two random
    // choices of p2c meet it busy beside a fast peer as busy at times.
    if (app == "/lc") {
      EXPECT_LE(seen[slowId], total / taskCount / 2) << app << ":" << spread;
    }
  }

  // source: a client address always reaches the same task; addresses spread.
  {
    std::set<std::string> used;
    for (int i = 0; i < 12; ++i) {
      std::string source = "127.121.0." + std::to_string(100 + i);
      std::string first;
      for (int k = 0; k < 3; ++k) {
        RawResponse r = once("src.example.test", "/", "", source);
        ASSERT_EQ(r.status, 200) << source << ": " << r.error;
        if (k == 0) first = r.header("X-Task");
        EXPECT_EQ(r.header("X-Task"), first) << "client " << source << " moved";
      }
      used.insert(first);
    }
    EXPECT_GE(used.size(), 2u) << "12 client addresses all hashed to one task";
  }

  // Consistent hashing on a header and on a cookie: the same key always
  // reaches the same task, keys spread over the tasks.
  for (auto [host, keyed] : {std::pair<std::string, std::string>{"hdr.example.test", "X-User: "},
                             {"cookie.example.test", "Cookie: theme=dark; user="}}) {
    std::set<std::string> used;
    for (int i = 0; i < 12; ++i) {
      std::string extra = keyed + "key-" + std::to_string(i) + "\r\n";
      std::string first;
      for (int k = 0; k < 3; ++k) {
        RawResponse r = once(host, "/", extra);
        ASSERT_EQ(r.status, 200) << host << ": " << r.error;
        if (k == 0) first = r.header("X-Task");
        EXPECT_EQ(r.header("X-Task"), first) << host << " key-" << i << " moved";
      }
      used.insert(first);
    }
    EXPECT_GE(used.size(), 2u) << host << ": 12 keys all hashed to one task";
  }

  // Sticky cookie: without it requests alternate; with it they stay, and
  // a cookie naming no task is replaced by a fresh one.
  {
    RawResponse r = once("sticky.example.test", "/");
    ASSERT_EQ(r.status, 200) << r.error;
    std::string setCookie = r.header("Set-Cookie");
    ASSERT_TRUE(startsWith(setCookie, "mesosphere_server_id=")) << setCookie;
    std::string cookie = "Cookie: " + setCookie.substr(0, setCookie.find(';')) + "\r\n";
    std::string first = r.header("X-Task");
    for (int i = 0; i < 6; ++i) {
      RawResponse x = once("sticky.example.test", "/", cookie);
      ASSERT_EQ(x.status, 200) << x.error;
      EXPECT_EQ(x.header("X-Task"), first);
      EXPECT_EQ(x.header("Set-Cookie"), "");
    }
    RawResponse stale = once("sticky.example.test", "/", "Cookie: mesosphere_server_id=1234\r\n");
    ASSERT_EQ(stale.status, 200) << stale.error;
    EXPECT_TRUE(startsWith(stale.header("Set-Cookie"), "mesosphere_server_id="))
        << stale.header("Set-Cookie");
  }
}

// REDIRECT_TO_HTTPS: plain HTTP is answered 301 with the https Location,
// HTTPS reaches the task; USE_HSTS adds Strict-Transport-Security there
// (and only there, and only on that route).
TEST_F(ProxyDataPlaneTest, HttpsRedirectAndHsts) {
  proxy::test::CertDir certs;
  certs.make("sec", "sec.example.test,plain.example.test", "sec-cert");
  startCluster(122, 1);
  startProxy(certs.path());
  deployAll(
      {{"/sec",
        1,
        {{"HAPROXY_GROUP", "external"},
         {"HAPROXY_0_VHOST", "sec.example.test"},
         {"HAPROXY_0_REDIRECT_TO_HTTPS", "true"},
         {"HAPROXY_0_USE_HSTS", "true"}}},
       {"/plain", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "plain.example.test"}}}});

  RawResponse r = once("sec.example.test:8000", "/a/b?c=d");
  EXPECT_EQ(r.status, 301) << r.error;
  EXPECT_EQ(r.header("Location"), "https://sec.example.test/a/b?c=d");
  EXPECT_EQ(r.header("X-Task"), "") << "a redirected request reached a task";
  EXPECT_EQ(r.header("Strict-Transport-Security"), "") << "HSTS over plain HTTP";

  std::string out;
  ASSERT_TRUE(client_.waitFor(
      [&] {
        out = curlHttps("sec.example.test", "/secure");
        return out.find("X-Task: sec.") != std::string::npos;
      },
      15000, 100))
      << out;
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("Strict-Transport-Security: max-age=15768000"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Target: /secure"), std::string::npos) << out;

  out = curlHttps("plain.example.test", "/");
  EXPECT_NE(out.find("X-Task: plain."), std::string::npos) << out;
  EXPECT_EQ(out.find("Strict-Transport-Security"), std::string::npos) << out;
  r = once("plain.example.test", "/");
  EXPECT_EQ(r.status, 200) << r.error;
}

// WebSocket through the proxy: the Upgrade handshake reaches the task and
// its 101 the client, then frames flow both ways (the task speaks first,
// then echoes a text frame, a 100 KB binary frame and the close).
TEST_F(ProxyDataPlaneTest, WebSocketTunnelsFramesBothWays) {
  startCluster(123, 1);
  startProxy();
  deployAll({{"/ws", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "ws.example.test"}}}});

  RawConn c;
  ASSERT_TRUE(c.connect(proxyIp_, httpPort_));
  ASSERT_TRUE(c.send(requestHead("GET", "/ws", "ws.example.test",
                                 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                 "Sec-WebSocket-Version: 13\r\n")));
  RawResponse r = c.readResponse(5000);
  ASSERT_EQ(r.status, 101) << r.error;
  EXPECT_TRUE(r.upgraded);
  EXPECT_EQ(r.header("Upgrade"), "websocket");
  EXPECT_EQ(r.header("Connection"), "upgrade");
  // RFC 6455's own example key and answer: the handshake crossed unchanged.
  EXPECT_EQ(r.header("Sec-WebSocket-Accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_TRUE(startsWith(r.header("X-Task"), "ws.")) << r.header("X-Task");

  auto frame = [&](int* opcode, std::string* payload) {
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!wsTakeFrame(c.buffered(), opcode, payload)) {
      if (Clock::now() > deadline || c.readSome(1000) == 0) return false;
    }
    return true;
  };
  int opcode = 0;
  std::string payload;
  ASSERT_TRUE(frame(&opcode, &payload)) << "no frame from the task";
  EXPECT_EQ(opcode, 1);
  EXPECT_TRUE(startsWith(payload, "hello ws.")) << payload;

  ASSERT_TRUE(c.send(wsClientFrame(1, "ping through the proxy")));
  ASSERT_TRUE(frame(&opcode, &payload));
  EXPECT_EQ(opcode, 1);
  EXPECT_EQ(payload, "ping through the proxy");

  std::string big(100 * 1000, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(c.send(wsClientFrame(2, big)));
  ASSERT_TRUE(frame(&opcode, &payload));
  EXPECT_EQ(opcode, 2);
  EXPECT_TRUE(payload == big) << "binary frame changed on the way (" << payload.size() << " bytes)";

  ASSERT_TRUE(c.send(wsClientFrame(8, std::string("\x03\xe8", 2))));
  ASSERT_TRUE(frame(&opcode, &payload));
  EXPECT_EQ(opcode, 8);
  // The task closes its end after the close frame; the tunnel follows.
  EXPECT_TRUE(c.waitClosed(5000)) << "the tunnel stayed open after the task closed";
}

// The same tunnel over the HTTPS frontend (wss://): the session decrypts
// what the client sends to the task and encrypts the task's frames.
TEST_F(ProxyDataPlaneTest, WebSocketOverTlsTunnelsFramesBothWays) {
  proxy::test::CertDir certs;
  certs.make("wss", "wss.example.test", "wss-cert");
  startCluster(128, 1);
  startProxy(certs.path());
  deployAll({{"/ws", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "wss.example.test"}}}});
  std::string cmd = std::string("/usr/bin/python3 ") + WSS_CLIENT + " " + proxyIp_ + " " +
                    std::to_string(httpsPort_) + " wss.example.test 2>&1";
  std::string out;
  // The certificate is read once the proxy sees it; retry until it serves TLS.
  ASSERT_TRUE(client_.waitFor(
      [&] {
        out.clear();
        FILE* pipe = ::popen(cmd.c_str(), "r");
        if (pipe == nullptr) return false;
        char buf[512];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
        ::pclose(pipe);
        return out.rfind("OK", 0) == 0;
      },
      20000, 500))
      << out;
}

// Several requests in one write are answered in order, also when the two
// tasks they go to answer at different speeds, bodies included; the last
// one's Connection: close ends the connection after its answer.
TEST_F(ProxyDataPlaneTest, PipelinedRequestsAreAnsweredInOrder) {
  startCluster(124, 1);
  startProxy();
  deployAll(
      {{"/pipe", 2, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "pipe.example.test"}}}});
  const std::string host = "pipe.example.test";
  Pattern pattern;
  std::string chunkedBody = "5\r\n" + std::string(pattern.at(0, 5)) + "\r\n3\r\n" +
                            std::string(pattern.at(5, 3)) + "\r\n0\r\n\r\n";
  std::string batch =
      requestHead("GET", "/slow?ms=400&seq=1", host) + requestHead("GET", "/fast?seq=2", host) +
      requestHead("POST", "/upload?seq=3", host, "Content-Length: 7\r\n") +
      std::string(pattern.at(0, 7)) + requestHead("GET", "/slow?ms=150&seq=4", host) +
      requestHead("POST", "/upload?seq=5", host, "Transfer-Encoding: chunked\r\n") + chunkedBody +
      requestHead("HEAD", "/fast?seq=6", host) +
      requestHead("GET", "/fast?seq=7", host, "Connection: close\r\n");
  RawConn c;
  ASSERT_TRUE(c.connect(proxyIp_, httpPort_));
  ASSERT_TRUE(c.send(batch));
  const std::vector<std::string> targets = {"/slow?ms=400&seq=1", "/fast?seq=2",   "/upload?seq=3",
                                            "/slow?ms=150&seq=4", "/upload?seq=5", "/fast?seq=6",
                                            "/fast?seq=7"};
  std::set<std::string> tasksSeen;
  for (size_t i = 0; i < targets.size(); ++i) {
    RawResponse r = c.readResponse(5000, targets[i] == "/fast?seq=6");
    ASSERT_EQ(r.status, 200) << "response " << i + 1 << ": " << r.error;
    EXPECT_EQ(r.header("X-Target"), targets[i]) << "response " << i + 1 << " out of order";
    tasksSeen.insert(r.header("X-Task"));
    const char* body = i == 2 ? "bytes=7 pattern=ok" : i == 4 ? "bytes=8 pattern=ok" : nullptr;
    if (body != nullptr || i == 5) {
      EXPECT_EQ(r.body, body != nullptr ? body : "") << "response " << i + 1;
    }
  }
  EXPECT_EQ(tasksSeen.size(), 2u) << "both tasks answered";
  EXPECT_TRUE(c.waitClosed(3000)) << "Connection: close did not end the connection";
  EXPECT_EQ(c.buffered(), "") << "bytes after the last answer";
}

// 50 MB up (with Content-Length and chunked) and 50 MB down stream through
// the proxy intact while its resident memory stays far below the body size;
// a client that stops reading a 50 MB download stalls the task (the proxy
// buffers a bounded amount) and then gets every byte; a client that sends
// its head a byte at a time is answered 408 and cut off after the header
// timeout (10 s, measured in a thread while the rest runs).
TEST_F(ProxyDataPlaneTest, LargeBodiesStreamWithBoundedMemoryAndSlowClients) {
  startCluster(125, 1);
  startProxy();
  // The slow reader gets an app of its own: a task connection fresh from
  // the pool has not had its kernel receive buffer grown by the fast
  // downloads (up to tcp_rmem's maximum, which is not the proxy's memory).
  deployAll({{"/big", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "big.example.test"}}},
             {"/trickle",
              1,
              {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "trickle.example.test"}}}});
  const std::string host = "big.example.test";
  ASSERT_EQ(once(host, "/warm").status, 200);

  // The slow head, in the background.
  std::atomic<int> slowStatus{-1};
  std::atomic<bool> slowClosed{false};
  std::atomic<int64_t> slowElapsedMs{0};
  std::thread slowHead([&] {
    RawConn conn;
    if (!conn.connect(proxyIp_, httpPort_)) return;
    std::string head =
        requestHead("GET", "/never", host, "X-Padding: " + std::string(40, 'p') + "\r\n");
    auto start = Clock::now();
    for (size_t i = 0; i < head.size() && Clock::now() - start < std::chrono::seconds(20); ++i) {
      if (!conn.send(head.substr(i, 1), 1000)) break;
      if (conn.readSome(250) >= 0) break;  // an answer or the end: stop sending
    }
    RawResponse r = conn.readResponse(5000);
    slowStatus = r.status;
    slowClosed = conn.waitClosed(3000);
    slowElapsedMs =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  });

  // Joined however the test ends (an ASSERT returns early).
  struct Joiner {
    std::thread& t;
    ~Joiner() {
      if (t.joinable()) t.join();
    }
  } joiner{slowHead};

  const uint64_t size = 50 * kMiB;
  Pattern pattern;
  long baseline = proxyRss();
  ASSERT_GT(baseline, 0);
  long peak = baseline;
  auto sample = [&] { peak = std::max(peak, proxyRss()); };

  // Uploads: one with Content-Length, one chunked.
  for (bool chunked : {false, true}) {
    RawConn c;
    ASSERT_TRUE(c.connect(proxyIp_, httpPort_));
    std::string framing = chunked ? std::string("Transfer-Encoding: chunked\r\n")
                                  : "Content-Length: " + std::to_string(size) + "\r\n";
    ASSERT_TRUE(c.send(requestHead("POST", "/upload", host, framing)));
    for (uint64_t sent = 0; sent < size;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(Pattern::kPiece, size - sent));
      std::string_view piece = pattern.at(sent, n);
      bool ok =
          chunked ? c.send(chunkSizeLine(n)) && c.send(piece) && c.send("\r\n") : c.send(piece);
      ASSERT_TRUE(ok) << "upload stopped at " << sent;
      sent += n;
      if (sent % (4 * kMiB) == 0) sample();
    }
    if (chunked) {
      ASSERT_TRUE(c.send("0\r\n\r\n"));
    }
    RawResponse r = c.readResponse(30000);
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "bytes=" + std::to_string(size) + " pattern=ok") << "chunked=" << chunked;
    sample();
  }

  // Download.
  for (bool chunked : {false, true}) {
    RawConn c;
    ASSERT_TRUE(c.connect(proxyIp_, httpPort_));
    std::string target = "/download?bytes=" + std::to_string(size) + (chunked ? "&chunked=1" : "");
    ASSERT_TRUE(c.send(requestHead("GET", target, host)));
    uint64_t offset = 0;
    uint64_t firstBad = UINT64_MAX;
    RawResponse r = c.readResponse(30000, false, [&](std::string_view piece) {
      for (size_t done = 0; done < piece.size();) {
        size_t n = std::min(piece.size() - done, Pattern::kPiece);
        if (firstBad == UINT64_MAX && piece.substr(done, n) != pattern.at(offset, n)) {
          firstBad = offset;
        }
        done += n;
        offset += n;
      }
      if (offset % (4 * kMiB) < piece.size()) sample();
    });
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.bodyBytes, size) << "chunked=" << chunked;
    EXPECT_EQ(firstBad, UINT64_MAX) << "chunked=" << chunked << ": body differs at " << firstBad;
  }
  EXPECT_LT(peak - baseline, 16 * 1024)
      << "the proxy grew from " << baseline << " KiB to " << peak << " KiB moving 50 MiB bodies";

  // A client that stops reading: the task stalls long before the end.
  {
    auto task = taskAddress("/trickle", 0);
    auto progress = [&] {
      auto r = client_.request("GET", task.first, task.second, "/progress", "", {}, 2000);
      return r.status == 200 ? std::stoull(r.body) : 0ULL;
    };
    RawConn c;
    ASSERT_TRUE(c.connect(proxyIp_, httpPort_, "", 16 * 1024));
    ASSERT_TRUE(
        c.send(requestHead("GET", "/download?bytes=" + std::to_string(size) + "&sndbuf=16384",
                           "trickle.example.test")));
    uint64_t last = 0;
    int steady = 0;
    std::string trace;
    // Stalled: the same progress over three polls 200 ms apart.
    bool stalled = client_.waitFor(
        [&] {
          uint64_t now = progress();
          trace += " " + std::to_string(now / 1024) + "K/" + std::to_string(proxyRss()) + "K";
          steady = now == last && now > 0 ? steady + 1 : 0;
          last = now;
          return steady >= 3;
        },
        10000, 200);
    ASSERT_TRUE(stalled) << "the task never stalled; progress/proxy RSS:" << trace;
    std::cout << "slow reader: task progress/proxy RSS every 200 ms:" << trace << "\n";
    EXPECT_LT(last, size / 2) << "the task sent " << last << " bytes to a client that reads none";
    long stalledRss = proxyRss();
    EXPECT_LT(stalledRss - baseline, 16 * 1024) << "proxy RSS " << stalledRss << " KiB";
    RawResponse r = c.readResponse(30000, false, [](std::string_view) {});
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.bodyBytes, size);
  }

  slowHead.join();
  EXPECT_EQ(slowStatus.load(), 408);
  EXPECT_TRUE(slowClosed.load());
  EXPECT_GE(slowElapsedMs.load(), 9000);
  EXPECT_LE(slowElapsedMs.load(), 15000);
}

// Request smuggling, client side: every request whose framing is in doubt
// is answered 400 (431 for a head too large) by the proxy itself and the
// connection closed; a bad head never reaches a task.
TEST_F(ProxyDataPlaneTest, SmuggledRequestsAreRefusedAndTheConnectionClosed) {
  startCluster(126, 1);
  startProxy();
  deployAll(
      {{"/smug", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "smug.example.test"}}}});
  auto task = taskAddress("/smug", 0);
  const std::string h = "Host: smug.example.test\r\n";
  // The head is refused before any task is chosen.
  const std::vector<std::pair<std::string, std::string>> headCases = {
      {"CL+TE",
       "POST /upload HTTP/1.1\r\n" + h +
           "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /x HTTP/1.1\r\n" +
           h + "\r\n"},
      {"TE+CL", "POST /upload HTTP/1.1\r\n" + h +
                    "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\n"},
      {"duplicate CL",
       "POST /upload HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"},
      {"conflicting CL",
       "POST /upload HTTP/1.1\r\n" + h + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"},
      {"CL list", "POST /upload HTTP/1.1\r\n" + h + "Content-Length: 5, 5\r\n\r\nhello"},
      {"CL not a number", "POST /upload HTTP/1.1\r\n" + h + "Content-Length: 5x\r\n\r\nhello"},
      {"CL negative", "POST /upload HTTP/1.1\r\n" + h + "Content-Length: -5\r\n\r\nhello"},
      {"TE not chunked", "POST /upload HTTP/1.1\r\n" + h + "Transfer-Encoding: gzip\r\n\r\nhello"},
      {"TE chunked twice",
       "POST /upload HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"},
      {"bare LF", "GET / HTTP/1.1\n" + h + "\r\n"},
      {"bare LF in a header", "GET / HTTP/1.1\r\n" + h + "X-A: 1\nX-B: 2\r\n\r\n"},
      {"bare CR", "GET / HTTP/1.1\r\n" + h + "X-A: 1\rX-B: 2\r\n\r\n"},
      {"obs-fold", "GET / HTTP/1.1\r\n" + h + "X-A: 1\r\n  folded\r\n\r\n"},
      {"space before colon", "GET / HTTP/1.1\r\n" + h + "Content-Length : 5\r\n\r\nhello"},
      {"oversized head",
       "GET / HTTP/1.1\r\n" + h + "X-Big: " + std::string(40 * 1024, 'b') + "\r\n\r\n"},
      {"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
  };
  // The head is sound and reaches the task; the body's framing is not.
  const std::vector<std::pair<std::string, std::string>> bodyCases = {
      {"invalid chunk size", "POST /upload HTTP/1.1\r\n" + h +
                                 "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
      {"chunk size overflow",
       "POST /upload HTTP/1.1\r\n" + h +
           "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n"},
      {"chunk longer than its size",
       "POST /upload HTTP/1.1\r\n" + h +
           "Transfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n"},
      {"bare LF after a chunk size",
       "POST /upload HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"},
      {"negative chunk size", "POST /upload HTTP/1.1\r\n" + h +
                                  "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"},
  };
  auto check = [&](const std::string& name, const std::string& bytes) {
    RawConn c;
    ASSERT_TRUE(c.connect(proxyIp_, httpPort_)) << name;
    c.send(bytes);  // the proxy may close before it has read everything
    RawResponse r = c.readResponse(5000);
    int want = name == "oversized head" ? 431 : 400;
    EXPECT_EQ(r.status, want) << name << ": " << r.error;
    EXPECT_EQ(r.header("X-Corral-Error"), "bad-request") << name;
    EXPECT_EQ(r.header("X-Task"), "") << name << " was answered by the task";
    EXPECT_EQ(r.header("Connection"), "close") << name;
    EXPECT_TRUE(c.waitClosed(3000)) << name << ": the connection stayed open";
  };
  for (const auto& [name, bytes] : headCases) {
    Json before = taskStats(task);
    check(name, bytes);
    Json after = taskStats(task);
    // One more: the /stats request itself.
    EXPECT_EQ(after.value("requests", 0), before.value("requests", 0) + 1)
        << name << ": the refused request reached the task: " << dumpJson(after["recent"]);
  }
  for (const auto& [name, bytes] : bodyCases) check(name, bytes);

  // After all that the route serves as before.
  RawResponse ok = once("smug.example.test", "/");
  EXPECT_EQ(ok.status, 200) << ok.error;
}

// Response smuggling, task side: a response whose framing is in doubt is
// never forwarded (502 naming the reason), or, when its head went out
// already, the client's connection is cut; the task connection that carried
// it is never used again.
TEST_F(ProxyDataPlaneTest, MalformedResponsesAre502AndTheirConnectionsNotReused) {
  startCluster(127, 1);
  startProxy();
  deployAll(
      {{"/bad", 1, {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_VHOST", "bad.example.test"}}}});
  auto task = taskAddress("/bad", 0);
  const std::string host = "bad.example.test";
  for (std::string kind : {"clte", "dupcl", "dupclsame", "badchunk", "chunkoverflow", "barelf",
                           "barecr", "obsfold", "badcl", "bigheader"}) {
    // Keep-alive to the proxy: a clean exchange first parks a task
    // connection, which the bad answer then comes on.
    RawConn c;
    ASSERT_TRUE(c.connect(proxyIp_, httpPort_));
    ASSERT_TRUE(c.send(requestHead("GET", "/warm", host)));
    RawResponse warm = c.readResponse(5000);
    ASSERT_EQ(warm.status, 200) << kind << ": " << warm.error;
    ASSERT_TRUE(c.send(requestHead("GET", "/bad/" + kind, host)));
    RawResponse r = c.readResponse(5000);
    EXPECT_EQ(r.status, 502) << kind << ": " << r.error << " " << r.body;
    EXPECT_EQ(r.header("X-Corral-Error"), "upstream-bad-response") << kind;
    EXPECT_EQ(r.header("X-Task"), "") << kind << ": the task's head was forwarded";
    EXPECT_TRUE(c.waitClosed(3000)) << kind;
    // The next requests (a new client connection) go on fresh task connections.
    for (int i = 0; i < 3; ++i) {
      RawResponse next = once(host, "/after-" + kind);
      EXPECT_EQ(next.status, 200) << kind << ": " << next.error;
    }
  }
  // A sound head, then a chunk longer than its size: the head and the first
  // chunk went out; the client's connection is cut before the bad bytes.
  {
    RawConn c;
    ASSERT_TRUE(c.connect(proxyIp_, httpPort_));
    ASSERT_TRUE(c.send(requestHead("GET", "/bad/chunkmid", host)));
    RawResponse r = c.readResponse(5000);
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.error.empty()) << "a cut body arrived complete";
    EXPECT_EQ(r.body.find("abcdef"), std::string::npos) << r.body;
    EXPECT_TRUE(c.waitClosed(3000));
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(once(host, "/last").status, 200);
  Json stats = taskStats(task);
  EXPECT_EQ(stats.value("poisonedReuse", -1), 0)
      << "a task connection that carried a malformed response was used again: " << dumpJson(stats);
}

}  // namespace
}  // namespace corral::it
