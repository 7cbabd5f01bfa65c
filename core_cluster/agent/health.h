// Health checks with Marathon's semantics: HealthPolicy decides (pure), HealthChecker probes
// (on the loop). TaskRunner owns one checker and one policy per HealthCheckSpec of a task.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core_cluster/agent/task_types.h"
#include "core_cluster/agent/task_user.h"

namespace corral::http {
class ResponseParser;
}

namespace corral::agent {

// Turns raw check results into Marathon's health: failures are ignored during the grace period
// (counted from task start) until the first success; any success resets the failure count;
// maxConsecutiveFailures counted failures in a row (0 = never) mean the task must be killed.
class HealthPolicy {
 public:
  struct Verdict {
    bool counted = false;  // false: failure ignored (grace period)
    bool changed = false;  // healthy() differs from before this result
    std::optional<bool> healthy;
    int consecutiveFailures = 0;
    bool kill = false;
  };

  HealthPolicy(double gracePeriodSeconds, int maxConsecutiveFailures, double startedAtSeconds)
      : grace_(gracePeriodSeconds),
        maxFailures_(maxConsecutiveFailures),
        startedAt_(startedAtSeconds) {}

  Verdict onResult(bool ok, double nowSeconds);
  std::optional<bool> healthy() const { return healthy_; }
  int consecutiveFailures() const { return failures_; }

 private:
  double grace_;
  int maxFailures_;
  double startedAt_;
  bool everHealthy_ = false;
  int failures_ = 0;
  std::optional<bool> healthy_;
};

// Runs one health check repeatedly against a task: first after delaySeconds, then
// intervalSeconds after each check ends, each bounded by timeoutSeconds.
//   HTTP:  GET path on host:port, 200-399 healthy (1xx ignored if ignoreHttp1xx, else failure)
//   HTTPS: the same through `curl -k` (the agent links no TLS library); needs curl on PATH
//   TCP:   a connection is accepted
//   COMMAND: /bin/sh -c command in the sandbox with the task env (own process group), exit 0
//
// Lifetime (base/loop.h): the checker owns its timers and the probe in flight and closes them;
// no result callback runs after stop() or destruction. A stopped command probe is SIGKILLed
// (its process group) and stays owned until it has exited and been reaped, then onIdle runs;
// destroying the checker before that closes it at once.
class HealthChecker {
 public:
  enum class Outcome { kHealthy, kUnhealthy, kIgnored };
  struct Target {
    std::string host;  // an IP address (the task's HOST)
    int port = 0;      // resolved from portIndex/port; 0 for COMMAND
    std::string sandbox;
    std::vector<std::string> env;  // "K=V", for COMMAND
    // COMMAND probes run as this user through the task launcher at
    // launcherPath (none: as the agent's own user).
    std::optional<TaskUser> user;
    std::string launcherPath;
  };
  // reason: why it failed or was ignored; empty when healthy.
  using ResultCallback = std::function<void(Outcome outcome, const std::string& reason)>;

  // onIdle (optional): the checker was stopped and its last probe process has exited.
  HealthChecker(uv_loop_t* loop, HealthCheckSpec spec, Target target, ResultCallback cb,
                std::function<void()> onIdle = {});
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  void start();
  void stop();
  bool running() const { return running_; }
  // Stopped, with no probe process left to reap.
  bool idle() const { return !running_ && commandProbe_ == nullptr && dying_.empty(); }
  // "HTTP health check on 127.0.0.2:31001/health", "TCP health check on 127.0.0.2:31001",
  // "COMMAND health check `curl -f localhost`".
  const std::string& describe() const { return description_; }
  const HealthCheckSpec& spec() const { return spec_; }

 private:
  struct TcpProbe;
  struct CommandProbe;

  void schedule(double seconds);
  void runCheck();
  void startTcpProbe();
  void startCommandProbe(std::vector<std::string> argv, bool isCurl);
  void abortProbe();
  void finish(Outcome outcome, const std::string& reason);
  void onTcpConnected(int status);
  void onTcpRead(const char* data, ssize_t n);
  void onCommandExit(CommandProbe* probe, int64_t exitStatus, int termSignal);

  uv_loop_t* loop_;
  HealthCheckSpec spec_;
  Target target_;
  ResultCallback cb_;
  std::function<void()> onIdle_;
  std::string description_;
  bool running_ = false;
  bool succeededOnce_ = false;
  uint64_t startedMs_ = 0;  // loop time of start()
  uv_timer_t* intervalTimer_ = nullptr;
  uv_timer_t* timeoutTimer_ = nullptr;
  TcpProbe* tcpProbe_ = nullptr;
  CommandProbe* commandProbe_ = nullptr;
  std::vector<CommandProbe*> dying_;  // SIGKILLed probes, open until they exit
  bool commandIsCurl_ = false;
  std::unique_ptr<http::ResponseParser> responseParser_;
};

}  // namespace corral::agent
