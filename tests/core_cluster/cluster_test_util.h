// Helpers shared by the core_cluster unit tests: a synchronous HTTP client on
// the test's loop, a FakeDriver standing in for the master, and an event
// recorder on the EventBus.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/http_client.h"
#include "base/json.h"
#include "base/loop.h"
#include "core_cluster/events/event_bus.h"
#include "core_cluster/master/scheduler_api.h"

namespace corral::testing {

// Runs every closure already posted to the loop (and those they post, once).
inline void drain(Loop& loop) {
  bool done = false;
  loop.post([&done] { done = true; });
  loop.runUntil([&done] { return done; }, 2000);
}

// One request to 127.0.0.1:port, answered while the loop runs.
inline http::Response fetchSync(Loop& loop, int port, const std::string& method,
                                const std::string& target, const std::string& body = "",
                                http::Headers headers = {}) {
  http::Request req;
  req.method = method;
  req.target = target;
  req.body = body;
  req.headers = std::move(headers);
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  std::optional<Result<http::Response>> out;
  CancelHandle call = http::fetch(
      loop, "127.0.0.1", port, std::move(req),
      [&out](Result<http::Response> r) { out.emplace(std::move(r)); },
      http::ClientOptions{.timeoutMs = 5000, .tls = nullptr});
  EXPECT_TRUE(loop.runUntil([&out] { return out.has_value(); }, 6000));
  if (!out || !out->ok()) {
    ADD_FAILURE() << method << " " << target
                  << " failed: " << (out ? out->error().message : std::string("timeout"));
    return http::Response{599, {}, ""};
  }
  return std::move(out->value());
}

inline Json bodyJson(const http::Response& r) {
  auto j = parseJson(r.body);
  EXPECT_TRUE(j.ok()) << r.body;
  return j.ok() ? *j : Json();
}

// Records every event published on a bus.
class EventRecorder {
 public:
  explicit EventRecorder(events::EventBus& bus) : bus_(bus) {
    token_ = bus.subscribe([this](const events::StoredEvent& e) {
      auto j = parseJson(e.data);
      events_.push_back({e.type, j.ok() ? *j : Json()});
    });
  }
  ~EventRecorder() { bus_.unsubscribe(token_); }

  std::vector<std::string> types() const {
    std::vector<std::string> out;
    for (const auto& [t, d] : events_) out.push_back(t);
    return out;
  }
  std::vector<Json> ofType(const std::string& type) const {
    std::vector<Json> out;
    for (const auto& [t, d] : events_) {
      if (t == type) out.push_back(d);
    }
    return out;
  }
  size_t count(const std::string& type) const { return ofType(type).size(); }
  void clear() { events_.clear(); }

 private:
  events::EventBus& bus_;
  uint64_t token_ = 0;
  std::vector<std::pair<std::string, Json>> events_;
};

// Stands in for the master: keeps the task table, records what the scheduler
// asks for, and lets the test feed status updates back.
class FakeDriver : public master::SchedulerDriver {
 public:
  struct Accepted {
    std::string offerId;
    std::vector<master::TaskLaunchSpec> specs;
  };

