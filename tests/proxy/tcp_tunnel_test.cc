#include "proxy/tcp_tunnel.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "tests/proxy/test_peer.h"

namespace corral::proxy {
namespace {

using test::pattern;
using test::TestListener;
using test::TestPeer;

// client Peer -> front listener -> TcpTunnel -> upstream listener -> server Peer
class TunnelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    upstream_ = std::make_unique<TestListener>(loop_, [this](ConnPtr c) {
      server_ = std::make_unique<TestPeer>(std::move(c));
      server_->read();
    });
    front_ = std::make_unique<TestListener>(
        loop_,
        [this](ConnPtr c) {
          tunnel_ = std::make_unique<TcpTunnel>(loop_, std::move(c), options_,
                                                [this](TunnelEnd e) { end_ = e; });
          sockaddr_in a = upstreamAddress();
          tunnel_->connect(reinterpret_cast<sockaddr*>(&a));
        },
        bufSize_);
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    tunnel_.reset();
    front_.reset();
    upstream_.reset();
    loop_.runUntil([] { return false; }, 20);
  }
  virtual sockaddr_in upstreamAddress() { return upstream_->address(); }
  void connectClient() {
    client_ = std::make_unique<TestPeer>(loop_, front_->port);
    ASSERT_TRUE(loop_.runUntil([&] { return client_->connected && server_ != nullptr; }, 5000));
  }

  Loop loop_;
  TunnelOptions options_;
  size_t bufSize_ = 16 * 1024;
  std::unique_ptr<TestListener> upstream_;
  std::unique_ptr<TestListener> front_;
  std::unique_ptr<TcpTunnel> tunnel_;
  std::unique_ptr<TestPeer> client_;
  std::unique_ptr<TestPeer> server_;
  std::optional<TunnelEnd> end_;
};

TEST_F(TunnelTest, LargeTransferBothWaysThenHalfCloses) {
  connectClient();
  std::string up = pattern(8 << 20, 'a');
  std::string down = pattern(6 << 20, 'k');
  client_->write(up);
  server_->write(down);
  client_->shutdown();
  server_->shutdown();
  ASSERT_TRUE(loop_.runUntil([&] { return client_->eof && server_->eof && end_; }, 20000));
  EXPECT_EQ(server_->data, up);
  EXPECT_EQ(client_->data, down);
  EXPECT_EQ(*end_, TunnelEnd::kDone);
  EXPECT_EQ(tunnel_->bytesToUpstream(), up.size());
  EXPECT_EQ(tunnel_->bytesToClient(), down.size());
}

TEST_F(TunnelTest, HalfCloseKeepsTheOtherDirectionOpen) {
  connectClient();
  client_->write("request");
  client_->shutdown();
  ASSERT_TRUE(loop_.runUntil([&] { return server_->eof; }, 5000));
  EXPECT_EQ(server_->data, "request");
  EXPECT_FALSE(end_);  // the answer can still flow back
  server_->write("answer after the client's EOF");
  ASSERT_TRUE(loop_.runUntil([&] { return client_->data.size() == 29; }, 5000));
  EXPECT_FALSE(client_->eof);
  server_->shutdown();
  ASSERT_TRUE(loop_.runUntil([&] { return client_->eof && end_; }, 5000));
  EXPECT_EQ(*end_, TunnelEnd::kDone);
}

TEST_F(TunnelTest, SlowReaderHoldsBackTheWriter) {
  connectClient();
  server_->pause();
  const size_t total = 64 << 20;
  const size_t piece = 1 << 20;
  size_t sent = 0;
  // Keep at most a few MB queued in the client; stop once nothing moves.
  size_t lastForwarded = 0;
  int still = 0;
  for (int round = 0; round < 2000 && sent < total && still < 20; ++round) {
    while (client_->queued < 4 * piece && sent < total) {
      client_->write(pattern(piece, 'x'));
      sent += piece;
    }
    loop_.runUntil([] { return false; }, 10);
    // The tunnel never holds more than one buffer per direction queued.
    ASSERT_LE(tunnel_->queuedBytes(), bufSize_);
    still = tunnel_->bytesToUpstream() == lastForwarded ? still + 1 : 0;
    lastForwarded = tunnel_->bytesToUpstream();
  }
  ASSERT_GE(still, 20) << "the tunnel kept forwarding to a reader that reads nothing";
  EXPECT_LT(tunnel_->bytesToUpstream(), total);
  EXPECT_LE(tunnel_->queuedBytes(), bufSize_);
  // The reader wakes up: everything sent arrives, in order.
  server_->keep = false;
  server_->read();
  client_->shutdown();
  ASSERT_TRUE(loop_.runUntil([&] { return server_->eof; }, 30000));
  EXPECT_EQ(server_->received, sent);
}

TEST_F(TunnelTest, PeerResetEndsTheTunnel) {
  connectClient();
  client_->write("hi");
  ASSERT_TRUE(loop_.runUntil([&] { return server_->data == "hi"; }, 5000));
  server_->reset();
  ASSERT_TRUE(loop_.runUntil([&] { return end_.has_value(); }, 5000));
  EXPECT_EQ(*end_, TunnelEnd::kError);
  ASSERT_TRUE(loop_.runUntil([&] { return client_->eof || client_->error != 0; }, 5000));
}

TEST_F(TunnelTest, IdleTunnelIsClosed) {
  options_.idleTimeoutMs = 100;
  connectClient();
  client_->write("one");
  ASSERT_TRUE(loop_.runUntil([&] { return server_->data == "one"; }, 5000));
  uint64_t start = loop_.nowMs();
  ASSERT_TRUE(loop_.runUntil([&] { return end_.has_value(); }, 5000));
  EXPECT_EQ(*end_, TunnelEnd::kIdleTimeout);
  EXPECT_GE(loop_.nowMs() - start, 90u);
  ASSERT_TRUE(loop_.runUntil([&] { return client_->eof || client_->error != 0; }, 5000));
}

// The upstream address is a port nobody listens on.
class RefusedTunnelTest : public TunnelTest {
 protected:
  sockaddr_in upstreamAddress() override {
    sockaddr_in a = upstream_->address();
    upstream_.reset();  // closed: connecting is refused
    return a;
  }
};

TEST_F(RefusedTunnelTest, RefusedUpstreamClosesTheClient) {
  client_ = std::make_unique<TestPeer>(loop_, front_->port);
  ASSERT_TRUE(loop_.runUntil([&] { return end_.has_value(); }, 5000));
  EXPECT_EQ(*end_, TunnelEnd::kConnectFailed);
  ASSERT_TRUE(loop_.runUntil([&] { return client_->eof || client_->error != 0; }, 5000));
}

}  // namespace
}  // namespace corral::proxy
