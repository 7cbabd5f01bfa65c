#include "registry/marathon_follower.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "base/clock.h"
#include "base/json.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/share_cpu.h"
#include "base/sse.h"

namespace corral::registry {

namespace {

constexpr size_t kMaxLineBytes = 16 << 20;
constexpr size_t kMaxBodyBytes = 512 << 20;
constexpr int kMaxRedirects = 3;

bool parseUint(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// Does event id `next` directly follow `last`? Non-numeric ids cannot be
// checked and are trusted.
bool follows(const std::string& last, const std::string& next) {
  uint64_t a = 0, b = 0;
  if (!parseUint(last, &a) || !parseUint(next, &b)) return true;
  return b == a + 1;
}

// `id` was already applied (numeric ids only).
bool alreadySeen(const std::string& last, const std::string& id) {
  uint64_t a = 0, b = 0;
  return parseUint(last, &a) && parseUint(id, &b) && b <= a;
}

bool isRedirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// "http://host:port/path?q" (https:// as well: the scheme of the follower's
// masters is kept) or "/path": the host:port (or `current`) and the target.
bool parseLocation(std::string_view location, const std::string& current, std::string* hostPort,
                   std::string* target) {
  if (!location.empty() && location.front() == '/') {
    *hostPort = current;
    *target = std::string(location);
    return true;
  }
  size_t scheme = location.substr(0, 7) == "http://"    ? 7
                  : location.substr(0, 8) == "https://" ? 8
                                                        : 0;
  if (scheme == 0) return false;
  location.remove_prefix(scheme);
  auto slash = location.find('/');
  *hostPort = std::string(location.substr(0, slash));
  *target = slash == std::string_view::npos ? "/" : std::string(location.substr(slash));
  return !hostPort->empty();
}

const char* phaseName(int phase) {
  static const char* kNames[] = {"idle", "connecting", "syncing", "live", "backoff", "stopped"};
  return kNames[phase];
}

}  // namespace

struct MarathonFollower::Request {
  CancelHandle handle;  // the fetch; destroying the request cancels it
  ResponseCallback cb;
  std::string hostPort;
  std::string target;
  int redirects = 0;
};

// Shared with the metrics registry's gauge functions, which may outlive us.
struct MarathonFollower::Stats {
  std::atomic<int64_t> startedAtMs{0};
  std::atomic<int64_t> freshAtMs{0};  // last moment the catalog was known in sync
  std::atomic<bool> connected{false};
  std::atomic<uint64_t> version{0};
  metrics::Counter* eventsApplied = nullptr;
  metrics::Counter* resyncs = nullptr;
  metrics::Counter* badEvents = nullptr;
  metrics::Gauge* fullLoadSeconds = nullptr;
};

Result<std::unique_ptr<MarathonFollower>> MarathonFollower::create(Loop& loop,
                                                                   FollowerOptions options) {
  if (options.masters.empty())
    return makeError(ErrorKind::kInvalid, "registry: no master address given");
  for (const auto& m : options.masters) {
    std::string host;
    int port = 0;
    if (!http::splitHostPort(m, 8080, &host, &port)) {
      return makeError(ErrorKind::kInvalid,
                       "registry: master address must be host:port, got '" + m + "'");
    }
  }
  if (options.backoffInitialMs == 0) options.backoffInitialMs = 1;
  options.backoffMaxMs = std::max(options.backoffMaxMs, options.backoffInitialMs);
  if (options.deadStreamMs == 0) options.deadStreamMs = 35000;
  return std::unique_ptr<MarathonFollower>(new MarathonFollower(loop, std::move(options)));
}

MarathonFollower::MarathonFollower(Loop& loop, FollowerOptions options)
    : loop_(loop),
      options_(std::move(options)),
      stats_(std::make_shared<Stats>()),
      parser_(
          [this](const sse::Event& e) {
            onEvent(BufferedEvent{e.id, e.type, e.data, wallMs()});
          },
          [this](std::string_view text) { onComment(text); }, kMaxLineBytes),
      retryTimer_(loop),
      deadTimer_(loop),
      publishTimer_(loop),
      current_(catalog_.last()) {
  auto& reg = metrics::global();
  const std::string& labels = options_.metricsLabels;
  stats_->eventsApplied = &reg.counter("corral_registry_events_applied_total",
                                       "Scheduler events applied to the service catalog.", labels);
  stats_->resyncs = &reg.counter("corral_registry_resyncs_total",
                                 "Full reloads of /v2/apps (initial load included).", labels);
  stats_->badEvents =
      &reg.counter("corral_registry_bad_events_total", "Malformed events or apps skipped.", labels);
  stats_->fullLoadSeconds = &reg.gauge(
      "corral_registry_full_load_seconds",
      "Time the last full load of /v2/apps took once its response was in: parsing the JSON and "
      "rebuilding the catalog from it.",
      labels);
  auto stats = stats_;
  reg.gaugeFn(
      "corral_registry_snapshot_age_seconds",
      "Seconds since the catalog was last known to be in sync with the scheduler.",
      [stats] {
        int64_t since = stats->freshAtMs.load();
        if (since == 0) since = stats->startedAtMs.load();
        if (since == 0) return 0.0;
        return static_cast<double>(std::max<int64_t>(0, wallMs() - since)) / 1000.0;
      },
      labels);
  reg.gaugeFn(
      "corral_registry_connected", "1 while the event stream is open.",
      [stats] { return stats->connected.load() ? 1.0 : 0.0; }, labels);
  reg.gaugeFn(
      "corral_registry_snapshot_version", "Version of the published catalog snapshot.",
      [stats] { return static_cast<double>(stats->version.load()); }, labels);
}

MarathonFollower::~MarathonFollower() { stop(); }

void MarathonFollower::start() {
  if (started_ || phase_ == Phase::kStopped) return;
  started_ = true;
  stats_->startedAtMs = wallMs();
  if (cpuSharing() == CpuSharing::kStepDown) {
    log::info("registry: bulk work (a burst) steps down to SCHED_IDLE after {} us of a loop turn",
              kBulkAfterUs);
  } else {
    log::info(
        "registry: bulk work (a burst) pauses {} us every {} us (stepping down needs the right to "
        "leave SCHED_IDLE: CAP_SYS_NICE or RLIMIT_NICE 40; or CORRAL_CPU_SHARING=pause is set)",
        kShareCpuPauseUs, kShareCpuEveryUs);
  }
  connect();
}

void MarathonFollower::stop() {
  if (phase_ == Phase::kStopped) return;
  phase_ = Phase::kStopped;
  teardown();
  retryTimer_.stop();
  publishTimer_.stop();
  if (started_) log::info("registry: stopped (snapshot version {})", current()->version);
}

uint64_t MarathonFollower::subscribe(Subscriber fn) {
  uint64_t token = nextToken_++;
  auto shared = std::make_shared<Subscriber>(std::move(fn));
  subscribers_.emplace_back(token, shared);
  auto snap = current();
  Diff all;
  all.added.reserve(snap->apps.size());
  for (const auto& [id, app] : snap->apps) all.added.push_back(id);
  (*shared)(snap, all);
  return token;
}

void MarathonFollower::unsubscribe(uint64_t token) {
  std::erase_if(subscribers_, [token](const auto& s) { return s.first == token; });
}

std::shared_ptr<const Snapshot> MarathonFollower::current() const {
  std::lock_guard<std::mutex> lock(currentMu_);
  return current_;
}

// --- connection lifecycle -------------------------------------------------

void MarathonFollower::connect() {
  if (phase_ == Phase::kStopped) return;
  teardown();
  phase_ = Phase::kConnecting;
  const std::string candidate = options_.masters[masterIndex_ % options_.masters.size()];
  if (!leaderHint_.empty()) return openEvents(leaderHint_);
  if (!options_.followLeader || directNext_) {
    directNext_ = false;
    return openEvents(candidate);
  }
  uint64_t gen = gen_;
  get(candidate, "/v2/leader", [this, gen, candidate](Result<http::Response> r) {
    if (gen != gen_) return;
    if (!r.ok()) return fail("cannot ask " + candidate + " for the leader: " + r.error().message);
    std::string leader;
    if (r->status == 200) {
      auto j = parseJson(r->body);
      if (j.ok() && j->is_object() && j->contains("leader") && (*j)["leader"].is_string()) {
        leader = (*j)["leader"].get<std::string>();
      }
    } else if (r->status != 404) {
      return fail("GET /v2/leader on " + candidate + " answered " + std::to_string(r->status));
    }
    // No leader known (or no /v2/leader at all): stream from the candidate itself.
    std::string host;
    int port = 0;
    if (!leader.empty() && leader != candidate && http::splitHostPort(leader, 8080, &host, &port)) {
      log::info("registry: {} names {} as the leader", candidate, leader);
      leaderHint_ = leader;
      return openEvents(leader);
    }
    openEvents(candidate);
  });
}

void MarathonFollower::openEvents(const std::string& hostPort) {
  source_ = hostPort;
  std::string host;
  int port = 0;
  if (!http::splitHostPort(hostPort, 8080, &host, &port)) {
    return fail("bad scheduler address '" + hostPort + "'");
  }
  http::Request req;
  req.target = "/v2/events";
  req.headers = {{"Accept", "text/event-stream"}, {"Cache-Control", "no-cache"}};
  resuming_ = haveState_ && !lastEventId_.empty();
  if (resuming_) req.headers.emplace_back("Last-Event-ID", lastEventId_);
  if (!options_.authorization.empty()) {
    req.headers.emplace_back("Authorization", options_.authorization);
  }
  parser_.reset();
  log::info("registry: opening {}/v2/events{}", hostPort,
            resuming_ ? " (resuming after event " + lastEventId_ + ")" : "");
  uint64_t gen = gen_;
  // Raw `this`: stream_ holds the stream's cancel handle (base/loop.h).
  http::StreamCallbacks cbs;
  cbs.onHead = [this, gen](const http::Response& head) {
    if (gen == gen_) onStreamHead(head);
  };
  cbs.onData = [this, gen](std::string_view chunk) {
    if (gen == gen_) onStreamData(chunk);
  };
  cbs.onEnd = [this, gen](Status st) {
    if (gen != gen_) return;
    stream_.reset();  // finished: nothing to cancel
    fail(st.ok() ? "event stream from " + source_ + " ended"
                 : "event stream from " + source_ + " failed: " + st.error().message);
  };
  http::ClientOptions copts;
  copts.timeoutMs = options_.requestTimeoutMs;
  copts.tls = options_.tls;
  stream_ = http::openStream(loop_, host, port, std::move(req), std::move(cbs), copts);
}

void MarathonFollower::onStreamHead(const http::Response& head) {
  if (isRedirect(head.status)) {
    auto location = head.header("Location");
    std::string hostPort, target;
    if (location && redirects_ < kMaxRedirects &&
        parseLocation(*location, source_, &hostPort, &target)) {
      redirects_++;
      log::info("registry: {} redirects the event stream to {}", source_, hostPort);
      leaderHint_ = hostPort;
      teardown();
      phase_ = Phase::kConnecting;
      retryTimer_.start(0, 0, [this] { connect(); });
      return;
    }
  }
  if (head.status != 200) {
    return fail("GET /v2/events on " + source_ + " answered " + std::to_string(head.status));
  }
  auto type = head.header("Content-Type").value_or("");
  if (type.find("text/event-stream") == std::string_view::npos) {
    return fail("GET /v2/events on " + source_ + " is not an event stream (" + std::string(type) +
                ")");
  }
  connected_ = true;
  stats_->connected = true;
  attempts_ = 0;
  redirects_ = 0;
  armDeadTimer();
  catalog_.setLeader(source_);
  if (resuming_) {
    phase_ = Phase::kLive;
    resumeCheck_ = true;
    stats_->freshAtMs = wallMs();
    log::info("registry: event stream from {} open, resuming after event {}", source_,
              lastEventId_);
    schedulePublish();
  } else {
    startFullSync("new event stream");
  }
}

void MarathonFollower::onStreamData(std::string_view chunk) {
  armDeadTimer();
  if (phase_ == Phase::kLive) stats_->freshAtMs = wallMs();
  // teardown() may run from within feed(): it resets the parser, which then
  // delivers nothing more.
  uint64_t gen = gen_;
  if (!parser_.feed(chunk) && gen == gen_)
    fail("event stream from " + source_ + ": event too large");
}

void MarathonFollower::onComment(std::string_view text) {
  // corral's master confirms a resume: every event after our id follows, even
  // when ids skip (corral's own event types, filtered out of this stream, take
  // ids too), so the next-id check would be a false alarm.
  if (text.rfind("resumed ", 0) == 0 && resumeCheck_ && text.substr(8) == lastEventId_) {
    resumeCheck_ = false;
    return;
  }
  if (text.rfind("resync-required", 0) == 0) {
    lastEventId_.clear();
    startFullSync("the server no longer holds the events after our Last-Event-ID");
  }
}

void MarathonFollower::onEvent(BufferedEvent ev) {
  if (phase_ == Phase::kSyncing) {
    if (syncBuffer_.size() >= options_.maxBufferedEvents) {
      return fail("more than " + std::to_string(options_.maxBufferedEvents) +
                  " events arrived during the full load");
    }
    syncBuffer_.push_back(std::move(ev));
    return;
  }
  if (phase_ != Phase::kLive) return;
  if (resumeCheck_) {
    resumeCheck_ = false;
    if (ev.id.empty() || !follows(lastEventId_, ev.id)) {
      std::string why = ev.id.empty() ? "the server sends no event ids"
                                      : "the server did not resume after event " + lastEventId_ +
                                            " (next id " + ev.id + ")";
      lastEventId_.clear();
      startFullSync(why);
      syncBuffer_.push_back(std::move(ev));
      return;
    }
  }
  apply(ev);
}

void MarathonFollower::startFullSync(const std::string& why) {
  phase_ = Phase::kSyncing;
  syncBuffer_.clear();
  refetching_.clear();
  resumeCheck_ = false;
  lastEventId_.clear();
  syncEpoch_++;
  log::info("registry: full load of {}/v2/apps ({})", source_, why);
  uint64_t gen = gen_, epoch = syncEpoch_;
  get(source_, "/v2/apps?embed=apps.tasks", [this, gen, epoch](Result<http::Response> r) {
    if (gen == gen_ && epoch == syncEpoch_) onFullSync(std::move(r));
  });
}

void MarathonFollower::onFullSync(Result<http::Response> r) {
  if (!r.ok()) return fail("full load from " + source_ + " failed: " + r.error().message);
  if (r->status != 200) {
    return fail("GET /v2/apps on " + source_ + " answered " + std::to_string(r->status));
  }
  auto loadStart = std::chrono::steady_clock::now();
  auto report = catalog_.loadApps(r->body);
  double loadSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - loadStart).count();
  stats_->fullLoadSeconds->set(loadSeconds);
  if (!report.ok()) return fail("GET /v2/apps on " + source_ + ": " + report.error().message);
  for (const auto& e : report->bad) {
    log::warn("registry: app skipped (its last good version, if any, is kept): {}", e.message);
    stats_->badEvents->inc();
  }
  stats_->resyncs->inc();
  haveState_ = true;
  phase_ = Phase::kLive;
  stats_->freshAtMs = wallMs();
  auto buffered = std::move(syncBuffer_);
  syncBuffer_.clear();
  batching_ = true;
  for (const auto& ev : buffered) apply(ev);
  batching_ = false;
  log::info(
      "registry: loaded {} app(s) from {} ({} skipped) in {:.1f} ms, then {} buffered event(s)",
      report->apps, source_, report->bad.size(), loadSeconds * 1000, buffered.size());
  schedulePublish();
}

void MarathonFollower::apply(const BufferedEvent& ev) {
  shareCpu();  // a burst's thousand events give way to the workers now and then
  if (!ev.id.empty()) {
    if (alreadySeen(lastEventId_, ev.id)) return;
    lastEventId_ = ev.id;
    catalog_.setLastEventId(ev.id);
  }
  ApplyResult r = catalog_.applyEvent(ev.type, std::string_view(ev.data));
  switch (r.outcome) {
    case ApplyOutcome::kBad:
      log::warn("registry: skipped bad {} event{}{}: {}", ev.type, ev.id.empty() ? "" : " ", ev.id,
                r.error);
      stats_->badEvents->inc();
      break;
    case ApplyOutcome::kApplied:
      stats_->eventsApplied->inc();
      catalog_.noteEventArrival(ev.arrivedMs);
      schedulePublish();
      break;
    case ApplyOutcome::kNoop:
      stats_->eventsApplied->inc();
      break;
    case ApplyOutcome::kIgnored:
      break;
  }
  if (!r.appId.empty()) {
    auto pending = refetching_.find(r.appId);
    if (pending != refetching_.end()) pending->second.push_back(ev);
  }
  for (const auto& id : r.refetch) refetch(id);
}

void MarathonFollower::refetch(const std::string& appId) {
  if (phase_ != Phase::kLive || refetching_.count(appId)) return;
  refetching_[appId];
  uint64_t gen = gen_, epoch = syncEpoch_;
  get(source_, "/v2/apps" + appId + "?embed=app.tasks",
      [this, gen, epoch, appId](Result<http::Response> r) {
        if (gen == gen_ && epoch == syncEpoch_) onRefetch(appId, std::move(r));
      });
}

void MarathonFollower::onRefetch(const std::string& appId, Result<http::Response> r) {
  std::vector<BufferedEvent> meanwhile;
  if (auto node = refetching_.extract(appId)) meanwhile = std::move(node.mapped());
  if (!r.ok() || (r->status != 200 && r->status != 404)) {
    std::string why = r.ok() ? "status " + std::to_string(r->status) : r.error().message;
    log::warn("registry: cannot re-read app {}: {}", appId, why);
    return startFullSync("app " + appId + " could not be re-read");
  }
  if (r->status == 404) {
    catalog_.removeApp(appId);
  } else {
    auto json = parseJson(r->body);
    Result<App> app = makeError(ErrorKind::kInvalid, "no \"app\" object");
    if (json.ok() && json->is_object() && json->contains("app")) app = parseApp((*json)["app"]);
    if (!json.ok()) app = json.error();
    if (!app.ok() || app->id != appId) {
      log::warn("registry: app {} skipped: {}", appId,
                app.ok() ? "the answer is about " + app->id : app.error().message);
      stats_->badEvents->inc();
    } else {
      catalog_.upsertApp(std::move(*app));
    }
  }
  // Events that arrived while the request was out apply on top of the answer.
  batching_ = true;
  for (const auto& ev : meanwhile) {
    ApplyResult again = catalog_.applyEvent(ev.type, std::string_view(ev.data));
    if (again.outcome == ApplyOutcome::kApplied) catalog_.noteEventArrival(ev.arrivedMs);
  }
  batching_ = false;
  schedulePublish();
}

void MarathonFollower::fail(const std::string& why) {
  if (phase_ == Phase::kStopped) return;
  // A leader we were pointed at failed: try the address that named it, directly.
  if (!leaderHint_.empty() && source_ == leaderHint_) {
    leaderHint_.clear();
    directNext_ = true;
  } else {
    leaderHint_.clear();
    masterIndex_ = (masterIndex_ + 1) % options_.masters.size();
  }
  teardown();
  phase_ = Phase::kBackoff;
  uint64_t ceiling = options_.backoffInitialMs << std::min<uint32_t>(attempts_, 20);
  ceiling = std::min(ceiling, options_.backoffMaxMs);
  attempts_++;
  static thread_local std::minstd_rand rng{std::random_device{}()};
  // Jitter in [ceiling/2, ceiling] so that many followers do not reconnect in step.
  uint64_t delay = ceiling / 2 + rng() % (ceiling - ceiling / 2 + 1);
  log::warn("registry: {}; keeping snapshot version {}, retrying in {} ms", why, current()->version,
            delay);
  retryTimer_.start(delay, 0, [this] { connect(); });
}

void MarathonFollower::teardown() {
  gen_++;
  parser_.reset();  // it may be mid-feed(): it stops delivering
  stream_.reset();
  // Destroying the requests cancels their fetches.
  std::map<uint64_t, std::unique_ptr<Request>>().swap(requests_);
  refetching_.clear();
  syncBuffer_.clear();
  deadTimer_.stop();
  resuming_ = false;
  resumeCheck_ = false;
  if (connected_) log::info("registry: event stream from {} closed", source_);
  connected_ = false;
  stats_->connected = false;
  if (phase_ != Phase::kStopped) phase_ = Phase::kIdle;
}

void MarathonFollower::armDeadTimer() {
  deadTimer_.start(options_.deadStreamMs, 0, [this] {
    fail("no byte from " + source_ + " for " + std::to_string(options_.deadStreamMs) +
         " ms: dead stream");
  });
}

// --- publishing -------------------------------------------------------------

void MarathonFollower::schedulePublish() {
  if (batching_ || !catalog_.dirty()) return;
  if (options_.coalesceMs == 0) return publish();
  if (publishTimer_.active()) return;  // the changes go out with the booked snapshot
  // Leading edge at the end of this loop turn: a change after a quiet spell
  // is published once the events read with it are applied too (a 0 ms timer
  // runs at the start of the next turn, before more input is read), so a
  // burst that arrives in one read is one snapshot, not a snapshot for its
  // first event plus one for the rest. A change that follows a snapshot by
  // less than coalesceMs waits for the rest of that window.
  uint64_t now = loop_.nowMs();
  uint64_t due = lastPublishMs_ + options_.coalesceMs;
  uint64_t delay = lastPublishMs_ == 0 || now >= due ? 0 : due - now;
  publishTimer_.start(delay, 0, [this] { publish(); });
}

void MarathonFollower::publish() {
  lastPublishMs_ = loop_.nowMs();
  auto [snap, diff] = catalog_.build(wallMs());
  if (!snap) return;
  {
    std::lock_guard<std::mutex> lock(currentMu_);
    current_ = snap;
  }
  stats_->version = snap->version;
  log::debug("registry: snapshot {}: {} app(s), +{} ~{} -{} ({})", snap->version, snap->apps.size(),
             diff.added.size(), diff.changed.size(), diff.removed.size(),
             phaseName(static_cast<int>(phase_)));
  auto subs = subscribers_;
  for (const auto& [token, fn] : subs) {
    bool still = std::any_of(subscribers_.begin(), subscribers_.end(),
                             [t = token](const auto& s) { return s.first == t; });
    if (still) (*fn)(snap, diff);
  }
}

// --- requests ---------------------------------------------------------------

void MarathonFollower::get(const std::string& hostPort, const std::string& target,
                           ResponseCallback cb, int redirects) {
  std::string host;
  int port = 0;
  if (!http::splitHostPort(hostPort, 8080, &host, &port)) {
    return cb(makeError(ErrorKind::kInvalid, "bad scheduler address '" + hostPort + "'"));
  }
  uint64_t id = nextRequestId_++;
  auto req = std::make_unique<Request>();
  req->cb = std::move(cb);
  req->hostPort = hostPort;
  req->target = target;
  req->redirects = redirects;
  http::Request hr;
  hr.target = target;
  hr.headers = {{"Accept", "application/json"}};
  if (!options_.authorization.empty()) {
    hr.headers.emplace_back("Authorization", options_.authorization);
  }
  http::ClientOptions copts{
      .timeoutMs = options_.requestTimeoutMs, .maxBodyBytes = kMaxBodyBytes, .tls = options_.tls};
  // Raw `this`: requests_ holds the fetch's cancel handle (base/loop.h).
  req->handle = http::fetch(
      loop_, host, port, std::move(hr),
      [this, id](Result<http::Response> r) { finishRequest(id, std::move(r)); }, copts);
  requests_.emplace(id, std::move(req));
}

void MarathonFollower::finishRequest(uint64_t id, Result<http::Response> r) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return;
  std::unique_ptr<Request> req = std::move(it->second);
  requests_.erase(it);
  if (r.ok() && isRedirect(r->status) && req->redirects < kMaxRedirects) {
    std::string hostPort, target;
    auto location = r->header("Location");
    if (location && parseLocation(*location, req->hostPort, &hostPort, &target)) {
      return get(hostPort, target, std::move(req->cb), req->redirects + 1);
    }
  }
  auto cb = std::move(req->cb);
  req.reset();
  cb(std::move(r));
}

}  // namespace corral::registry
