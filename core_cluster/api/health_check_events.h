// add_health_check_event and remove_health_check_event in Marathon's shapes.
// Marathon keeps health checks per app version: each new version of an app
// (create, update, scale, restart, rollback) adds its checks, and a check the
// app no longer has (or every check of a deleted app) is removed.
#pragma once

#include <cstddef>
#include <string>

#include "base/json.h"
#include "conf/app_definition.h"

namespace corral::events {
class EventBus;
}

namespace corral::api {

// {"appId", "version", "healthCheck"} for each check of a new version.
Json addHealthCheckEvent(const conf::AppDefinition& def, size_t index);
// {"appId"}: Marathon names only the app when a check goes.
Json removeHealthCheckEvent(const std::string& appId);

// Publishes what an app change does to its health checks. before: the
// definition replaced (null for a new app); after: the new version (null when
// the app is deleted).
void publishHealthCheckChanges(events::EventBus& bus, const conf::AppDefinition* before,
                               const conf::AppDefinition* after);

}  // namespace corral::api
