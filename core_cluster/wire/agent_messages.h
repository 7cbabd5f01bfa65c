// The messages of the master <-> agent protocol (/internal/*), typed: one
// definition of each, used by both sides. Parsers are socket-free (bytes in,
// value or precise error out) and validate every field they read: a field of
// the wrong type or out of range is an ErrorKind::kInvalid error whose message
// and path name it (e.g. "tasks[0].killGracePeriodSeconds: expected a number").
// Unknown fields are ignored, so a newer peer can add some.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "conf/task_state.h"
#include "core_cluster/agent/task_types.h"

namespace corral::wire {

// POST /internal/launch (master -> agent). hostIp and sandboxRoot of each
// task are the agent's own, not the master's: the agent sets them.
struct LaunchRequest {
  std::vector<agent::TaskLaunch> tasks;
};

// POST /internal/kill (master -> agent).
struct KillRequest {
  std::string taskId;
  std::optional<double> gracePeriodSeconds;  // none: the task's own kill grace period
};

// A status update of one task (agent -> master), kept by the agent until acknowledged.
struct StatusUpdate {
  std::string uuid;
  std::string taskId;
  conf::TaskState state = conf::TaskState::kUnknown;
  std::string message;
  std::optional<bool> healthy;
  conf::TaskReason reason = conf::TaskReason::kNone;  // reasons we do not know are kUnknown
  std::string timestamp;
  std::string agentId;  // "" = the sender's
};

// A task the agent runs, as it reports it when (re-)registering.
struct ReportedTask {
  std::string taskId;
  conf::TaskState state = conf::TaskState::kUnknown;
  std::optional<bool> healthy;
  std::string message;
};

// POST /internal/agents/register (agent -> master).
struct RegisterRequest {
  std::string agentId;  // "" the first time
  std::string hostname;
  int port = 5051;
  std::string resources;   // Mesos syntax (conf::parseResources)
  std::string attributes;  // Mesos syntax (conf::parseAttributes)
  std::vector<ReportedTask> tasks;
  std::vector<StatusUpdate> updates;  // undelivered updates, applied before reconciling
};

// The master's answer to a registration.
struct RegisterReply {
  std::string agentId;
  std::string masterEpoch;
  // Proof the master's calls to this agent carry (Authorization: Bearer);
  // new at every registration.
  std::string token;
  std::vector<std::string> kill;  // tasks the master does not want running
};

// POST /internal/status (agent -> master).
struct StatusBatch {
  std::string agentId;
  std::vector<StatusUpdate> updates;
};

// The master's answer to a status batch.
struct StatusAck {
  std::vector<std::string> kill;  // orphans: tasks the master does not know
};

Result<LaunchRequest> parseLaunchRequest(std::string_view body);
Result<KillRequest> parseKillRequest(std::string_view body);
Result<RegisterRequest> parseRegisterRequest(std::string_view body);
Result<RegisterReply> parseRegisterReply(std::string_view body);
// Also accepts a single update object (no "updates" array), as earlier agents sent.
Result<StatusBatch> parseStatusBatch(std::string_view body);
Result<StatusAck> parseStatusAck(std::string_view body);
// One task of a launch: the master validates its scheduler's payload with it
// before sending. `json` is the JSON text of one task object.
Result<agent::TaskLaunch> parseTaskLaunch(std::string_view json);
// A list of status updates as the agent keeps them on disk.
Result<std::vector<StatusUpdate>> parseStatusUpdateList(std::string_view body);

std::string toJson(const LaunchRequest& m);
std::string toJson(const KillRequest& m);
std::string toJson(const RegisterRequest& m);
std::string toJson(const RegisterReply& m);
std::string toJson(const StatusBatch& m);
std::string toJson(const StatusAck& m);
std::string toJson(const std::vector<StatusUpdate>& list);

}  // namespace corral::wire
