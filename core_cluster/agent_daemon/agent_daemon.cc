#include "core_cluster/agent_daemon/agent_daemon.h"

#include <signal.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "base/clock.h"
#include "base/http_client.h"
#include "base/log.h"
#include "base/metrics.h"
#include "core_cluster/agent/task_launcher.h"
#include "core_cluster/agent/task_user.h"
#include "core_cluster/agent_daemon/task_groups.h"
#include "core_cluster/auth/credentials.h"
#include "core_cluster/auth/refusal.h"
#include "core_cluster/state/file_io.h"

namespace corral::agent {

namespace fs = std::filesystem;

namespace {

http::Response json(int status, const Json& body) {
  return http::Response::json(status, dumpJson(body));
}

http::Response invalid(const Error& e) {
  return json(400, Json{{"message", e.message}, {"path", e.path}});
}

std::vector<PortRange> toPortRanges(const conf::Ranges& r) {
  std::vector<PortRange> out;
  for (const auto& i : r.intervals()) {
    out.push_back(PortRange{static_cast<uint16_t>(i.begin), static_cast<uint16_t>(i.end)});
  }
  return out;
}

// Root runs tasks as their users (each in its own PID namespace unless told
// otherwise or the kernel refuses); anyone else runs them as itself.
RunAsPolicy runAsPolicyFor(const AgentDaemonOptions& o) {
  RunAsPolicy p;
  p.switchUser = geteuid() == 0 && !o.taskLauncher.empty();
  p.defaultUser = o.defaultUser;
  p.launcherPath = o.taskLauncher;
  if (!p.switchUser) {
    log::info("tasks run as '{}', the agent's own user", currentUserName());
    return p;
  }
  bool able = canIsolatePids();
  p.isolatePids = o.isolatePids.value_or(able);
  if (p.isolatePids && !able) {
    log::warn("--isolate-pids: this kernel or container does not allow PID namespaces");
  }
  log::info("tasks run as their app's user (default '{}'){}", p.defaultUser,
            p.isolatePids ? ", each in its own PID namespace" : "");
  return p;
}

}  // namespace

Result<std::unique_ptr<AgentDaemon>> AgentDaemon::create(Loop& loop, AgentDaemonOptions options) {
  auto res = conf::parseResources(options.resources);
  if (!res.ok()) return makeError(ErrorKind::kInvalid, "--resources: " + res.error().message);
  auto attrs = conf::parseAttributes(options.attributes);
  if (!attrs.ok()) return makeError(ErrorKind::kInvalid, "--attributes: " + attrs.error().message);
  auto pool = PortPool::create(toPortRanges(res->ports()));
  if (!pool.ok())
    return makeError(ErrorKind::kInvalid, "--resources ports: " + pool.error().message);
  std::error_code ec;
  fs::create_directories(options.workDir + "/sandboxes", ec);
  if (ec)
    return makeError(ErrorKind::kUnavailable,
                     "cannot create work dir " + options.workDir + ": " + ec.message());
  if (geteuid() == 0 && !options.taskLauncher.empty()) {
    auto user = lookupUser(options.defaultUser);
    if (!user.ok())
      return makeError(ErrorKind::kInvalid, "--default-user: " + user.error().message);
    // Task users reach their sandboxes (0700, their own) by absolute path:
    // the directories above need search permission for them, never read.
    std::string changed = makeTraversable(options.workDir + "/sandboxes");
    if (!changed.empty()) log::info("made traversable for task users (o+x): {}", changed);
  }
  std::unique_ptr<AgentDaemon> d(
      new AgentDaemon(loop, std::move(options), std::move(*res), std::move(*pool)));
  if (Status st = d->start(); !st.ok()) return st.error();
  return d;
}

AgentDaemon::AgentDaemon(Loop& loop, AgentDaemonOptions options, conf::Resources resources,
                         PortPool pool)
    : loop_(loop),
      options_(std::move(options)),
      resources_(std::move(resources)),
      pool_(std::move(pool)),
      heartbeatTimer_(loop),
      retryTimer_(loop),
      shutdownTimer_(loop),
      launchTimer_(loop) {}

AgentDaemon::~AgentDaemon() { metrics::global().removeOwner(this); }

Status AgentDaemon::start() {
  std::ifstream idFile(options_.workDir + "/agent_id");
  std::getline(idFile, agentId_);
  // Tasks of a previous agent process on this work dir (killed with -9 or
  // crashed) outlive it in their own process groups, holding their ports. This
  // agent cannot supervise them, so it kills them: the master learns at
  // registration that they are gone and has them replaced.
  killLeftoverTasks(options_.workDir + "/task_groups", options_.workDir + "/sandboxes");
  taskGroups_ = std::make_unique<TaskGroupRecord>(options_.workDir + "/task_groups");
  loadPendingUpdates();
  server_ = std::make_unique<http::Server>(
      loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) { handle(req, ex); });
  auto port = server_->listen(options_.ip, options_.port);
  if (!port.ok()) return port.error();
  // After the listen: a runner is only torn down through shutdown(), which a
  // daemon that failed to start never gets (no request reaches the handler
  // before the loop runs).
  TaskRunner::Options runnerOptions;
  runnerOptions.runAs = runAsPolicyFor(options_);
  runner_ = std::make_unique<TaskRunner>(
      loop_.raw(), &pool_, [this](const TaskStatus& st) { onStatus(st); }, runnerOptions);
  options_.port = *port;
  log::info("agent API listening on {}:{}; resources {}", options_.ip, options_.port,
            resources_.toString());
  metrics::global().gaugeFn(
      "corral_agent_tasks_live", "Tasks running on this agent.",
      [this] { return static_cast<double>(runner_->liveTaskCount()); }, "", this);
  metrics::global().gaugeFn(
      "corral_agent_status_updates_pending", "Status updates not yet acknowledged by the master.",
      [this] { return static_cast<double>(pending_.size()); }, "", this);
  metrics::global().gaugeFn(
      "corral_agent_status_updates_persist_failures",
      "Times the unacknowledged status updates could not be written to disk.",
      [this] { return static_cast<double>(persistFailures_); }, "", this);
  registerWithMaster();
  heartbeatTimer_.start(options_.heartbeatMs, options_.heartbeatMs, [this] { heartbeat(); });
  return Status::Ok();
}

