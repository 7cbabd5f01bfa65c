#include "core_cluster/master/master.h"

#include "core_cluster/auth/refusal.h"

#include <nlohmann/json.hpp>

#include <random>

#include "base/clock.h"
#include "base/http_client.h"
#include "base/log.h"
#include "base/metrics.h"

namespace corral::master {

namespace {

std::string randomHex(size_t n) {
  static std::mt19937_64 rng(std::random_device{}());
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) s.push_back(kHex[rng() & 15]);
  return s;
}

http::Response jsonResponse(int status, const Json& body) {
  return http::Response::json(status, dumpJson(body));
}

http::Response errorResponse(int status, const std::string& message) {
  Json j;
  j["message"] = message;
  return jsonResponse(status, j);
}

http::Response invalid(const Error& e) {
  Json j;
  j["message"] = e.message;
  j["path"] = e.path;
  return jsonResponse(400, j);
}

metrics::Counter& statusUpdates() {
  static auto& c = metrics::global().counter("corral_master_status_updates_total",
                                             "Task status updates received from agents.");
  return c;
}

}  // namespace

Master::Master(Loop& loop, state::StateStore& store, MasterOptions options)
    : loop_(loop), store_(store), options_(options), allocTimer_(loop), livenessTimer_(loop) {
  epoch_ = randomHex(8);
  metrics::global().gaugeFn(
      "corral_master_agents_active", "Agents currently active.",
      [this] { return static_cast<double>(activeAgentCount()); }, "", this);
  metrics::global().gaugeFn(
      "corral_master_tasks", "Tasks the master tracks.",
      [this] { return static_cast<double>(tasks_.size()); }, "", this);
  metrics::global().gaugeFn(
      "corral_master_offers_outstanding", "Offers not yet answered.",
      [this] { return static_cast<double>(offers_.size()); }, "", this);
}

Master::~Master() { metrics::global().removeOwner(this); }

Status Master::recover(const state::StateMap& state) {
  uint64_t now = loop_.nowMs();
  for (const auto& [key, value] : state) {
    if (key.rfind("/agents/", 0) == 0) {
      auto a = agentFromJson(value);
      if (!a.ok())
        return makeError(a.error().kind, "cannot recover " + key + ": " + a.error().message);
      a->status = AgentStatus::kRecovering;
      a->lastSeenMs = now;
      agents_[a->id] = std::move(*a);
    } else if (key.rfind("/tasks/", 0) == 0) {
      auto t = taskFromJson(value);
      if (!t.ok())
        return makeError(t.error().kind, "cannot recover " + key + ": " + t.error().message);
      tasksByApp_[t->appId].insert(t->id);
      tasks_[t->id] = std::move(*t);
    } else if (key == "/master/agentSeq") {
      nextAgentSeq_ = value.get<uint64_t>();
    }
  }
  log::info("recovered {} agents and {} tasks; waiting for agents to re-register", agents_.size(),
            tasks_.size());
  return Status::Ok();
}

void Master::addScheduler(Scheduler* scheduler) {
  schedulers_.push_back(scheduler);
  scheduler->registered(this);
  log::info("scheduler registered: {}", scheduler->name());
}

void Master::start() {
  allocTimer_.start(options_.allocationIntervalMs, options_.allocationIntervalMs,
                    [this] { allocate(); });
  livenessTimer_.start(options_.livenessCheckMs, options_.livenessCheckMs,
                       [this] { checkLiveness(); });
}

size_t Master::activeAgentCount() const {
  size_t n = 0;
  for (const auto& [id, a] : agents_) n += a.status == AgentStatus::kActive;
  return n;
}

