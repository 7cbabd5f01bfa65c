// HAPROXY_{n}_AUTH: HTTP Basic credentials checked against the label's
// user and crypt(3) hash (HAProxy userlist `password` syntax: $6$ SHA-512,
// $5$ SHA-256, $y$ yescrypt, $2b$ bcrypt, $1$ MD5 — whatever libc's
// crypt supports). Socket-free.
#pragma once

#include <string_view>

namespace corral::conf {
struct BasicAuth;
}

namespace corral::proxy {

enum class AuthResult {
  kOk,
  kMissing,    // no Authorization header
  kMalformed,  // not "Basic <base64 of user:password>"
  kWrongUser,
  kWrongPassword,  // or a hash crypt(3) cannot verify
};

// `authorization`: the Authorization header's value ("" when absent).
AuthResult checkBasicAuth(std::string_view authorization, const conf::BasicAuth& auth);

}  // namespace corral::proxy
