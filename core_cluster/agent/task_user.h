// Whom a task runs as. An agent running as root runs each task as the app's
// `user` (Marathon's field), or its --default-user when the app names none;
// an agent that is not root runs every task as itself and refuses an app that
// asks for someone else.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "base/result.h"

namespace corral::agent {

// A system account, looked up once when the task is accepted.
struct TaskUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;     // primary group; supplementary groups come from initgroups()
  std::string home;  // the task's HOME
};

// How the agent decides.
struct RunAsPolicy {
  // True when the agent may switch users (it runs as root): tasks run as
  // `user` or defaultUser. False: tasks run as the agent's own user.
  bool switchUser = false;
  std::string defaultUser = "nobody";
  // Each task gets its own PID namespace (needs switchUser): it cannot see
  // or signal another task's processes even when both run as the same user.
  bool isolatePids = false;
  // The executable that provides the task launcher (kTaskLauncherCommand),
  // normally the agent's own binary; used only when switchUser is set.
  std::string launcherPath = "/proc/self/exe";
};

// getpwnam_r. Error kNotFound names the user.
Result<TaskUser> lookupUser(const std::string& name);

// The user a task asking for `requested` ("" = none) runs as: a TaskUser to
// switch to, or nullopt to run as the agent itself. Errors (unknown user, or
// a non-root agent asked for another user) name the user; the task fails.
Result<std::optional<TaskUser>> resolveTaskUser(const std::string& requested,
                                                const RunAsPolicy& policy);

// The name of the user this process runs as ("uid N" when it has no entry).
std::string currentUserName();

// Gives `path` and everything below it (without following symlinks) to the
// user, clearing set-id bits; a device file is an error. Blocking; for
// sandboxes filled by the fetcher while it ran as root.
Status chownTree(const std::string& path, const TaskUser& user);

// Whether `user` could read `path` itself (search permission on every
// directory above, read on it and, for a directory, on everything below):
// the fetcher copies local sources as root, and must not hand a task what
// its user could not read. Error kInvalid names what is not readable.
Status userMayRead(const std::string& path, const TaskUser& user);

// Adds search permission for others (o+x, never read) to `dir` and each of its
// ancestors owned by this process's user that lacks it, so a task user can
// reach its sandbox below `dir` by absolute path. Returns the directories
// changed, for the log.
std::string makeTraversable(const std::string& dir);

}  // namespace corral::agent