conf::Resources Master::freeResources(const AgentRecord& agent) const {
  conf::Resources used;
  conf::Ranges usedPorts;
  double cpus = 0, mem = 0, disk = 0;
  for (const auto& [id, t] : tasks_) {
    if (t.agentId != agent.id || !conf::isActive(t.state)) continue;
    cpus += t.cpus;
    mem += t.mem;
    disk += t.disk;
    for (int p : t.ports)
      usedPorts.add(conf::Range{static_cast<uint64_t>(p), static_cast<uint64_t>(p)});
  }
  for (const auto& [id, o] : offers_) {
    if (o.offer.agentId != agent.id) continue;
    cpus += o.offer.resources.cpus();
    mem += o.offer.resources.mem();
    disk += o.offer.resources.disk();
    usedPorts.add(o.offer.resources.ports());
  }
  conf::Resources free;
  auto sub = [](double total, double u) { return total - u > 0.0005 ? total - u : 0.0; };
  free.add(conf::Resources::scalarOf("cpus", sub(agent.total.cpus(), cpus)));
  free.add(conf::Resources::scalarOf("mem", sub(agent.total.mem(), mem)));
  free.add(conf::Resources::scalarOf("disk", sub(agent.total.disk(), disk)));
  conf::Ranges ports = agent.total.ports();
  ports.subtract(usedPorts);
  if (!ports.empty()) free.add(conf::Resources::rangesOf("ports", ports));
  return free;
}

void Master::allocate() {
  if (schedulers_.empty()) return;
  uint64_t now = loop_.nowMs();
  // Stale offers are rescinded so their resources can be offered again.
  for (auto it = offers_.begin(); it != offers_.end();) {
    if (now - it->second.createdMs > options_.offerTimeoutMs) {
      auto* s = it->second.scheduler;
      std::string id = it->first;
      it = offers_.erase(it);
      log::info("offer {} rescinded: not answered within {} ms", id, options_.offerTimeoutMs);
      s->offerRescinded(id);
    } else {
      ++it;
    }
  }
  std::map<Scheduler*, std::vector<Offer>> batches;
  size_t rr = 0;
  for (auto& [agentId, agent] : agents_) {
    if (agent.status != AgentStatus::kActive || agent.draining) continue;
    bool outstanding = false;
    for (const auto& [oid, o] : offers_) outstanding |= o.offer.agentId == agentId;
    if (outstanding) continue;
    conf::Resources free = freeResources(agent);
    if (free.cpus() < 0.001 && free.mem() < 1) continue;
    // Round-robin agents among the schedulers that have not declined them.
    for (size_t k = 0; k < schedulers_.size(); ++k) {
      Scheduler* s = schedulers_[(rr + k) % schedulers_.size()];
      auto d = declined_.find({s, agentId});
      if (d != declined_.end() && d->second > now) continue;
      Offer offer{"O" + std::to_string(nextOfferId_++), agentId, agent.hostname, free,
                  agent.attributes};
      offers_[offer.id] = OfferState{offer, s, now};
      batches[s].push_back(std::move(offer));
      break;
    }
    ++rr;
  }
  for (auto& [s, offers] : batches) s->resourceOffers(offers);
}

