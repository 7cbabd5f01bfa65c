#include "core_cluster/agent/health.h"

#include <algorithm>

#include <signal.h>

#include <cmath>
#include <cstring>

#include <fmt/core.h>

#include "base/http_response_parser.h"
#include "base/log.h"
#include "base/loop.h"
#include "core_cluster/agent/task_launcher.h"

namespace corral::agent {

HealthPolicy::Verdict HealthPolicy::onResult(bool ok, double nowSeconds) {
  Verdict v;
  std::optional<bool> before = healthy_;
  if (ok) {
    everHealthy_ = true;
    failures_ = 0;
    healthy_ = true;
    v.counted = true;
  } else if (!everHealthy_ && nowSeconds - startedAt_ < grace_) {
    v.counted = false;  // still starting up: Marathon ignores it
  } else {
    ++failures_;
    healthy_ = false;
    v.counted = true;
    v.kill = maxFailures_ > 0 && failures_ >= maxFailures_;
  }
  v.changed = before != healthy_;
  v.healthy = healthy_;
  v.consecutiveFailures = failures_;
  return v;
}

namespace {

uint64_t toMillis(double seconds) {
  if (!(seconds > 0)) return 0;
  return static_cast<uint64_t>(std::llround(seconds * 1000.0));
}

std::string hostPort(const std::string& host, int port) {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

}  // namespace

// One connection, owned by the checker while in flight. Closing it cancels its
// pending connect and write (libuv calls them with UV_ECANCELED before the close
// callback, which frees the probe): callbacks of a closing probe do nothing.
struct HealthChecker::TcpProbe {
  uv_tcp_t tcp;  // data points back to the probe
  uv_connect_t connect;
  uv_write_t write;
  std::string request;
  char buf[1024];
  HealthChecker* owner = nullptr;

  bool closing() const { return uv_is_closing(reinterpret_cast<const uv_handle_t*>(&tcp)) != 0; }
  void close() {
    if (closing()) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp),
             [](uv_handle_t* h) { delete static_cast<TcpProbe*>(h->data); });
  }
};

// One probe process, owned by the checker until it has exited (the exit
// callback reaps it) or the checker is destroyed.
struct HealthChecker::CommandProbe {
  uv_process_t process;  // data points back to the probe
  HealthChecker* owner = nullptr;

  // After uv_close the exit callback never runs; the probe is freed in the close callback.
  void close() {
    auto* h = reinterpret_cast<uv_handle_t*>(&process);
    if (uv_is_closing(h)) return;
    uv_close(h, [](uv_handle_t* x) { delete static_cast<CommandProbe*>(x->data); });
  }
  // The whole process group: a check's children must not outlive it.
  void killGroup() {
    if (process.pid > 0) uv_kill(-process.pid, SIGKILL);
  }
};

HealthChecker::HealthChecker(uv_loop_t* loop, HealthCheckSpec spec, Target target,
                             ResultCallback cb, std::function<void()> onIdle)
    : loop_(loop),
      spec_(std::move(spec)),
      target_(std::move(target)),
      cb_(std::move(cb)),
      onIdle_(std::move(onIdle)) {
  using P = HealthCheckSpec::Protocol;
  switch (spec_.protocol) {
    case P::kHttp:
    case P::kHttps:
      description_ = fmt::format("{} health check on {}{}", toString(spec_.protocol),
                                 hostPort(target_.host, target_.port), spec_.path);
      break;
    case P::kTcp:
      description_ = fmt::format("TCP health check on {}", hostPort(target_.host, target_.port));
      break;
    case P::kCommand:
      description_ = fmt::format("COMMAND health check `{}`", spec_.command);
      break;
  }
}

HealthChecker::~HealthChecker() {
  stop();
  // Rule 1: close everything owned; no callback of ours runs after this. A
  // probe process not yet exited is closed unreaped (its group was SIGKILLed).
  for (CommandProbe* p : dying_) p->close();
  dying_.clear();
  closeAndDelete(intervalTimer_);
  closeAndDelete(timeoutTimer_);
}

// Probe interval before the first success (see finish()).
constexpr double kEarlyRetrySeconds = 0.1;

void HealthChecker::start() {
  if (running_) return;
  running_ = true;
  startedMs_ = uv_now(loop_);
  if (intervalTimer_ == nullptr) {
    intervalTimer_ = new uv_timer_t;
    uv_timer_init(loop_, intervalTimer_);
    intervalTimer_->data = this;
    timeoutTimer_ = new uv_timer_t;
    uv_timer_init(loop_, timeoutTimer_);
    timeoutTimer_->data = this;
  }
  schedule(spec_.delaySeconds);
}

void HealthChecker::stop() {
  if (!running_) return;
  running_ = false;
  abortProbe();
  uv_timer_stop(intervalTimer_);
  uv_timer_stop(timeoutTimer_);
}

