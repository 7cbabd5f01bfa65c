#include "base/tls/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace corral::tls {

namespace {

std::string errorText(const char* what) {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  std::string out = what;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    out += ": ";
    out += buf;
  }
  return out;
}

}  // namespace

TlsStream::TlsStream(Role role, SSL_CTX* ctx, std::shared_ptr<const void> keep,
                     const std::string& peerName)
    : keep_(std::move(keep)), role_(role) {
  ssl_ = SSL_new(ctx);
  // Read side: bytes the peer sent; write side: bytes for the peer.
  // An empty read side means "more to come", not end of stream.
  BIO* in = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in, -1);
  SSL_set_bio(ssl_, in, BIO_new(BIO_s_mem()));
  if (role_ == Role::kServer) {
    SSL_set_accept_state(ssl_);
    return;
  }
  SSL_set_connect_state(ssl_);
  if (peerName.empty()) return;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
  // An address is checked against the certificate's IP SANs, a name against
  // its DNS SANs (and sent as SNI, which an address never is).
  if (X509_VERIFY_PARAM_set1_ip_asc(param, peerName.c_str()) != 1) {
    ERR_clear_error();
    X509_VERIFY_PARAM_set1_host(param, peerName.data(), peerName.size());
    SSL_set_tlsext_host_name(ssl_, peerName.c_str());
  }
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

void TlsStream::feedEncrypted(std::string_view bytes) {
  BIO_write(SSL_get_rbio(ssl_), bytes.data(), static_cast<int>(bytes.size()));
}

TlsStream::ReadStatus TlsStream::readPlain(char* out, size_t cap, size_t* n) {
  *n = 0;
  if (!error_.empty()) return ReadStatus::kError;
  int rc = SSL_read(ssl_, out, static_cast<int>(cap));
  if (rc > 0) {
    *n = static_cast<size_t>(rc);
    return ReadStatus::kData;
  }
  switch (SSL_get_error(ssl_, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
      return ReadStatus::kNeedMore;
    case SSL_ERROR_ZERO_RETURN:
      return ReadStatus::kClosed;
    default:
      // A certificate the client refused: say why in X.509's words.
      if (role_ == Role::kClient && !handshakeDone() &&
          ERR_GET_REASON(ERR_peek_last_error()) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
        ERR_clear_error();
        error_ = std::string("TLS: the server's certificate cannot be verified: ") +
                 X509_verify_cert_error_string(SSL_get_verify_result(ssl_));
      } else {
        error_ = errorText(handshakeDone() ? "TLS record error" : "TLS handshake failed");
      }
      return ReadStatus::kError;
  }
}

TlsStream::ReadStatus TlsStream::readAllPlain(std::string* out) {
  char buf[16 * 1024];
  for (;;) {
    size_t got = 0;
    ReadStatus status = readPlain(buf, sizeof(buf), &got);
    if (status != ReadStatus::kData) return status;
    out->append(buf, got);
  }
}

bool TlsStream::writePlain(std::string_view bytes) {
  if (!error_.empty()) return false;
  // Memory BIOs grow: a write never blocks partway.
  while (!bytes.empty()) {
    int rc = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
    if (rc <= 0) {
      error_ = errorText("TLS write failed");
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(rc));
  }
  return true;
}

void TlsStream::shutdown() {
  if (handshakeDone()) SSL_shutdown(ssl_);
}

std::string TlsStream::takeEncrypted() {
  BIO* out = SSL_get_wbio(ssl_);
  const uint8_t* data = nullptr;
  size_t len = 0;
  BIO_mem_contents(out, &data, &len);
  std::string bytes(reinterpret_cast<const char*>(data), len);
  BIO_reset(out);
  return bytes;
}

size_t TlsStream::pendingEncrypted() const { return BIO_pending(SSL_get_wbio(ssl_)); }

bool TlsStream::hasBuffered() const {
  return SSL_pending(ssl_) > 0 || BIO_pending(SSL_get_rbio(ssl_)) > 0;
}

bool TlsStream::handshakeDone() const { return SSL_is_init_finished(ssl_) == 1; }

std::string_view TlsStream::serverName() const {
  const char* name = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return name ? std::string_view(name) : std::string_view();
}

std::string_view TlsStream::alpn() const {
  const uint8_t* data = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(ssl_, &data, &len);
  return std::string_view(reinterpret_cast<const char*>(data), len);
}

}  // namespace corral::tls
