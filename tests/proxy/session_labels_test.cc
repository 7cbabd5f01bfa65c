// The label features the session enforces per route: REDIRECT_TO_HTTPS,
// BACKEND_NETWORK_ALLOWED_ACL, AUTH and the sticky cookie; and the Basic
// credential check on its own. HSTS (TLS only) is in tls_session_test.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/http_server.h"
#include "conf/proxy_labels.h"
#include "proxy/basic_auth.h"
#include "proxy/proxy_worker.h"
#include "tests/proxy/test_peer.h"

namespace corral::proxy {
namespace {

using test::TestPeer;

// Hashes of "s3cret" made with `openssl passwd -6/-5/-1 -salt corralsalt`.
constexpr const char* kSha512 =
    "$6$corralsalt$FYYxoj.mcqs0VjgLRgpdnVb6O6D."
    "KrgnymG3yOrYmnaC81cHlD7rNCzEFb9B8SNEDCFKHzDj5ebGOTmSS"
    "SVxg1";
constexpr const char* kSha256 = "$5$corralsalt$ln7IWtUoWE6HRXc9WMoS5RHAknRJy0qWYiufOqp/c92";
constexpr const char* kMd5 = "$1$corralsa$TxQqZ69yyfpciYcvIm2.F1";
constexpr const char* kAliceRight = "Basic YWxpY2U6czNjcmV0";  // alice:s3cret
constexpr const char* kAliceWrong = "Basic YWxpY2U6d3Jvbmc=";  // alice:wrong
constexpr const char* kBob = "Basic Ym9iOnMzY3JldA==";         // bob:s3cret
constexpr const char* kNoColon = "Basic YWxpY2U=";             // alice

conf::BasicAuth auth(const char* hash) { return conf::BasicAuth{"shop", "alice", hash}; }

TEST(BasicAuth, AcceptsTheRightPasswordInEachHashFormat) {
  for (const char* hash : {kSha512, kSha256, kMd5}) {
    EXPECT_EQ(checkBasicAuth(kAliceRight, auth(hash)), AuthResult::kOk) << hash;
    EXPECT_EQ(checkBasicAuth(kAliceWrong, auth(hash)), AuthResult::kWrongPassword) << hash;
  }
  EXPECT_EQ(checkBasicAuth("basic   YWxpY2U6czNjcmV0 ", auth(kSha512)), AuthResult::kOk);
}

TEST(BasicAuth, RefusesEverythingElse) {
  EXPECT_EQ(checkBasicAuth("", auth(kSha512)), AuthResult::kMissing);
  EXPECT_EQ(checkBasicAuth(kBob, auth(kSha512)), AuthResult::kWrongUser);
  EXPECT_EQ(checkBasicAuth(kNoColon, auth(kSha512)), AuthResult::kMalformed);
  EXPECT_EQ(checkBasicAuth("Bearer abc", auth(kSha512)), AuthResult::kMalformed);
  EXPECT_EQ(checkBasicAuth("Basic ", auth(kSha512)), AuthResult::kMalformed);
  EXPECT_EQ(checkBasicAuth("Basic !!!not-base64", auth(kSha512)), AuthResult::kMalformed);
  // A hash crypt(3) does not know, or plain text where a hash belongs.
  EXPECT_EQ(checkBasicAuth(kAliceRight, auth("$9$x$y")), AuthResult::kWrongPassword);
  EXPECT_EQ(checkBasicAuth(kAliceRight, auth("s3cret")), AuthResult::kWrongPassword);
  EXPECT_EQ(checkBasicAuth(kAliceRight, auth("")), AuthResult::kWrongPassword);
}

// One task; optionally sets a sticky cookie value on every pick.
class StickyPicker : public PeerPicker {
 public:
  explicit StickyPicker(int port) {
    peer_.id = 1;
    uv_ip4_addr("127.0.0.1", port, reinterpret_cast<sockaddr_in*>(&peer_.address));
  }
  const Peer* pick(const PickContext& ctx) override {
    if (ctx.wasTried(peer_.id)) return nullptr;
    if (!cookie.empty() && ctx.setCookie != nullptr) *ctx.setCookie = cookie;
    return &peer_;
  }
  void release(const Peer&, PeerOutcome) override {}
  std::string cookie;

