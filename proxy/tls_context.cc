#include "proxy/tls_context.h"

#include <dirent.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace corral::proxy {

namespace {

// TLS 1.2 suites: forward secret key exchange and AEAD only. TLS 1.3 suites
// are all AEAD and not configurable in BoringSSL.
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

std::string lowerCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The last BoringSSL error as text ("" when none), clearing the queue.
std::string sslError() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

struct FileStamp {
  int64_t mtimeNs = 0;
  int64_t size = 0;
  bool exists = false;
};

FileStamp stampOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_size), true};
}

// The leaf's DNS subjectAltNames, or its common name when it has none.
std::vector<std::string> namesOf(X509* leaf) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (size_t i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const ASN1_STRING* dns = name->d.dNSName;
      names.push_back(
          lowerCase(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                                     static_cast<size_t>(ASN1_STRING_length(dns)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    X509_NAME* subject = X509_get_subject_name(leaf);
    int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (index >= 0) {
      const ASN1_STRING* cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
      names.push_back(
          lowerCase(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(cn)),
                                     static_cast<size_t>(ASN1_STRING_length(cn)))));
    }
  }
  return names;
}

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

int onServerName(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;  // the default certificate
  SSL_CTX* ctx = static_cast<const TlsStore*>(arg)->select(name);
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

Result<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return makeError(ErrorKind::kUnavailable,
                     "TLS certificate " + path + ": cannot read: " + std::strerror(errno));
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// An SSL_CTX serving the certificate chain and key of one PEM file.
Result<SSL_CTX*> loadContext(const std::string& path, const TlsStore* store,
                             std::vector<std::string>* names) {
  auto pem = readFile(path);
  if (!pem) return pem.error();
  auto fail = [&](std::string what) -> Error {
    std::string detail = sslError();
    return makeError(ErrorKind::kInvalid, "TLS certificate " + path + ": " + what +
                                              (detail.empty() ? "" : " (" + detail + ")"));
  };
  ERR_clear_error();
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return fail("cannot create a TLS context");
  bssl::UniquePtr<BIO> certs(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
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
  bssl::UniquePtr<BIO> keys(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(keys.get(), nullptr, nullptr, nullptr));
  if (!key)
    return fail("no PEM private key in the file (an unencrypted key must follow the chain)");
  if (SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 ||
      SSL_CTX_check_private_key(ctx.get()) != 1) {
    return fail("the private key does not match the certificate");
  }
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(ctx.get(), TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_strict_cipher_list(ctx.get(), kCiphers) != 1) {
    return fail("cannot restrict protocol versions and ciphers");
  }
  SSL_CTX_set_alpn_select_cb(ctx.get(), selectAlpn, nullptr);
  SSL_CTX_set_tlsext_servername_callback(ctx.get(), onServerName);
  SSL_CTX_set_tlsext_servername_arg(ctx.get(), const_cast<TlsStore*>(store));
  *names = namesOf(leaf.get());
  return ctx.release();
}

}  // namespace

Result<std::vector<std::string>> tlsCertPaths(const TlsConfig& config) {
  std::vector<std::string> paths = config.certFiles;
  if (!config.certDir.empty()) {
    DIR* dir = ::opendir(config.certDir.c_str());
    if (dir == nullptr) {
      return makeError(ErrorKind::kUnavailable, "TLS certificate directory " + config.certDir +
                                                    ": cannot open: " + std::strerror(errno));
    }
    std::vector<std::string> found;
    while (dirent* entry = ::readdir(dir)) {
      std::string_view name = entry->d_name;
      if (name.size() <= 4 || name.substr(name.size() - 4) != ".pem") continue;
      std::string path = config.certDir + "/" + std::string(name);
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) found.push_back(path);
    }
    ::closedir(dir);
    std::sort(found.begin(), found.end());
    for (auto& p : found) {
      if (std::find(paths.begin(), paths.end(), p) == paths.end()) paths.push_back(std::move(p));
    }
  }
  if (paths.empty()) return makeError(ErrorKind::kInvalid, "TLS: no certificate files configured");
  return paths;
}

Result<std::shared_ptr<const TlsStore>> TlsStore::build(const TlsConfig& config) {
  auto paths = tlsCertPaths(config);
  if (!paths) return paths.error();
  std::shared_ptr<TlsStore> store(new TlsStore());
  store->config_ = config;
  for (const std::string& path : *paths) {
    FileStamp stamp = stampOf(path);
    TlsCertificate cert;
    cert.path = path;
    cert.mtimeNs = stamp.mtimeNs;
    cert.size = stamp.size;
    auto ctx = loadContext(path, store.get(), &cert.names);
    if (!ctx) return ctx.error();
    cert.ctx = *ctx;
    store->certs_.push_back(std::move(cert));
  }
  // Earlier files win a name both serve.
  for (const TlsCertificate& cert : store->certs_) {
    for (const std::string& name : cert.names) store->byName_.emplace(name, cert.ctx);
  }
  return std::shared_ptr<const TlsStore>(std::move(store));
}

TlsStore::~TlsStore() {
  for (TlsCertificate& cert : certs_) SSL_CTX_free(cert.ctx);
}

SSL_CTX* TlsStore::select(std::string_view serverName) const {
  std::string name = lowerCase(serverName);
  if (!name.empty() && name.back() == '.') name.pop_back();
  if (auto it = byName_.find(name); it != byName_.end()) return it->second;
  // A wildcard covers exactly one label (RFC 6125 §6.4.3).
  size_t dot = name.find('.');
  if (dot != std::string::npos && dot > 0) {
    // Built by append, not `"*" + ...`: GCC 12 at -O3 flags that with a false
    // -Wrestrict (GCC bug 105329).
    std::string wildcard(1, '*');
    wildcard.append(name, dot, std::string::npos);
    if (auto it = byName_.find(wildcard); it != byName_.end()) return it->second;
  }
  return defaultContext();
}

bool TlsStore::changedOnDisk() const {
  auto paths = tlsCertPaths(config_);
  if (!paths || paths->size() != certs_.size()) return true;
  for (size_t i = 0; i < certs_.size(); ++i) {
    if ((*paths)[i] != certs_[i].path) return true;
    FileStamp stamp = stampOf(certs_[i].path);
    if (!stamp.exists || stamp.mtimeNs != certs_[i].mtimeNs || stamp.size != certs_[i].size) {
      return true;
    }
  }
  return false;
}

Result<TlsStorePtr> reloadTlsStore(const TlsStorePtr& current) {
  if (!current->changedOnDisk()) return current;
  return TlsStore::build(current->config());
}

}  // namespace corral::proxy
