#include "core_cluster/api/app_update_request.h"

#include <nlohmann/json.hpp>

namespace corral::api {

Json wholeDefinitionPatch(const conf::AppDefinition& def) {
  Json patch = conf::toMarathonJson(def);
  patch.erase("version");
  // The optional fields the definition leaves out are cleared explicitly
  // (null reads as unset), or the current app's values would stay.
  for (const char* key : {"cmd", "args", "user", "container", "acceptedResourceRoles", "residency",
                          "taskKillGracePeriodSeconds"}) {
    if (!patch.contains(key)) patch[key] = nullptr;
  }
  return patch;
}

bool isRollback(const Json& body) {
  return body.is_object() && body.contains("version") && !body["version"].is_null();
}

Result<Json> appUpdatePatch(const std::string& appId, const Json& body, AppUpdateKind kind,
                            const AppVersionLookup& lookup) {
  if (!body.is_object()) return makeError(ErrorKind::kInvalid, "expected a JSON object", "/");
  if (kind == AppUpdateKind::kPartial && isRollback(body)) {
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (it.key() != "id" && it.key() != "version") {
        return makeError(ErrorKind::kInvalid,
                         "The 'version' field may only be combined with the 'id' field.", "/");
      }
    }
    if (!body["version"].is_string()) {
      return makeError(ErrorKind::kInvalid, "expected string", "/version");
    }
    // Marathon answers an unknown version as an unknown app.
    auto old = lookup(body["version"].get<std::string>());
    if (!old.ok()) return makeError(ErrorKind::kNotFound, "App '" + appId + "' does not exist");
    return wholeDefinitionPatch(*old);
  }
  if (kind == AppUpdateKind::kPartial) return body;
  // A replacement is read as a new app (Marathon drops the version it names).
  Json full = body;
  full["id"] = appId;
  full.erase("version");
  auto def = conf::parseAppDefinition(full);
  if (!def.ok()) return def.error();
  return wholeDefinitionPatch(*def);
}

}  // namespace corral::api
