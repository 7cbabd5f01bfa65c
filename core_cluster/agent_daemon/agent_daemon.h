// The agent process: registers with the master (Mesos-style resources and
// attributes), heartbeats, runs tasks through the TaskRunner, and delivers
// status updates at least once (retried until the master acknowledges).
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/cancel.h"
#include "base/http_server.h"
#include "base/json.h"
#include "base/loop.h"
#include "conf/resources.h"
#include "core_cluster/agent/task_runner.h"
#include "core_cluster/auth/http_users.h"
#include "core_cluster/wire/agent_messages.h"

namespace corral::tls {
class Context;
}  // namespace corral::tls

namespace corral::agent {

class TaskGroupRecord;

struct AgentDaemonOptions {
  std::string ip = "127.0.0.1";
  int port = 5051;
  std::string masterHost = "127.0.0.1";
  int masterPort = 8080;
  std::string resources = "cpus:4;mem:4096;disk:10000;ports:[31000-32000]";
  std::string attributes;
  std::string workDir = "/tmp/corral-agent";
  uint64_t heartbeatMs = 1000;
  uint64_t retryMs = 1000;
  // Sent with every call to the master (Authorization header: "Basic ..." of
  // the agent's --credential); "" when the master takes agents without one.
  std::string masterAuthorization;
  // HTTPS to the master with this client context (--master https://...);
  // null: plain HTTP.
  std::shared_ptr<const tls::Context> masterTls;
  // HTTP users (--http-credentials-file; any role, every endpoint only reads)
  // who may read /state, /files/* and /metrics besides the master.
  auth::HttpUsers httpUsers;
  // Whether /state, /files/* and /metrics need the master's token or an HTTP
  // user: on in a secured cluster (with a --credential or HTTP users).
  bool secured() const { return !masterAuthorization.empty() || httpUsers.enabled(); }
  // Tasks of apps without a `user` run as this user when the agent is root.
  std::string defaultUser = "nobody";
  // Each task in its own PID namespace (root only). nullopt: on when the
  // agent is root and the kernel allows it.
  std::optional<bool> isolatePids;
  // The program that starts tasks as their user (core_cluster/agent/
  // task_launcher.h): `corral agent` sets its own binary, /proc/self/exe.
  // Empty: tasks run as the agent's own user (in-process tests, whose binary
  // is no launcher).
  std::string taskLauncher;
};

class AgentDaemon {
 public:
  static Result<std::unique_ptr<AgentDaemon>> create(Loop& loop, AgentDaemonOptions options);
  ~AgentDaemon();
  // Stops heartbeats and the API, kills every task, and calls done when all is closed.
  void shutdown(std::function<void()> done);
  const std::string& agentId() const { return agentId_; }
  int port() const { return options_.port; }  // the API's port (bound when 0 was asked)

 private:
  AgentDaemon(Loop& loop, AgentDaemonOptions options, conf::Resources resources, PortPool pool);
  Status start();
  void registerWithMaster();
  void heartbeat();
  void onStatus(const TaskStatus& st);
  void flushUpdates();
  void persistPendingUpdates();
  void loadPendingUpdates();
  void handle(http::Request& req, std::shared_ptr<http::Exchange> ex);
  // True when the request carries the token of the master we registered with;
  // otherwise answers 401 (logged, counted) and returns false.
  bool fromCurrentMaster(const http::Request& req, http::Exchange& ex);
  // The master's token or an HTTP user, when the agent is secured.
  bool mayRead(const http::Request& req, http::Exchange& ex);
  bool hasMasterToken(const http::Request& req) const;
  void launch(TaskLaunch task);
  void launchPending();
  void killFromMaster(const std::vector<std::string>& taskIds, const char* why);
  void postToMaster(const std::string& path, std::string body,
                    std::function<void(Result<http::Response>)> cb);

  Loop& loop_;
  CancelGroup masterCalls_;  // posts to the master in flight: none calls back after ~AgentDaemon
  AgentDaemonOptions options_;
  conf::Resources resources_;
  PortPool pool_;
  std::unique_ptr<TaskGroupRecord> taskGroups_;  // running tasks' process groups, on disk
  std::unique_ptr<TaskRunner> runner_;
  std::unique_ptr<http::Server> server_;
  std::string agentId_;
  // Given by the master at each registration; its calls to /internal/* carry
  // it. Empty until registered: then no call is taken.
  std::string masterToken_;
  bool registered_ = false;
  bool registering_ = false;
  bool sending_ = false;
  bool stopping_ = false;  // final: nothing is sent any more
  bool draining_ = false;  // shutdown began: tasks stopping, statuses still delivered
  std::deque<wire::StatusUpdate> pending_;
  uint64_t updateSeq_ = 0;
  uint64_t persistFailures_ = 0;  // pending_updates.json writes that failed
  Timer heartbeatTimer_;
  Timer retryTimer_;
  Timer shutdownTimer_;
  Timer launchTimer_;  // runs pendingLaunches_ on the turn after the 202
  std::vector<TaskLaunch> pendingLaunches_;
  uint64_t deliveryDeadlineMs_ = 0;          // set once the tasks are gone
  std::map<std::string, double> killGrace_;  // live tasks' kill grace periods, seconds
  // Stopping waits for the tasks' grace periods plus this (their SIGKILL and
  // exit), then at most kDeliveryWindowMs for their last statuses to be acknowledged.
  static constexpr uint64_t kTaskKillSlackMs = 1000;
  static constexpr uint64_t kDeliveryWindowMs = 2000;
};

}  // namespace corral::agent
