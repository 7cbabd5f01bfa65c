// Shared secrets between the master and its agents, read from files in Mesos'
// formats, and the small primitives around them: HTTP basic Authorization
// headers, bearer tokens, constant-time comparison. Socket-free.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace corral::auth {

struct Credential {
  std::string principal;
  std::string secret;
};

// Mesos' --credential file (an agent's own): `principal secret` on its first
// non-empty line, or JSON {"principal": "...", "secret": "..."}.
Result<Credential> parseCredential(std::string_view text);
// Mesos' --credentials file (what the master accepts): one `principal secret`
// per line (# comments), or JSON {"credentials": [{"principal", "secret"}...]}.
Result<std::vector<Credential>> parseCredentials(std::string_view text);
// The same from a file; errors name the file. A file other users can read is
// refused: it holds secrets.
Result<Credential> loadCredential(const std::string& path);
Result<std::vector<Credential>> loadCredentials(const std::string& path);
// Reads a secret file (mode 0600 or stricter) whole.
Result<std::string> readSecretFile(const std::string& path);

// "Basic <base64 of user:password>".
std::string basicAuthorization(std::string_view user, std::string_view password);
struct BasicCredentials {
  std::string user;
  std::string password;
};
// The user and password of a Basic Authorization header; none when absent or malformed.
std::optional<BasicCredentials> parseBasicAuthorization(std::string_view header);
// The token of a "Bearer <token>" header; none when it is not one.
std::optional<std::string_view> parseBearer(std::string_view header);

// A client's API credentials: a file (mode 600) whose first non-comment line
// is "user:password". Returns the Authorization header value ("Basic ...").
Result<std::string> loadBasicAuthorization(const std::string& path);

bool constantTimeEquals(std::string_view a, std::string_view b);
// 32 random bytes from the system's CSPRNG, hex-encoded.
std::string randomToken();

// The master's list of accepted agent credentials.
class CredentialSet {
 public:
  CredentialSet() = default;
  explicit CredentialSet(std::vector<Credential> credentials);
  bool enabled() const { return !credentials_.empty(); }
  // The principal a Basic Authorization header proves, if it proves one.
  std::optional<std::string> authenticate(std::string_view authorization) const;

 private:
  std::vector<Credential> credentials_;
};

}  // namespace corral::auth
