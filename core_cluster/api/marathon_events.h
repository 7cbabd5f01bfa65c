// Marathon's event payloads for what the scheduler announces on the event
// bus (task status and health, unhealthy kills, deployment steps). The
// scheduler decides when; this renders what (Marathon's field names).
#pragma once

#include <optional>

#include "base/json.h"
#include "conf/app_definition.h"
#include "conf/task_state.h"
#include "core_cluster/events/event_bus.h"
#include "core_cluster/master/records.h"
#include "core_cluster/scheduler/scheduler_types.h"

namespace corral::api {

// What a task change means to Marathon's event subscribers: status_update_event and
// instance_changed_event on a state change, health_status_changed_event and
// instance_health_changed_event on a health change, failed_health_check_event
// while running unhealthy. def: the task's app (null when deleted).
void publishTaskEvents(events::EventBus& bus, const master::TaskRecord& t,
                       conf::TaskState previousState, std::optional<bool> previousHealthy,
                       const conf::AppDefinition* def);
// unhealthy_instance_kill_event: the agent killed the task for failing its health checks.
Json unhealthyKillEvent(const master::TaskRecord& t);
// The app's lastTaskFailure (GET /v2/apps/{id}?embed=app.lastTaskFailure).
Json taskFailureJson(const master::TaskRecord& t, const std::string& timestamp);
// {"plan": ..., "currentStep": ...}: deployment_info and deployment_step_success.
Json deploymentStepEvent(const scheduler::Deployment& d);
// {"id": ..., "plan": ...}: deployment_success and deployment_failed.
Json deploymentOutcomeEvent(const scheduler::Deployment& d);

}  // namespace corral::api