  Result<bool> acceptOffer(const std::string& offerId,
                           const std::vector<master::TaskLaunchSpec>& specs) override {
    accepted.push_back({offerId, specs});
    if (failAccept) return makeError(ErrorKind::kUnavailable, "injected accept failure");
    for (const auto& s : specs) {
      master::TaskRecord t;
      t.id = s.taskId;
      t.framework = framework;
      t.appId = s.appId;
      t.version = s.version;
      t.agentId = offerAgents.count(offerId) ? offerAgents[offerId] : "";
      auto a = agents_.find(t.agentId);
      t.host = a == agents_.end() ? "" : a->second.hostname;
      t.ports = s.ports;
      t.servicePorts = s.servicePorts;
      t.cpus = s.cpus;
      t.mem = s.mem;
      t.disk = s.disk;
      t.stagedAtMs = ++clock_;  // strictly increasing: launch order is age order
      t.launch = s.launch;
      tasks_[t.id] = t;
      launchOrder.push_back(t.id);
    }
    return true;
  }
  void declineOffer(const std::string& offerId, double refuseSeconds) override {
    declined.push_back({offerId, refuseSeconds});
  }
  void killTask(const std::string& taskId, std::optional<double>) override {
    killed.push_back(taskId);
    auto it = tasks_.find(taskId);
    if (it != tasks_.end()) it->second.killRequested = true;
  }
  void reviveOffers() override { ++revives; }
  std::vector<const master::TaskRecord*> tasks() const override {
    ++fullScans;
    std::vector<const master::TaskRecord*> out;
    for (const auto& [id, t] : tasks_) out.push_back(&t);
    return out;
  }
  std::vector<const master::TaskRecord*> tasksOfApp(const std::string& appId) const override {
    ++appScans[appId];
    std::vector<const master::TaskRecord*> out;
    for (const auto& [id, t] : tasks_) {
      if (t.appId == appId) out.push_back(&t);
    }
    return out;
  }
  const master::TaskRecord* task(const std::string& id) const override {
    auto it = tasks_.find(id);
    return it == tasks_.end() ? nullptr : &it->second;
  }
  const master::AgentRecord* agent(const std::string& id) const override {
    auto it = agents_.find(id);
    return it == agents_.end() ? nullptr : &it->second;
  }
  std::vector<const master::AgentRecord*> agents() const override {
    std::vector<const master::AgentRecord*> out;
    for (const auto& [id, a] : agents_) out.push_back(&a);
    return out;
  }
  void expungeTask(const std::string& id) override {
    expunged.push_back(id);
    tasks_.erase(id);
  }

  // --- test controls ---
  void addAgent(const std::string& id, const std::string& hostname, const std::string& attrs = "") {
    master::AgentRecord a;
    a.id = id;
    a.hostname = hostname;
    a.status = master::AgentStatus::kActive;
    if (!attrs.empty()) a.attributes = *conf::parseAttributes(attrs);
    agents_[id] = a;
  }
  // An offer of `resources` (Mesos syntax) on an agent added with addAgent.
  master::Offer offer(const std::string& agentId, const std::string& resources) {
    master::Offer o;
    o.id = "O" + std::to_string(++nextOffer_);
    o.agentId = agentId;
    o.hostname = agents_.at(agentId).hostname;
    auto r = conf::parseResources(resources);
    EXPECT_TRUE(r.ok()) << resources;
    o.resources = *r;
    o.attributes = agents_.at(agentId).attributes;
    offerAgents[o.id] = agentId;
    return o;
  }
  master::TaskRecord* mutableTask(const std::string& id) {
    auto it = tasks_.find(id);
    return it == tasks_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> activeTaskIds(const std::string& appId = "") const {
    std::vector<std::string> out;
    for (const auto& [id, t] : tasks_) {
      if ((appId.empty() || t.appId == appId) && !conf::isTerminal(t.state)) {
        out.push_back(id);
      }
    }
    return out;
  }
  size_t launchedCount() const {
    size_t n = 0;
    for (const auto& a : accepted) n += a.specs.size();
    return n;
  }

  std::string framework = "marathon";
  bool failAccept = false;
  std::vector<Accepted> accepted;
  std::vector<std::pair<std::string, double>> declined;
  std::vector<std::string> killed;
  std::vector<std::string> expunged;
  std::vector<std::string> launchOrder;
  std::map<std::string, std::string> offerAgents;
  int revives = 0;
  // How often the scheduler read every task, and each app's tasks.
  mutable size_t fullScans = 0;
  mutable std::map<std::string, size_t> appScans;

 private:
  std::map<std::string, master::TaskRecord> tasks_;
  std::map<std::string, master::AgentRecord> agents_;
  int64_t clock_ = 1000;
  uint64_t nextOffer_ = 0;
};

}  // namespace corral::testing