void AgentDaemon::postToMaster(const std::string& path, std::string body,
                               std::function<void(Result<http::Response>)> cb) {
  http::Request req;
  req.method = "POST";
  req.target = path;
  req.headers.emplace_back("Content-Type", "application/json");
  if (!options_.masterAuthorization.empty()) {
    req.headers.emplace_back("Authorization", options_.masterAuthorization);
  }
  req.body = std::move(body);
  // The callbacks use raw `this`: masterCalls_ holds their cancel handles.
  uint64_t key = masterCalls_.nextKey();
  masterCalls_.add(key, http::fetch(
                            loop_, options_.masterHost, options_.masterPort, std::move(req),
                            [this, key, cb = std::move(cb)](Result<http::Response> r) {
                              auto callback = std::move(cb);
                              masterCalls_.done(key);
                              callback(std::move(r));
                            },
                            http::ClientOptions{.timeoutMs = 5000, .tls = options_.masterTls}));
}

void AgentDaemon::registerWithMaster() {
  if (registering_ || stopping_) return;
  registering_ = true;
  wire::RegisterRequest m;
  m.agentId = agentId_;
  m.hostname = options_.ip;
  m.port = options_.port;
  m.resources = resources_.toString();
  m.attributes = conf::attributesToString(*conf::parseAttributes(options_.attributes));
  for (const auto& t : runner_->tasks()) {
    if (isTerminal(t.state)) continue;
    m.tasks.push_back(wire::ReportedTask{t.taskId, t.state, t.healthy, t.message});
  }
  // Undelivered status updates ride along and are applied before reconciling.
  m.updates.assign(pending_.begin(), pending_.end());
  size_t carried = pending_.size();
  postToMaster(
      "/internal/agents/register", wire::toJson(m), [this, carried](Result<http::Response> r) {
        registering_ = false;
        if (stopping_) return;
        if (!r.ok() || r->status != 200) {
          log::warn(
              "registration with master {}:{} failed: {}; retrying", options_.masterHost,
              options_.masterPort,
              r.ok() ? "status " + std::to_string(r->status) + " " + r->body : r.error().message);
          return;  // the heartbeat timer retries
        }
        auto reply = wire::parseRegisterReply(r->body);
        if (!reply.ok()) {
          log::warn("registration with master {}:{}: unreadable answer: {}; retrying",
                    options_.masterHost, options_.masterPort, reply.error().message);
          return;
        }
        if (reply->agentId != agentId_) {
          agentId_ = reply->agentId;
          std::ofstream(options_.workDir + "/agent_id") << agentId_ << "\n";
        }
        masterToken_ = reply->token;
        registered_ = true;
        // The master applied (durably) the updates sent with the registration.
        for (size_t i = 0; i < carried && !pending_.empty(); ++i) pending_.pop_front();
        if (carried > 0) persistPendingUpdates();
        log::info("registered with master {}:{} as agent {}", options_.masterHost,
                  options_.masterPort, agentId_);
        killFromMaster(reply->kill, "does not want it");
        flushUpdates();
      });
}