Result<bool> Master::acceptOffer(const std::string& offerId,
                                 const std::vector<TaskLaunchSpec>& specs) {
  auto it = offers_.find(offerId);
  if (it == offers_.end()) return false;
  OfferState os = it->second;
  offers_.erase(it);
  if (specs.empty()) return true;
  auto ag = agents_.find(os.offer.agentId);
  if (ag == agents_.end() || ag->second.status != AgentStatus::kActive) return false;
  // Check the tasks fit the offer.
  double cpus = 0, mem = 0, disk = 0;
  conf::Ranges ports = os.offer.resources.ports();
  for (const auto& s : specs) {
    cpus += s.cpus;
    mem += s.mem;
    disk += s.disk;
    for (int p : s.ports) {
      if (!ports.take(static_cast<uint64_t>(p))) {
        return makeError(ErrorKind::kInvalid,
                         "port " + std::to_string(p) + " is not in offer " + offerId);
      }
    }
  }
  const auto& r = os.offer.resources;
  if (cpus > r.cpus() + 1e-6 || mem > r.mem() + 1e-6 || disk > r.disk() + 1e-6) {
    return makeError(ErrorKind::kInvalid, "tasks need more than offer " + offerId + " holds");
  }
  std::vector<state::Mutation> batch;
  std::vector<TaskRecord> created;
  std::vector<agent::TaskLaunch> parsedLaunches;
  int64_t nowWall = wallMs();
  for (const auto& s : specs) {
    TaskRecord t;
    t.id = s.taskId;
    t.framework = os.scheduler->name();
    t.appId = s.appId;
    t.version = s.version;
    t.agentId = ag->second.id;
    t.host = ag->second.hostname;
    t.ports = s.ports;
    t.servicePorts = s.servicePorts;
    t.cpus = s.cpus;
    t.mem = s.mem;
    t.disk = s.disk;
    t.stagedAtMs = nowWall;
    t.launch = s.launch;
    t.launch["taskId"] = t.id;
    t.launch["ports"] = t.ports;
    t.launch["hostIp"] = t.host;
    t.launch["appId"] = t.appId;
    t.launch["appVersion"] = t.version;
    // The agent takes only a valid launch: checked here, so that a bad payload
    // fails the offer (and the scheduler hears why) instead of every agent.
    auto parsed = wire::parseTaskLaunch(dumpJson(t.launch));
    if (!parsed.ok()) {
      return makeError(ErrorKind::kInvalid,
                       "launch of task " + t.id + " is invalid: " + parsed.error().message);
    }
    parsedLaunches.push_back(std::move(*parsed));
    batch.push_back(state::Mutation::put("/tasks/" + t.id, taskToJson(t)));
    created.push_back(std::move(t));
  }
  if (Status st = store_.commit(batch); !st.ok()) {
    return makeError(st.error().kind, "cannot persist launched tasks: " + st.error().message);
  }
  wire::LaunchRequest launches;
  for (auto& t : created) {
    launches.tasks.push_back(std::move(parsedLaunches[launches.tasks.size()]));
    tasksByApp_[t.appId].insert(t.id);
    tasks_[t.id] = std::move(t);
  }
  std::string body = wire::toJson(launches);
  std::vector<std::string> ids;
  for (const auto& s : specs) ids.push_back(s.taskId);
  log::info("launching {} task(s) on agent {} ({})", ids.size(), ag->second.id,
            ag->second.hostname);
  std::string agentId = ag->second.id;
  sendToAgent(
      ag->second, "/internal/launch", std::move(body),
      [this, ids, agentId](bool ok, std::string err) {
        if (ok) return;
        for (const auto& id : ids) {
          auto t = tasks_.find(id);
          if (t == tasks_.end() || t->second.state != conf::TaskState::kStaging) continue;
          applyStatus(StatusInput{id, conf::TaskState::kDropped,
                                  "launch on agent " + agentId + " failed: " + err, std::nullopt,
                                  conf::TaskReason::kAgentDisconnected, agentId});
        }
      });
  return true;
}

void Master::declineOffer(const std::string& offerId, double refuseSeconds) {
  auto it = offers_.find(offerId);
  if (it == offers_.end()) return;
  if (refuseSeconds > 0) {
    declined_[{it->second.scheduler, it->second.offer.agentId}] =
        loop_.nowMs() + static_cast<uint64_t>(refuseSeconds * 1000);
  }
  offers_.erase(it);
}

void Master::reviveOffers() { declined_.clear(); }

void Master::killTask(const std::string& taskId, std::optional<double> grace) {
  auto it = tasks_.find(taskId);
  if (it == tasks_.end()) return;
  TaskRecord& t = it->second;
  if (conf::isTerminal(t.state)) return;
  t.killRequested = true;
  auto ag = agents_.find(t.agentId);
  if (ag == agents_.end() || ag->second.status != AgentStatus::kActive) {
    // Nothing to ask: the agent is gone. The task is lost to us.
    applyStatus(StatusInput{taskId, conf::TaskState::kKilled,
                            "killed while its agent was unreachable", std::nullopt,
                            conf::TaskReason::kAgentDisconnected, t.agentId});
    return;
  }
  log::info("killing task {} on agent {}", taskId, t.agentId);
  sendToAgent(ag->second, "/internal/kill", wire::toJson(wire::KillRequest{taskId, grace}),
              [taskId](bool ok, std::string err) {
                if (!ok) log::warn("kill of task {} not delivered: {}", taskId, err);
              });
}

