// TcpFrontend: a TCP-mode service port's connections are routed by the port
// through WorkerRouting and tunnelled to a task; the tunnel's end feeds the
// backend's counters and passive health.
#include "proxy/tcp_frontend.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/worker_routing.h"
#include "tests/proxy/test_peer.h"
#include "tests/proxy/test_routing.h"

namespace corral::proxy {
namespace {

using test::TestListener;
using test::TestPeer;

constexpr int kServicePort = 10000;
const BackendKey kDb{"/db", 0};

class TcpFrontendTest : public ::testing::Test {
 protected:
  void TearDown() override {
    clients_.clear();
    frontend_.reset();
    listener_.reset();
    taskConns_.clear();
    task_.reset();
    loop_.runUntil([] { return false; }, 30);
  }
  // A task that answers each read with "echo:" and the bytes.
  int startEchoTask() {
    task_ = std::make_unique<TestListener>(loop_, [this](ConnPtr c) {
      taskConns_.push_back(std::make_unique<TestPeer>(std::move(c)));
      taskConns_.back()->onData = [](TestPeer& p, std::string_view bytes) {
        p.write("echo:" + std::string(bytes));
      };
      taskConns_.back()->read();
    });
    return task_->port;
  }
  // The service port's listener, handing its connections to the frontend.
  void startFrontend(std::vector<RouteSpecPtr> specs, int taskPort) {
    routing_.install(maker_.publish(std::move(specs), {maker_.backend(kDb, 1, taskPort)}));
    frontend_ = std::make_unique<TcpFrontend>(loop_, routing_, TunnelOptions{}, 64 * 1024);
    listener_ = std::make_unique<TestListener>(
        loop_, [this](ConnPtr c) { frontend_->take(std::move(c), kServicePort); });
  }
  TestPeer& client() {
    clients_.push_back(std::make_unique<TestPeer>(loop_, listener_->port));
    return *clients_.back();
  }

  Loop loop_;
  test::SnapshotMaker maker_;
  WorkerRouting routing_{loop_, 0};
  std::unique_ptr<TestListener> task_;
  std::vector<std::unique_ptr<TestPeer>> taskConns_;
  std::unique_ptr<TcpFrontend> frontend_;
  std::unique_ptr<TestListener> listener_;
  std::vector<std::unique_ptr<TestPeer>> clients_;
};

TEST_F(TcpFrontendTest, TunnelsToTheTaskAndReleasesItWhenBothSidesClose) {
  startFrontend({test::tcpSpec("/db", kServicePort)}, startEchoTask());
  TestPeer& c = client();
  c.write("raw bytes, not HTTP");
  ASSERT_TRUE(loop_.runUntil([&] { return c.data == "echo:raw bytes, not HTTP"; }, 5000)) << c.data;
  EXPECT_EQ(frontend_->active(), 1u);
  EXPECT_EQ(maker_.counters(kDb).active.load(), 1);
  c.shutdown();
  ASSERT_TRUE(loop_.runUntil([&] { return !taskConns_.empty() && taskConns_[0]->eof; }, 5000));
  taskConns_[0]->shutdown();
  ASSERT_TRUE(loop_.runUntil([&] { return c.eof && frontend_->active() == 0; }, 5000));
  EXPECT_EQ(maker_.counters(kDb).requests.load(), 1u);
  EXPECT_EQ(maker_.counters(kDb).active.load(), 0);
  EXPECT_EQ(maker_.counters(kDb).failures.load(), 0u);
  EXPECT_EQ(routing_.counters().tcpConnections.load(), 1u);
}

TEST_F(TcpFrontendTest, RefusedTaskClosesTheClientAndCountsAFailure) {
  int gonePort = 0;
  {
    TestListener gone(loop_, [](ConnPtr) {});
    gonePort = gone.port;
  }
  startFrontend({test::tcpSpec("/db", kServicePort)}, gonePort);
  TestPeer& c = client();
  ASSERT_TRUE(loop_.runUntil([&] { return c.eof || c.error != 0; }, 5000));
  ASSERT_TRUE(loop_.runUntil([&] { return frontend_->active() == 0; }, 5000));
  EXPECT_EQ(maker_.counters(kDb).failures.load(), 1u);
  EXPECT_EQ(maker_.counters(kDb).active.load(), 0);
}

TEST_F(TcpFrontendTest, APortWithoutATcpRouteClosesTheClient) {
  // The port's route is HTTP mode: its connections are HttpSessions', not
  // tunnels, so a connection that reaches the TCP frontend is closed.
  auto http = test::httpSpec("/db", "db.test");
  http->servicePort = kServicePort;
  startFrontend({http}, startEchoTask());
  TestPeer& c = client();
  c.write("raw");
  ASSERT_TRUE(loop_.runUntil([&] { return c.eof || c.error != 0; }, 5000));
  EXPECT_EQ(frontend_->active(), 0u);
  EXPECT_EQ(routing_.counters().noRoute.load(), 1u);
  EXPECT_EQ(task_->accepted, 0);
}

}  // namespace
}  // namespace corral::proxy
