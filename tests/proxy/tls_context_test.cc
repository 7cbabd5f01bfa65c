// TlsStore and TlsStream: certificates by SNI (exact, wildcard, default),
// ALPN, protocol floor, reload on change, and precise errors for bad files.
// A BoringSSL client talks to the server stream over memory BIOs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/tls/tls_stream.h"
#include "proxy/tls_context.h"
#include "tests/proxy/tls_test_certs.h"

namespace corral::proxy {
namespace {

using test::CertDir;
using tls::TlsStream;

// A BoringSSL client over memory BIOs.
class TestClient {
 public:
  explicit TestClient(const char* sni, const char* alpn = "http/1.1",
                      uint16_t maxVersion = TLS1_3_VERSION) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx_, maxVersion);
    SSL_CTX_set_min_proto_version(ctx_, TLS1_VERSION);
    ssl_ = SSL_new(ctx_);
    BIO* in = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(ssl_, in, BIO_new(BIO_s_mem()));
    SSL_set_connect_state(ssl_);
    if (sni != nullptr) SSL_set_tlsext_host_name(ssl_, sni);
    if (alpn != nullptr) {
      std::string wire(1, static_cast<char>(std::strlen(alpn)));
      wire += alpn;
      SSL_set_alpn_protos(ssl_, reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
    }
  }
  ~TestClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }

  // Runs the handshake against `server` in memory; true when both finish.
  bool handshake(TlsStream& server) {
    for (int round = 0; round < 10; ++round) {
      int rc = SSL_do_handshake(ssl_);
      int clientError = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl_, rc);
      pushTo(server);
      char buf[64];
      size_t n = 0;
      auto status = server.readPlain(buf, sizeof(buf), &n);
      pullFrom(server);
      if (status == TlsStream::ReadStatus::kError) {
        SSL_do_handshake(ssl_);  // takes the alert
        ERR_clear_error();
        return false;
      }
      if (rc == 1 && server.handshakeDone()) return true;
      if (clientError != SSL_ERROR_NONE && clientError != SSL_ERROR_WANT_READ) {
        char err[256];
        ERR_error_string_n(ERR_peek_last_error(), err, sizeof(err));
        ADD_FAILURE() << "client: " << err;
        ERR_clear_error();
        return false;
      }
    }
    return false;
  }
  void pushTo(TlsStream& server) {
    BIO* out = SSL_get_wbio(ssl_);
    const uint8_t* data = nullptr;
    size_t len = 0;
    BIO_mem_contents(out, &data, &len);
    server.feedEncrypted(std::string_view(reinterpret_cast<const char*>(data), len));
    BIO_reset(out);
  }
  void pullFrom(TlsStream& server) {
    std::string bytes = server.takeEncrypted();
    BIO_write(SSL_get_rbio(ssl_), bytes.data(), static_cast<int>(bytes.size()));
  }
  // The DNS SANs of the certificate the server presented.
  std::string servedSans() {
    bssl::UniquePtr<X509> cert(SSL_get_peer_certificate(ssl_));
    if (!cert) return "";
    std::string out;
    auto* sans = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
    for (size_t i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      if (!out.empty()) out += ",";
      out.append(reinterpret_cast<const char*>(ASN1_STRING_get0_data(name->d.dNSName)),
                 ASN1_STRING_length(name->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
    return out;
  }
  std::string alpn() {
    const uint8_t* data = nullptr;
    unsigned len = 0;
    SSL_get0_alpn_selected(ssl_, &data, &len);
    return std::string(reinterpret_cast<const char*>(data), len);
  }
  SSL* ssl() { return ssl_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
};

class TlsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    defaultPem_ = certs_.make("default", "default.test");
    aPem_ = certs_.make("a", "a.example.test");
    bPem_ = certs_.make("b", "b.example.test,*.wild.test");
    auto store = TlsStore::build(TlsConfig{{defaultPem_, aPem_, bPem_}, ""});
    ASSERT_TRUE(store.ok()) << store.error().message;
    store_ = *store;
  }

  std::string servedFor(const char* sni) {
    TlsStream server(TlsStream::Role::kServer, store_->defaultContext(), store_);
    TestClient client(sni);
    if (!client.handshake(server)) return "handshake failed: " + server.error();
    return client.servedSans();
  }

  CertDir certs_;
  std::string defaultPem_, aPem_, bPem_;
  TlsStorePtr store_;
};

TEST_F(TlsStoreTest, ServesTheCertificateOfEachSniName) {
  EXPECT_EQ(servedFor("a.example.test"), "a.example.test");
  EXPECT_EQ(servedFor("b.example.test"), "b.example.test,*.wild.test");
  EXPECT_EQ(servedFor("A.Example.Test"), "a.example.test");  // names are case-insensitive
}

TEST_F(TlsStoreTest, WildcardCoversOneLabel) {
  EXPECT_EQ(servedFor("x.wild.test"), "b.example.test,*.wild.test");
  EXPECT_EQ(servedFor("y.x.wild.test"), "default.test");
  EXPECT_EQ(servedFor("wild.test"), "default.test");
}

TEST_F(TlsStoreTest, DefaultCertificateWithoutOrForUnknownSni) {
  EXPECT_EQ(servedFor(nullptr), "default.test");
  EXPECT_EQ(servedFor("other.test"), "default.test");
}

TEST_F(TlsStoreTest, NamesComeFromSans) {
  ASSERT_EQ(store_->certificates().size(), 3u);
  EXPECT_EQ(store_->certificates()[2].names,
            (std::vector<std::string>{"b.example.test", "*.wild.test"}));
}

TEST_F(TlsStoreTest, CommonNameWhenNoSans) {
  std::string pem = certs_.make("cn", "", "cn.example.test");
  auto store = TlsStore::build(TlsConfig{{defaultPem_, pem}, ""});
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ((*store)->certificates()[1].names, std::vector<std::string>{"cn.example.test"});
  EXPECT_NE((*store)->select("cn.example.test"), (*store)->defaultContext());
}

TEST_F(TlsStoreTest, NegotiatesHttp11AndCarriesData) {
  TlsStream server(TlsStream::Role::kServer, store_->defaultContext(), store_);
  TestClient client("a.example.test");
  ASSERT_TRUE(client.handshake(server)) << server.error();
  EXPECT_EQ(client.alpn(), "http/1.1");
  EXPECT_EQ(server.alpn(), "http/1.1");
  EXPECT_EQ(server.serverName(), "a.example.test");

  ASSERT_EQ(SSL_write(client.ssl(), "GET / HTTP/1.1\r\n", 16), 16);
  client.pushTo(server);
  char buf[64];
  size_t n = 0;
  ASSERT_EQ(server.readPlain(buf, sizeof(buf), &n), TlsStream::ReadStatus::kData);
  EXPECT_EQ(std::string(buf, n), "GET / HTTP/1.1\r\n");
  EXPECT_EQ(server.readPlain(buf, sizeof(buf), &n), TlsStream::ReadStatus::kNeedMore);

  ASSERT_TRUE(server.writePlain("HTTP/1.1 200 OK\r\n"));
  client.pullFrom(server);
  int got = SSL_read(client.ssl(), buf, sizeof(buf));
  ASSERT_GT(got, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(got)), "HTTP/1.1 200 OK\r\n");

  SSL_shutdown(client.ssl());
  client.pushTo(server);
  EXPECT_EQ(server.readPlain(buf, sizeof(buf), &n), TlsStream::ReadStatus::kClosed);
}