void HealthChecker::schedule(double seconds) {
  uv_timer_start(
      intervalTimer_, [](uv_timer_t* t) { static_cast<HealthChecker*>(t->data)->runCheck(); },
      toMillis(seconds), 0);
}

void HealthChecker::runCheck() {
  if (!running_) return;
  // A fresh parser per probe: each probe is its own connection.
  responseParser_ = std::make_unique<http::ResponseParser>(http::ResponseParser::Limits{8192});
  uv_timer_start(
      timeoutTimer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<HealthChecker*>(t->data);
        self->abortProbe();
        self->finish(Outcome::kUnhealthy,
                     fmt::format("timed out after {}s", self->spec_.timeoutSeconds));
      },
      toMillis(spec_.timeoutSeconds), 0);
  using P = HealthCheckSpec::Protocol;
  switch (spec_.protocol) {
    case P::kHttp:
    case P::kTcp:
      startTcpProbe();
      break;
    case P::kHttps: {
      std::string url =
          fmt::format("https://{}{}", hostPort(target_.host, target_.port), spec_.path);
      startCommandProbe({"curl", "-k", "-s", "-S", "-f", "-o", "/dev/null", "--max-time",
                         fmt::format("{}", spec_.timeoutSeconds), url},
                        true);
      break;
    }
    case P::kCommand:
      startCommandProbe({"/bin/sh", "-c", spec_.command}, false);
      break;
  }
}

void HealthChecker::abortProbe() {
  if (tcpProbe_ != nullptr) {
    tcpProbe_->close();
    tcpProbe_ = nullptr;
  }
  if (commandProbe_ != nullptr) {
    // Kept open until it exits, so that its exit callback reaps it.
    commandProbe_->killGroup();
    dying_.push_back(commandProbe_);
    commandProbe_ = nullptr;
  }
}

void HealthChecker::finish(Outcome outcome, const std::string& reason) {
  if (!running_) return;
  uv_timer_stop(timeoutTimer_);
  if (outcome == Outcome::kHealthy) succeededOnce_ = true;
  // Until the first success (a task usually needs a moment to bind its port)
  // probe again soon, so a new task is healthy, and in DNS, within a fraction
  // of a second rather than a whole interval later. Such early failures fall
  // in the grace period and are not counted.
  bool inGrace = (uv_now(loop_) - startedMs_) < spec_.gracePeriodSeconds * 1000;
  double next = succeededOnce_ || !inGrace ? spec_.intervalSeconds
                                           : std::min(spec_.intervalSeconds, kEarlyRetrySeconds);
  schedule(next);
  // Last statement: the callback may stop() this checker.
  cb_(outcome, reason);
}

void HealthChecker::startTcpProbe() {
  sockaddr_storage addr{};
  if (uv_ip4_addr(target_.host.c_str(), target_.port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(target_.host.c_str(), target_.port, reinterpret_cast<sockaddr_in6*>(&addr)) !=
          0) {
    finish(Outcome::kUnhealthy, fmt::format("'{}' is not an IP address", target_.host));
    return;
  }
  auto* p = new TcpProbe();
  p->owner = this;
  uv_tcp_init(loop_, &p->tcp);
  p->tcp.data = p;
  p->connect.data = p;
  tcpProbe_ = p;
  int rc = uv_tcp_connect(&p->connect, &p->tcp, reinterpret_cast<const sockaddr*>(&addr),
                          [](uv_connect_t* req, int status) {
                            auto* probe = static_cast<TcpProbe*>(req->data);
                            if (!probe->closing()) probe->owner->onTcpConnected(status);
                          });
  if (rc != 0) {
    tcpProbe_ = nullptr;
    p->close();
    finish(Outcome::kUnhealthy, uv_strerror(rc));
  }
}

void HealthChecker::onTcpConnected(int status) {
  TcpProbe* p = tcpProbe_;
  if (status != 0) {
    tcpProbe_ = nullptr;
    p->close();
    std::string why = status == UV_ECONNREFUSED ? "connection refused" : uv_strerror(status);
    finish(Outcome::kUnhealthy, why);
    return;
  }
  if (spec_.protocol == HealthCheckSpec::Protocol::kTcp) {
    tcpProbe_ = nullptr;
    p->close();
    finish(Outcome::kHealthy, "");
    return;
  }
  p->request = fmt::format(
      "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: corral-health-check\r\nAccept: */*\r\n"
      "Connection: close\r\n\r\n",
      spec_.path, hostPort(target_.host, target_.port));
  uv_buf_t buf = uv_buf_init(p->request.data(), static_cast<unsigned>(p->request.size()));
  p->write.data = p;
  uv_write(
      &p->write, reinterpret_cast<uv_stream_t*>(&p->tcp), &buf, 1, [](uv_write_t* req, int status) {
        auto* probe = static_cast<TcpProbe*>(req->data);
        if (probe->closing() || status == 0) return;
        HealthChecker* self = probe->owner;
        self->tcpProbe_ = nullptr;
        probe->close();
        self->finish(Outcome::kUnhealthy, fmt::format("sending request: {}", uv_strerror(status)));
      });
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&p->tcp),
      [](uv_handle_t* h, size_t, uv_buf_t* out) {
        auto* probe = static_cast<TcpProbe*>(h->data);
        *out = uv_buf_init(probe->buf, sizeof probe->buf);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* probe = static_cast<TcpProbe*>(s->data);
        if (!probe->closing()) probe->owner->onTcpRead(buf->base, n);
      });
}

