// Plain data the master keeps about agents and tasks, with their JSON forms
// (used for persistence and the internal agent protocol).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "conf/resources.h"
#include "conf/task_state.h"

namespace corral::master {

enum class AgentStatus { kActive, kUnreachable, kRecovering };
std::string_view toString(AgentStatus s);

struct AgentRecord {
  std::string id;
  std::string hostname;  // the agent's --ip, which tasks bind as $HOST
  int port = 5051;
  conf::Resources total;
  conf::Attributes attributes;
  AgentStatus status = AgentStatus::kRecovering;
  int64_t registeredAtMs = 0;
  int64_t lastSeenMs = 0;  // monotonic loop time; not persisted
  bool draining = false;   // shutting down: no new offers; cleared on re-registration
};

struct TaskRecord {
  std::string id;
  std::string framework;  // the scheduler that launched it
  std::string appId;
  std::string version;
  std::string agentId;
  std::string host;
  std::vector<int> ports;
  std::vector<int> servicePorts;
  double cpus = 0, mem = 0, disk = 0;
  conf::TaskState state = conf::TaskState::kStaging;
  std::string message;
  // Why the last status update was sent (Mesos TaskStatus.Reason): the
  // scheduler decides on it, e.g. a health kill, never on the message text.
  conf::TaskReason reason = conf::TaskReason::kNone;
  std::optional<bool> healthy;
  int consecutiveFailures = 0;
  std::string lastFailureCause;
  int64_t stagedAtMs = 0;
  int64_t startedAtMs = 0;
  int64_t lastSuccessMs = 0;
  int64_t lastFailureMs = 0;
  int64_t firstSuccessMs = 0;
  bool killRequested = false;
  Json launch;  // what the agent was told to run (kept for re-sends)
};

Json agentToJson(const AgentRecord& a);
Result<AgentRecord> agentFromJson(const Json& j);
Json taskToJson(const TaskRecord& t);
Result<TaskRecord> taskFromJson(const Json& j);

}  // namespace corral::master
