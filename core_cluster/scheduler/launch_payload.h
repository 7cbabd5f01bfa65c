// What an agent needs to run one instance of an app (command, environment,
// fetch list, health checks, kill grace period, user), as the launch message's
// payload. Built from the definition alone.
#pragma once

#include "base/json.h"
#include "conf/app_definition.h"

namespace corral::scheduler {

Json launchPayload(const conf::AppDefinition& def);

}  // namespace corral::scheduler
