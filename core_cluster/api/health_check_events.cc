#include "core_cluster/api/health_check_events.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "core_cluster/events/event_bus.h"

namespace corral::api {

Json addHealthCheckEvent(const conf::AppDefinition& def, size_t index) {
  Json ev;
  ev["appId"] = def.id;
  ev["version"] = def.version.value_or("");
  ev["healthCheck"] = conf::toMarathonJson(def)["healthChecks"][index];
  return ev;
}

Json removeHealthCheckEvent(const std::string& appId) { return Json{{"appId", appId}}; }

void publishHealthCheckChanges(events::EventBus& bus, const conf::AppDefinition* before,
                               const conf::AppDefinition* after) {
  if (before) {
    for (const auto& hc : before->healthChecks) {
      bool kept = after && std::find(after->healthChecks.begin(), after->healthChecks.end(), hc) !=
                               after->healthChecks.end();
      if (!kept) bus.publish("remove_health_check_event", removeHealthCheckEvent(before->id));
    }
  }
  if (after) {
    for (size_t i = 0; i < after->healthChecks.size(); ++i) {
      bus.publish("add_health_check_event", addHealthCheckEvent(*after, i));
    }
  }
}

}  // namespace corral::api