std::vector<const TaskRecord*> Master::tasks() const {
  std::vector<const TaskRecord*> out;
  out.reserve(tasks_.size());
  for (const auto& [id, t] : tasks_) out.push_back(&t);
  return out;
}

std::vector<const TaskRecord*> Master::tasksOfApp(const std::string& appId) const {
  std::vector<const TaskRecord*> out;
  auto ids = tasksByApp_.find(appId);
  if (ids == tasksByApp_.end()) return out;
  out.reserve(ids->second.size());
  for (const auto& id : ids->second) {
    auto it = tasks_.find(id);
    if (it != tasks_.end()) out.push_back(&it->second);
  }
  return out;
}

const TaskRecord* Master::task(const std::string& taskId) const {
  auto it = tasks_.find(taskId);
  return it == tasks_.end() ? nullptr : &it->second;
}

const AgentRecord* Master::agent(const std::string& agentId) const {
  auto it = agents_.find(agentId);
  return it == agents_.end() ? nullptr : &it->second;
}

std::vector<const AgentRecord*> Master::agents() const {
  std::vector<const AgentRecord*> out;
  for (const auto& [id, a] : agents_) out.push_back(&a);
  return out;
}

void Master::expungeTask(const std::string& taskId) {
  auto it = tasks_.find(taskId);
  if (it == tasks_.end()) return;
  auto byApp = tasksByApp_.find(it->second.appId);
  if (byApp != tasksByApp_.end()) {
    byApp->second.erase(taskId);
    if (byApp->second.empty()) tasksByApp_.erase(byApp);
  }
  tasks_.erase(it);
  if (Status st = store_.commit({state::Mutation::del("/tasks/" + taskId)}); !st.ok()) {
    log::error("cannot expunge task {}: {}", taskId, st.error().message);
  }
}

Scheduler* Master::schedulerFor(const TaskRecord& t) const {
  for (auto* s : schedulers_) {
    if (s->name() == t.framework) return s;
  }
  return nullptr;
}

bool Master::applyStatus(const StatusInput& in) { return applyStatuses({in}); }

bool Master::applyStatuses(const std::vector<StatusInput>& inputs) {
  struct Change {
    std::string taskId;
    TaskRecord before;
    TaskRecord after;  // the task as this update left it (a batch may hold several per task)
    std::string message;
  };
  std::vector<Change> changes;
  std::vector<state::Mutation> batch;
  int64_t now = wallMs();
  for (const auto& in : inputs) {
    auto it = tasks_.find(in.taskId);
    if (it == tasks_.end()) continue;
    TaskRecord& t = it->second;
    // A terminal state is final: late updates do not resurrect a task, and a
    // duplicate (the agent retries when an ack is lost) is already durable.
    if (conf::isTerminal(t.state)) continue;
    TaskRecord before = t;
    t.state = in.state;
    t.reason = in.reason;
    if (!in.message.empty()) t.message = in.message;
    if (in.healthy.has_value()) {
      if (*in.healthy) {
        t.lastSuccessMs = now;
        if (!t.firstSuccessMs) t.firstSuccessMs = now;
        t.consecutiveFailures = 0;
      } else {
        t.lastFailureMs = now;
        t.consecutiveFailures++;
        t.lastFailureCause = in.message;
      }
      t.healthy = in.healthy;
    }
    if (in.state == conf::TaskState::kRunning && !t.startedAtMs) t.startedAtMs = now;
    if (before.state == t.state && before.healthy == t.healthy &&
        in.reason == conf::TaskReason::kNone) {
      t = std::move(before);  // nothing to persist: memory stays what is durable
      continue;
    }
    batch.push_back(state::Mutation::put("/tasks/" + t.id, taskToJson(t)));
    changes.push_back(Change{t.id, std::move(before), t, in.message});
  }
  if (changes.empty()) return true;
  if (Status st = store_.commit(batch); !st.ok()) {
    log::error("cannot persist {} status update(s): {}", changes.size(), st.error().message);
    // Newest first, so a task changed twice ends where it was before the batch.
    for (auto c = changes.rbegin(); c != changes.rend(); ++c) tasks_[c->taskId] = c->before;
    return false;
  }
  for (const auto& c : changes) {
    if (tasks_.find(c.taskId) == tasks_.end()) continue;
    // Each change as it happened, in order (STARTING, RUNNING, FAILED in one
    // batch are three transitions, not three times the last one). A copy: the
    // scheduler may expunge or change the task while handling it.
    TaskRecord t = c.after;
    log::info("task {} {} -> {}{}{}", t.id, conf::toString(c.before.state), conf::toString(t.state),
              t.healthy && t.state == conf::TaskState::kRunning
                  ? (*t.healthy ? " healthy" : " unhealthy")
                  : "",
              c.message.empty() ? "" : " (" + c.message + ")");
    if (auto* s = schedulerFor(t)) s->statusUpdate(t, c.before.state, c.before.healthy);
  }
  return true;
}