 private:
  Peer peer_;
};

class LabelRoutes : public RouteLookup {
 public:
  bool lookup(const http::RequestHead&, RouteDecision* out) override {
    *out = decision;
    out->picker = picker.get();
    return true;
  }
  std::unique_ptr<StickyPicker> picker;
  RouteDecision decision;
};

class SessionLabelsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<http::Server>(loop_, [this](http::Request& req, auto ex) {
      ++taskRequests_;
      std::string body = req.method + " " + req.target + "\n";
      for (auto& [k, v] : req.headers) body += k + ": " + v + "\n";
      ex->respond(http::Response::text(200, body));
    });
    auto taskPort = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(taskPort.ok());
    routes_.picker = std::make_unique<StickyPicker>(*taskPort);
    worker_ = std::make_unique<ProxyWorker>(loop_, routes_, WorkerOptions{});
    auto port = worker_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok());
    port_ = *port;
  }
  void TearDown() override {
    worker_.reset();
    server_.reset();
    loop_.runUntil([] { return false; }, 30);
  }
  // One request on a fresh connection; the whole answer.
  std::string get(const std::string& headers) {
    TestPeer client(loop_, port_);
    EXPECT_TRUE(loop_.runUntil([&] { return client.connected; }, 5000));
    client.write("GET /cart?x=1 HTTP/1.1\r\nHost: shop.test:8000\r\n" + headers +
                 "Connection: close\r\n\r\n");
    EXPECT_TRUE(loop_.runUntil([&] { return client.eof || client.error != 0; }, 5000));
    return client.data;
  }

  Loop loop_;
  LabelRoutes routes_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<ProxyWorker> worker_;
  int port_ = 0;
  int taskRequests_ = 0;
};

TEST_F(SessionLabelsTest, RedirectToHttpsAnswers301WithoutTheTask) {
  routes_.decision.flags = RouteDecision::kRedirectToHttps;
  std::string out = get("");
  EXPECT_EQ(out.substr(0, 30), "HTTP/1.1 301 Moved Permanently");
  EXPECT_NE(out.find("\r\nLocation: https://shop.test/cart?x=1\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("X-Corral-Error"), std::string::npos);
  EXPECT_EQ(taskRequests_, 0);
}

TEST_F(SessionLabelsTest, WithoutRedirectThePlainRequestIsServed) {
  std::string out = get("");
  EXPECT_EQ(out.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(out.find("Strict-Transport-Security"), std::string::npos);
}

TEST_F(SessionLabelsTest, HstsIsNeverSentOverPlainHttp) {
  routes_.decision.flags = RouteDecision::kHsts;
  std::string out = get("");
  EXPECT_EQ(out.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(out.find("Strict-Transport-Security"), std::string::npos);
}

TEST_F(SessionLabelsTest, ClientsOutsideTheAllowedNetworksGet403) {
  std::vector<conf::Cidr> networks = {*conf::parseCidr("10.0.0.0/8"), *conf::parseCidr("fd00::/8")};
  routes_.decision.allowedNetworks = &networks;
  std::string out = get("");
  EXPECT_EQ(out.substr(0, 22), "HTTP/1.1 403 Forbidden");
  EXPECT_NE(out.find("X-Corral-Error: forbidden"), std::string::npos);
  EXPECT_EQ(taskRequests_, 0);

  networks.push_back(*conf::parseCidr("127.0.0.0/8"));
  EXPECT_EQ(get("").substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(taskRequests_, 1);
}

TEST_F(SessionLabelsTest, AuthAsksForCredentialsAndChecksThem) {
  conf::BasicAuth basic = auth(kSha512);
  routes_.decision.auth = &basic;
  for (std::string header : {std::string(), std::string("Authorization: ") + kAliceWrong + "\r\n",
                             std::string("Authorization: ") + kBob + "\r\n",
                             std::string("Authorization: Basic zz\r\n")}) {
    std::string out = get(header);
    EXPECT_EQ(out.substr(0, 25), "HTTP/1.1 401 Unauthorized") << header;
    EXPECT_NE(out.find("\r\nWWW-Authenticate: Basic realm=\"shop\"\r\n"), std::string::npos);
  }
  EXPECT_EQ(taskRequests_, 0);
  std::string out = get(std::string("Authorization: ") + kAliceRight + "\r\n");
  EXPECT_EQ(out.substr(0, 15), "HTTP/1.1 200 OK") << out;
  EXPECT_EQ(taskRequests_, 1);
}

TEST_F(SessionLabelsTest, StickyPickSetsTheCookieOnTheResponse) {
  std::string out = get("");
  EXPECT_EQ(out.find("Set-Cookie"), std::string::npos);
  routes_.picker->cookie = "00000000deadbeef";
  out = get("");
  EXPECT_NE(out.find("\r\nSet-Cookie: mesosphere_server_id=00000000deadbeef; path=/\r\n"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace corral::proxy
