// The task launcher: a small program (a hidden subcommand of the agent's own
// binary) between the agent and a task that must not run as root. The agent
// spawns it as root in the task's sandbox; it drops to the task's user
// (initgroups, setgid, setuid: in that order, each checked) and execs the
// task. With PID isolation it first enters a new PID and mount namespace: a
// reaper becomes pid 1 there (with its own /proc), runs the task as pid 2, and
// hands the task's exit status back to the launcher, which exits the same way,
// so the agent sees the task's own exit code or signal. A task then cannot see
// or signal any process outside its namespace, even one of the same user.
//
// Signals: the agent signals the launcher's whole process group (the
// launcher, the reaper and the task all belong to it); the launcher and the
// reaper hold SIGTERM and friends blocked, so only the task reacts to them and
// the kill grace period is the task's. SIGKILL ends all three, and the kernel
// kills everything left in a namespace when its pid 1 dies.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "core_cluster/agent/task_user.h"

namespace corral::agent {

// argv[1] of the agent binary that selects the launcher.
inline constexpr const char* kTaskLauncherCommand = "__task-launcher";

struct LauncherArgs {
  TaskUser user;
  bool isolatePids = false;
  std::vector<std::string> command;  // argv of the task, argv[0] PATH searched
};

// The argv that runs `command` through the launcher at `launcherPath`.
std::vector<std::string> launcherArgv(const std::string& launcherPath, const LauncherArgs& args);

// Parses argv as launcherArgv() builds it (argv[0] and argv[1] included).
Result<LauncherArgs> parseLauncherArgs(int argc, const char* const* argv);

// The launcher's main: does not return when the task was exec'd directly;
// otherwise returns the exit code to use (126: could not drop privileges or
// isolate, 127: could not exec).
int runTaskLauncher(int argc, char** argv);

// True when this process can create PID and mount namespaces (root with
// CAP_SYS_ADMIN, not forbidden by a container): probed once by a child.
bool canIsolatePids();

}  // namespace corral::agent