TEST_F(TlsStoreTest, RefusesClientsOfferingOnlyOtherProtocols) {
  TlsStream server(TlsStream::Role::kServer, store_->defaultContext(), store_);
  TestClient client("a.example.test", "h2");
  EXPECT_FALSE(client.handshake(server));
  EXPECT_NE(server.error().find("handshake"), std::string::npos) << server.error();
}

TEST_F(TlsStoreTest, RefusesTls11) {
  TlsStream server(TlsStream::Role::kServer, store_->defaultContext(), store_);
  TestClient client("a.example.test", "http/1.1", TLS1_1_VERSION);
  EXPECT_FALSE(client.handshake(server));
  EXPECT_FALSE(server.handshakeDone());
}

TEST_F(TlsStoreTest, GarbageIsAHandshakeError) {
  TlsStream server(TlsStream::Role::kServer, store_->defaultContext(), store_);
  server.feedEncrypted("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
  char buf[16];
  size_t n = 0;
  EXPECT_EQ(server.readPlain(buf, sizeof(buf), &n), TlsStream::ReadStatus::kError);
  EXPECT_NE(server.error().find("TLS handshake failed"), std::string::npos);
}

TEST_F(TlsStoreTest, ReloadKeepsTheStoreUntilAFileChanges) {
  auto same = reloadTlsStore(store_);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->get(), store_.get());

  // Replace a.pem with a certificate for another name (new mtime).
  std::string replacement = certs_.make("a2", "a-new.example.test");
  std::filesystem::rename(replacement, aPem_);
  struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
  times[1].tv_sec = time(nullptr) + 5;
  times[1].tv_nsec = 0;
  ::utimensat(AT_FDCWD, aPem_.c_str(), times, 0);
  EXPECT_TRUE(store_->changedOnDisk());
  auto fresh = reloadTlsStore(store_);
  ASSERT_TRUE(fresh.ok()) << fresh.error().message;
  EXPECT_NE(fresh->get(), store_.get());
  store_ = *fresh;
  EXPECT_EQ(servedFor("a-new.example.test"), "a-new.example.test");
  EXPECT_EQ(servedFor("a.example.test"), "default.test");
}

