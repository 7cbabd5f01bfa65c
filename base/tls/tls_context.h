// The one BoringSSL setup every TLS endpoint of corral shares: the proxy's
// HTTPS listener, the master's API (--tls-cert/--tls-key) and the clients
// that talk to a master over https:// (agents, corral dns/proxy, the CLI).
//
// Every context speaks TLS 1.2 and 1.3 only, with forward-secret key
// exchange and AEAD ciphers only (AES-GCM, ChaCha20-Poly1305), and ALPN
// http/1.1. A client context verifies the server's certificate against a CA
// file (or the system store) and, per connection, the name or IP address it
// dialled (tls_stream.h).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/result.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace corral::tls {

// One SSL_CTX, freed with this object. Shared (shared_ptr<const Context>)
// by every connection that uses it; a connection keeps it alive until it ends.
class Context {
 public:
  explicit Context(SSL_CTX* ctx) : ctx_(ctx) {}
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  SSL_CTX* raw() const { return ctx_; }

 private:
  SSL_CTX* ctx_;
};

using ContextPtr = std::shared_ptr<const Context>;

// The last BoringSSL error as text ("" when none); clears the queue.
std::string lastError();

// A whole file's bytes; the error names `what` and the path.
Result<std::string> readFileText(const std::string& what, const std::string& path);

// A new server SSL_CTX (owned by the caller) serving the certificate chain of
// `certPem` (leaf first, intermediates after) and the unencrypted private key
// of `keyPem` (both may be the same text). Errors are kInvalid and start with
// `label`, naming what is wrong (no certificate, no key, key mismatch).
Result<SSL_CTX*> newServerContext(std::string_view certPem, std::string_view keyPem,
                                  const std::string& label);

// Server context from --tls-cert and --tls-key files.
Result<ContextPtr> loadServerContext(const std::string& certFile, const std::string& keyFile);

// Client context that trusts the CAs of `caFile` (PEM, one or more
// certificates), or the system's CA store when caFile is "".
Result<ContextPtr> loadClientContext(const std::string& caFile);

}  // namespace corral::tls