void AgentDaemon::killFromMaster(const std::vector<std::string>& taskIds, const char* why) {
  for (const auto& tid : taskIds) {
    log::info("killing task {}: the master {}", tid, why);
    (void)runner_->kill(tid, 0.0);
  }
}

void AgentDaemon::heartbeat() {
  if (stopping_) return;
  if (!registered_) return registerWithMaster();
  postToMaster("/internal/agents/" + agentId_ + "/heartbeat", "{}",
               [this](Result<http::Response> r) {
                 if (stopping_) return;
                 if (!r.ok()) {
                   log::debug("heartbeat failed: {}", r.error().message);
                   return;
                 }
                 if (r->status == 409 || r->status == 404) {
                   registered_ = false;
                   registerWithMaster();
                 }
               });
  if (!pending_.empty() && !sending_) flushUpdates();
}

void AgentDaemon::onStatus(const TaskStatus& st) {
  if (isTerminal(st.state)) {
    taskGroups_->remove(st.taskId);
    killGrace_.erase(st.taskId);
  } else if (st.state == TaskState::kRunning && st.pid > 0) {
    taskGroups_->add(st.taskId, st.pid);
  }
  wire::StatusUpdate u;
  u.uuid = agentId_ + "-" + std::to_string(++updateSeq_);
  u.taskId = st.taskId;
  u.state = st.state;
  u.message = st.message;
  u.healthy = st.healthy;
  u.reason = toTaskReason(st.reason);
  u.timestamp = isoNow();
  pending_.push_back(std::move(u));
  persistPendingUpdates();
  flushUpdates();
}

void AgentDaemon::flushUpdates() {
  if (sending_ || pending_.empty() || !registered_ || stopping_) return;
  sending_ = true;
  // Send what is queued (bounded) in one request: the master persists the
  // batch with one fsync and acknowledges all of it.
  size_t n = std::min<size_t>(pending_.size(), 256);
  wire::StatusBatch batch;
  batch.agentId = agentId_;
  batch.updates.assign(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
  postToMaster("/internal/status", wire::toJson(batch), [this, n](Result<http::Response> r) {
    sending_ = false;
    if (stopping_) return;
    if (!r.ok() || r->status != 200) {
      // Not acknowledged: keep them and retry (at-least-once delivery).
      retryTimer_.start(options_.retryMs, 0, [this] { flushUpdates(); });
      return;
    }
    for (size_t i = 0; i < n && !pending_.empty(); ++i) pending_.pop_front();
    persistPendingUpdates();
    if (auto ack = wire::parseStatusAck(r->body); ack.ok()) {
      killFromMaster(ack->kill, "does not know it");
    } else {
      log::warn("master's status acknowledgement unreadable: {}", ack.error().message);
    }
    flushUpdates();
  });
}

// Unacknowledged status updates live in <work-dir>/pending_updates.json so an
// agent restart, a crash or a power loss does not lose them (at-least-once
// delivery): written to a temporary file, fsynced, renamed over the old one,
// and the directory fsynced, so the file holds the old list or the new one.
void AgentDaemon::persistPendingUpdates() {
  std::string path = options_.workDir + "/pending_updates.json";
  std::vector<wire::StatusUpdate> list(pending_.begin(), pending_.end());
  if (Status st = state::replaceFileDurably(path, wire::toJson(list)); !st.ok()) {
    ++persistFailures_;
    log::error(
        "{}: {} status update(s) not yet acknowledged are only in memory (still sent; "
        "lost if the agent stops before the master acknowledges them)",
        st.error().message, pending_.size());
  }
}

void AgentDaemon::loadPendingUpdates() {
  std::ifstream in(options_.workDir + "/pending_updates.json");
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  auto list = wire::parseStatusUpdateList(ss.str());
  if (!list.ok()) {
    log::warn("ignoring unreadable {}/pending_updates.json: {}", options_.workDir,
              list.error().message);
    return;
  }
  pending_.assign(list->begin(), list->end());
  if (!pending_.empty()) {
    log::info("{} status update(s) from before the restart will be delivered", pending_.size());
  }
}

void AgentDaemon::launchPending() {
  for (auto& t : std::exchange(pendingLaunches_, {})) {
    if (!stopping_ && !draining_) launch(std::move(t));
  }
}

void AgentDaemon::launch(TaskLaunch l) {
  // Where the task runs is this agent's business, whatever the master said.
  l.hostIp = options_.ip;
  l.sandboxRoot = options_.workDir + "/sandboxes";
  Status st = runner_->launch(l);
  if (st.ok()) {
    killGrace_[l.taskId] = l.killGracePeriodSeconds.value_or(TaskRunner::kDefaultKillGraceSeconds);
  }
  if (!st.ok()) {
    log::warn("cannot launch task {}: {}", l.taskId, st.error().message);
    onStatus(TaskStatus{l.taskId, TaskState::kFailed, "launch failed: " + st.error().message,
                        std::nullopt, 0, StatusReason::kLaunchFailed});
    return;
  }
  log::info("launching task {} of {} on ports {}", l.taskId, l.appId, Json(l.ports).dump());
}

bool AgentDaemon::hasMasterToken(const http::Request& req) const {
  auto token = auth::parseBearer(req.header("Authorization").value_or(""));
  return token && !masterToken_.empty() && auth::constantTimeEquals(*token, masterToken_);
}

bool AgentDaemon::fromCurrentMaster(const http::Request& req, http::Exchange& ex) {
  if (hasMasterToken(req)) return true;
  bool token = auth::parseBearer(req.header("Authorization").value_or("")).has_value();
  auth::RefusalReason reason = masterToken_.empty() ? auth::RefusalReason::kNotRegistered
                               : token              ? auth::RefusalReason::kWrongToken
                                                    : auth::RefusalReason::kNoToken;
  auth::noteRefusal(auth::RefusalEndpoint::kAgent, reason, req,
                    reason == auth::RefusalReason::kNotRegistered
                        ? "not registered with a master yet"
                        : "calls to /internal/* need the current master's token");
  http::Response r = json(401, Json{{"message",
                                     "calls to /internal/* need the current master's "
                                     "token (Authorization: Bearer)"}});
  r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"corral-agent\"");
  ex.respond(std::move(r));
  return false;
}

