// The agent's local task runtime: runs tasks as process groups in sandboxes on one libuv loop,
// kills them, health-checks them and reports every state change.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "core_cluster/agent/port_pool.h"
#include "core_cluster/agent/task_types.h"
#include "core_cluster/agent/task_user.h"

namespace corral::agent {

// Single-threaded: every method must be called on the loop's thread.
//
// Lifecycle of a task: launch() → TASK_STAGING (while fetching) → TASK_STARTING → TASK_RUNNING →
// TASK_FINISHED (exit 0) | TASK_FAILED (exit != 0, signal, fetch or spawn failure) |
// TASK_KILLING → TASK_KILLED (kill(), failed health checks, shutdown()).
//
// Status callbacks are never called from inside a public method: they are queued and delivered
// from the loop, in order. A callback may call launch()/kill(), but must not destroy the runner.
//
// Ports: the PortPool is owned by the caller and must outlive the runner. launch() reserves the
// task's ports in it (or allocates dynamicPortCount of them) and the runner releases them when the
// task reaches a terminal state, after its whole process group has been sent SIGKILL.
//
// Teardown: call shutdown(done), keep running the loop until `done` has been called (all tasks
// killed, their statuses delivered, every handle closed), then destroy the runner (not from
// inside `done` itself: defer it, e.g. Loop::deleteLater).
//
// Lifetime (base/loop.h): the runner owns its dispatch timer, each Task owns its process, kill
// timer and health checkers, and holds the cancel handle of its fetch. Destroying the runner
// early (before shutdown completed) closes all of them: no callback runs afterwards, and live
// process groups are SIGKILLed.
class TaskRunner {
 public:
  static constexpr double kDefaultKillGraceSeconds = 5.0;
  using StatusCallback = std::function<void(const TaskStatus&)>;

  struct Options {
    // Terminal tasks kept for tasks()/readSandboxFile() (oldest dropped first); sandboxes stay on
    // disk.
    size_t maxCompletedTasks = 100;
    double httpFetchTimeoutSeconds = 60;
    // Whom tasks run as. The default runs them as the runner's own user; the
    // agent daemon switches users when it runs as root.
    RunAsPolicy runAs;
  };

  TaskRunner(uv_loop_t* loop, PortPool* ports, StatusCallback onStatus);
  TaskRunner(uv_loop_t* loop, PortPool* ports, StatusCallback onStatus, Options options);
  ~TaskRunner();
  TaskRunner(const TaskRunner&) = delete;
  TaskRunner& operator=(const TaskRunner&) = delete;

  // Accepts a task and starts fetching/spawning it. On error (invalid launch, duplicate live task
  // id, ports unavailable, sandbox not creatable, runner shut down) nothing was started, no status
  // follows, and the caller reports TASK_ERROR/TASK_FAILED itself.
  Status launch(const TaskLaunch& launch);

  // SIGTERM to the task's process group, SIGKILL after the grace period (nullopt: the task's
  // killGracePeriodSeconds, else kDefaultKillGraceSeconds; 0: SIGKILL at once). A second kill can
  // only shorten the remaining grace. Killing a terminal task is a no-op. Error kNotFound for
  // unknown ids.
  Status kill(const std::string& taskId, std::optional<double> graceSeconds = std::nullopt);

  // SIGKILLs every live task (its statuses are still delivered: TASK_KILLED, reason kShutdown),
  // then closes all handles and calls `done` from the loop. launch() fails from now on.
  // Calling it again adds another `done`; once closed, `done` is called at once.
  void shutdown(std::function<void()> done = {});
  bool closed() const { return closed_; }

  // Live tasks and the most recent terminal ones.
  std::vector<TaskInfo> tasks() const;
  std::optional<TaskInfo> task(const std::string& taskId) const;
  size_t liveTaskCount() const;

  // Part of a file in the task's sandbox ("stdout", "stderr", or any path below it).
  // offset nullopt = the last `length` bytes. Errors: kNotFound (unknown task/file),
  // kInvalid (bad path).
  Result<SandboxChunk> readSandboxFile(const std::string& taskId, const std::string& path,
                                       std::optional<uint64_t> offset, size_t length) const;

 private:
  struct Task;
  struct FetchJob;

  Status validate(const TaskLaunch& launch) const;
  void startFetch(Task& task);
  void onFetchDone(const std::string& taskId, Status result, bool cancelled);
  void spawn(Task& task);
  void onExit(Task& task, int64_t exitStatus, int termSignal);
  void startKill(Task& task, double graceSeconds, StatusReason reason, const std::string& message);
  void onHealthResult(Task& task, size_t checkIndex, int outcome, const std::string& reason);
  void terminate(Task& task, TaskState state, const std::string& message, StatusReason reason);
  void post(Task& task, TaskState state, const std::string& message, StatusReason reason);
  void dispatch();
  void prune();
  void maybeFinishShutdown();
  void onClosed();
  static void onDispatchTimerClosed(uv_handle_t* h);
  double nowSeconds() const;
  TaskInfo infoOf(const Task& task) const;

  uv_loop_t* loop_;
  PortPool* ports_;
  StatusCallback onStatus_;
  Options options_;
  uv_timer_t* dispatchTimer_ = nullptr;  // data: this, or null once the runner is gone
  std::deque<TaskStatus> queue_;
  std::map<std::string, std::unique_ptr<Task>> tasks_;
  std::deque<std::string> completed_;  // terminal task ids, oldest first
  bool shuttingDown_ = false;
  bool closing_ = false;
  bool closed_ = false;
  std::vector<std::function<void()>> onClosed_;
};

}  // namespace corral::agent
