#include "core_cluster/agent/task_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/core.h>

#include "base/cancel.h"
#include "base/log.h"
#include "base/loop.h"
#include "core_cluster/agent/fetcher.h"
#include "core_cluster/agent/health.h"
#include "core_cluster/agent/sandbox.h"
#include "core_cluster/agent/task_launcher.h"

namespace corral::agent {
namespace fs = std::filesystem;

struct TaskRunner::Task {
  TaskLaunch launch;
  std::optional<TaskUser> user;  // none: runs as the runner's own user
  std::vector<uint16_t> ports;
  std::string sandbox;
  std::vector<std::string> env;  // "K=V", the process's whole environment
  TaskState state = TaskState::kStaging;
  std::string message;
  std::optional<bool> healthy;
  int pid = 0;
  std::optional<int> exitStatus;
  std::optional<int> termSignal;
  double startedAt = 0;
  bool fetching = false;
  FetchJob* fetchJob = nullptr;  // while fetching; freed by its completion callback
  CancelHandle fetch;            // keeps that completion from calling the runner
  bool killRequested = false;
  StatusReason killReason = StatusReason::kNone;
  std::string killMessage;
  double killDeadline = 0;  // loop seconds at which SIGKILL is sent
  uv_process_t* process = nullptr;
  uv_timer_t* killTimer = nullptr;
  std::vector<std::unique_ptr<HealthChecker>> checkers;
  std::vector<HealthPolicy> policies;
  TaskRunner* runner = nullptr;

  Task() = default;
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  // Owns its handles (rule 1): a task dropped while alive (only when the runner
  // is destroyed early) has its process group SIGKILLed and its handles closed.
  ~Task() {
    checkers.clear();
    fetch.reset();
    if (process != nullptr) {
      if (pid > 0) ::kill(-pid, SIGKILL);
      closeAndDelete(process);
    }
    closeAndDelete(killTimer);
  }
};

// Runs on the libuv thread pool; freed by its completion callback, which calls
// the runner only while the task's cancel handle has not been reset.
struct TaskRunner::FetchJob {
  uv_work_t work;
  TaskRunner* runner = nullptr;  // null once cancelled
  std::string taskId;
  std::vector<FetchUri> uris;
  std::string sandbox;
  std::optional<TaskUser> user;  // the fetched files are given to this user
  double timeout = 60;
  Status result;
};

namespace {

std::string portEnvName(const std::string& name) {
  std::string out = "PORT_";
  for (char c : name) {
    out += std::isalnum(static_cast<unsigned char>(c))
               ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
               : '_';
  }
  return out;
}

std::string joinPorts(const std::vector<uint16_t>& ports) {
  std::string out;
  for (size_t i = 0; i < ports.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(ports[i]);
  }
  return out;
}

// The agent's own environment, then the task's variables, then the app's env (the app wins,
// as in Marathon).
std::vector<std::string> buildEnv(const TaskLaunch& l, const std::vector<uint16_t>& ports,
                                  const std::string& sandbox, const std::optional<TaskUser>& user) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv(*e);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    vars[std::string(kv.substr(0, eq))] = std::string(kv.substr(eq + 1));
  }
  for (size_t i = 0; i < ports.size(); ++i) {
    vars[fmt::format("PORT{}", i)] = std::to_string(ports[i]);
    if (i < l.portNames.size() && !l.portNames[i].empty())
      vars[portEnvName(l.portNames[i])] = std::to_string(ports[i]);
  }
  if (!ports.empty()) vars["PORT"] = std::to_string(ports[0]);
  vars["PORTS"] = joinPorts(ports);
  vars["HOST"] = l.hostIp;
  vars["MESOS_TASK_ID"] = l.taskId;
  vars["MARATHON_APP_ID"] = l.appId;
  vars["MARATHON_APP_VERSION"] = l.appVersion;
  vars["MESOS_SANDBOX"] = sandbox;
  vars["MESOS_DIRECTORY"] = sandbox;
  if (user) {
    vars["USER"] = user->name;
    vars["LOGNAME"] = user->name;
    vars["HOME"] = user->home;
  }
  for (const auto& [k, v] : l.env) vars[k] = v;
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [k, v] : vars) out.push_back(k + "=" + v);
  return out;
}

