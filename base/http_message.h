// Plain HTTP/1.1 message types shared by the server and the client.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/error_kind.h"

namespace corral::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Header names compare case-insensitively, in ASCII only (no locale: this
// runs for every header of every message the proxy forwards).
inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x == y) continue;
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Case-insensitive header lookup; the first match wins.
std::optional<std::string_view> findHeader(const Headers& headers, std::string_view name);

struct Request {
  std::string method = "GET";
  std::string target = "/";  // as sent: path plus optional ?query
  std::string path;          // percent-decoded path
  std::string query;         // raw query string without '?'
  Headers headers;
  std::string body;
  std::string remoteAddress;

  std::optional<std::string_view> header(std::string_view name) const {
    return findHeader(headers, name);
  }
  // First value of a query parameter (percent-decoded), if present.
  std::optional<std::string> queryParam(std::string_view name) const;
  // Every value of a repeatable query parameter, in order.
  std::vector<std::string> queryParams(std::string_view name) const;
};

struct Response {
  int status = 200;
  Headers headers;
  std::string body;

  std::optional<std::string_view> header(std::string_view name) const {
    return findHeader(headers, name);
  }
  static Response text(int status, std::string body, std::string contentType = "text/plain");
  static Response json(int status, std::string body);
};

std::string_view reasonPhrase(int status);
// The one mapping from an error kind to an HTTP status code, for every HTTP
// edge (v2 API, master and agent endpoints): layers below say only the kind.
int statusFor(ErrorKind kind);
std::string percentDecode(std::string_view in);
std::string percentEncode(std::string_view in);
// Splits "a/b?x=1" into path and query.
void splitTarget(std::string_view target, std::string* path, std::string* query);

}  // namespace corral::http
