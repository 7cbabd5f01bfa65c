// HTTP basic users of the v2 API (Marathon's --http_credentials), each an
// admin (may change anything) or a viewer (GET and HEAD only, the event stream
// included: Mesos' read-only principals). Socket-free.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/http_message.h"
#include "base/result.h"

namespace corral::auth {

enum class HttpRole { kAdmin, kViewer };

struct HttpUser {
  std::string user;
  std::string password;
  HttpRole role = HttpRole::kAdmin;
};

// "user:password" (the user has no ':'; the password may).
Result<HttpUser> parseHttpUser(std::string_view text, HttpRole role);
// A users file: one per line, "user:password" (an admin), "admin user:password"
// or "viewer user:password"; blank lines and # comments are skipped.
Result<std::vector<HttpUser>> parseHttpUsers(std::string_view text);
// The users of such a file (read like a secret: mode 600); the error names
// the file.
Result<std::vector<HttpUser>> loadHttpUsersFile(const std::string& path);

// What the API does with a request.
enum class ApiAccess {
  kAllowed,
  kUnauthenticated,  // no or wrong credentials: 401 with a Basic challenge
  kForbidden,        // a viewer asking for a change: 403
};

class HttpUsers {
 public:
  void add(HttpUser user) { users_.push_back(std::move(user)); }
  // No users: the API is open (Marathon's behaviour without --http_credentials).
  bool enabled() const { return !users_.empty(); }
  std::optional<HttpRole> authenticate(std::string_view authorization) const;
  // /ping stays open (load balancers' health checks); reads need a viewer or
  // an admin, anything else an admin.
  ApiAccess access(const http::Request& req) const;

 private:
  std::vector<HttpUser> users_;
};

// Answers the request when the API refuses it (401 or 403, with a log line and
// corral_api_auth_refusals_total) and returns true; false when it may proceed.
bool refuseUnlessAllowed(const HttpUsers& users, const http::Request& req,
                         const std::function<void(http::Response)>& respond);

}  // namespace corral::auth