uint64_t toMillis(double seconds) {
  return seconds > 0 ? static_cast<uint64_t>(seconds * 1000.0 + 0.5) : 0;
}

}  // namespace

TaskRunner::TaskRunner(uv_loop_t* loop, PortPool* ports, StatusCallback onStatus)
    : TaskRunner(loop, ports, std::move(onStatus), Options{}) {}

TaskRunner::TaskRunner(uv_loop_t* loop, PortPool* ports, StatusCallback onStatus, Options options)
    : loop_(loop), ports_(ports), onStatus_(std::move(onStatus)), options_(options) {
  dispatchTimer_ = new uv_timer_t;
  uv_timer_init(loop_, dispatchTimer_);
  dispatchTimer_->data = this;
}

// The dispatch timer's close callback: frees it, then tells the runner, if it still exists.
void TaskRunner::onDispatchTimerClosed(uv_handle_t* h) {
  auto* runner = static_cast<TaskRunner*>(h->data);
  delete reinterpret_cast<uv_timer_t*>(h);
  if (runner != nullptr) runner->onClosed();
}

TaskRunner::~TaskRunner() {
  if (!closed_) {
    log::warn("agent task runner destroyed before shutdown() completed: {} live task(s) killed",
              liveTaskCount());
  }
  // Rule 1: tasks_ closes each task's handles as it is destroyed; the dispatch
  // timer is closed here, and its close callback no longer calls back.
  if (dispatchTimer_ != nullptr) {
    dispatchTimer_->data = nullptr;
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(dispatchTimer_))) {
      uv_close(reinterpret_cast<uv_handle_t*>(dispatchTimer_), onDispatchTimerClosed);
    }
  }
}

double TaskRunner::nowSeconds() const { return static_cast<double>(uv_now(loop_)) / 1000.0; }

Status TaskRunner::validate(const TaskLaunch& l) const {
  const std::string& id = l.taskId;
  if (id.empty() || id == "." || id == ".." || id.size() > 200 ||
      id.find('/') != std::string::npos || id.find('\0') != std::string::npos) {
    return makeError(ErrorKind::kInvalid, fmt::format("invalid task id '{}'", id), "/taskId");
  }
  auto it = tasks_.find(id);
  if (it != tasks_.end() && !isTerminal(it->second->state)) {
    return makeError(ErrorKind::kConflict,
                     fmt::format("task {} is already running on this agent", id), "/taskId");
  }
  if (l.cmd.empty() == l.args.empty()) {
    return makeError(ErrorKind::kInvalid, "exactly one of cmd and args must be given", "/cmd");
  }
  if (l.sandboxRoot.empty())
    return makeError(ErrorKind::kInvalid, "no sandbox root", "/sandboxRoot");
  if (!l.ports.empty() && l.dynamicPortCount != 0) {
    return makeError(ErrorKind::kInvalid, "give either ports or dynamicPortCount, not both",
                     "/ports");
  }
  if (l.dynamicPortCount != 0 && ports_ == nullptr) {
    return makeError(ErrorKind::kInvalid, "dynamicPortCount needs a port pool",
                     "/dynamicPortCount");
  }
  std::set<uint16_t> seen;
  for (uint16_t p : l.ports) {
    if (p == 0 || !seen.insert(p).second) {
      return makeError(ErrorKind::kInvalid, fmt::format("bad or duplicate port {}", p), "/ports");
    }
  }
  size_t portCount = l.ports.empty() ? l.dynamicPortCount : l.ports.size();
  for (size_t i = 0; i < l.healthChecks.size(); ++i) {
    const auto& hc = l.healthChecks[i];
    std::string path = fmt::format("/healthChecks({})", i);
    if (hc.protocol == HealthCheckSpec::Protocol::kCommand) {
      if (hc.command.empty())
        return makeError(ErrorKind::kInvalid, "COMMAND health check without a command",
                         path + "/command");
    } else if (hc.port) {
      if (*hc.port <= 0 || *hc.port > 65535)
        return makeError(ErrorKind::kInvalid, fmt::format("bad port {}", *hc.port), path + "/port");
    } else if (hc.portIndex < 0 || static_cast<size_t>(hc.portIndex) >= portCount) {
      return makeError(
          ErrorKind::kInvalid,
          fmt::format("portIndex {} but the task has {} port(s)", hc.portIndex, portCount),
          path + "/portIndex");
    }
    if (!(hc.intervalSeconds > 0) || !(hc.timeoutSeconds > 0) || hc.gracePeriodSeconds < 0 ||
        hc.delaySeconds < 0 || hc.maxConsecutiveFailures < 0) {
      return makeError(ErrorKind::kInvalid,
                       "intervalSeconds and timeoutSeconds must be > 0, other durations >= 0",
                       path);
    }
  }
  return Status::Ok();
}

