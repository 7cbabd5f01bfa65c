// What PUT/PATCH /v2/apps/{id} asks of an existing app, as the patch the
// scheduler lays over its current definition. Marathon reads the body three
// ways: a rollback ({"version": v}, optionally with the id: the stored
// definition of that version comes back whole), a partial update (the
// default: the body's fields over the current ones) and, with
// ?partialUpdate=false, a complete replacement (every field the body leaves
// out returns to its default, so old labels and env are gone).
#pragma once

#include <functional>
#include <string>

#include "base/json.h"
#include "base/result.h"
#include "conf/app_definition.h"

namespace corral::api {

enum class AppUpdateKind { kPartial, kReplace };

// A stored version of the app (kNotFound when unknown).
using AppVersionLookup = std::function<Result<conf::AppDefinition>(const std::string& version)>;

// The patch for scheduler::updateApp, or an error carrying Marathon's answer:
// kNotFound "App '<id>' does not exist" for an unknown version, kInvalid for a
// version combined with other fields or a replacement that is not a valid app
// (path and message of the first problem).
Result<Json> appUpdatePatch(const std::string& appId, const Json& body, AppUpdateKind kind,
                            const AppVersionLookup& lookup);

// A definition as a patch that sets every field: laid over the current app
// by scheduler::updateApp it leaves nothing of that app behind. Without the
// version (the scheduler assigns a new one).
Json wholeDefinitionPatch(const conf::AppDefinition& def);

// True when the body asks for a rollback (a non-null "version").
bool isRollback(const Json& body);

}  // namespace corral::api