void HealthChecker::onTcpRead(const char* data, ssize_t n) {
  // Only the status decides (Marathon's semantics): the body is never read.
  using Event = http::ResponseParser::Event;
  Event e = Event::kNeedMore;
  if (n > 0) {
    std::string_view rest(data, static_cast<size_t>(n));
    do {
      size_t used = 0;
      e = responseParser_->feed(rest, &used);
      rest.remove_prefix(used);
    } while (e == Event::kNeedMore && !rest.empty());
  } else {
    e = responseParser_->finish();
  }
  if (e == Event::kNeedMore && n >= 0) return;  // need more
  TcpProbe* p = tcpProbe_;
  tcpProbe_ = nullptr;
  p->close();
  if (e == Event::kError) {
    finish(Outcome::kUnhealthy, responseParser_->errorMessage());
    return;
  }
  if (e != Event::kHead) {
    finish(Outcome::kUnhealthy,
           n == UV_EOF ? "connection closed before a response"
                       : fmt::format("reading response: {}", uv_strerror(static_cast<int>(n))));
    return;
  }
  int code = responseParser_->status();
  if (code >= 200 && code <= 399) {
    finish(Outcome::kHealthy, "");
  } else if (code >= 100 && code <= 199 && spec_.ignoreHttp1xx) {
    finish(Outcome::kIgnored, fmt::format("HTTP {} ignored", code));
  } else {
    finish(Outcome::kUnhealthy, fmt::format("HTTP status {}", code));
  }
}

void HealthChecker::startCommandProbe(std::vector<std::string> argv, bool isCurl) {
  if (target_.user) {
    argv = launcherArgv(target_.launcherPath, LauncherArgs{*target_.user, false, std::move(argv)});
  }
  auto* p = new CommandProbe();
  p->owner = this;
  p->process.data = p;
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  std::vector<char*> cenv;
  for (auto& e : target_.env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  uv_stdio_container_t stdio[3];
  for (auto& s : stdio) s.flags = UV_IGNORE;
  uv_process_options_t opts{};
  opts.file = cargv[0];
  opts.args = cargv.data();
  opts.env = target_.env.empty() ? nullptr : cenv.data();
  opts.cwd = target_.sandbox.empty() ? nullptr : target_.sandbox.c_str();
  opts.flags = UV_PROCESS_DETACHED;
  opts.stdio_count = 3;
  opts.stdio = stdio;
  opts.exit_cb = [](uv_process_t* proc, int64_t exitStatus, int termSignal) {
    auto* probe = static_cast<CommandProbe*>(proc->data);
    probe->close();  // freed in the close callback, after this call returns
    probe->owner->onCommandExit(probe, exitStatus, termSignal);
  };
  commandIsCurl_ = isCurl;
  int rc = uv_spawn(loop_, &p->process, &opts);
  if (rc != 0) {
    // libuv requires closing the handle even when spawn fails.
    p->close();
    std::string why = isCurl && rc == UV_ENOENT
                          ? "HTTPS health checks need curl on the agent's PATH"
                          : fmt::format("cannot run {}: {}", argv[0], uv_strerror(rc));
    finish(Outcome::kUnhealthy, why);
    return;
  }
  commandProbe_ = p;
}

void HealthChecker::onCommandExit(CommandProbe* probe, int64_t exitStatus, int termSignal) {
  if (probe != commandProbe_) {
    // A probe stopped or timed out earlier has now been reaped.
    dying_.erase(std::remove(dying_.begin(), dying_.end(), probe), dying_.end());
    if (idle() && onIdle_) onIdle_();
    return;
  }
  commandProbe_ = nullptr;
  if (termSignal != 0) {
    finish(Outcome::kUnhealthy, fmt::format("command killed by signal {}", termSignal));
  } else if (exitStatus != 0) {
    if (commandIsCurl_) {
      std::string why = exitStatus == 22   ? "HTTP status >= 400"
                        : exitStatus == 7  ? "connection refused"
                        : exitStatus == 28 ? "timed out"
                                           : fmt::format("curl exited with status {}", exitStatus);
      finish(Outcome::kUnhealthy, why);
    } else {
      finish(Outcome::kUnhealthy, fmt::format("command exited with status {}", exitStatus));
    }
  } else {
    finish(Outcome::kHealthy, "");
  }
}

}  // namespace corral::agent
