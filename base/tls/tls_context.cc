#include "base/tls/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace corral::tls {

namespace {

// TLS 1.2 suites: forward secret key exchange and AEAD only. TLS 1.3 suites
// are all AEAD and not configurable in BoringSSL.
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// Where Debian-family systems keep the CA bundle; used when BoringSSL's
// compiled-in default paths hold none.
constexpr const char* kSystemCaBundle = "/etc/ssl/certs/ca-certificates.crt";

int selectAlpn(SSL*, const uint8_t** out, uint8_t* outLen, const uint8_t* in, unsigned inLen,
               void*) {
  static constexpr uint8_t kHttp11[] = {'h', 't', 't', 'p', '/', '1', '.', '1'};
  // The client's list: length-prefixed protocol names.
  for (unsigned i = 0; i < inLen;) {
    unsigned len = in[i];
    if (i + 1 + len > inLen) break;
    if (len == sizeof(kHttp11) && std::memcmp(in + i + 1, kHttp11, len) == 0) {
      *out = in + i + 1;
      *outLen = static_cast<uint8_t>(len);
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + len;
  }
  // Only HTTP/1.1 is spoken: a client that offers only other protocols is
  // told so (RFC 7301 no_application_protocol) rather than misunderstood.
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// TLS 1.2+ and the AEAD suites, on either side.
bool restrictProtocols(SSL_CTX* ctx) {
  return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
         SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
         SSL_CTX_set_strict_cipher_list(ctx, kCiphers) == 1;
}

}  // namespace

Context::~Context() { SSL_CTX_free(ctx_); }

std::string lastError() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

Result<std::string> readFileText(const std::string& what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return makeError(ErrorKind::kInvalid,
                     what + " " + path + ": cannot read: " + std::strerror(errno));
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Result<SSL_CTX*> newServerContext(std::string_view certPem, std::string_view keyPem,
                                  const std::string& label) {
  auto fail = [&](std::string what) -> Error {
    std::string detail = lastError();
    return makeError(ErrorKind::kInvalid,
                     label + ": " + what + (detail.empty() ? "" : " (" + detail + ")"));
  };
  ERR_clear_error();
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return fail("cannot create a TLS context");
  bssl::UniquePtr<BIO> certs(BIO_new_mem_buf(certPem.data(), static_cast<int>(certPem.size())));
  bssl::UniquePtr<X509> leaf(PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr));
  if (!leaf) return fail("no PEM certificate in the file");
  if (SSL_CTX_use_certificate(ctx.get(), leaf.get()) != 1) return fail("certificate refused");
  // The intermediates that follow the leaf.
  for (;;) {
    bssl::UniquePtr<X509> next(PEM_read_bio_X509(certs.get(), nullptr, nullptr, nullptr));
    if (!next) break;
    if (SSL_CTX_add1_chain_cert(ctx.get(), next.get()) != 1) {
      return fail("chain certificate refused");
    }
  }
  ERR_clear_error();  // the end of the certificates reads as an error
  bssl::UniquePtr<BIO> keys(BIO_new_mem_buf(keyPem.data(), static_cast<int>(keyPem.size())));
  bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(keys.get(), nullptr, nullptr, nullptr));
  if (!key) return fail("no PEM private key in the file (it must be unencrypted)");
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return fail("the private key does not match the certificate");
  }
  if (!restrictProtocols(ctx.get())) return fail("cannot restrict protocol versions and ciphers");
  SSL_CTX_set_alpn_select_cb(ctx.get(), selectAlpn, nullptr);
  return ctx.release();
}

Result<ContextPtr> loadServerContext(const std::string& certFile, const std::string& keyFile) {
  auto cert = readFileText("--tls-cert", certFile);
  if (!cert) return cert.error();
  auto key = readFileText("--tls-key", keyFile);
  if (!key) return key.error();
  auto ctx = newServerContext(*cert, *key, "--tls-cert " + certFile + " / --tls-key " + keyFile);
  if (!ctx) return ctx.error();
  return std::make_shared<const Context>(*ctx);
}

Result<ContextPtr> loadClientContext(const std::string& caFile) {
  ERR_clear_error();
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx || !restrictProtocols(ctx.get())) {
    return makeError(ErrorKind::kInvalid, "cannot create a TLS client context: " + lastError());
  }
  if (!caFile.empty()) {
    // Read first: a missing file gets the system's words, not BoringSSL's.
    auto text = readFileText("--ca-file", caFile);
    if (!text) return text.error();
    if (SSL_CTX_load_verify_locations(ctx.get(), caFile.c_str(), nullptr) != 1) {
      return makeError(
          ErrorKind::kInvalid,
          "--ca-file " + caFile + ": no PEM CA certificate in it (" + lastError() + ")");
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx.get());
    if (::access(kSystemCaBundle, R_OK) == 0) {
      SSL_CTX_load_verify_locations(ctx.get(), kSystemCaBundle, nullptr);
    }
    ERR_clear_error();
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  static constexpr uint8_t kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof(kAlpn));
  return std::make_shared<const Context>(ctx.release());
}

}  // namespace corral::tls
