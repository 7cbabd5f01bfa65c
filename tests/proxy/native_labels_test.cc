// Each CORRAL_{n}_* label of docs/LABELS.md taking effect on a running
// worker: labels -> RoutingBuilder -> WorkerRouting -> an HTTP service port
// served by a ProxyWorker, against loopback tasks (answering, silent,
// refusing or hanging up). Each test fails when its label is not applied.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/http_request_parser.h"
#include "base/http_server.h"
#include "proxy/proxy_worker.h"
#include "proxy/routing_builder.h"
#include "proxy/tcp_frontend.h"
#include "proxy/worker_routing.h"
#include "registry/catalog.h"
#include "tests/proxy/test_peer.h"

namespace corral::proxy {
namespace {

using test::TestListener;
using test::TestPeer;

constexpr int kServicePort = 10000;

class NativeLabelsTest : public ::testing::Test {
 protected:
  // Routes /svc's port 0 (HTTP) with these extra labels over tasks on these
  // loopback ports.
  void route(const registry::Labels& extra, const std::vector<int>& taskPorts) {
    auto app = std::make_shared<registry::App>();
    app->id = "/svc";
    app->labels = {{"HAPROXY_GROUP", "external"}, {"HAPROXY_0_MODE", "http"}};
    for (const auto& [k, v] : extra) app->labels[k] = v;
    app->portDefinitions.push_back(registry::PortDefinition{kServicePort, "", "tcp", {}});
    for (size_t i = 0; i < taskPorts.size(); ++i) {
      registry::Task t;
      t.id = "svc." + std::to_string(i);
      t.appId = "/svc";
      t.host = "127.0.0.1";
      t.ports = {taskPorts[i]};
      t.state = conf::TaskState::kRunning;
      app->tasks.push_back(t);
    }
    registry::Snapshot s;
    s.version = ++version_;
    s.apps[app->id] = app;
    registry::Diff diff;
    (version_ == 1 ? diff.added : diff.changed).push_back("/svc");
    auto built = builder_.update(s, diff);
    ASSERT_TRUE(built.ok());
    ASSERT_TRUE(builder_.reports().at("/svc").issues.empty());
    routing_.install(*built);
    if (!worker_) {
      worker_ = std::make_unique<ProxyWorker>(loop_, lookup_, WorkerOptions{});
      auto port = worker_->listen("127.0.0.1", 0);
      ASSERT_TRUE(port.ok());
      port_ = *port;
    }
  }
  void TearDown() override {
    worker_.reset();
    server_.reset();
    named_.clear();
    loop_.runUntil([] { return false; }, 30);
  }
  int startServer() {
    server_ = std::make_unique<http::Server>(
        loop_, [](http::Request&, auto ex) { ex->respond(http::Response::text(200, "ok\n")); });
    auto port = server_->listen("127.0.0.1", 0);
    EXPECT_TRUE(port.ok());
    return *port;
  }
  // A port nothing listens on any more.
  int refusedPort() {
    TestListener gone(loop_, [](ConnPtr) {});
    int port = gone.port;
    return port;
  }
  std::unique_ptr<TestPeer> connect() {
    auto c = std::make_unique<TestPeer>(loop_, port_);
    EXPECT_TRUE(loop_.runUntil([&] { return c->connected; }, 5000));
    return c;
  }
  // The status of one request on a fresh connection (0: none in waitMs).
  int status(const std::string& method = "GET", uint64_t waitMs = 5000) {
    auto c = connect();
    c->write(method + " / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n");
    loop_.runUntil([&] { return c->data.find("\r\n") != std::string::npos; }, waitMs);
    if (c->data.size() < 12) return 0;
    return std::stoi(c->data.substr(9, 3));
  }
  RouteDecision decision() {
    RouteDecision d;
    EXPECT_TRUE(lookupWith(lookup_, "svc", &d));
    return d;
  }
  bool lookupWith(RouteLookup& lookup, const std::string& host, RouteDecision* d) {
    http::RequestStreamParser parser{http::RequestStreamParser::Limits{}};
    std::string bytes = "GET /x HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
    size_t used = 0;
    EXPECT_EQ(parser.feed(bytes, &used), http::RequestStreamParser::Event::kHead);
    return lookup.lookup(parser.head(), d);
  }
  // A task answering its own name, so that a test sees which one served.
  int startNamedServer(const std::string& name) {
    named_.push_back(std::make_unique<http::Server>(loop_, [name](http::Request&, auto ex) {
      ex->respond(http::Response::text(200, name + "\n"));
    }));
    auto port = named_.back()->listen("127.0.0.1", 0);
    EXPECT_TRUE(port.ok());
    return *port;
  }
  // The body of one request with these extra header lines.
  std::string body(const std::string& headers) {
    auto c = connect();
    c->write("GET / HTTP/1.1\r\nHost: svc\r\n" + headers + "Connection: close\r\n\r\n");
    loop_.runUntil([&] { return c->eof; }, 5000);
    size_t end = c->data.find("\r\n\r\n");
    return end == std::string::npos ? "" : c->data.substr(end + 4);
  }