void Master::sendToAgent(const AgentRecord& agent, const std::string& path, std::string body,
                         std::function<void(bool, std::string)> done) {
  http::Request req;
  req.method = "POST";
  req.target = path;
  req.headers.emplace_back("Content-Type", "application/json");
  // Proof for the agent that the call comes from the master it registered with.
  if (auto s = sessions_.find(agent.id); s != sessions_.end()) {
    req.headers.emplace_back("Authorization", "Bearer " + s->second.token);
  }
  req.body = std::move(body);
  uint64_t key = agentCalls_.nextKey();
  agentCalls_.add(
      key, http::fetch(
               loop_, agent.hostname, agent.port, std::move(req),
               [this, key, done = std::move(done)](Result<http::Response> r) {
                 auto finished = std::move(done);
                 agentCalls_.done(key);
                 if (!r.ok()) return finished(false, r.error().message);
                 if (r->status >= 300)
                   return finished(false,
                                   "agent answered " + std::to_string(r->status) + ": " + r->body);
                 finished(true, "");
               },
               http::ClientOptions{.timeoutMs = 5000, .tls = nullptr}));  // agents: plain
}

void Master::rescindOffersFor(const std::string& agentId) {
  for (auto it = offers_.begin(); it != offers_.end();) {
    if (it->second.offer.agentId == agentId) {
      auto* s = it->second.scheduler;
      std::string id = it->first;
      it = offers_.erase(it);
      s->offerRescinded(id);
    } else {
      ++it;
    }
  }
}

void Master::markAgentUnreachable(AgentRecord& agent) {
  agent.status = AgentStatus::kUnreachable;
  log::warn("agent {} ({}) unreachable: no heartbeat for {} ms", agent.id, agent.hostname,
            options_.agentPingTimeoutMs);
  rescindOffersFor(agent.id);
  std::vector<std::string> ids;
  for (const auto& [id, t] : tasks_) {
    if (t.agentId == agent.id && conf::isActive(t.state)) ids.push_back(id);
  }
  for (const auto& id : ids) {
    applyStatus(StatusInput{id, conf::TaskState::kUnreachable,
                            "agent " + agent.id + " is unreachable", std::nullopt,
                            conf::TaskReason::kAgentDisconnected, agent.id});
  }
}

