// What a Marathon client sees on /v2/events: Marathon's event types and the
// shapes its clients parse. python3-marathon, for one, builds its model
// classes from every field of a deployment plan and raises on a field it does
// not know, and raises on an event type it does not know. So the bus reshapes
// each event here before it is stored, and streams deliver corral's own event
// types only to subscribers that name them with ?event_type=.
#pragma once

#include <string>
#include <string_view>

#include "base/json.h"

namespace corral::events {

// One of Marathon's documented event types (what an unfiltered stream gets).
bool isMarathonEventType(std::string_view type);

// Rewrites data in place into Marathon's shape for `type`:
// - a deployment `plan` (deployment_info, deployment_step_success/_failure,
//   deployment_success/_failed) keeps Marathon's fields only (id, version,
//   original, target, steps with {action, app} actions); original and
//   target, when the plan does not bring them, are derived from the steps;
// - deployment_success/_failed carry the deployment `id`;
// - an empty or missing `clientIp` of an API event is set to clientIp.
void toMarathonShape(std::string_view type, Json& data, const std::string& clientIp);

}  // namespace corral::events