  Loop loop_;
  RoutingBuilder builder_{conf::ProxyLabelOptions{}};
  WorkerRouting routing_{loop_, 0};
  PortLookup lookup_{routing_, kServicePort};
  std::unique_ptr<http::Server> server_;
  std::vector<std::unique_ptr<http::Server>> named_;
  std::unique_ptr<ProxyWorker> worker_;  // last: its sessions hold routing_'s pickers
  uint64_t version_ = 0;
  int port_ = 0;
};

TEST_F(NativeLabelsTest, EveryTimeoutAndRetryLabelReachesTheDecision) {
  route({}, {startServer()});
  RouteDecision d = decision();
  EXPECT_EQ(d.connectTimeoutMs, 5000u);
  EXPECT_EQ(d.responseTimeoutMs, 60000u);
  EXPECT_EQ(d.idleTimeoutMs, 0u) << "0: the session's default";
  EXPECT_EQ(d.tunnelIdleMs, 0u);
  EXPECT_EQ(d.maxConnectAttempts, 3);
  EXPECT_FALSE(d.retryIdempotent);
  EXPECT_EQ(d.name, "/svc:0");
  EXPECT_NE(d.counters, nullptr) << "the route's exchanges are counted for /stats";

  route({{"CORRAL_0_TIMEOUT_CONNECT", "250ms"},
         {"CORRAL_0_TIMEOUT_SERVER", "2s"},
         {"CORRAL_0_TIMEOUT_IDLE", "3s"},
         {"CORRAL_0_TIMEOUT_TUNNEL", "1m"},
         {"CORRAL_0_RETRIES", "0"},
         {"CORRAL_0_RETRY_IDEMPOTENT", "true"}},
        {startServer()});
  d = decision();
  EXPECT_EQ(d.connectTimeoutMs, 250u);
  EXPECT_EQ(d.responseTimeoutMs, 2000u);
  EXPECT_EQ(d.idleTimeoutMs, 3000u);
  EXPECT_EQ(d.tunnelIdleMs, 60000u);
  EXPECT_EQ(d.maxConnectAttempts, 1);
  EXPECT_TRUE(d.retryIdempotent);
}

TEST_F(NativeLabelsTest, TimeoutServerAnswers504WhenTheTaskIsSilent) {
  std::vector<ConnPtr> held;
  TestListener silent(loop_, [&](ConnPtr c) { held.push_back(std::move(c)); });
  route({{"CORRAL_0_TIMEOUT_SERVER", "100ms"}}, {silent.port});
  EXPECT_EQ(status("GET", 3000), 504) << "the default (60 s) would still be waiting";
}

TEST_F(NativeLabelsTest, TimeoutIdleClosesAnIdleKeepAliveConnection) {
  route({{"CORRAL_0_TIMEOUT_IDLE", "100ms"}}, {startServer()});
  auto c = connect();
  c->write("GET / HTTP/1.1\r\nHost: svc\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return c->data.find("ok\n") != std::string::npos; }, 5000));
  EXPECT_TRUE(loop_.runUntil([&] { return c->eof; }, 3000))
      << "the default idle wait (60 s) would keep it open";
}

TEST_F(NativeLabelsTest, TimeoutTunnelClosesAnIdleUpgradedConnection) {
  std::vector<std::unique_ptr<TestPeer>> tasks;
  TestListener upgrading(loop_, [&](ConnPtr c) {
    auto task = std::make_unique<TestPeer>(std::move(c));
    task->onData = [](TestPeer& self, std::string_view) {
      if (self.data.find("\r\n\r\n") != std::string::npos && self.written == 0 &&
          self.queued == 0) {
        self.write(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\n\r\n");
      }
    };
    task->read();
    tasks.push_back(std::move(task));
  });
  route({{"CORRAL_0_TIMEOUT_TUNNEL", "100ms"}}, {upgrading.port});
  auto c = connect();
  c->write("GET /ws HTTP/1.1\r\nHost: svc\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return c->data.find(" 101 ") != std::string::npos; }, 5000))
      << c->data;
  EXPECT_TRUE(loop_.runUntil([&] { return c->eof || c->error != 0; }, 3000))
      << "the default tunnel idle limit (1 h) would keep it open";
}

TEST_F(NativeLabelsTest, RetriesBoundTheTasksTriedAfterARefusedConnect) {
  int good = startServer();
  int refused = refusedPort();
  route({{"CORRAL_0_RETRIES", "0"}}, {refused, good});
  int failed = 0;
  for (int i = 0; i < 4; ++i) failed += status() == 503;
  EXPECT_GT(failed, 0) << "without a retry the refused task's turn is a 503";
  route({{"CORRAL_0_RETRIES", "1"}}, {refused, good});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(status(), 200) << "one retry reaches the other task";
}

TEST_F(NativeLabelsTest, RetryIdempotentResendsAGetWhoseTaskHungUp) {
  int good = startServer();
  std::vector<std::unique_ptr<TestPeer>> tasks;
  TestListener hangsUp(loop_, [&](ConnPtr c) {
    auto task = std::make_unique<TestPeer>(std::move(c));
    task->onData = [](TestPeer& self, std::string_view) {
      if (self.data.find("\r\n\r\n") != std::string::npos) self.shutdown();
    };
    task->read();
    tasks.push_back(std::move(task));
  });
  route({}, {hangsUp.port, good});
  int failed = 0;
  for (int i = 0; i < 2; ++i) failed += status() == 502;
  EXPECT_EQ(failed, 1) << "without the label the request that reached the task is not resent";
  // (Two failures so far: a third ejects the task for a while, which would
  // hide it from the POSTs, so they go first.)
  route({{"CORRAL_0_RETRY_IDEMPOTENT", "true"}}, {hangsUp.port, good});
  failed = 0;
  for (int i = 0; i < 2; ++i) failed += status("POST") == 502;
  EXPECT_EQ(failed, 1) << "a POST is never resent";
  for (int i = 0; i < 2; ++i) EXPECT_EQ(status("GET"), 200);
}

TEST_F(NativeLabelsTest, MaxConnRefusesBeyondTheLimitWith503) {
  std::vector<ConnPtr> held;
  TestListener silent(loop_, [&](ConnPtr c) { held.push_back(std::move(c)); });
  route({{"CORRAL_0_MAXCONN", "1"}}, {silent.port});
  auto first = connect();
  first->write("GET / HTTP/1.1\r\nHost: svc\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return held.size() == 1; }, 5000));
  auto second = connect();
  second->write("GET / HTTP/1.1\r\nHost: svc\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return second->eof; }, 5000)) << "answered at once";
  EXPECT_EQ(second->data.rfind("HTTP/1.1 503 ", 0), 0u) << second->data;
  EXPECT_NE(second->data.find("route-at-maxconn"), std::string::npos) << second->data;
  EXPECT_EQ(held.size(), 1u) << "the task never saw the second request";
  // The first one ending frees its place.
  first->reset();
  held.clear();
  ASSERT_TRUE(loop_.runUntil(
      [&] {
        return routing_.snapshot().backend(BackendKey{"/svc", 0})->counters->active == 0;
      },
      5000));
  auto third = connect();
  third->write("GET / HTTP/1.1\r\nHost: svc\r\n\r\n");
  EXPECT_TRUE(loop_.runUntil([&] { return held.size() == 1; }, 5000));
}

// The TCP side of MAXCONN: a TCP-mode service port (TcpFrontend behind a
// plain listener) closes a connection beyond the limit at once.
TEST_F(NativeLabelsTest, MaxConnClosesTcpConnectionsBeyondTheLimit) {
  std::vector<ConnPtr> held;
  TestListener task(loop_, [&](ConnPtr c) { held.push_back(std::move(c)); });
  route({{"HAPROXY_0_MODE", "tcp"}, {"CORRAL_0_MAXCONN", "1"}}, {task.port});
  TcpFrontend frontend(loop_, routing_, TunnelOptions{}, 64 * 1024);
  auto* listener = new uv_tcp_t;
  uv_tcp_init(loop_.raw(), listener);
  listener->data = &frontend;
  sockaddr_in any{};
  uv_ip4_addr("127.0.0.1", 0, &any);
  ASSERT_EQ(uv_tcp_bind(listener, reinterpret_cast<sockaddr*>(&any), 0), 0);
  ASSERT_EQ(uv_listen(reinterpret_cast<uv_stream_t*>(listener), 16,
                      [](uv_stream_t* s, int status) {
                        if (status < 0) return;
                        static_cast<TcpFrontend*>(s->data)->accept(s, kServicePort);
                      }),
            0);
  sockaddr_storage bound{};
  int len = sizeof(bound);
  uv_tcp_getsockname(listener, reinterpret_cast<sockaddr*>(&bound), &len);
  int port = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  {
    TestPeer first(loop_, port);
    ASSERT_TRUE(loop_.runUntil([&] { return held.size() == 1; }, 5000));
    TestPeer second(loop_, port);
    EXPECT_TRUE(loop_.runUntil([&] { return second.eof || second.error != 0; }, 5000))
        << "closed at once: the route is at its limit";
    EXPECT_EQ(held.size(), 1u) << "the task never saw the second connection";
    EXPECT_FALSE(first.eof) << "the first one is untouched";
  }
  closeAndDelete(listener);
  frontend.close();
  held.clear();
  loop_.runUntil([] { return false; }, 20);
}

TEST_F(NativeLabelsTest, BalanceHashKeepsEachKeyOnOneTask) {
  int a = startNamedServer("a");
  int b = startNamedServer("b");
  route({{"CORRAL_0_BALANCE_HASH", "header:X-User"}}, {a, b});
  std::set<std::string> tasks;
  for (int user = 0; user < 20; ++user) {
    std::string header = "X-User: user-" + std::to_string(user) + "\r\n";
    std::string first = body(header);
    ASSERT_FALSE(first.empty());
    tasks.insert(first);
    for (int again = 0; again < 2; ++again) {
      EXPECT_EQ(body(header), first) << "user " << user << ": round robin would alternate";
    }
  }
  EXPECT_EQ(tasks.size(), 2u) << "twenty keys spread over both tasks";
}

TEST_F(NativeLabelsTest, HttpDefaultTakesRequestsForHostsWithoutARoute) {
  FrontendLookup frontend(routing_);
  route({}, {startServer()});
  RouteDecision none;
  EXPECT_FALSE(lookupWith(frontend, "unknown.test", &none)) << "no vhost, no default: 404";
  route({{"CORRAL_0_HTTP_DEFAULT", "true"}}, {startServer()});
  RouteDecision d;
  ASSERT_TRUE(lookupWith(frontend, "unknown.test", &d));
  EXPECT_EQ(d.name, "/svc:0");
}

}  // namespace
}  // namespace corral::proxy
