// Task states and status-update reasons, typed, with their Mesos names.
// Shared by everything that reads or writes a task's state: the agent, the
// master, the scheduler, the v2 API and the registry. One list of terminal
// states lives here (isTerminal). Parsing never fails: a name we do not know
// is the typed kUnknown, and callers decide whether that is an error.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace corral::conf {

// Mesos TaskState (mesos.proto), rendered by toString() exactly as Mesos names them.
enum class TaskState {
  kStaging,
  kStarting,
  kRunning,
  kKilling,
  kFinished,
  kFailed,
  kKilled,
  kLost,
  kError,
  kDropped,
  kGone,
  kGoneByOperator,
  kUnreachable,
  kUnknown,  // TASK_UNKNOWN, and any name we do not recognise
};

// "TASK_RUNNING" etc.
std::string_view toString(TaskState state);
// The Mesos name to its state; any other text is kUnknown.
TaskState parseTaskState(std::string_view name);
// Strict form: nullopt for anything but an exact Mesos name (TASK_UNKNOWN included).
std::optional<TaskState> taskStateFromString(std::string_view name);
// FINISHED, FAILED, KILLED, LOST, ERROR, DROPPED, GONE, GONE_BY_OPERATOR: the
// task will never run again. The one list of terminal states.
bool isTerminal(TaskState state);
// Holding resources on an agent we can reach: not terminal and not unreachable.
bool isActive(TaskState state);
// Every state, in declaration order (for tests and tables).
std::span<const TaskState> allTaskStates();

// Mesos TaskStatus.Reason: why a status update was sent, beyond its state.
enum class TaskReason {
  kNone,  // no reason given
  kCommandExecutorFailed,
  kContainerLaunchFailed,
  kContainerLimitation,
  kContainerLimitationDisk,
  kContainerLimitationMemory,
  kContainerPreempted,
  kContainerUpdateFailed,
  kMaxCompletionTimeReached,
  kExecutorRegistrationTimeout,
  kExecutorReregistrationTimeout,
  kExecutorTerminated,
  kExecutorUnregistered,
  kFrameworkRemoved,
  kGcError,
  kInvalidFrameworkId,
  kInvalidOffers,
  kIoSwitchboardExited,
  kMasterDisconnected,
  kReconciliation,
  kResourcesUnknown,
  kAgentDisconnected,
  kAgentRemoved,
  kAgentRemovedByOperator,
  kAgentReregistered,
  kAgentRestarted,
  kAgentUnknown,
  kTaskKilledDuringLaunch,
  kTaskCheckStatusUpdated,
  // The task's health changed, or it was killed for failing its health checks
  // (with state TASK_KILLING / TASK_KILLED).
  kTaskHealthCheckStatusUpdated,
  kTaskGroupInvalid,
  kTaskGroupUnauthorized,
  kTaskInvalid,
  kTaskUnauthorized,
  kTaskUnknown,
  kUnknown,  // a reason name we do not recognise
};

// "REASON_AGENT_REMOVED" etc.; "" for kNone, "REASON_UNKNOWN" for kUnknown.
std::string_view toString(TaskReason reason);
// The Mesos name (or "" for kNone) to its reason. Also accepts the names
// earlier corral agents sent ("UNHEALTHY_KILL", "HEALTH_CHANGED", ...).
// Anything else is kUnknown.
TaskReason parseTaskReason(std::string_view name);
// Every reason with a Mesos name (kNone and kUnknown excluded).
std::span<const TaskReason> allTaskReasons();

}  // namespace corral::conf
