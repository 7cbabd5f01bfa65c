// Plain data shared by the agent's task runtime: what to launch, what it became.
// No behaviour beyond naming; cheap to include.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/task_state.h"

namespace corral::agent {

// Mesos task states: the one definition (and the one list of terminal states)
// is conf/task_state.h, shared with the master, scheduler and registry.
using conf::isTerminal;
using conf::TaskState;
using conf::taskStateFromString;
using conf::toString;

// One entry of Marathon's `fetch` (or legacy `uris`).
struct FetchUri {
  std::string uri;  // absolute path, file://, or http:// (https is rejected with a clear error)
  bool extract =
      true;  // .tar, .tar.gz, .tgz, .tar.bz2, .tar.xz, .zip are unpacked into the sandbox
  bool executable = false;  // chmod +x; an executable file is not extracted (as Mesos does)
  // Name of the fetched file, relative to the sandbox; empty = last path segment of the URI.
  std::string destPath;
};

// Marathon's health check definition (defaults are Marathon's).
struct HealthCheckSpec {
  enum class Protocol { kHttp, kHttps, kTcp, kCommand };
  Protocol protocol = Protocol::kHttp;
  std::string path = "/";   // HTTP/HTTPS
  int portIndex = 0;        // index into the task's ports, unless `port` is set
  std::optional<int> port;  // absolute port
  std::string command;      // COMMAND: run by /bin/sh -c in the sandbox with the task env
  double gracePeriodSeconds =
      300;                         // failures ignored this long after launch, until a first success
  double intervalSeconds = 60;     // between the end of one check and the start of the next
  double timeoutSeconds = 20;      // a check taking longer is a failure
  int maxConsecutiveFailures = 3;  // then the task is killed; 0 = never kill
  double delaySeconds = 15;        // before the first check, counted from RUNNING
  bool ignoreHttp1xx = false;      // 1xx answers count neither as success nor as failure
};

std::string_view toString(HealthCheckSpec::Protocol protocol);

// Everything the runner needs to start one task. Built by the agent from the master's launch
// message.
struct TaskLaunch {
  std::string taskId;
  std::string appId;
  std::string appVersion;
  // Exactly one of cmd (run as /bin/sh -c cmd) or args (args[0] exec'd directly, PATH searched).
  std::string cmd;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  // Ports given by the master; reserved in the runner's pool for the task's life.
  std::vector<uint16_t> ports;
  // If `ports` is empty: this many ports are allocated from the runner's pool instead.
  uint32_t dynamicPortCount = 0;
  // Names per port index ("" = unnamed): PORT_<NAME> (upper-cased, non-alnum → '_').
  std::vector<std::string> portNames;
  std::string hostIp = "127.0.0.1";
  std::string sandboxRoot;                       // the task's sandbox is <sandboxRoot>/<taskId>/
  std::optional<double> killGracePeriodSeconds;  // none = TaskRunner::kDefaultKillGraceSeconds
  std::vector<FetchUri> fetch;
  std::vector<HealthCheckSpec> healthChecks;
  // The app's `user` (Marathon's field): "" = the agent's --default-user when
  // it runs as root, else the agent's own user (see task_user.h).
  std::string user;
};

// Why a status was sent, beyond the state itself (maps to Mesos reasons / Marathon events).
enum class StatusReason {
  kNone,
  kHealthChanged,      // healthy flipped (or first became known); state unchanged
  kHealthCheckFailed,  // another counted failure while already unhealthy
  kUnhealthyKill,      // maxConsecutiveFailures reached: the runner kills the task
  kKillRequested,      // kill() was called
  kFetchFailed,        // a URI could not be fetched/extracted: TASK_FAILED before start
  kLaunchFailed,       // sandbox/spawn/ports failure: TASK_FAILED/TASK_ERROR before start
  kExited,             // the process ended on its own
  kShutdown,           // the runner was shut down
};

std::string_view toString(StatusReason reason);
// The Mesos reason a status carries on the wire to the master.
conf::TaskReason toTaskReason(StatusReason reason);

struct TaskStatus {
  std::string taskId;
  TaskState state = TaskState::kStaging;
  std::string message;
  std::optional<bool> healthy;  // nullopt: no health checks, or none has answered yet
  int pid = 0;                  // also the task's process group id; 0 before start
  StatusReason reason = StatusReason::kNone;
};

// A task as the agent API shows it.
struct TaskInfo {
  std::string taskId;
  std::string appId;
  std::string appVersion;
  TaskState state = TaskState::kStaging;
  std::optional<bool> healthy;
  int pid = 0;
  std::vector<uint16_t> ports;
  std::string hostIp;
  std::string sandbox;  // absolute path of <sandboxRoot>/<taskId>
  std::string user;     // whom the task runs as ("" = the agent's own user)
  std::string message;  // last status message
  std::optional<int> exitStatus;
  std::optional<int> termSignal;
};

// Result of reading part of a sandbox file.
struct SandboxChunk {
  std::string data;
  uint64_t offset = 0;  // where `data` starts in the file
  uint64_t size = 0;    // current file size
};

}  // namespace corral::agent
