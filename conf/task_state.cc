#include "conf/task_state.h"

#include <array>
#include <utility>

namespace corral::conf {
namespace {

constexpr std::array<std::pair<TaskState, std::string_view>, 14> kStates = {{
    {TaskState::kStaging, "TASK_STAGING"},
    {TaskState::kStarting, "TASK_STARTING"},
    {TaskState::kRunning, "TASK_RUNNING"},
    {TaskState::kKilling, "TASK_KILLING"},
    {TaskState::kFinished, "TASK_FINISHED"},
    {TaskState::kFailed, "TASK_FAILED"},
    {TaskState::kKilled, "TASK_KILLED"},
    {TaskState::kLost, "TASK_LOST"},
    {TaskState::kError, "TASK_ERROR"},
    {TaskState::kDropped, "TASK_DROPPED"},
    {TaskState::kGone, "TASK_GONE"},
    {TaskState::kGoneByOperator, "TASK_GONE_BY_OPERATOR"},
    {TaskState::kUnreachable, "TASK_UNREACHABLE"},
    {TaskState::kUnknown, "TASK_UNKNOWN"},
}};

constexpr std::array<std::pair<TaskReason, std::string_view>, 34> kReasons = {{
    {TaskReason::kCommandExecutorFailed, "REASON_COMMAND_EXECUTOR_FAILED"},
    {TaskReason::kContainerLaunchFailed, "REASON_CONTAINER_LAUNCH_FAILED"},
    {TaskReason::kContainerLimitation, "REASON_CONTAINER_LIMITATION"},
    {TaskReason::kContainerLimitationDisk, "REASON_CONTAINER_LIMITATION_DISK"},
    {TaskReason::kContainerLimitationMemory, "REASON_CONTAINER_LIMITATION_MEMORY"},
    {TaskReason::kContainerPreempted, "REASON_CONTAINER_PREEMPTED"},
    {TaskReason::kContainerUpdateFailed, "REASON_CONTAINER_UPDATE_FAILED"},
    {TaskReason::kMaxCompletionTimeReached, "REASON_MAX_COMPLETION_TIME_REACHED"},
    {TaskReason::kExecutorRegistrationTimeout, "REASON_EXECUTOR_REGISTRATION_TIMEOUT"},
    {TaskReason::kExecutorReregistrationTimeout, "REASON_EXECUTOR_REREGISTRATION_TIMEOUT"},
    {TaskReason::kExecutorTerminated, "REASON_EXECUTOR_TERMINATED"},
    {TaskReason::kExecutorUnregistered, "REASON_EXECUTOR_UNREGISTERED"},
    {TaskReason::kFrameworkRemoved, "REASON_FRAMEWORK_REMOVED"},
    {TaskReason::kGcError, "REASON_GC_ERROR"},
    {TaskReason::kInvalidFrameworkId, "REASON_INVALID_FRAMEWORKID"},
    {TaskReason::kInvalidOffers, "REASON_INVALID_OFFERS"},
    {TaskReason::kIoSwitchboardExited, "REASON_IO_SWITCHBOARD_EXITED"},
    {TaskReason::kMasterDisconnected, "REASON_MASTER_DISCONNECTED"},
    {TaskReason::kReconciliation, "REASON_RECONCILIATION"},
    {TaskReason::kResourcesUnknown, "REASON_RESOURCES_UNKNOWN"},
    {TaskReason::kAgentDisconnected, "REASON_AGENT_DISCONNECTED"},
    {TaskReason::kAgentRemoved, "REASON_AGENT_REMOVED"},
    {TaskReason::kAgentRemovedByOperator, "REASON_AGENT_REMOVED_BY_OPERATOR"},
    {TaskReason::kAgentReregistered, "REASON_AGENT_REREGISTERED"},
    {TaskReason::kAgentRestarted, "REASON_AGENT_RESTARTED"},
    {TaskReason::kAgentUnknown, "REASON_AGENT_UNKNOWN"},
    {TaskReason::kTaskKilledDuringLaunch, "REASON_TASK_KILLED_DURING_LAUNCH"},
    {TaskReason::kTaskCheckStatusUpdated, "REASON_TASK_CHECK_STATUS_UPDATED"},
    {TaskReason::kTaskHealthCheckStatusUpdated, "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"},
    {TaskReason::kTaskGroupInvalid, "REASON_TASK_GROUP_INVALID"},
    {TaskReason::kTaskGroupUnauthorized, "REASON_TASK_GROUP_UNAUTHORIZED"},
    {TaskReason::kTaskInvalid, "REASON_TASK_INVALID"},
    {TaskReason::kTaskUnauthorized, "REASON_TASK_UNAUTHORIZED"},
    {TaskReason::kTaskUnknown, "REASON_TASK_UNKNOWN"},
}};

// Names earlier corral agents sent before they spoke Mesos reasons; still
// read, so an agent of the previous release can talk to this master.
constexpr std::array<std::pair<std::string_view, TaskReason>, 9> kLegacyReasons = {{
    {"UNHEALTHY_KILL", TaskReason::kTaskHealthCheckStatusUpdated},
    {"HEALTH_CHANGED", TaskReason::kTaskHealthCheckStatusUpdated},
    {"HEALTH_CHECK_FAILED", TaskReason::kTaskHealthCheckStatusUpdated},
    {"FETCH_FAILED", TaskReason::kContainerLaunchFailed},
    {"LAUNCH_FAILED", TaskReason::kContainerLaunchFailed},
    {"SHUTDOWN", TaskReason::kExecutorTerminated},
    {"KILL_REQUESTED", TaskReason::kNone},
    {"EXITED", TaskReason::kNone},
    {"NONE", TaskReason::kNone},
}};

constexpr std::array<TaskState, kStates.size()> stateList() {
  std::array<TaskState, kStates.size()> out{};
  for (size_t i = 0; i < kStates.size(); ++i) out[i] = kStates[i].first;
  return out;
}
constexpr std::array<TaskReason, kReasons.size()> reasonList() {
  std::array<TaskReason, kReasons.size()> out{};
  for (size_t i = 0; i < kReasons.size(); ++i) out[i] = kReasons[i].first;
  return out;
}
constexpr auto kStateList = stateList();
constexpr auto kReasonList = reasonList();

}  // namespace

std::string_view toString(TaskState state) {
  for (const auto& [s, name] : kStates) {
    if (s == state) return name;
  }
  return "TASK_UNKNOWN";
}

std::optional<TaskState> taskStateFromString(std::string_view name) {
  for (const auto& [s, n] : kStates) {
    if (n == name) return s;
  }
  return std::nullopt;
}

TaskState parseTaskState(std::string_view name) {
  return taskStateFromString(name).value_or(TaskState::kUnknown);
}

bool isTerminal(TaskState state) {
  switch (state) {
    case TaskState::kFinished:
    case TaskState::kFailed:
    case TaskState::kKilled:
    case TaskState::kLost:
    case TaskState::kError:
    case TaskState::kDropped:
    case TaskState::kGone:
    case TaskState::kGoneByOperator:
      return true;
    case TaskState::kStaging:
    case TaskState::kStarting:
    case TaskState::kRunning:
    case TaskState::kKilling:
    case TaskState::kUnreachable:
    case TaskState::kUnknown:
      return false;
  }
  return false;
}

bool isActive(TaskState state) { return !isTerminal(state) && state != TaskState::kUnreachable; }

std::span<const TaskState> allTaskStates() { return kStateList; }

std::string_view toString(TaskReason reason) {
  if (reason == TaskReason::kNone) return "";
  for (const auto& [r, name] : kReasons) {
    if (r == reason) return name;
  }
  return "REASON_UNKNOWN";
}

TaskReason parseTaskReason(std::string_view name) {
  if (name.empty()) return TaskReason::kNone;
  for (const auto& [r, n] : kReasons) {
    if (n == name) return r;
  }
  for (const auto& [n, r] : kLegacyReasons) {
    if (n == name) return r;
  }
  return TaskReason::kUnknown;
}

std::span<const TaskReason> allTaskReasons() { return kReasonList; }

}  // namespace corral::conf
