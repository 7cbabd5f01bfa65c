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
    return r.status == 200 ? r.json() : Json();
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

}  // namespace
}  // namespace corral::it
