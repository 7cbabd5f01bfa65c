// Per-route counters and the access log kept by HttpSession: requests,
// status classes, proxy errors, cut exchanges, active exchanges, latency.
#include <gtest/gtest.h>

#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "base/http_server.h"
#include "proxy/access_log.h"
#include "proxy/proxy_worker.h"
#include "tests/proxy/test_peer.h"

namespace corral::proxy {
namespace {

using test::TestListener;
using test::TestPeer;

class PortPicker : public PeerPicker {
 public:
  void set(int port) {
    peer_.id = 7;
    uv_ip4_addr("127.0.0.1", port, reinterpret_cast<sockaddr_in*>(&peer_.address));
  }
  const Peer* pick(const PickContext& ctx) override {
    return ctx.wasTried(peer_.id) ? nullptr : &peer_;
  }
  void release(const Peer&, PeerOutcome) override {}

 private:
  Peer peer_;
};

// "nowhere" has no route; everything else goes to the picker, counted.
class CountedRoutes : public RouteLookup {
 public:
  bool lookup(const http::RequestHead& head, RouteDecision* out) override {
    if (head.header("Host") == "nowhere") return false;
    out->picker = &picker;
    out->counters = &counters;
    out->name = "/shop:0";
    out->maxConnectAttempts = 1;
    return true;
  }
  PortPicker picker;
  RouteCounters counters;
};

class SessionStatsTest : public ::testing::Test {
 protected:
  void start(bool log) {
    WorkerOptions options;
    if (log) {
      // Written out line by line (flushBytes 0), so each shows at once.
      accessLog_ = std::make_unique<AccessLog>(
          loop_,
          [this](std::string_view chunk) {
            for (size_t end; (end = chunk.find('\n')) != std::string_view::npos;) {
              lines_.emplace_back(chunk.substr(0, end));
              chunk.remove_prefix(end + 1);
            }
          },
          AccessLogOptions{0, 1000});
      options.session.accessLog = accessLog_.get();
    }
    worker_ = std::make_unique<ProxyWorker>(loop_, routes_, options);
    auto port = worker_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok());
    port_ = *port;
  }
  int startServer() {
    server_ = std::make_unique<http::Server>(loop_, [](http::Request& req, auto ex) {
      ex->respond(http::Response::text(req.target == "/missing" ? 404 : 200, "hello\n"));
    });
    auto port = server_->listen("127.0.0.1", 0);
    EXPECT_TRUE(port.ok());
    server_port_ = *port;
    return *port;
  }
  void TearDown() override {
    worker_.reset();
    accessLog_.reset();
    server_.reset();
    loop_.runUntil([] { return false; }, 30);
  }
  std::unique_ptr<TestPeer> connect() {
    auto c = std::make_unique<TestPeer>(loop_, port_);
    EXPECT_TRUE(loop_.runUntil([&] { return c->connected; }, 5000));
    return c;
  }

