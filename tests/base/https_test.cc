// HTTPS in base/: the HTTP server with a server context (--tls-cert/--tls-key)
// and the HTTP client with a client context (--ca-file), on loopback with
// certificates made by the openssl command at test time (tests/base/test_ca.h).
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <fstream>
#include <optional>

#include "base/http_client.h"
#include "base/http_server.h"
#include "base/sse.h"
#include "base/tls/tls_context.h"
#include "tests/base/test_ca.h"

namespace corral::http {
namespace {

using test::TestCa;

class HttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TestCa::Server cert = ca_.issue("server", "127.0.0.1");
    auto ctx = tls::loadServerContext(cert.certFile, cert.keyFile);
    ASSERT_TRUE(ctx.ok()) << ctx.error().message;
    ServerOptions options;
    options.tls = *ctx;
    server_ = std::make_unique<Server>(
        loop_,
        [this](Request& req, std::shared_ptr<Exchange> ex) {
          ++requests_;
          if (req.path == "/stream") {
            ex->startStream(200, {{"Content-Type", "text/event-stream"}});
            ex->write(sse::format("1", "hello", "{}"));
            ex->end();
            return;
          }
          ex->respond(Response::text(200, "secret for " + req.method + " " + req.path + "\n"));
        },
        options);
    auto port = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
  }
  void TearDown() override { server_->close(); }

  Result<Response> get(const std::string& target, std::shared_ptr<const tls::Context> ctx,
                       const std::string& host = "127.0.0.1") {
    Request req;
    req.target = target;
    std::optional<Result<Response>> out;
    CancelHandle h = fetch(
        loop_, host, port_, req, [&](Result<Response> r) { out = std::move(r); },
        ClientOptions{.timeoutMs = 5000, .tls = std::move(ctx)});
    loop_.runUntil([&] { return out.has_value(); }, 7000);
    if (!out) return makeError(ErrorKind::kUnavailable, "no answer");
    return std::move(*out);
  }

  tls::ContextPtr clientFor(const TestCa& ca) {
    auto ctx = tls::loadClientContext(ca.caFile());
    EXPECT_TRUE(ctx.ok()) << ctx.error().message;
    return ctx.ok() ? *ctx : nullptr;
  }

  TestCa ca_;
  Loop loop_;
  std::unique_ptr<Server> server_;
  int port_ = 0;
  int requests_ = 0;
};

TEST_F(HttpsTest, ServesOverTlsToAClientTrustingItsCa) {
  auto r = get("/v2/apps", clientFor(ca_));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "secret for GET /v2/apps\n");
  // Several in a row: each its own connection and handshake.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(get("/x", clientFor(ca_))->status, 200);
  EXPECT_EQ(requests_, 4);
}

TEST_F(HttpsTest, StreamsOverTls) {
  Request req;
  req.target = "/stream";
  std::string body;
  bool ended = false;
  Status end = Status::Ok();
  CancelHandle h = openStream(loop_, "127.0.0.1", port_, req,
                              StreamCallbacks{.onHead = [](const Response&) {},
                                              .onData = [&](std::string_view d) { body += d; },
                                              .onEnd =
                                                  [&](Status st) {
                                                    end = st;
                                                    ended = true;
                                                  }},
                              ClientOptions{.timeoutMs = 5000, .tls = clientFor(ca_)});
  ASSERT_TRUE(loop_.runUntil([&] { return ended; }, 7000));
  EXPECT_TRUE(end.ok()) << end.error().message;
  EXPECT_NE(body.find("event: hello"), std::string::npos) << body;
}

TEST_F(HttpsTest, AnotherCaIsRefusedBeforeAnyRequest) {
  TestCa other;
  auto r = get("/v2/apps", clientFor(other));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("certificate cannot be verified"), std::string::npos)
      << r.error().message;
  loop_.runUntil([] { return false; }, 100);
  EXPECT_EQ(requests_, 0);
}

TEST_F(HttpsTest, ACertificateForAnotherAddressIsRefused) {
  // The certificate names 127.0.0.1; the client dialled "localhost".
  auto r = get("/v2/apps", clientFor(ca_), "localhost");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot be verified"), std::string::npos) << r.error().message;
  EXPECT_EQ(requests_, 0);
}

TEST_F(HttpsTest, PlainHttpToTheTlsPortIsAnswered400InPlainText) {
  auto r = get("/v2/apps", nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("use https://"), std::string::npos) << r->body;
  EXPECT_EQ(requests_, 0);
}

