// The agent process: registers with the master (Mesos-style resources and
// attributes), heartbeats, runs tasks through the TaskRunner, and delivers
// status updates at least once (retried until the master acknowledges).
#pragma once

#include <deque>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/cancel.h"
#include "base/http_server.h"
#include "base/json.h"
#include "base/loop.h"
#include "conf/resources.h"
#include "core_cluster/agent/task_runner.h"

namespace corral::agent {

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
  // Longest wait for tasks to stop and statuses to be delivered on shutdown().
  uint64_t shutdownDeadlineMs = 30000;
};

class AgentDaemon {
 public:
  static Result<std::unique_ptr<AgentDaemon>> create(Loop& loop, AgentDaemonOptions options);
  ~AgentDaemon();
  // Stops heartbeats and the API, kills every task, and calls done when all is closed.
  void shutdown(std::function<void()> done);
  const std::string& agentId() const { return agentId_; }
  int apiPort() const { return options_.port; }

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
  void launchFromJson(const Json& task);
  void postToMaster(const std::string& path, const Json& body,
                    std::function<void(Result<http::Response>)> cb);

  struct PendingUpdate {
    Json body;
  };

  Loop& loop_;
  CancelGroup masterCalls_;  // posts to the master in flight: none calls back after ~AgentDaemon
  AgentDaemonOptions options_;
  conf::Resources resources_;
  PortPool pool_;
  std::unique_ptr<TaskRunner> runner_;
  std::unique_ptr<http::Server> server_;
  std::string agentId_;
  bool registered_ = false;
  bool registering_ = false;
  bool sending_ = false;
  bool stopping_ = false;  // final: nothing is sent any more
  bool draining_ = false;  // shutdown began: tasks stopping, statuses still delivered
  std::deque<PendingUpdate> pending_;
  uint64_t updateSeq_ = 0;
  Timer heartbeatTimer_;
  Timer retryTimer_;
  Timer shutdownTimer_;
};

}  // namespace corral::agent
