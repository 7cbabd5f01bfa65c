#include "proxy/tls_context.h"

#include "base/tls/tls_context.h"

#include <dirent.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace corral::proxy {

namespace {

std::string lowerCase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
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

int onServerName(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;  // the default certificate
  SSL_CTX* ctx = static_cast<const TlsStore*>(arg)->select(name);
  if (ctx != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx);
  return SSL_TLSEXT_ERR_OK;
}

// An SSL_CTX serving the certificate chain and key of one PEM file, switching
// to the certificate for the client's SNI.
Result<SSL_CTX*> loadContext(const std::string& path, const TlsStore* store,
                             std::vector<std::string>* names) {
  auto pem = tls::readFileText("TLS certificate", path);
  if (!pem) return pem.error();
  auto ctx = tls::newServerContext(*pem, *pem, "TLS certificate " + path);
  if (!ctx) return ctx.error();
  SSL_CTX_set_tlsext_servername_callback(*ctx, onServerName);
  SSL_CTX_set_tlsext_servername_arg(*ctx, const_cast<TlsStore*>(store));
  *names = namesOf(SSL_CTX_get0_certificate(*ctx));
  return *ctx;
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
