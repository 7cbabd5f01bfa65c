#include "core_cluster/agent/task_types.h"

namespace corral::agent {

std::string_view toString(HealthCheckSpec::Protocol protocol) {
  switch (protocol) {
    case HealthCheckSpec::Protocol::kHttp:
      return "HTTP";
    case HealthCheckSpec::Protocol::kHttps:
      return "HTTPS";
    case HealthCheckSpec::Protocol::kTcp:
      return "TCP";
    case HealthCheckSpec::Protocol::kCommand:
      return "COMMAND";
  }
  return "UNKNOWN";
}

std::string_view toString(StatusReason reason) {
  switch (reason) {
    case StatusReason::kNone:
      return "NONE";
    case StatusReason::kHealthChanged:
      return "HEALTH_CHANGED";
    case StatusReason::kHealthCheckFailed:
      return "HEALTH_CHECK_FAILED";
    case StatusReason::kUnhealthyKill:
      return "UNHEALTHY_KILL";
    case StatusReason::kKillRequested:
      return "KILL_REQUESTED";
    case StatusReason::kFetchFailed:
      return "FETCH_FAILED";
    case StatusReason::kLaunchFailed:
      return "LAUNCH_FAILED";
    case StatusReason::kExited:
      return "EXITED";
    case StatusReason::kShutdown:
      return "SHUTDOWN";
  }
  return "UNKNOWN";
}

conf::TaskReason toTaskReason(StatusReason reason) {
  switch (reason) {
    case StatusReason::kHealthChanged:
    case StatusReason::kHealthCheckFailed:
    case StatusReason::kUnhealthyKill:
      return conf::TaskReason::kTaskHealthCheckStatusUpdated;
    case StatusReason::kFetchFailed:
    case StatusReason::kLaunchFailed:
      return conf::TaskReason::kContainerLaunchFailed;
    case StatusReason::kShutdown:
      return conf::TaskReason::kExecutorTerminated;
    case StatusReason::kNone:
    case StatusReason::kKillRequested:
    case StatusReason::kExited:
      return conf::TaskReason::kNone;
  }
  return conf::TaskReason::kNone;
}

}  // namespace corral::agent