TEST_F(TlsStoreTest, ReloadOfABrokenFileKeepsServingTheOldStore) {
  std::ofstream(aPem_, std::ios::trunc) << "not a certificate\n";
  auto fresh = reloadTlsStore(store_);
  ASSERT_FALSE(fresh.ok());
  EXPECT_NE(fresh.error().message.find(aPem_), std::string::npos);
  EXPECT_EQ(servedFor("a.example.test"), "a.example.test");  // the old store still serves
}

TEST(TlsStoreErrors, MissingFile) {
  auto store = TlsStore::build(TlsConfig{{"/nonexistent/corral.pem"}, ""});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().message,
            "TLS certificate /nonexistent/corral.pem: cannot read: No such file or directory");
}

TEST(TlsStoreErrors, NoCertificates) {
  auto store = TlsStore::build(TlsConfig{});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().message, "TLS: no certificate files configured");
}

TEST(TlsStoreErrors, NotPem) {
  CertDir dir;
  std::string path = dir.path() + "/junk.pem";
  std::ofstream(path) << "hello\n";
  auto store = TlsStore::build(TlsConfig{{path}, ""});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find(path + ": no PEM certificate in the file"),
            std::string::npos)
      << store.error().message;
}

TEST(TlsStoreErrors, CertificateWithoutKey) {
  CertDir dir;
  std::string pem = dir.make("k", "k.test");
  std::string text = CertDir::slurp(pem);
  std::string certOnly = text.substr(0, text.find("-----BEGIN PRIVATE KEY"));
  std::ofstream(pem, std::ios::trunc) << certOnly;
  auto store = TlsStore::build(TlsConfig{{pem}, ""});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("no PEM private key"), std::string::npos)
      << store.error().message;
}

TEST(TlsStoreErrors, KeyOfAnotherCertificate) {
  CertDir dir;
  std::string one = CertDir::slurp(dir.make("one", "one.test"));
  std::string two = CertDir::slurp(dir.make("two", "two.test"));
  std::string mixed = dir.path() + "/mixed.pem";
  std::ofstream(mixed) << one.substr(0, one.find("-----BEGIN PRIVATE KEY"))
                       << two.substr(two.find("-----BEGIN PRIVATE KEY"));
  auto store = TlsStore::build(TlsConfig{{mixed}, ""});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("does not match"), std::string::npos)
      << store.error().message;
}

TEST(TlsStoreErrors, MissingCertDir) {
  auto store = TlsStore::build(TlsConfig{{}, "/nonexistent-corral-certs"});
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message.find("/nonexistent-corral-certs: cannot open"),
            std::string::npos);
}

TEST(TlsCertDir, PemFilesSortedAfterExplicitOnes) {
  CertDir dir;
  std::string b = dir.make("b", "b.test");
  std::string a = dir.make("a", "a.test");
  std::ofstream(dir.path() + "/notes.txt") << "ignored";
  auto paths = tlsCertPaths(TlsConfig{{b}, dir.path()});
  ASSERT_TRUE(paths.ok());
  EXPECT_EQ(*paths, (std::vector<std::string>{b, a}));
  auto store = TlsStore::build(TlsConfig{{}, dir.path()});
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ((*store)->certificates().front().path, a);  // first in the directory: default
}

TEST(TlsCertDir, NewFileInTheDirectoryIsAChange) {
  CertDir dir;
  dir.make("a", "a.test");
  auto store = TlsStore::build(TlsConfig{{}, dir.path()});
  ASSERT_TRUE(store.ok());
  EXPECT_FALSE((*store)->changedOnDisk());
  dir.make("b", "b.test");
  EXPECT_TRUE((*store)->changedOnDisk());
  auto fresh = reloadTlsStore(*store);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)->certificates().size(), 2u);
}

}  // namespace
}  // namespace corral::proxy