void Master::removeAgent(const std::string& agentId) {
  log::warn("agent {} removed after being unreachable for {} ms", agentId,
            options_.agentRemovalTimeoutMs);
  std::vector<std::string> ids;
  for (const auto& [id, t] : tasks_) {
    if (t.agentId == agentId && !conf::isTerminal(t.state)) ids.push_back(id);
  }
  for (const auto& id : ids) {
    applyStatus(StatusInput{id, conf::TaskState::kLost, "agent " + agentId + " was removed",
                            std::nullopt, conf::TaskReason::kAgentRemoved, agentId});
  }
  agents_.erase(agentId);
  sessions_.erase(agentId);
  if (Status st = store_.commit({state::Mutation::del("/agents/" + agentId)}); !st.ok()) {
    // Harmless but visible: after a restart it is recovered, then removed again.
    log::error("cannot persist the removal of agent {}: {}", agentId, st.error().message);
  }
}

void Master::checkLiveness() {
  uint64_t now = loop_.nowMs();
  std::vector<std::string> toRemove;
  for (auto& [id, a] : agents_) {
    if (a.status != AgentStatus::kUnreachable && now - a.lastSeenMs > options_.agentPingTimeoutMs) {
      markAgentUnreachable(a);
    } else if (a.status == AgentStatus::kUnreachable &&
               now - a.lastSeenMs > options_.agentRemovalTimeoutMs) {
      toRemove.push_back(id);
    }
  }
  for (const auto& id : toRemove) removeAgent(id);
}

bool Master::handleInternal(http::Request& req, std::shared_ptr<http::Exchange> ex) {
  const std::string& p = req.path;
  if (p.rfind("/internal/", 0) != 0) return false;
  if (req.method != "POST") {
    ex->respond(errorResponse(405, "internal endpoints take POST"));
    return true;
  }
  // "/internal/agents/<agent id>/<action>" names the agent and what it asks for.
  constexpr std::string_view kAgents = "/internal/agents/";
  std::string_view agentPath;
  if (p.rfind(kAgents, 0) == 0) agentPath = std::string_view(p).substr(kAgents.size());
  size_t slash = agentPath.rfind('/');
  std::string agentId =
      slash == std::string_view::npos ? "" : std::string(agentPath.substr(0, slash));
  std::string_view action =
      slash == std::string_view::npos ? std::string_view() : agentPath.substr(slash + 1);
  bool registering = p == "/internal/agents/register";
  // A status batch names its agent in the body; it is checked there.
  std::string principal;
  if (!authenticateAgent(req, registering || p == "/internal/status" ? "" : agentId, *ex,
                         &principal)) {
    return true;
  }
  if (registering) {
    onRegister(req, ex, principal);
  } else if (p == "/internal/status") {
    onStatus(req, ex);
  } else if (!agentId.empty() && action == "drain") {
    // The agent is shutting down: offer it no more (its tasks report as they stop).
    auto it = agents_.find(agentId);
    if (it == agents_.end()) {
      ex->respond(errorResponse(404, "unknown agent " + agentId));
    } else {
      it->second.draining = true;
      rescindOffersFor(agentId);
      log::info("agent {} is draining: no more offers", agentId);
      ex->respond(jsonResponse(200, Json::object()));
    }
  } else if (!agentId.empty() && action == "heartbeat") {
    onHeartbeat(agentId, req, ex);
  } else {
    ex->respond(errorResponse(404, "no internal endpoint " + p));
  }
  return true;
}

bool Master::authenticateAgent(const http::Request& req, const std::string& agentId,
                               http::Exchange& ex, std::string* principal) {
  if (!options_.agentCredentials.enabled()) return true;
  auto who = options_.agentCredentials.authenticate(req.header("Authorization").value_or(""));
  if (!who) {
    bool sent = req.header("Authorization").has_value();
    auth::noteRefusal(
        auth::RefusalEndpoint::kMasterInternal,
        sent ? auth::RefusalReason::kWrongCredentials : auth::RefusalReason::kNoCredentials, req,
        sent ? "wrong agent credential" : "no agent credential");
    http::Response r = errorResponse(401, "agents need a credential (corral agent --credential)");
    r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"corral-agents\"");
    ex.respond(std::move(r));
    return false;
  }
  *principal = *who;
  if (agentId.empty()) return true;
  auto s = sessions_.find(agentId);
  if (s != sessions_.end() && s->second.principal != *who) {
    auth::noteRefusal(auth::RefusalEndpoint::kMasterInternal, auth::RefusalReason::kWrongPrincipal,
                      req,
                      "principal '" + *who + "' speaks for agent " + agentId + " of principal '" +
                          s->second.principal + "'");
    ex.respond(errorResponse(403, "agent " + agentId + " belongs to another principal"));
    return false;
  }
  return true;
}

