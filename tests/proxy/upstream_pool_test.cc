#include "proxy/upstream_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "tests/proxy/test_peer.h"

namespace corral::proxy {
namespace {

using test::TestListener;
using test::TestPeer;

class PoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_ = std::make_unique<TestListener>(loop_, [this](ConnPtr c) {
      servers_.push_back(std::make_unique<TestPeer>(std::move(c)));
      servers_.back()->read();
    });
  }
  void TearDown() override {
    pool_.reset();
    servers_.clear();
    backend_.reset();
    loop_.runUntil([] { return false; }, 20);
  }
  // A connected upstream connection to the test backend, as a session has one.
  ConnPtr connectUpstream(uint64_t backendId) {
    ConnPtr c(Conn::create(loop_.raw(), 4096));
    c->backendId = backendId;
    bool done = false;
    c->owner = &done;
    sockaddr_in a = backend_->address();
    EXPECT_EQ(c->connect(reinterpret_cast<sockaddr*>(&a),
                         [](uv_connect_t* req, int status) {
                           EXPECT_EQ(status, 0);
                           *static_cast<bool*>(static_cast<Conn*>(req->handle->data)->owner) = true;
                         }),
              0);
    size_t before = servers_.size();
    EXPECT_TRUE(loop_.runUntil([&] { return done && servers_.size() > before; }, 5000));
    c->owner = nullptr;
    return c;
  }
  void makePool(PoolOptions o) { pool_ = std::make_unique<UpstreamPool>(loop_, o); }
  bool allSawEof() const {
    for (const auto& s : servers_) {
      if (!s->eof) return false;
    }
    return true;
  }

  Loop loop_;
  std::unique_ptr<TestListener> backend_;
  std::vector<std::unique_ptr<TestPeer>> servers_;
  std::unique_ptr<UpstreamPool> pool_;
};

TEST_F(PoolTest, IdleConnectionIsReusedForItsBackendOnly) {
  makePool({});
  ConnPtr c = connectUpstream(7);
  Conn* raw = c.get();
  pool_->give(std::move(c));
  EXPECT_EQ(pool_->idleCount(7), 1u);
  EXPECT_EQ(pool_->take(8), nullptr);
  loop_.runUntil([] { return false; }, 20);
  ConnPtr again = pool_->take(7);
  EXPECT_EQ(again.get(), raw);
  EXPECT_EQ(pool_->idleTotal(), 0u);
  EXPECT_EQ(pool_->reused(), 1u);
  EXPECT_EQ(backend_->accepted, 1);
}

TEST_F(PoolTest, BackendClosingAnIdleConnectionDropsIt) {
  makePool({});
  pool_->give(connectUpstream(1));
  servers_[0].reset();  // the task closes its side
  ASSERT_TRUE(loop_.runUntil([&] { return pool_->idleCount(1) == 0; }, 5000));
  EXPECT_EQ(pool_->take(1), nullptr);
}

TEST_F(PoolTest, BytesFromAnIdleBackendDropTheConnection) {
  makePool({});
  pool_->give(connectUpstream(1));
  servers_[0]->write("HTTP/1.1 200 OK\r\n\r\n");  // nobody asked: never reuse
  ASSERT_TRUE(loop_.runUntil([&] { return pool_->idleCount(1) == 0; }, 5000));
  EXPECT_EQ(pool_->take(1), nullptr);
}

TEST_F(PoolTest, ConnectionWithUnreadBytesIsNotPooled) {
  makePool({});
  ConnPtr c = connectUpstream(1);
  c->filled = 3;
  pool_->give(std::move(c));
  EXPECT_EQ(pool_->idleCount(1), 0u);
}

TEST_F(PoolTest, IdleCountIsBoundedOldestClosedFirst) {
  makePool({2, 60000});
  ConnPtr a = connectUpstream(1);
  Conn* first = a.get();
  pool_->give(std::move(a));
  pool_->give(connectUpstream(1));
  pool_->give(connectUpstream(1));
  EXPECT_EQ(pool_->idleCount(1), 2u);
  ASSERT_TRUE(loop_.runUntil([&] { return servers_[0]->eof; }, 5000));  // the oldest
  EXPECT_FALSE(servers_[1]->eof);
  ConnPtr x = pool_->take(1);
  ConnPtr y = pool_->take(1);
  EXPECT_NE(x.get(), first);
  EXPECT_NE(y.get(), first);
}

