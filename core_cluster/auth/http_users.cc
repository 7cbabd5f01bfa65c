#include "core_cluster/auth/http_users.h"

#include <openssl/mem.h>

#include <functional>

#include "base/log.h"
#include "base/metrics.h"
#include "core_cluster/auth/config_lines.h"
#include "core_cluster/auth/credentials.h"
#include "core_cluster/auth/refusal.h"

namespace corral::auth {

namespace {}  // namespace

Result<HttpUser> parseHttpUser(std::string_view text, HttpRole role) {
  text = trimBlanks(text);
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return makeError(ErrorKind::kInvalid, "expected user:password");
  }
  return HttpUser{std::string(text.substr(0, colon)), std::string(text.substr(colon + 1)), role};
}

Result<std::vector<HttpUser>> parseHttpUsers(std::string_view text) {
  std::vector<HttpUser> out;
  for (const ConfigLine& l : configLines(text)) {
    std::string_view line = l.text;
    size_t lineNo = l.number;
    HttpRole role = HttpRole::kAdmin;
    size_t sp = line.find_first_of(" \t");
    if (sp != std::string_view::npos) {
      std::string_view word = line.substr(0, sp);
      if (word == "viewer") {
        role = HttpRole::kViewer;
      } else if (word != "admin") {
        return makeError(ErrorKind::kInvalid, "line " + std::to_string(lineNo) +
                                                  ": expected 'admin user:password' or "
                                                  "'viewer user:password', got role '" +
                                                  std::string(word) + "'");
      }
      line = line.substr(sp + 1);
    }
    auto u = parseHttpUser(line, role);
    if (!u.ok()) {
      return makeError(ErrorKind::kInvalid,
                       "line " + std::to_string(lineNo) + ": " + u.error().message);
    }
    out.push_back(std::move(*u));
  }
  if (out.empty()) return makeError(ErrorKind::kInvalid, "no users in the file");
  return out;
}

Result<std::vector<HttpUser>> loadHttpUsersFile(const std::string& path) {
  auto text = readSecretFile(path);
  if (!text.ok()) return text.error();
  auto list = parseHttpUsers(*text);
  if (!list.ok()) return makeError(ErrorKind::kInvalid, path + ": " + list.error().message);
  return list;
}

std::optional<HttpRole> HttpUsers::authenticate(std::string_view authorization) const {
  auto basic = parseBasicAuthorization(authorization);
  if (!basic) return std::nullopt;
  std::optional<HttpRole> role;
  for (const auto& u : users_) {
    bool match =
        constantTimeEquals(basic->user, u.user) & constantTimeEquals(basic->password, u.password);
    // A user listed twice gets the stronger role.
    if (match && (!role || u.role == HttpRole::kAdmin)) role = u.role;
  }
  OPENSSL_cleanse(basic->password.data(), basic->password.size());
  return role;
}

ApiAccess HttpUsers::access(const http::Request& req) const {
  if (!enabled() || req.path == "/ping") return ApiAccess::kAllowed;
  auto role = authenticate(req.header("Authorization").value_or(""));
  if (!role) return ApiAccess::kUnauthenticated;
  if (*role == HttpRole::kAdmin) return ApiAccess::kAllowed;
  bool read = req.method == "GET" || req.method == "HEAD";
  return read ? ApiAccess::kAllowed : ApiAccess::kForbidden;
}

bool refuseUnlessAllowed(const HttpUsers& users, const http::Request& req,
                         const std::function<void(http::Response)>& respond) {
  switch (users.access(req)) {
    case ApiAccess::kAllowed:
      return false;
    case ApiAccess::kUnauthenticated: {
      bool sent = req.header("Authorization").has_value();
      noteRefusal(RefusalEndpoint::kApi,
                  sent ? RefusalReason::kWrongCredentials : RefusalReason::kNoCredentials, req,
                  sent ? "wrong credentials" : "no credentials");
      http::Response r = http::Response::json(
          401, R"({"message":"Invalid username or password: this API needs credentials"})");
      r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"corral\"");
      respond(std::move(r));
      return true;
    }
    case ApiAccess::kForbidden:
      noteRefusal(RefusalEndpoint::kApi, RefusalReason::kViewerWrite, req,
                  "a viewer may only read");
      respond(http::Response::json(
          403, R"({"message":"Not Authorized to perform this action: the user is a viewer"})"));
      return true;
  }
  return false;
}

}  // namespace corral::auth