Status TaskRunner::launch(const TaskLaunch& l) {
  if (shuttingDown_) return makeError(ErrorKind::kUnavailable, "the agent is shutting down", "");
  Status valid = validate(l);
  if (!valid.ok()) return valid;
  auto user = resolveTaskUser(l.user, options_.runAs);
  if (!user.ok()) return user.error();

  std::vector<uint16_t> ports = l.ports;
  if (ports_ != nullptr) {
    if (l.dynamicPortCount != 0) {
      auto got = ports_->allocate(l.dynamicPortCount);
      if (!got.ok()) return makeError(got.error().kind, got.error().message, "/ports");
      ports = std::move(*got);
    } else {
      Status s = ports_->reserveAll(ports);
      if (!s.ok()) return makeError(s.error().kind, s.error().message, "/ports");
    }
  }
  auto releasePorts = [&] {
    if (ports_ != nullptr) {
      for (uint16_t p : ports) ports_->release(p);
    }
  };

  std::error_code ec;
  fs::path sandbox = fs::absolute(fs::path(l.sandboxRoot) / l.taskId, ec);
  if (!ec) fs::create_directories(sandbox, ec);
  // The sandbox is the task user's alone: another task (another user) cannot
  // read it; the agent, root, still serves it through /files.
  if (!ec && *user &&
      (::chown(sandbox.c_str(), (*user)->uid, (*user)->gid) != 0 ||
       ::chmod(sandbox.c_str(), 0700) != 0)) {
    ec = std::error_code(errno, std::generic_category());
  }
  if (ec) {
    releasePorts();
    return makeError(ErrorKind::kInternal,
                     fmt::format("cannot create sandbox {}: {}", sandbox.string(), ec.message()),
                     "/sandboxRoot");
  }

  // A relaunch of a finished task id replaces its record.
  if (auto it = tasks_.find(l.taskId); it != tasks_.end()) {
    completed_.erase(std::remove(completed_.begin(), completed_.end(), l.taskId), completed_.end());
    tasks_.erase(it);
  }
  auto owned = std::make_unique<Task>();
  Task& task = *owned;
  task.launch = l;
  task.user = std::move(*user);
  task.ports = std::move(ports);
  task.sandbox = sandbox.string();
  task.env = buildEnv(l, task.ports, task.sandbox, task.user);
  task.runner = this;
  tasks_.emplace(l.taskId, std::move(owned));

  log::info("task {} accepted: app {} ports [{}] sandbox {} user {}", l.taskId, l.appId,
            joinPorts(task.ports), task.sandbox, task.user ? task.user->name : currentUserName());
  post(task, TaskState::kStaging, "", StatusReason::kNone);
  if (!l.fetch.empty()) {
    startFetch(task);
  } else {
    spawn(task);
  }
  return Status::Ok();
}