bool AgentDaemon::mayRead(const http::Request& req, http::Exchange& ex) {
  if (!options_.secured() || hasMasterToken(req)) return true;
  auto authorization = req.header("Authorization");
  if (authorization && options_.httpUsers.authenticate(*authorization)) return true;
  auth::RefusalReason reason = !authorization ? auth::RefusalReason::kNoCredentials
                               : auth::parseBearer(*authorization)
                                   ? auth::RefusalReason::kWrongToken
                                   : auth::RefusalReason::kWrongCredentials;
  auth::noteRefusal(auth::RefusalEndpoint::kAgent, reason, req,
                    "needs the master's token or an HTTP user's credentials");
  http::Response r = json(401, Json{{"message",
                                     "this agent's endpoints need credentials: the master's "
                                     "token or an HTTP user (corral agent "
                                     "--http-credentials-file)"}});
  r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"corral-agent\"");
  ex.respond(std::move(r));
  return false;
}

void AgentDaemon::handle(http::Request& req, std::shared_ptr<http::Exchange> ex) {
  const std::string& p = req.path;
  // Liveness stays open (load balancers, `corral up`'s checks); everything
  // else reads tasks, their environment or files, or commands them.
  if (p == "/ping" || p == "/health") return ex->respond(http::Response::text(200, "pong\n"));
  if (p.rfind("/internal/", 0) != 0 && !mayRead(req, *ex)) return;
  if (p == "/metrics") {
    return ex->respond(
        http::Response::text(200, metrics::global().render(), "text/plain; version=0.0.4"));
  }
  if (p.rfind("/internal/", 0) == 0 && !fromCurrentMaster(req, *ex)) return;
  if (p == "/internal/launch" && req.method == "POST") {
    // Parsed (and every field checked) before answering: a malformed launch
    // is a 400 naming the field, and nothing of it runs.
    auto m = wire::parseLaunchRequest(req.body);
    if (!m.ok()) return ex->respond(invalid(m.error()));
    // Answer first: spawning many processes takes a while and the master
    // must not time out (the statuses report how each launch went).
    ex->respond(json(202, Json::object()));
    // Run on the next turn from a timer the daemon owns (base/loop.h rule 2).
    for (auto& t : m->tasks) pendingLaunches_.push_back(std::move(t));
    if (!launchTimer_.active()) launchTimer_.start(0, 0, [this] { launchPending(); });
    return;
  }
  if (p == "/internal/kill" && req.method == "POST") {
    auto m = wire::parseKillRequest(req.body);
    if (!m.ok()) return ex->respond(invalid(m.error()));
    const std::string& id = m->taskId;
    Status st = runner_->kill(id, m->gracePeriodSeconds);
    if (!st.ok()) {
      // Unknown here (e.g. the agent restarted): the master must learn it is gone.
      onStatus(TaskStatus{id, TaskState::kLost, "task is not running on agent " + agentId_,
                          std::nullopt, 0, StatusReason::kNone});
    }
    return ex->respond(json(202, Json::object()));
  }
  if (p == "/state") {
    Json tasks = Json::array();
    for (const auto& t : runner_->tasks()) {
      Json j;
      j["id"] = t.taskId;
      j["appId"] = t.appId;
      j["state"] = std::string(toString(t.state));
      j["pid"] = t.pid;
      j["ports"] = t.ports;
      j["sandbox"] = t.sandbox;
      j["message"] = t.message;
      if (t.healthy) j["healthy"] = *t.healthy;
      tasks.push_back(j);
    }
    Json out;
    out["id"] = agentId_;
    out["hostname"] = options_.ip;
    out["resources"] = resources_.toString();
    out["attributes"] = options_.attributes;
    out["tasks"] = tasks;
    return ex->respond(json(200, out));
  }
  if (p == "/files/read") {
    auto taskId = req.queryParam("taskId");
    std::string path = req.queryParam("path").value_or("stdout");
    if (!taskId) return ex->respond(json(400, Json{{"message", "taskId is required"}}));
    std::optional<uint64_t> offset;
    if (auto o = req.queryParam("offset")) offset = std::strtoull(o->c_str(), nullptr, 10);
    size_t length = 64 * 1024;
    if (auto l = req.queryParam("length")) length = std::strtoull(l->c_str(), nullptr, 10);
    auto chunk = runner_->readSandboxFile(*taskId, path, offset, length);
    if (!chunk.ok()) {
      return ex->respond(
          json(http::statusFor(chunk.error().kind), Json{{"message", chunk.error().message}}));
    }
    Json out;
    out["data"] = chunk->data;
    out["offset"] = chunk->offset;
    out["size"] = chunk->size;
    return ex->respond(json(200, out));
  }
  ex->respond(json(404, Json{{"message", "no endpoint " + p}}));
}