void Master::onRegister(http::Request& req, std::shared_ptr<http::Exchange> ex,
                        const std::string& principal) {
  auto m = wire::parseRegisterRequest(req.body);
  if (!m.ok()) return ex->respond(invalid(m.error()));
  auto res = conf::parseResources(m->resources);
  if (!res.ok())
    return ex->respond(
        errorResponse(http::statusFor(res.error().kind), "resources: " + res.error().message));
  auto attrs = conf::parseAttributes(m->attributes);
  if (!attrs.ok())
    return ex->respond(
        errorResponse(http::statusFor(attrs.error().kind), "attributes: " + attrs.error().message));
  std::string id = m->agentId;
  bool known = !id.empty() && agents_.count(id);
  if (auto s = sessions_.find(id);
      known && s != sessions_.end() && s->second.principal != principal) {
    auth::noteRefusal(auth::RefusalEndpoint::kMasterInternal, auth::RefusalReason::kWrongPrincipal,
                      req,
                      "agent " + id + " belongs to principal '" + s->second.principal + "', not '" +
                          principal + "'");
    return ex->respond(errorResponse(403, "agent " + id + " belongs to another principal"));
  }
  std::vector<state::Mutation> batch;
  if (!known) {
    if (id.empty()) id = epoch_ + "-S" + std::to_string(nextAgentSeq_++);
    batch.push_back(state::Mutation::put("/master/agentSeq", Json(nextAgentSeq_)));
  }
  AgentRecord& a = agents_[id];
  bool wasUnreachable = known && a.status == AgentStatus::kUnreachable;
  a.id = id;
  a.hostname = m->hostname;
  a.port = m->port;
  a.total = *res;
  a.attributes = *attrs;
  if (!known) a.registeredAtMs = wallMs();
  a.status = AgentStatus::kActive;
  a.draining = false;
  a.lastSeenMs = loop_.nowMs();
  batch.push_back(state::Mutation::put("/agents/" + id, agentToJson(a)));
  if (Status st = store_.commit(batch); !st.ok()) {
    return ex->respond(errorResponse(http::statusFor(st.error().kind),
                                     "cannot persist agent: " + st.error().message));
  }
  // Status updates the agent could not deliver before (it or we restarted)
  // come with the registration and are applied before reconciling, so a
  // task's real end (e.g. TASK_FAILED with its exit status) is not replaced
  // by TASK_LOST.
  if (!m->updates.empty()) {
    std::vector<StatusInput> inputs;
    std::vector<std::string> ignored;
    sortStatusUpdates(m->updates, id, &inputs, &ignored);
    if (!applyStatuses(inputs)) {
      return ex->respond(errorResponse(503, "pending status updates not persisted; retry"));
    }
  }
  // Reconcile: what the agent runs versus what we believe it runs.
  std::map<std::string, const wire::ReportedTask*> reported;
  for (const auto& t : m->tasks) reported[t.taskId] = &t;
  wire::RegisterReply reply;
  for (const auto& [tid, rt] : reported) {
    auto it = tasks_.find(tid);
    bool keep = it != tasks_.end() && it->second.agentId == id && conf::isActive(it->second.state);
    if (!keep) {
      // Unknown, already replaced (it was unreachable), or finished in our books.
      reply.kill.push_back(tid);
      continue;
    }
    if (rt->state != it->second.state || rt->healthy != it->second.healthy) {
      applyStatus(StatusInput{tid, rt->state, rt->message, rt->healthy,
                              conf::TaskReason::kReconciliation, id});
    }
  }
  std::vector<std::string> lost;
  for (const auto& [tid, t] : tasks_) {
    if (t.agentId == id && !conf::isTerminal(t.state) && !reported.count(tid)) lost.push_back(tid);
  }
  for (const auto& tid : lost) {
    applyStatus(StatusInput{tid, conf::TaskState::kLost,
                            "agent " + id + " re-registered without this task", std::nullopt,
                            conf::TaskReason::kReconciliation, id});
  }
  log::info("agent {} {} at {}:{} with {} ({} task(s) reported, {} to kill, {} lost){}", id,
            known ? "re-registered" : "registered", a.hostname, a.port, a.total.toString(),
            reported.size(), reply.kill.size(), lost.size(),
            wasUnreachable ? " after being unreachable" : "");
  // A new token at every registration: whoever held an older one (a previous
  // run of this agent's address) cannot command the agent any more.
  AgentSession& session = sessions_[id];
  session.token = auth::randomToken();
  session.principal = principal;
  reply.agentId = id;
  reply.masterEpoch = epoch_;
  reply.token = session.token;
  ex->respond(http::Response::json(200, wire::toJson(reply)));
}