TEST_F(PoolTest, ReleaseLetsEveryIdleConnectionGoAndClosesThemAFewAtATime) {
  makePool({64, 60000});
  size_t n = UpstreamPool::kClosePerTick + 4;  // two ticks' worth
  for (size_t i = 0; i < n; ++i) pool_->give(connectUpstream(1 + i % 3));
  ASSERT_EQ(pool_->idleTotal(), n);
  pool_->release();
  EXPECT_EQ(pool_->idleTotal(), 0u);  // none is handed out any more
  EXPECT_EQ(pool_->take(1), nullptr);
  EXPECT_EQ(pool_->closing(), n);  // and none closed at once
  ASSERT_TRUE(loop_.runUntil([&] { return pool_->closing() < n; }, 5000));
  EXPECT_GE(pool_->closing(), n - UpstreamPool::kClosePerTick);  // at most one tick's worth
  ASSERT_TRUE(loop_.runUntil([&] { return pool_->closing() == 0; }, 5000));
  ASSERT_TRUE(loop_.runUntil([&] { return allSawEof(); }, 5000));
  // A connection given back after release() is closed, not kept.
  pool_->give(connectUpstream(1));
  EXPECT_EQ(pool_->idleTotal(), 0u);
  ASSERT_TRUE(loop_.runUntil([&] { return servers_.back()->eof; }, 5000));
}

TEST_F(PoolTest, ExpiredConnectionsAreClosedAFewAtATime) {
  // One sweep finds them all expired; closing them in one go held the
  // worker (and the backends' host) for tens of milliseconds at 10k routes.
  makePool({64, 40});
  size_t n = 2 * UpstreamPool::kClosePerTick + 4;
  for (size_t i = 0; i < n; ++i) pool_->give(connectUpstream(100 + i));
  size_t mostWaiting = 0;
  ASSERT_TRUE(loop_.runUntil(
      [&] {
        mostWaiting = std::max(mostWaiting, pool_->closing());
        return pool_->idleTotal() == 0 && pool_->closing() == 0;
      },
      5000));
  EXPECT_GT(mostWaiting, UpstreamPool::kClosePerTick);
  ASSERT_TRUE(loop_.runUntil([&] { return allSawEof(); }, 5000));
  EXPECT_EQ(pool_->idleCount(100), 0u);
}

TEST_F(PoolTest, IdleTimeoutClosesConnections) {
  makePool({8, 80});
  pool_->give(connectUpstream(1));
  pool_->give(connectUpstream(2));
  ASSERT_TRUE(loop_.runUntil([&] { return pool_->idleTotal() == 0; }, 5000));
  ASSERT_TRUE(loop_.runUntil([&] { return servers_[0]->eof && servers_[1]->eof; }, 5000));
}

TEST_F(PoolTest, ForgetClosesABackendsConnections) {
  makePool({});
  pool_->give(connectUpstream(1));
  pool_->give(connectUpstream(2));
  pool_->forget(1);
  EXPECT_EQ(pool_->idleCount(1), 0u);
  EXPECT_EQ(pool_->idleCount(2), 1u);
  ASSERT_TRUE(loop_.runUntil([&] { return servers_[0]->eof; }, 5000));
}

TEST_F(PoolTest, AConnectionGivenBackAfterItsBackendWasForgottenCloses) {
  // A session parks its connection while its task goes away; when the
  // session lets go of it, the pool does not keep it.
  makePool({8, 80});
  pool_->forget(1);
  pool_->give(connectUpstream(1));
  EXPECT_EQ(pool_->idleCount(1), 0u);
  ASSERT_TRUE(loop_.runUntil([&] { return servers_[0]->eof; }, 5000));
  // After two sweeps (20 ms apart here) the id is free again.
  loop_.runUntil([] { return false; }, 100);
  pool_->give(connectUpstream(1));
  EXPECT_EQ(pool_->idleCount(1), 1u);
}

}  // namespace
}  // namespace corral::proxy
