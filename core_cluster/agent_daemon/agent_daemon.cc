#include "core_cluster/agent_daemon/agent_daemon.h"

#include <signal.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/clock.h"
#include "base/http_client.h"
#include "base/log.h"
#include "base/metrics.h"
#include "core_cluster/agent_daemon/task_groups.h"
#include "core_cluster/state/file_io.h"

namespace corral::agent {

namespace fs = std::filesystem;

namespace {

http::Response json(int status, const Json& body) {
  return http::Response::json(status, dumpJson(body));
}

HealthCheckSpec healthFromJson(const Json& j) {
  HealthCheckSpec h;
  std::string p = j.value("protocol", "HTTP");
  if (p == "HTTPS")
    h.protocol = HealthCheckSpec::Protocol::kHttps;
  else if (p == "TCP")
    h.protocol = HealthCheckSpec::Protocol::kTcp;
  else if (p == "COMMAND")
    h.protocol = HealthCheckSpec::Protocol::kCommand;
  else
    h.protocol = HealthCheckSpec::Protocol::kHttp;
  h.path = j.value("path", "/");
  h.portIndex = j.value("portIndex", 0);
  if (j.contains("port") && j["port"].is_number_integer()) h.port = j["port"].get<int>();
  h.command = j.value("command", "");
  h.gracePeriodSeconds = j.value("gracePeriodSeconds", 300.0);
  h.intervalSeconds = j.value("intervalSeconds", 60.0);
  h.timeoutSeconds = j.value("timeoutSeconds", 20.0);
  h.maxConsecutiveFailures = j.value("maxConsecutiveFailures", 3);
  h.delaySeconds = j.value("delaySeconds", 15.0);
  h.ignoreHttp1xx = j.value("ignoreHttp1xx", false);
  return h;
}

std::vector<PortRange> toPortRanges(const conf::Ranges& r) {
  std::vector<PortRange> out;
  for (const auto& i : r.intervals()) {
    out.push_back(PortRange{static_cast<uint16_t>(i.begin), static_cast<uint16_t>(i.end)});
  }
  return out;
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
      shutdownTimer_(loop) {}

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
  runner_ = std::make_unique<TaskRunner>(loop_.raw(), &pool_,
                                         [this](const TaskStatus& st) { onStatus(st); });
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

void AgentDaemon::postToMaster(const std::string& path, const Json& body,
                               std::function<void(Result<http::Response>)> cb) {
  http::Request req;
  req.method = "POST";
  req.target = path;
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = dumpJson(body);
  // The callbacks use raw `this`: masterCalls_ holds their cancel handles.
  uint64_t key = masterCalls_.nextKey();
  masterCalls_.add(key, http::fetch(
                            loop_, options_.masterHost, options_.masterPort, std::move(req),
                            [this, key, cb = std::move(cb)](Result<http::Response> r) {
                              auto callback = std::move(cb);
                              masterCalls_.done(key);
                              callback(std::move(r));
                            },
                            http::ClientOptions{.timeoutMs = 5000}));
}

void AgentDaemon::registerWithMaster() {
  if (registering_ || stopping_) return;
  registering_ = true;
  Json body;
  body["agentId"] = agentId_;
  body["hostname"] = options_.ip;
  body["port"] = options_.port;
  body["resources"] = resources_.toString();
  body["attributes"] = conf::attributesToString(*conf::parseAttributes(options_.attributes));
  Json tasks = Json::array();
  for (const auto& t : runner_->tasks()) {
    if (isTerminal(t.state)) continue;
    Json j;
    j["taskId"] = t.taskId;
    j["state"] = std::string(toString(t.state));
    if (t.healthy) j["healthy"] = *t.healthy;
    j["message"] = t.message;
    tasks.push_back(j);
  }
  body["tasks"] = tasks;
  // Undelivered status updates ride along and are applied before reconciling.
  Json updates = Json::array();
  for (const auto& p : pending_) updates.push_back(p.body);
  body["updates"] = updates;
  size_t carried = pending_.size();
  postToMaster("/internal/agents/register", body, [this, carried](Result<http::Response> r) {
    registering_ = false;
    if (stopping_) return;
    if (!r.ok() || r->status != 200) {
      log::warn("registration with master {}:{} failed: {}; retrying", options_.masterHost,
                options_.masterPort, r.ok() ? r->body : r.error().message);
      return;  // the heartbeat timer retries
    }
    auto j = parseJson(r->body);
    if (!j.ok() || !j->contains("agentId")) return;
    std::string id = (*j)["agentId"].get<std::string>();
    if (id != agentId_) {
      agentId_ = id;
      std::ofstream(options_.workDir + "/agent_id") << agentId_ << "\n";
    }
    registered_ = true;
    // The master applied (durably) the updates sent with the registration.
    for (size_t i = 0; i < carried && !pending_.empty(); ++i) pending_.pop_front();
    if (carried > 0) persistPendingUpdates();
    log::info("registered with master {}:{} as agent {}", options_.masterHost, options_.masterPort,
              agentId_);
    if (j->contains("kill")) {
      for (const auto& tid : (*j)["kill"]) {
        if (!tid.is_string()) continue;
        log::info("master does not want task {}: killing it", tid.get<std::string>());
        (void)runner_->kill(tid.get<std::string>(), 0.0);
      }
    }
    flushUpdates();
  });
}

void AgentDaemon::heartbeat() {
  if (stopping_) return;
  if (!registered_) return registerWithMaster();
  postToMaster("/internal/agents/" + agentId_ + "/heartbeat", Json::object(),
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
  Json body;
  body["uuid"] = agentId_ + "-" + std::to_string(++updateSeq_);
  body["taskId"] = st.taskId;
  body["state"] = std::string(toString(st.state));
  body["message"] = st.message;
  if (st.healthy) body["healthy"] = *st.healthy;
  if (auto reason = toTaskReason(st.reason); reason != conf::TaskReason::kNone) {
    body["reason"] = std::string(conf::toString(reason));
  }
  body["timestamp"] = isoNow();
  pending_.push_back(PendingUpdate{body});
  persistPendingUpdates();
  flushUpdates();
}

void AgentDaemon::flushUpdates() {
  if (sending_ || pending_.empty() || !registered_ || stopping_) return;
  sending_ = true;
  // Send what is queued (bounded) in one request: the master persists the
  // batch with one fsync and acknowledges all of it.
  size_t n = std::min<size_t>(pending_.size(), 256);
  Json updates = Json::array();
  for (size_t i = 0; i < n; ++i) updates.push_back(pending_[i].body);
  Json body;
  body["agentId"] = agentId_;
  body["updates"] = std::move(updates);
  postToMaster("/internal/status", body, [this, n](Result<http::Response> r) {
    sending_ = false;
    if (stopping_) return;
    if (!r.ok() || r->status != 200) {
      // Not acknowledged: keep them and retry (at-least-once delivery).
      retryTimer_.start(options_.retryMs, 0, [this] { flushUpdates(); });
      return;
    }
    for (size_t i = 0; i < n && !pending_.empty(); ++i) pending_.pop_front();
    persistPendingUpdates();
    auto j = parseJson(r->body);
    if (j.ok() && j->contains("kill") && (*j)["kill"].is_array()) {
      for (const auto& tid : (*j)["kill"]) {
        if (!tid.is_string()) continue;
        log::info("master does not know task {}: killing it", tid.get<std::string>());
        (void)runner_->kill(tid.get<std::string>(), 0.0);
      }
    }
    flushUpdates();
  });
}

// Unacknowledged status updates live in <work-dir>/pending_updates.json so an
// agent restart, a crash or a power loss does not lose them (at-least-once
// delivery): written to a temporary file, fsynced, renamed over the old one,
// and the directory fsynced, so the file holds the old list or the new one.
void AgentDaemon::persistPendingUpdates() {
  Json list = Json::array();
  for (const auto& p : pending_) list.push_back(p.body);
  std::string path = options_.workDir + "/pending_updates.json";
  if (Status st = state::replaceFileDurably(path, dumpJson(list)); !st.ok()) {
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
  auto list = parseJson(ss.str());
  if (!list.ok() || !list->is_array()) {
    log::warn("ignoring unreadable {}/pending_updates.json", options_.workDir);
    return;
  }
  for (const auto& u : *list) {
    if (u.is_object()) pending_.push_back(PendingUpdate{u});
  }
  if (!pending_.empty()) {
    log::info("{} status update(s) from before the restart will be delivered", pending_.size());
  }
}

void AgentDaemon::launchFromJson(const Json& j) {
  TaskLaunch l;
  l.taskId = j.value("taskId", "");
  l.appId = j.value("appId", "");
  l.appVersion = j.value("appVersion", "");
  l.cmd = j.value("cmd", "");
  if (j.contains("args") && j["args"].is_array()) {
    for (const auto& a : j["args"]) l.args.push_back(a.get<std::string>());
  }
  if (j.contains("env") && j["env"].is_object()) {
    for (auto it = j["env"].begin(); it != j["env"].end(); ++it) {
      if (it.value().is_string()) l.env[it.key()] = it.value().get<std::string>();
    }
  }
  for (const auto& p : j.value("ports", std::vector<int>{}))
    l.ports.push_back(static_cast<uint16_t>(p));
  l.portNames = j.value("portNames", std::vector<std::string>{});
  l.hostIp = options_.ip;
  l.sandboxRoot = options_.workDir + "/sandboxes";
  if (j.contains("killGracePeriodSeconds"))
    l.killGracePeriodSeconds = j["killGracePeriodSeconds"].get<double>();
  if (j.contains("fetch")) {
    for (const auto& f : j["fetch"]) {
      FetchUri u;
      u.uri = f.value("uri", "");
      u.extract = f.value("extract", true);
      u.executable = f.value("executable", false);
      u.destPath = f.value("destPath", "");
      l.fetch.push_back(u);
    }
  }
  if (j.contains("healthChecks")) {
    for (const auto& h : j["healthChecks"]) l.healthChecks.push_back(healthFromJson(h));
  }
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
  log::info("launching task {} of {} on ports {}", l.taskId, l.appId,
            j.value("ports", Json::array()).dump());
}

void AgentDaemon::handle(http::Request& req, std::shared_ptr<http::Exchange> ex) {
  const std::string& p = req.path;
  if (p == "/ping" || p == "/health") return ex->respond(http::Response::text(200, "pong\n"));
  if (p == "/metrics") {
    return ex->respond(
        http::Response::text(200, metrics::global().render(), "text/plain; version=0.0.4"));
  }
  if (p == "/internal/launch" && req.method == "POST") {
    auto body = parseJson(req.body);
    if (!body.ok() || !body->is_object() || !body->contains("tasks") ||
        !(*body)["tasks"].is_array()) {
      return ex->respond(json(400, Json{{"message", "expected {\"tasks\": [...]}"}}));
    }
    // Answer first: spawning many processes takes a while and the master
    // must not time out (the statuses report how each launch went).
    ex->respond(json(202, Json::object()));
    Json tasks = (*body)["tasks"];
    loop_.post([this, tasks] {
      for (const auto& t : tasks) {
        if (t.is_object() && !stopping_ && !draining_) launchFromJson(t);
      }
    });
    return;
  }
  if (p == "/internal/kill" && req.method == "POST") {
    auto body = parseJson(req.body);
    if (!body.ok() || !body->is_object() || !body->contains("taskId")) {
      return ex->respond(json(400, Json{{"message", "expected {\"taskId\": ...}"}}));
    }
    std::string id = (*body)["taskId"].get<std::string>();
    std::optional<double> grace;
    if (body->contains("gracePeriodSeconds")) grace = (*body)["gracePeriodSeconds"].get<double>();
    Status st = runner_->kill(id, grace);
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
    postToMaster("/internal/agents/" + agentId_ + "/drain", Json::object(),
                 [](Result<http::Response>) {});
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
