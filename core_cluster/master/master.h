// The master: owns agents and their resources, the task table and its
// durability, offers free resources to schedulers (the allocator), and talks
// to agents over the internal HTTP protocol (/internal/...).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/cancel.h"
#include "base/http_server.h"
#include "base/loop.h"
#include "core_cluster/master/scheduler_api.h"
#include "core_cluster/state/state_store.h"

namespace corral::master {

struct MasterOptions {
  uint64_t allocationIntervalMs = 50;
  uint64_t offerTimeoutMs = 5000;
  uint64_t agentPingTimeoutMs = 10000;      // no heartbeat this long: unreachable
  uint64_t agentRemovalTimeoutMs = 600000;  // unreachable this long: removed
  uint64_t livenessCheckMs = 500;
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
    std::string state;
    std::string message;
    std::optional<bool> healthy;
    std::string reason;
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
  // Reads agent status updates; orphans (unknown or already-terminal tasks
  // reported alive) go to kill. False when an update is malformed.
  bool parseStatusUpdates(const std::vector<Json>& raw, const std::string& agentId,
                          std::vector<StatusInput>* inputs, Json* kill) const;
  void markAgentUnreachable(AgentRecord& agent);
  void removeAgent(const std::string& agentId);
  void sendToAgent(const AgentRecord& agent, const std::string& path, Json body,
                   std::function<void(bool ok, std::string error)> done);
  Scheduler* schedulerFor(const TaskRecord& t) const;

  void onRegister(http::Request& req, std::shared_ptr<http::Exchange> ex);
  void onHeartbeat(const std::string& agentId, http::Request& req,
                   std::shared_ptr<http::Exchange> ex);
  void onStatus(http::Request& req, std::shared_ptr<http::Exchange> ex);

  Loop& loop_;
  CancelGroup agentCalls_;  // requests to agents in flight (cancelled with the master)
  state::StateStore& store_;
  MasterOptions options_;
  std::vector<Scheduler*> schedulers_;
  std::map<std::string, AgentRecord> agents_;
  std::unordered_map<std::string, TaskRecord> tasks_;
  std::map<std::string, OfferState> offers_;
  std::map<std::pair<Scheduler*, std::string>, uint64_t> declined_;  // until loop ms
  uint64_t nextOfferId_ = 1;
  uint64_t nextAgentSeq_ = 1;
  std::string epoch_;
  Timer allocTimer_;
  Timer livenessTimer_;
};

}  // namespace corral::master
