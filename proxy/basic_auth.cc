#include "proxy/basic_auth.h"

#include <crypt.h>
#include <openssl/base64.h>
#include <openssl/mem.h>
#include <strings.h>

#include <cstring>
#include <memory>
#include <string>

#include "conf/proxy_labels.h"

namespace corral::proxy {

AuthResult checkBasicAuth(std::string_view authorization, const conf::BasicAuth& auth) {
  if (authorization.empty()) return AuthResult::kMissing;
  constexpr std::string_view kScheme = "basic ";
  if (authorization.size() <= kScheme.size() ||
      strncasecmp(authorization.data(), kScheme.data(), kScheme.size()) != 0) {
    return AuthResult::kMalformed;
  }
  std::string_view encoded = authorization.substr(kScheme.size());
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  while (!encoded.empty() && encoded.back() == ' ') encoded.remove_suffix(1);
  size_t maxLen = 0;
  if (encoded.empty() || !EVP_DecodedLength(&maxLen, encoded.size())) return AuthResult::kMalformed;
  std::string decoded(maxLen, '\0');
  size_t len = 0;
  if (!EVP_DecodeBase64(reinterpret_cast<uint8_t*>(decoded.data()), &len, maxLen,
                        reinterpret_cast<const uint8_t*>(encoded.data()), encoded.size())) {
    return AuthResult::kMalformed;
  }
  decoded.resize(len);
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) return AuthResult::kMalformed;
  if (std::string_view(decoded).substr(0, colon) != auth.user) return AuthResult::kWrongUser;
  std::string password = decoded.substr(colon + 1);
  // crypt_data is large; one per thread (each worker loop is one thread).
  thread_local std::unique_ptr<crypt_data> data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* hashed = crypt_r(password.c_str(), auth.passwordHash.c_str(), data.get());
  OPENSSL_cleanse(password.data(), password.size());
  if (hashed == nullptr || hashed[0] == '*' || std::strlen(hashed) != auth.passwordHash.size() ||
      CRYPTO_memcmp(hashed, auth.passwordHash.data(), auth.passwordHash.size()) != 0) {
    return AuthResult::kWrongPassword;
  }
  return AuthResult::kOk;
}

}  // namespace corral::proxy
