// The master: owns agents and their resources, the task table and its
// durability, offers free resources to schedulers (the allocator), and talks
// to agents over the internal HTTP protocol (/internal/...).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/cancel.h"
#include "base/http_server.h"
#include "base/loop.h"
#include "core_cluster/auth/credentials.h"
#include "core_cluster/master/scheduler_api.h"
#include "core_cluster/state/state_store.h"
#include "core_cluster/wire/agent_messages.h"

namespace corral::master {

struct MasterOptions {
  uint64_t allocationIntervalMs = 50;
  uint64_t offerTimeoutMs = 5000;
  uint64_t agentPingTimeoutMs = 10000;      // no heartbeat this long: unreachable
  uint64_t agentRemovalTimeoutMs = 600000;  // unreachable this long: removed
  uint64_t livenessCheckMs = 500;
  // Agent credentials the master accepts (--credentials). Empty: agents
  // register without one (a single-machine setup).
  auth::CredentialSet agentCredentials;
};

class Master : public SchedulerDriver {
 public:
  Master(Loop& loop, state::StateStore& store, MasterOptions options = {});
  ~Master() override;

  // Loads agents and tasks from the store. Agents start as RECOVERING until they re-register.
  Status recover(const state::StateMap& state);
  void addScheduler(Scheduler* scheduler);
  void start();

  // Serves /internal/... (agent protocol). Returns false when the path is not ours.
  bool handleInternal(http::Request& req, std::shared_ptr<http::Exchange> ex);

  // SchedulerDriver
  Result<bool> acceptOffer(const std::string& offerId,
                           const std::vector<TaskLaunchSpec>& tasks) override;
  void declineOffer(const std::string& offerId, double refuseSeconds) override;
  void killTask(const std::string& taskId, std::optional<double> gracePeriodSeconds) override;
  void reviveOffers() override;
  std::vector<const TaskRecord*> tasks() const override;
  std::vector<const TaskRecord*> tasksOfApp(const std::string& appId) const override;
  const TaskRecord* task(const std::string& taskId) const override;
  const AgentRecord* agent(const std::string& agentId) const override;
  std::vector<const AgentRecord*> agents() const override;
  void expungeTask(const std::string& taskId) override;

  size_t activeAgentCount() const;

 private:
  struct OfferState {
    Offer offer;
    Scheduler* scheduler;
    uint64_t createdMs;
  };
  struct StatusInput {
    std::string taskId;
    conf::TaskState state = conf::TaskState::kUnknown;
    std::string message;
    std::optional<bool> healthy;
    conf::TaskReason reason = conf::TaskReason::kNone;
    std::string agentId;
  };

  void allocate();
  void checkLiveness();
  conf::Resources freeResources(const AgentRecord& agent) const;
  void rescindOffersFor(const std::string& agentId);
  // Applies a status change, persists it, tells the scheduler. Returns false if persisting failed.
  bool applyStatus(const StatusInput& in);
  // Applies many changes with one durable commit (one fsync), then tells the scheduler.
  bool applyStatuses(const std::vector<StatusInput>& in);
  // Sorts agent status updates: orphans (unknown or already-terminal tasks
  // reported alive) go to kill, the others to inputs.
  void sortStatusUpdates(const std::vector<wire::StatusUpdate>& updates, const std::string& agentId,
                         std::vector<StatusInput>* inputs, std::vector<std::string>* kill) const;
  // The principal that may speak for `agentId` on /internal/*, when agent
  // credentials are on; answers 401/403 (logged, counted) and returns false
  // when the request may not.
  bool authenticateAgent(const http::Request& req, const std::string& agentId, http::Exchange& ex,
                         std::string* principal);
  void markAgentUnreachable(AgentRecord& agent);
  void removeAgent(const std::string& agentId);
  void sendToAgent(const AgentRecord& agent, const std::string& path, std::string body,
                   std::function<void(bool ok, std::string error)> done);
  Scheduler* schedulerFor(const TaskRecord& t) const;

  void onRegister(http::Request& req, std::shared_ptr<http::Exchange> ex,
                  const std::string& principal);
  void onHeartbeat(const std::string& agentId, http::Request& req,
                   std::shared_ptr<http::Exchange> ex);
  void onStatus(http::Request& req, std::shared_ptr<http::Exchange> ex);

  Loop& loop_;
  CancelGroup agentCalls_;  // requests to agents in flight (cancelled with the master)
  state::StateStore& store_;
  MasterOptions options_;
  std::vector<Scheduler*> schedulers_;
  std::map<std::string, AgentRecord> agents_;
  // Per registration, not persisted (after a restart agents must register
  // again before they are sent anything): the token the master's calls to the
  // agent carry, and the principal the agent authenticated as.
  struct AgentSession {
    std::string token;
    std::string principal;
  };
  std::map<std::string, AgentSession> sessions_;
  std::unordered_map<std::string, TaskRecord> tasks_;
  // app id -> ids of its tasks in tasks_, so one app's tasks cost what it has.
  std::unordered_map<std::string, std::set<std::string>> tasksByApp_;
  std::map<std::string, OfferState> offers_;
  std::map<std::pair<Scheduler*, std::string>, uint64_t> declined_;  // until loop ms
  uint64_t nextOfferId_ = 1;
  uint64_t nextAgentSeq_ = 1;
  std::string epoch_;
  Timer allocTimer_;
  Timer livenessTimer_;
};

}  // namespace corral::master