void TaskRunner::startFetch(Task& task) {
  auto* job = new FetchJob();
  job->runner = this;
  job->taskId = task.launch.taskId;
  job->uris = task.launch.fetch;
  job->sandbox = task.sandbox;
  job->user = task.user;
  job->timeout = options_.httpFetchTimeoutSeconds;
  job->work.data = job;
  task.fetching = true;
  task.fetchJob = job;
  // Cancelling takes the job off the queue if it has not started, and in any
  // case keeps its completion from calling the runner.
  task.fetch = CancelHandle([job] {
    job->runner = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&job->work));
  });
  uv_queue_work(
      loop_, &job->work,
      [](uv_work_t* w) {
        auto* j = static_cast<FetchJob*>(w->data);
        j->result = fetchAll(j->uris, j->sandbox, j->timeout, j->user ? &*j->user : nullptr);
        if (j->result.ok() && j->user) j->result = chownTree(j->sandbox, *j->user);
      },
      [](uv_work_t* w, int status) {
        std::unique_ptr<FetchJob> j(static_cast<FetchJob*>(w->data));
        if (j->runner == nullptr) return;  // cancelled: the task is gone
        j->runner->onFetchDone(j->taskId, std::move(j->result), status == UV_ECANCELED);
      });
}

void TaskRunner::onFetchDone(const std::string& taskId, Status result, bool cancelled) {
  auto it = tasks_.find(taskId);
  if (it == tasks_.end()) return;
  Task& task = *it->second;
  task.fetching = false;
  task.fetchJob = nullptr;
  task.fetch.reset();  // we are inside the job's completion, which frees it next: a no-op
  if (task.killRequested || cancelled) {
    terminate(task, TaskState::kKilled, "killed while fetching", task.killReason);
    return;
  }
  if (!result.ok()) {
    terminate(task, TaskState::kFailed, result.error().message, StatusReason::kFetchFailed);
    return;
  }
  spawn(task);
}

void TaskRunner::spawn(Task& task) {
  const TaskLaunch& l = task.launch;
  post(task, TaskState::kStarting, "", StatusReason::kNone);

  auto openLog = [&](const char* name) {
    return ::open((task.sandbox + "/" + name).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                  0644);
  };
  int outFd = openLog("stdout");
  int errFd = openLog("stderr");
  if (task.user && outFd >= 0 && errFd >= 0 &&
      (::fchown(outFd, task.user->uid, task.user->gid) != 0 ||
       ::fchown(errFd, task.user->uid, task.user->gid) != 0)) {
    ::close(outFd);
    ::close(errFd);
    outFd = errFd = -1;
  }
  if (outFd < 0 || errFd < 0) {
    std::string why = std::strerror(errno);
    if (outFd >= 0) ::close(outFd);
    if (errFd >= 0) ::close(errFd);
    terminate(task, TaskState::kFailed, fmt::format("cannot open sandbox log files: {}", why),
              StatusReason::kLaunchFailed);
    return;
  }

  std::vector<std::string> argv =
      l.cmd.empty() ? l.args : std::vector<std::string>{"/bin/sh", "-c", l.cmd};
  // Another user: through the launcher, which drops privileges (and isolates
  // the task's processes) before it execs the command.
  if (task.user) {
    argv = launcherArgv(options_.runAs.launcherPath,
                        LauncherArgs{*task.user, options_.runAs.isolatePids, std::move(argv)});
  }
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (auto& e : task.env) cenv.push_back(e.data());
  cenv.push_back(nullptr);

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = outFd;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = errFd;
  uv_process_options_t opts{};
  opts.file = cargv[0];
  opts.args = cargv.data();
  opts.env = cenv.data();
  opts.cwd = task.sandbox.c_str();
  opts.flags = UV_PROCESS_DETACHED;  // setsid(): the task leads its own process group
  opts.stdio_count = 3;
  opts.stdio = stdio;
  opts.exit_cb = [](uv_process_t* p, int64_t exitStatus, int termSignal) {
    auto* t = static_cast<Task*>(p->data);
    t->runner->onExit(*t, exitStatus, termSignal);
  };

  task.process = new uv_process_t;
  task.process->data = &task;
  int rc = uv_spawn(loop_, task.process, &opts);
  ::close(outFd);
  ::close(errFd);
  if (rc != 0) {
    closeAndDelete(task.process);  // libuv requires closing it even when spawn fails
    task.process = nullptr;
    terminate(task, TaskState::kFailed,
              fmt::format("cannot start {}: {}", argv[0], uv_strerror(rc)),
              StatusReason::kLaunchFailed);
    return;
  }
  task.pid = task.process->pid;
  task.startedAt = nowSeconds();
  if (task.killRequested) {
    // Killed between fetch and start (cannot happen today, kept for safety).
    startKill(task, 0, task.killReason, task.killMessage);
    return;
  }
  post(task, TaskState::kRunning, "", StatusReason::kNone);

  for (size_t i = 0; i < l.healthChecks.size(); ++i) {
    const HealthCheckSpec& spec = l.healthChecks[i];
    HealthChecker::Target target;
    target.host = l.hostIp;
    if (spec.protocol != HealthCheckSpec::Protocol::kCommand) {
      target.port = spec.port ? *spec.port : task.ports[static_cast<size_t>(spec.portIndex)];
    }
    target.sandbox = task.sandbox;
    target.env = task.env;
    // COMMAND checks run as the task's user too (without a namespace of their own).
    if (task.user) target.launcherPath = options_.runAs.launcherPath;
    target.user = task.user;
    task.policies.emplace_back(spec.gracePeriodSeconds, spec.maxConsecutiveFailures,
                               task.startedAt);
    // The task owns the checker, and the runner the task: raw pointers are safe (rule 2).
    Task* tp = &task;
    task.checkers.push_back(std::make_unique<HealthChecker>(
        loop_, spec, std::move(target),
        [this, tp, i](HealthChecker::Outcome outcome, const std::string& reason) {
          onHealthResult(*tp, i, static_cast<int>(outcome), reason);
        },
        [this] { maybeFinishShutdown(); }));
  }
  for (auto& c : task.checkers) c->start();
}

