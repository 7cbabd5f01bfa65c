#include "core_cluster/agent/task_types.h"

#include <array>
#include <utility>

namespace corral::agent {
namespace {

constexpr std::array<std::pair<TaskState, std::string_view>, 13> kStateNames = {{
    {TaskState::kStaging, "TASK_STAGING"},
    {TaskState::kStarting, "TASK_STARTING"},
    {TaskState::kRunning, "TASK_RUNNING"},
    {TaskState::kFinished, "TASK_FINISHED"},
    {TaskState::kFailed, "TASK_FAILED"},
    {TaskState::kKilling, "TASK_KILLING"},
    {TaskState::kKilled, "TASK_KILLED"},
    {TaskState::kLost, "TASK_LOST"},
    {TaskState::kError, "TASK_ERROR"},
    {TaskState::kUnreachable, "TASK_UNREACHABLE"},
    {TaskState::kGone, "TASK_GONE"},
    {TaskState::kDropped, "TASK_DROPPED"},
    {TaskState::kUnknown, "TASK_UNKNOWN"},
}};

}  // namespace

std::string_view toString(TaskState state) {
  for (const auto& [s, name] : kStateNames) {
    if (s == state) return name;
  }
  return "TASK_UNKNOWN";
}

std::optional<TaskState> taskStateFromString(std::string_view name) {
  for (const auto& [s, n] : kStateNames) {
    if (n == name) return s;
  }
  return std::nullopt;
}

bool isTerminal(TaskState state) {
  switch (state) {
    case TaskState::kFinished:
    case TaskState::kFailed:
    case TaskState::kKilled:
    case TaskState::kLost:
    case TaskState::kError:
    case TaskState::kGone:
    case TaskState::kDropped:
      return true;
    default:
      return false;
  }
}

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

}  // namespace corral::agent