  Loop loop_;
  CountedRoutes routes_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<AccessLog> accessLog_;
  std::unique_ptr<ProxyWorker> worker_;
  std::vector<std::string> lines_;
  int port_ = 0;
  int server_port_ = 0;
};

TEST_F(SessionStatsTest, AnsweredRequestsAreCountedByStatusClassAndLogged) {
  routes_.picker.set(startServer());
  start(true);
  auto c = connect();
  c->write("GET /a HTTP/1.1\r\nHost: shop\r\n\r\nGET /missing HTTP/1.1\r\nHost: shop\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return lines_.size() == 2; }, 5000));
  const RouteCounters& k = routes_.counters;
  EXPECT_EQ(k.requests, 2u);
  EXPECT_EQ(k.statusClass[2], 1u);
  EXPECT_EQ(k.statusClass[4], 1u);
  EXPECT_EQ(k.errors, 0u);  // a task's 404 is an answer, not a proxy error
  EXPECT_EQ(k.active, 0);
  EXPECT_EQ(k.latencyCount, 2u);
  // client [time] host "request" status bytes task task_ms total_ms route termination
  std::regex line(
      R"(127\.0\.0\.1 \[20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\] shop "GET /a HTTP/1\.1" 200 )"
      R"((\d+) 127\.0\.0\.1:(\d+) (\d+\.\d{3}) (\d+\.\d{3}) /shop:0 -)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(lines_[0], m, line)) << lines_[0];
  EXPECT_GT(std::stoul(m[1].str()), 6u) << "the head and the body reached the client";
  EXPECT_EQ(std::stoi(m[2].str()), server_port_);
  EXPECT_LE(std::stod(m[3].str()), std::stod(m[4].str())) << "the task's time is within the total";
  EXPECT_EQ(lines_[1].find("127.0.0.1 ["), 0u) << lines_[1];
  EXPECT_NE(lines_[1].find("] shop \"GET /missing HTTP/1.1\" 404 "), std::string::npos)
      << lines_[1];
}

TEST_F(SessionStatsTest, AccessLogIsOffByDefault) {
  routes_.picker.set(startServer());
  start(false);
  auto c = connect();
  c->write("GET /a HTTP/1.1\r\nHost: shop\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return routes_.counters.latencyCount == 1; }, 5000));
  EXPECT_TRUE(lines_.empty());
}

TEST_F(SessionStatsTest, UnroutedAndBadRequestsCountOnTheWorker) {
  start(true);
  auto c = connect();
  c->write("GET / HTTP/1.1\r\nHost: nowhere\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return lines_.size() == 1; }, 5000));
  auto d = connect();
  d->write("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return lines_.size() == 2; }, 5000));
  const RouteCounters& u = worker_->unroutedCounters();
  EXPECT_EQ(u.requests, 2u);
  EXPECT_EQ(u.statusClass[4], 2u);
  EXPECT_EQ(u.errors, 2u);
  EXPECT_EQ(u.active, 0);
  EXPECT_EQ(routes_.counters.requests, 0u);
  EXPECT_NE(lines_[0].find("\"GET / HTTP/1.1\" 404 "), std::string::npos) << lines_[0];
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(lines_[0], m, std::regex(R"( 404 \d+ - - (\d+)\.\d{3} - no-route$)")))
      << "no task, no task time: " << lines_[0];
  EXPECT_LT(std::stoi(m[1].str()), 500) << "timed to the answer, not to the client's close";
  EXPECT_NE(lines_[1].find("\"-\" 400 "), std::string::npos) << lines_[1];
  EXPECT_NE(lines_[1].find("bad-request"), std::string::npos) << lines_[1];
}

TEST_F(SessionStatsTest, RefusedConnectIsAProxyError) {
  start(true);
  {
    // Nothing listens there any more.
    TestListener gone(loop_, [](ConnPtr) {});
    routes_.picker.set(gone.port);
  }
  loop_.runUntil([] { return false; }, 20);
  auto c = connect();
  c->write("GET / HTTP/1.1\r\nHost: shop\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return lines_.size() == 1; }, 5000));
  EXPECT_EQ(routes_.counters.statusClass[5], 1u);
  EXPECT_EQ(routes_.counters.errors, 1u);
  EXPECT_NE(lines_[0].find("upstream-connect-failed"), std::string::npos) << lines_[0];
}

TEST_F(SessionStatsTest, ActiveWhileWaitingAndCutWhenTheClientLeaves) {
  std::vector<ConnPtr> held;  // a task that accepts and never answers
  TestListener silent(loop_, [&](ConnPtr c) { held.push_back(std::move(c)); });
  routes_.picker.set(silent.port);
  start(true);
  auto c = connect();
  c->write("GET /slow HTTP/1.1\r\nHost: shop\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return !held.empty(); }, 5000));
  EXPECT_EQ(routes_.counters.active, 1);
  c->reset();  // RST: the client is gone (a FIN would still be answered)
  ASSERT_TRUE(loop_.runUntil([&] { return lines_.size() == 1; }, 5000));
  EXPECT_EQ(routes_.counters.active, 0);
  EXPECT_EQ(routes_.counters.statusClass[0], 1u);
  EXPECT_EQ(routes_.counters.errors, 1u);
  EXPECT_NE(lines_[0].find("\"GET /slow HTTP/1.1\" - 0 127.0.0.1:"), std::string::npos)
      << lines_[0];
  EXPECT_NE(lines_[0].find(" cut"), std::string::npos) << lines_[0];
  held.clear();
}

}  // namespace
}  // namespace corral::proxy