void TaskRunner::onHealthResult(Task& task, size_t index, int outcomeValue,
                                const std::string& reason) {
  auto outcome = static_cast<HealthChecker::Outcome>(outcomeValue);
  if (task.state != TaskState::kRunning) return;
  const std::string& what = task.checkers[index]->describe();
  if (outcome == HealthChecker::Outcome::kIgnored) {
    log::debug("task {}: {}: {}", task.launch.taskId, what, reason);
    return;
  }
  bool ok = outcome == HealthChecker::Outcome::kHealthy;
  HealthPolicy::Verdict v = task.policies[index].onResult(ok, nowSeconds());
  if (!v.counted) {
    log::info("task {}: {} failed during the grace period (ignored): {}", task.launch.taskId, what,
              reason);
    return;
  }
  // The task is healthy when every check is; unhealthy when any is; unknown otherwise.
  std::optional<bool> aggregate = true;
  for (const auto& p : task.policies) {
    if (p.healthy() == false) {
      aggregate = false;
      break;
    }
    if (!p.healthy()) aggregate = std::nullopt;
  }
  std::string message =
      ok ? fmt::format("{} passed", what) : fmt::format("{} failed: {}", what, reason);
  if (v.kill) {
    task.healthy = false;
    int max = task.launch.healthChecks[index].maxConsecutiveFailures;
    std::string why = fmt::format("{} failed {} consecutive time(s), last: {}; killing the task",
                                  what, max, reason);
    double grace = task.launch.killGracePeriodSeconds.value_or(kDefaultKillGraceSeconds);
    startKill(task, grace, StatusReason::kUnhealthyKill, why);
    return;
  }
  if (aggregate != task.healthy) {
    task.healthy = aggregate;
    post(task, TaskState::kRunning, message, StatusReason::kHealthChanged);
  } else if (!ok) {
    post(task, TaskState::kRunning,
         fmt::format("{} (failure {} in a row)", message, v.consecutiveFailures),
         StatusReason::kHealthCheckFailed);
  }
}

Status TaskRunner::kill(const std::string& taskId, std::optional<double> graceSeconds) {
  auto it = tasks_.find(taskId);
  if (it == tasks_.end())
    return makeError(ErrorKind::kNotFound, fmt::format("unknown task {}", taskId), "");
  Task& task = *it->second;
  if (isTerminal(task.state)) return Status::Ok();
  double grace =
      graceSeconds.value_or(task.launch.killGracePeriodSeconds.value_or(kDefaultKillGraceSeconds));
  startKill(task, grace, StatusReason::kKillRequested, "kill requested");
  return Status::Ok();
}

