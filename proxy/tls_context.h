// TLS certificates for the proxy's HTTPS listener: one SSL_CTX per
// certificate file (PEM: leaf, chain, private key, as marathon-lb's
// HAPROXY_{n}_SSL_CERT and --cert-dir files are), gathered in an immutable
// TlsStore that maps server names (the certificate's DNS SANs, exact or
// "*.example.com" wildcards) to their context. The first certificate is the
// default, served to clients without SNI or with an unknown name.
//
// A store is built off the worker loops and shared as
// shared_ptr<const TlsStore>; a new TLS connection takes the current one
// and keeps it until it ends (the servername callback reads the store the
// connection started with). Certificates replaced on disk are picked up by
// reloadTlsStore, which rebuilds only when a file's mtime or size changed.
//
// Every context: TLS 1.2 and 1.3 only, ECDHE with AEAD ciphers only
// (AES-GCM, ChaCha20-Poly1305), ALPN http/1.1.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace corral::proxy {

struct TlsConfig {
  // Certificate files in order; the first is the default certificate.
  std::vector<std::string> certFiles;
  // Every regular "*.pem" file of this directory (sorted by name) follows
  // certFiles; "" = none.
  std::string certDir;
};

// One loaded certificate file.
struct TlsCertificate {
  std::string path;
  std::vector<std::string> names;  // lower case DNS names (SANs, else the CN)
  int64_t mtimeNs = 0;
  int64_t size = 0;
  SSL_CTX* ctx = nullptr;  // owned by the store
};

class TlsStore {
 public:
  // Loads every file of `config`; the first bad file is the error (the
  // message names the file and what is wrong with it).
  static Result<std::shared_ptr<const TlsStore>> build(const TlsConfig& config);

  ~TlsStore();
  TlsStore(const TlsStore&) = delete;
  TlsStore& operator=(const TlsStore&) = delete;

  // The context a handshake starts with; its servername callback switches
  // to the certificate for the client's SNI.
  SSL_CTX* defaultContext() const { return certs_.front().ctx; }
  // Exact name, then "*.parent" wildcard, then the default certificate.
  SSL_CTX* select(std::string_view serverName) const;
  const std::vector<TlsCertificate>& certificates() const { return certs_; }
  const TlsConfig& config() const { return config_; }
  // Whether any file of the config changed (mtime or size), appeared or went.
  bool changedOnDisk() const;

 private:
  TlsStore() = default;

  TlsConfig config_;
  std::vector<TlsCertificate> certs_;
  std::unordered_map<std::string, SSL_CTX*> byName_;  // exact and "*.x" names
};

using TlsStorePtr = std::shared_ptr<const TlsStore>;

// The store to use next: `current` itself when no file changed, a new store
// when files changed and all load, or the error (the caller keeps serving
// `current` and logs it).
Result<TlsStorePtr> reloadTlsStore(const TlsStorePtr& current);

// The files a config names, certFiles first, then the directory's.
Result<std::vector<std::string>> tlsCertPaths(const TlsConfig& config);

}  // namespace corral::proxy