TEST_F(HttpsTest, Tls11IsRefused) {
  SSL_CTX* raw = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_min_proto_version(raw, TLS1_1_VERSION);
  SSL_CTX_set_max_proto_version(raw, TLS1_1_VERSION);
  SSL_CTX_load_verify_locations(raw, ca_.caFile().c_str(), nullptr);
  auto r = get("/v2/apps", std::make_shared<const tls::Context>(raw));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("TLS handshake failed"), std::string::npos) << r.error().message;
  EXPECT_EQ(requests_, 0);
}

TEST_F(HttpsTest, GarbageInsteadOfAHandshakeClosesTheConnection) {
  // A binary first byte is taken for TLS; the failed handshake closes.
  Request req;
  std::optional<Result<Response>> out;
  req.method = "\x16\x03\x01";
  CancelHandle h = fetch(
      loop_, "127.0.0.1", port_, req, [&](Result<Response> x) { out = std::move(x); },
      ClientOptions{.timeoutMs = 3000, .tls = nullptr});
  ASSERT_TRUE(loop_.runUntil([&] { return out.has_value(); }, 5000));
  EXPECT_FALSE(out->ok());
  EXPECT_EQ(requests_, 0);
}

// --- configuration errors: each names the flag and the file ---

class TlsConfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    std::string path = ca_.dir() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  TestCa ca_;
};

TEST_F(TlsConfigTest, MissingCertificateFile) {
  auto s = ca_.issue("s", "127.0.0.1");
  auto ctx = tls::loadServerContext("/nonexistent/cert.pem", s.keyFile);
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(ctx.error().message,
            "--tls-cert /nonexistent/cert.pem: cannot read: No such file or directory");
}

TEST_F(TlsConfigTest, MissingKeyFile) {
  auto s = ca_.issue("s", "127.0.0.1");
  auto ctx = tls::loadServerContext(s.certFile, "/nonexistent/key.pem");
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.error().message.find("--tls-key /nonexistent/key.pem: cannot read"),
            std::string::npos)
      << ctx.error().message;
}

TEST_F(TlsConfigTest, NoCertificateInTheFile) {
  auto s = ca_.issue("s", "127.0.0.1");
  auto ctx = tls::loadServerContext(write("junk.pem", "not a certificate\n"), s.keyFile);
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(ctx.error().message.find("no PEM certificate"), std::string::npos)
      << ctx.error().message;
}

TEST_F(TlsConfigTest, NoKeyInTheKeyFile) {
  auto s = ca_.issue("s", "127.0.0.1");
  auto ctx = tls::loadServerContext(s.certFile, s.certFile);
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.error().message.find("no PEM private key"), std::string::npos)
      << ctx.error().message;
}

TEST_F(TlsConfigTest, KeyOfAnotherCertificate) {
  auto a = ca_.issue("a", "127.0.0.1");
  auto b = ca_.issue("b", "127.0.0.1");
  auto ctx = tls::loadServerContext(a.certFile, b.keyFile);
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.error().message.find("does not match"), std::string::npos) << ctx.error().message;
}

TEST_F(TlsConfigTest, CaFileErrors) {
  auto missing = tls::loadClientContext("/nonexistent/ca.pem");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(missing.error().message.find("--ca-file /nonexistent/ca.pem: cannot read"),
            std::string::npos);
  auto junk = tls::loadClientContext(write("junk-ca.pem", "hello\n"));
  ASSERT_FALSE(junk.ok());
  EXPECT_NE(junk.error().message.find("no PEM CA certificate"), std::string::npos)
      << junk.error().message;
  EXPECT_TRUE(tls::loadClientContext(ca_.caFile()).ok());
  EXPECT_TRUE(tls::loadClientContext("").ok());  // the system store
}

TEST(Endpoint, Parses) {
  auto e = parseEndpoint("https://10.0.0.1:8443/", 8080);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->https);
  EXPECT_EQ(e->host, "10.0.0.1");
  EXPECT_EQ(e->port, 8443);
  EXPECT_EQ(e->hostPort(), "10.0.0.1:8443");
  e = parseEndpoint("http://master", 8080);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->https);
  EXPECT_EQ(e->port, 8080);
  e = parseEndpoint("127.0.0.1:9", 8080);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->https);
  EXPECT_EQ(parseEndpoint("https://[::1]:8443", 8080)->hostPort(), "[::1]:8443");
  for (const char* bad : {"ftp://x:1", "https://", "https://h:99999", "h:port", ""}) {
    auto r = parseEndpoint(bad, 8080);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
    }
  }
}

}  // namespace
}  // namespace corral::http