void Master::onHeartbeat(const std::string& agentId, http::Request&,
                         std::shared_ptr<http::Exchange> ex) {
  auto it = agents_.find(agentId);
  if (it == agents_.end() || it->second.status != AgentStatus::kActive) {
    // Unknown, recovering after a master restart, or back from unreachable: re-register to
    // reconcile.
    return ex->respond(errorResponse(409, "re-register"));
  }
  it->second.lastSeenMs = loop_.nowMs();
  Json out;
  out["masterEpoch"] = epoch_;
  ex->respond(jsonResponse(200, out));
}

void Master::sortStatusUpdates(const std::vector<wire::StatusUpdate>& updates,
                               const std::string& agentId, std::vector<StatusInput>* inputs,
                               std::vector<std::string>* kill) const {
  for (const auto& u : updates) {
    statusUpdates().inc();
    StatusInput in;
    in.taskId = u.taskId;
    in.state = u.state;
    in.message = u.message;
    in.reason = u.reason;
    in.agentId = u.agentId.empty() ? agentId : u.agentId;
    in.healthy = u.healthy;
    auto it = tasks_.find(in.taskId);
    // Unknown, or already finished in our books (e.g. dropped after a launch
    // timeout) yet alive on the agent: an orphan the agent must kill.
    bool orphan =
        it == tasks_.end() || (conf::isTerminal(it->second.state) && !conf::isTerminal(in.state));
    if (orphan) {
      if (!conf::isTerminal(in.state)) kill->push_back(in.taskId);
      continue;
    }
    inputs->push_back(std::move(in));
  }
}

void Master::onStatus(http::Request& req, std::shared_ptr<http::Exchange> ex) {
  // Agents send {"agentId":..., "updates":[...]} (a single update object is accepted too).
  auto batch = wire::parseStatusBatch(req.body);
  if (!batch.ok()) return ex->respond(invalid(batch.error()));
  const std::string& agentId = batch->agentId;
  std::string principal;
  if (!authenticateAgent(req, agentId, *ex, &principal)) return;
  std::vector<StatusInput> inputs;
  wire::StatusAck ack;
  sortStatusUpdates(batch->updates, agentId, &inputs, &ack.kill);
  auto ag = agents_.find(agentId);
  if (ag != agents_.end() && ag->second.status == AgentStatus::kActive) {
    ag->second.lastSeenMs = loop_.nowMs();
  }
  if (!applyStatuses(inputs)) {
    // Not durable: no ack, the agent will retry.
    return ex->respond(errorResponse(503, "status not persisted; retry"));
  }
  ex->respond(http::Response::json(200, wire::toJson(ack)));
}

}  // namespace corral::master