void TaskRunner::startKill(Task& task, double grace, StatusReason reason,
                           const std::string& message) {
  if (isTerminal(task.state)) return;
  double deadline = nowSeconds() + std::max(0.0, grace);
  if (task.killRequested && task.state == TaskState::kKilling) {
    if (deadline >= task.killDeadline) return;  // only ever shorten the grace
  }
  bool first = !task.killRequested;
  task.killRequested = true;
  task.killDeadline = deadline;
  if (first) {
    task.killReason = reason;
    task.killMessage = message;
  }
  for (auto& c : task.checkers) c->stop();

  if (task.fetching) {
    if (first) post(task, TaskState::kKilling, message, reason);
    if (task.fetchJob != nullptr) uv_cancel(reinterpret_cast<uv_req_t*>(&task.fetchJob->work));
    return;
  }
  if (task.pid <= 0 || task.process == nullptr) return;
  if (task.state != TaskState::kKilling) post(task, TaskState::kKilling, message, reason);
  if (grace <= 0) {
    log::info("task {}: SIGKILL to process group {}", task.launch.taskId, task.pid);
    ::kill(-task.pid, SIGKILL);
    return;
  }
  if (first) {
    log::info("task {}: SIGTERM to process group {}, SIGKILL in {}s", task.launch.taskId, task.pid,
              grace);
    ::kill(-task.pid, SIGTERM);
  }
  if (task.killTimer == nullptr) {
    task.killTimer = new uv_timer_t;
    uv_timer_init(loop_, task.killTimer);
    task.killTimer->data = &task;
  }
  uv_timer_start(
      task.killTimer,
      [](uv_timer_t* t) {
        auto* tk = static_cast<Task*>(t->data);
        log::info("task {}: grace period over, SIGKILL to process group {}", tk->launch.taskId,
                  tk->pid);
        ::kill(-tk->pid, SIGKILL);
      },
      toMillis(grace), 0);
}

void TaskRunner::onExit(Task& task, int64_t exitStatus, int termSignal) {
  // Whatever the leader did, nothing of the task may outlive it.
  if (task.pid > 0) ::kill(-task.pid, SIGKILL);
  closeAndDelete(task.process);
  task.process = nullptr;
  if (termSignal != 0) {
    task.termSignal = termSignal;
  } else {
    task.exitStatus = static_cast<int>(exitStatus);
  }
  std::string how = termSignal != 0 ? fmt::format("killed by signal {}", termSignal)
                                    : fmt::format("exited with status {}", exitStatus);
  if (task.killRequested) {
    terminate(task, TaskState::kKilled, fmt::format("{} ({})", task.killMessage, how),
              task.killReason);
  } else if (termSignal == 0 && exitStatus == 0) {
    terminate(task, TaskState::kFinished, how, StatusReason::kExited);
  } else {
    terminate(task, TaskState::kFailed, how, StatusReason::kExited);
  }
}

void TaskRunner::terminate(Task& task, TaskState state, const std::string& message,
                           StatusReason reason) {
  for (auto& c : task.checkers) c->stop();
  closeAndDelete(task.killTimer);
  task.killTimer = nullptr;
  if (ports_ != nullptr) {
    for (uint16_t p : task.ports) ports_->release(p);
  }
  post(task, state, message, reason);
  completed_.push_back(task.launch.taskId);
  maybeFinishShutdown();
}

void TaskRunner::post(Task& task, TaskState state, const std::string& message,
                      StatusReason reason) {
  task.state = state;
  task.message = message;
  TaskStatus s;
  s.taskId = task.launch.taskId;
  s.state = state;
  s.message = message;
  s.healthy = task.healthy;
  s.pid = task.pid;
  s.reason = reason;
  std::string health = s.healthy ? (*s.healthy ? " healthy" : " unhealthy") : "";
  log::info("task {} {}{}{}{}", s.taskId, toString(state), health, message.empty() ? "" : ": ",
            message);
  queue_.push_back(std::move(s));
  if (!closing_ && !uv_is_active(reinterpret_cast<uv_handle_t*>(dispatchTimer_))) {
    uv_timer_start(
        dispatchTimer_, [](uv_timer_t* t) { static_cast<TaskRunner*>(t->data)->dispatch(); }, 0, 0);
  }
}

