#include "core_cluster/auth/credentials.h"

#include <openssl/base64.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <strings.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/json.h"
#include "core_cluster/auth/config_lines.h"

namespace corral::auth {

namespace {

Result<Credential> credentialFromJson(const Json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("principal") || !j["principal"].is_string() ||
      !j.contains("secret") || !j["secret"].is_string()) {
    return makeError(ErrorKind::kInvalid,
                     where + ": expected {\"principal\": ..., \"secret\": ...}");
  }
  Credential c{j["principal"].get<std::string>(), j["secret"].get<std::string>()};
  if (c.principal.empty() || c.secret.empty()) {
    return makeError(ErrorKind::kInvalid, where + ": principal and secret must not be empty");
  }
  return c;
}

// "principal secret" (whitespace-separated; the secret is the rest of the line).
Result<Credential> credentialFromLine(std::string_view line, size_t lineNo) {
  size_t sp = line.find_first_of(" \t");
  std::string where = "line " + std::to_string(lineNo);
  if (sp == std::string_view::npos) {
    return makeError(ErrorKind::kInvalid, where + ": expected 'principal secret'");
  }
  Credential c{std::string(line.substr(0, sp)), std::string(trimBlanks(line.substr(sp + 1)))};
  if (c.secret.empty()) return makeError(ErrorKind::kInvalid, where + ": the secret is empty");
  return c;
}

bool looksLikeJson(std::string_view text) {
  text = trimBlanks(text);
  while (!text.empty() && text.front() == '\n') text = trimBlanks(text.substr(1));
  return !text.empty() && text.front() == '{';
}

template <typename T>
Result<T> named(Result<T> r, const std::string& path) {
  if (r.ok()) return r;
  return makeError(ErrorKind::kInvalid, path + ": " + r.error().message);
}

}  // namespace

Result<Credential> parseCredential(std::string_view text) {
  if (looksLikeJson(text)) {
    auto j = parseJson(text);
    if (!j.ok()) return makeError(ErrorKind::kInvalid, j.error().message);
    return credentialFromJson(*j, "credential");
  }
  auto lines = configLines(text);
  if (!lines.empty()) return credentialFromLine(lines.front().text, lines.front().number);
  return makeError(ErrorKind::kInvalid, "no credential: expected 'principal secret'");
}

Result<std::vector<Credential>> parseCredentials(std::string_view text) {
  std::vector<Credential> out;
  if (looksLikeJson(text)) {
    auto j = parseJson(text);
    if (!j.ok()) return makeError(ErrorKind::kInvalid, j.error().message);
    if (!j->is_object() || !j->contains("credentials") || !(*j)["credentials"].is_array()) {
      return makeError(ErrorKind::kInvalid, "expected {\"credentials\": [...]}");
    }
    const Json& list = (*j)["credentials"];
    for (size_t i = 0; i < list.size(); ++i) {
      auto c = credentialFromJson(list[i], "credentials[" + std::to_string(i) + "]");
      if (!c.ok()) return c.error();
      out.push_back(std::move(*c));
    }
  } else {
    for (const ConfigLine& line : configLines(text)) {
      auto c = credentialFromLine(line.text, line.number);
      if (!c.ok()) return c.error();
      out.push_back(std::move(*c));
    }
  }
  if (out.empty()) return makeError(ErrorKind::kInvalid, "no credentials in the file");
  return out;
}

Result<std::string> readSecretFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return makeError(ErrorKind::kInvalid, path + ": cannot read it (" + std::strerror(errno) + ")");
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return makeError(ErrorKind::kInvalid,
                     path + ": holds secrets but others can read it; chmod 600 " + path);
  }
  std::ifstream in(path);
  if (!in) return makeError(ErrorKind::kInvalid, path + ": cannot open it");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<Credential> loadCredential(const std::string& path) {
  auto text = readSecretFile(path);
  if (!text.ok()) return text.error();
  return named(parseCredential(*text), path);
}

Result<std::vector<Credential>> loadCredentials(const std::string& path) {
  auto text = readSecretFile(path);
  if (!text.ok()) return text.error();
  return named(parseCredentials(*text), path);
}

std::string basicAuthorization(std::string_view user, std::string_view password) {
  std::string plain = std::string(user) + ":" + std::string(password);
  size_t len = 0;
  EVP_EncodedLength(&len, plain.size());
  std::string out(len, '\0');
  size_t n = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()),
                             reinterpret_cast<const uint8_t*>(plain.data()), plain.size());
  out.resize(n);
  OPENSSL_cleanse(plain.data(), plain.size());
  return "Basic " + out;
}

Result<std::string> loadBasicAuthorization(const std::string& path) {
  auto text = readSecretFile(path);
  if (!text.ok()) return text.error();
  for (const ConfigLine& l : configLines(*text)) {
    std::string_view line = l.text;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) break;
    std::string header = basicAuthorization(line.substr(0, colon), line.substr(colon + 1));
    OPENSSL_cleanse(text->data(), text->size());
    return header;
  }
  return makeError(ErrorKind::kInvalid, path + ": expected a line 'user:password'");
}

std::optional<BasicCredentials> parseBasicAuthorization(std::string_view header) {
  constexpr std::string_view kScheme = "basic ";
  if (header.size() <= kScheme.size() ||
      strncasecmp(header.data(), kScheme.data(), kScheme.size()) != 0) {
    return std::nullopt;
  }
  std::string_view encoded = trimBlanks(header.substr(kScheme.size()));
  size_t maxLen = 0;
  if (encoded.empty() || !EVP_DecodedLength(&maxLen, encoded.size())) return std::nullopt;
  std::string decoded(maxLen, '\0');
  size_t len = 0;
  if (!EVP_DecodeBase64(reinterpret_cast<uint8_t*>(decoded.data()), &len, maxLen,
                        reinterpret_cast<const uint8_t*>(encoded.data()), encoded.size())) {
    return std::nullopt;
  }
  decoded.resize(len);
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  BasicCredentials c{decoded.substr(0, colon), decoded.substr(colon + 1)};
  OPENSSL_cleanse(decoded.data(), decoded.size());
  return c;
}

std::optional<std::string_view> parseBearer(std::string_view header) {
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size() ||
      strncasecmp(header.data(), kScheme.data(), kScheme.size()) != 0) {
    return std::nullopt;
  }
  std::string_view token = trimBlanks(header.substr(kScheme.size()));
  if (token.empty()) return std::nullopt;
  return token;
}

bool constantTimeEquals(std::string_view a, std::string_view b) {
  // The length is not secret (tokens have a fixed one; secrets leak it in any case).
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string randomToken() {
  uint8_t bytes[32];
  RAND_bytes(bytes, sizeof bytes);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

CredentialSet::CredentialSet(std::vector<Credential> credentials)
    : credentials_(std::move(credentials)) {}

std::optional<std::string> CredentialSet::authenticate(std::string_view authorization) const {
  auto basic = parseBasicAuthorization(authorization);
  if (!basic) return std::nullopt;
  // Every entry is compared, so the time taken does not tell which principal exists.
  std::optional<std::string> found;
  for (const auto& c : credentials_) {
    bool match = constantTimeEquals(basic->user, c.principal) &
                 constantTimeEquals(basic->password, c.secret);
    if (match && !found) found = c.principal;
  }
  OPENSSL_cleanse(basic->password.data(), basic->password.size());
  return found;
}

}  // namespace corral::auth