void AgentDaemon::shutdown(std::function<void()> done) {
  if (draining_ || stopping_) return;
  draining_ = true;
  heartbeatTimer_.stop();
  if (registered_) {
    // Tell the master first, so that it stops offering this agent.
    postToMaster("/internal/agents/" + agentId_ + "/drain", "{}", [](Result<http::Response>) {});
  }
  if (server_) server_->close();
  // Tasks are stopped the gentle way (SIGTERM, SIGKILL after their grace
  // period), and their final statuses are delivered before the agent exits;
  // what cannot be delivered stays in pending_updates.json for next time.
  size_t live = 0;
  double maxGrace = 0;
  for (const auto& t : runner_->tasks()) {
    if (isTerminal(t.state)) continue;
    (void)runner_->kill(t.taskId, std::nullopt);
    ++live;
    auto grace = killGrace_.find(t.taskId);
    maxGrace = std::max(
        maxGrace, grace != killGrace_.end() ? grace->second : TaskRunner::kDefaultKillGraceSeconds);
  }
  log::info("stopping {} task(s) and delivering their last statuses", live);
  // Bounded whether or not the master answers: the tasks get their grace
  // periods (the runner SIGKILLs them then), the statuses a short delivery
  // window after that. What is not delivered by then stays in
  // pending_updates.json and rides along with the next registration.
  uint64_t tasksDeadline =
      loop_.nowMs() + static_cast<uint64_t>(std::max(0.0, maxGrace) * 1000) + kTaskKillSlackMs;
  auto finish = std::make_shared<std::function<void()>>(std::move(done));
  shutdownTimer_.start(50, 50, [this, tasksDeadline, finish] {
    uint64_t now = loop_.nowMs();
    bool tasksGone = runner_->liveTaskCount() == 0;
    if (!tasksGone && now < tasksDeadline) return;
    if (deliveryDeadlineMs_ == 0) deliveryDeadlineMs_ = now + kDeliveryWindowMs;
    // Unregistered (the master was down): nothing can be delivered now.
    bool delivered = pending_.empty() && !sending_;
    if (!delivered && registered_ && now < deliveryDeadlineMs_) return;
    if (!tasksGone) log::warn("{} task(s) still stopping", runner_->liveTaskCount());
    if (!delivered) {
      log::warn(
          "{} status update(s) not delivered: kept in {}/pending_updates.json for the next "
          "registration",
          pending_.size(), options_.workDir);
    }
    shutdownTimer_.stop();
    stopping_ = true;
    retryTimer_.stop();
    runner_->shutdown(std::move(*finish));
  });
}

}  // namespace corral::agent