void TaskRunner::dispatch() {
  std::deque<TaskStatus> batch;
  batch.swap(queue_);
  for (const auto& s : batch) {
    if (onStatus_) onStatus_(s);
  }
  prune();
  maybeFinishShutdown();
}

void TaskRunner::prune() {
  while (completed_.size() > options_.maxCompletedTasks) {
    std::string id = completed_.front();
    completed_.pop_front();
    auto it = tasks_.find(id);
    if (it != tasks_.end() && isTerminal(it->second->state)) tasks_.erase(it);
  }
}

void TaskRunner::shutdown(std::function<void()> done) {
  if (closed_) {
    if (done) done();
    return;
  }
  if (done) onClosed_.push_back(std::move(done));
  if (shuttingDown_) return;
  shuttingDown_ = true;
  log::info("agent task runner shutting down: {} live task(s)", liveTaskCount());
  for (auto& [id, task] : tasks_) {
    if (!isTerminal(task->state))
      startKill(*task, 0, StatusReason::kShutdown, "agent shutting down");
  }
  maybeFinishShutdown();
}

void TaskRunner::maybeFinishShutdown() {
  if (!shuttingDown_ || closing_ || liveTaskCount() != 0) return;
  if (!queue_.empty()) return;  // deliver the last statuses first
  for (const auto& [id, task] : tasks_) {
    for (const auto& c : task->checkers) {
      if (!c->idle()) return;  // a killed probe not reaped yet: its onIdle calls again
    }
  }
  closing_ = true;
  // The last handle of the runner; `done` runs from its close callback.
  uv_close(reinterpret_cast<uv_handle_t*>(dispatchTimer_), onDispatchTimerClosed);
}

void TaskRunner::onClosed() {
  dispatchTimer_ = nullptr;
  closed_ = true;
  log::info("agent task runner closed");
  // Last statement: a callback may hand this runner to Loop::deleteLater.
  auto callbacks = std::move(onClosed_);
  onClosed_.clear();
  for (auto& cb : callbacks) cb();
}

size_t TaskRunner::liveTaskCount() const {
  size_t n = 0;
  for (const auto& [id, task] : tasks_) n += isTerminal(task->state) ? 0 : 1;
  return n;
}

TaskInfo TaskRunner::infoOf(const Task& t) const {
  TaskInfo info;
  info.taskId = t.launch.taskId;
  info.appId = t.launch.appId;
  info.appVersion = t.launch.appVersion;
  info.state = t.state;
  info.healthy = t.healthy;
  info.pid = t.pid;
  info.ports = t.ports;
  info.hostIp = t.launch.hostIp;
  info.sandbox = t.sandbox;
  info.user = t.user ? t.user->name : "";
  info.message = t.message;
  info.exitStatus = t.exitStatus;
  info.termSignal = t.termSignal;
  return info;
}

std::vector<TaskInfo> TaskRunner::tasks() const {
  std::vector<TaskInfo> out;
  out.reserve(tasks_.size());
  for (const auto& [id, task] : tasks_) out.push_back(infoOf(*task));
  return out;
}

std::optional<TaskInfo> TaskRunner::task(const std::string& taskId) const {
  auto it = tasks_.find(taskId);
  if (it == tasks_.end()) return std::nullopt;
  return infoOf(*it->second);
}

Result<SandboxChunk> TaskRunner::readSandboxFile(const std::string& taskId, const std::string& path,
                                                 std::optional<uint64_t> offset,
                                                 size_t length) const {
  auto it = tasks_.find(taskId);
  if (it == tasks_.end())
    return makeError(ErrorKind::kNotFound, fmt::format("unknown task {}", taskId), "");
  return agent::readSandboxFile(it->second->sandbox, path, offset, length);
}

}  // namespace corral::agent
