// HTTPS through the proxy on loopback: curl and openssl (separate
// processes, run from a thread while the loop serves) against a worker
// whose sessions terminate TLS with a TlsStore.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "base/http_server.h"
#include "proxy/proxy_worker.h"
#include "tests/proxy/test_peer.h"
#include "tests/proxy/tls_test_certs.h"

namespace corral::proxy {
namespace {

using test::CertDir;
using test::TestPeer;

class OnePeer : public PeerPicker {
 public:
  explicit OnePeer(int port) {
    peer_.id = 1;
    uv_ip4_addr("127.0.0.1", port, reinterpret_cast<sockaddr_in*>(&peer_.address));
  }
  const Peer* pick(const PickContext& ctx) override {
    return ctx.wasTried(peer_.id) ? nullptr : &peer_;
  }
  void release(const Peer&, PeerOutcome) override {}

 private:
  Peer peer_;
};

class AllRoutes : public RouteLookup {
 public:
  bool lookup(const http::RequestHead&, RouteDecision* out) override {
    *out = decision;
    out->picker = picker.get();
    return true;
  }
  std::unique_ptr<OnePeer> picker;
  RouteDecision decision;
};

class TlsSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    defaultPem_ = certs_.make("default", "default.test", "default-cert");
    certs_.make("a", "a.example.test", "a-cert");
    certs_.make("b", "b.example.test", "b-cert");
    auto store = TlsStore::build(TlsConfig{{defaultPem_}, certs_.path()});
    ASSERT_TRUE(store.ok()) << store.error().message;
    server_ = std::make_unique<http::Server>(loop_, [](http::Request& req, auto ex) {
      if (req.target == "/big") {
        ex->respond(http::Response::text(200, std::string(2 * 1024 * 1024, 'x')));
        return;
      }
      std::string body = req.method + " " + req.target + "\n";
      for (auto& [k, v] : req.headers) body += k + ": " + v + "\n";
      body += "body-bytes: " + std::to_string(req.body.size()) + "\n";
      ex->respond(http::Response::text(200, body));
    });
    auto taskPort = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(taskPort.ok());
    routes_.picker = std::make_unique<OnePeer>(*taskPort);
    worker_ = std::make_unique<ProxyWorker>(loop_, routes_, WorkerOptions{});
    store_ = *store;
    worker_->setTlsStore(store_);
    auto port = worker_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok());
    port_ = *port;
  }
  void TearDown() override {
    worker_.reset();
    server_.reset();
    loop_.runUntil([] { return false; }, 30);
  }

  // Runs a shell command in a thread while the loop serves; its stdout and
  // stderr together.
  std::string run(const std::string& command) {
    std::atomic<bool> done{false};
    std::string output;
    std::thread runner([&] {
      FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
      if (pipe != nullptr) {
        char buf[4096];
        size_t n;
        while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) output.append(buf, n);
        ::pclose(pipe);
      }
      done = true;
    });
    bool finished = loop_.runUntil([&] { return done.load(); }, 20000);
    runner.join();
    EXPECT_TRUE(finished) << command;
    return output;
  }
  std::string curl(const std::string& host, const std::string& path,
                   const std::string& extra = "") {
    std::string p = std::to_string(port_);
    return run("curl -sv -k --max-time 10 --resolve " + host + ":" + p + ":127.0.0.1 " + extra +
               " https://" + host + ":" + p + path);
  }

  Loop loop_;
  CertDir certs_;
  std::string defaultPem_;
  TlsStorePtr store_;
  AllRoutes routes_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<ProxyWorker> worker_;
  int port_ = 0;
};

TEST_F(TlsSessionTest, RequestsOverTlsReachTheTaskWithForwardedProtoHttps) {
  std::string out = curl("a.example.test", "/hello");
  EXPECT_NE(out.find("GET /hello"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Forwarded-Proto: https"), std::string::npos) << out;
  EXPECT_NE(out.find("ALPN: server accepted http/1.1"), std::string::npos) << out;
}

TEST_F(TlsSessionTest, EachSniNameGetsItsCertificateAndOthersTheDefault) {
  EXPECT_NE(curl("a.example.test", "/").find("CN=a-cert"), std::string::npos);
  EXPECT_NE(curl("b.example.test", "/").find("CN=b-cert"), std::string::npos);
  EXPECT_NE(curl("c.example.test", "/").find("CN=default-cert"), std::string::npos);
  // openssl s_client without SNI.
  std::string out = run("openssl s_client -connect 127.0.0.1:" + std::to_string(port_) +
                        " -noservername </dev/null");
  EXPECT_NE(out.find("CN = default-cert"), std::string::npos) << out;
}

TEST_F(TlsSessionTest, KeepAliveAndLargeResponsesStreamThroughTls) {
  std::string p = std::to_string(port_);
  std::string url = "https://a.example.test:" + p;
  std::string out =
      run("curl -sk --max-time 10 --resolve a.example.test:" + p +
          ":127.0.0.1 -o /dev/null -o /dev/null -w '%{size_download} %{num_connects}\\n' " + url +
          "/big " + url + "/big");
  EXPECT_EQ(out, "2097152 1\n2097152 0\n");
}

TEST_F(TlsSessionTest, HstsOnTlsAndNoRedirectOnceOnHttps) {
  std::string out = curl("a.example.test", "/");
  EXPECT_EQ(out.find("strict-transport-security"), std::string::npos);
  routes_.decision.flags = RouteDecision::kHsts | RouteDecision::kRedirectToHttps;
  out = curl("a.example.test", "/");
  EXPECT_NE(out.find("< HTTP/1.1 200 OK"), std::string::npos) << out;
  EXPECT_NE(out.find("< Strict-Transport-Security: max-age=15768000"), std::string::npos) << out;
}

TEST_F(TlsSessionTest, LargeUploadStreamsThroughTls) {
  std::string file = certs_.path() + "/upload.bin";
  run("head -c 3000000 /dev/zero > " + file);
  std::string out = curl("a.example.test", "/up", "--data-binary @" + file);
  EXPECT_NE(out.find("POST /up"), std::string::npos) << out.substr(0, 2000);
  EXPECT_NE(out.find("body-bytes: 3000000"), std::string::npos);
}

TEST_F(TlsSessionTest, OldProtocolsAreRefused) {
  std::string out = curl("a.example.test", "/", "--tls-max 1.1");
  EXPECT_EQ(out.find("GET /"), std::string::npos) << out;
}

TEST_F(TlsSessionTest, PlainHttpOnTheTlsPortIsClosedUnanswered) {
  TestPeer client(loop_, port_);
  ASSERT_TRUE(loop_.runUntil([&] { return client.connected; }, 5000));
  client.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(loop_.runUntil([&] { return client.eof || client.error != 0; }, 5000));
  EXPECT_EQ(client.data.find("HTTP/1.1"), std::string::npos);
  EXPECT_EQ(worker_->sessionCount(), 0u);
}

TEST_F(TlsSessionTest, ReloadedCertificatesServeNewConnections) {
  certs_.make("a", "a.example.test", "a-renewed");
  auto fresh = reloadTlsStore(store_);
  ASSERT_TRUE(fresh.ok());
  ASSERT_NE(fresh->get(), store_.get());
  worker_->setTlsStore(*fresh);
  EXPECT_NE(curl("a.example.test", "/").find("CN=a-renewed"), std::string::npos);
}

}  // namespace
}  // namespace corral::proxy
