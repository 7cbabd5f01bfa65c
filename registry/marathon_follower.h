// A client of Marathon's event stream that keeps the service catalog.
//
// It reads /v2/apps?embed=apps.tasks once, then follows GET /v2/events
// (server-sent events) and applies each event incrementally, publishing
// immutable snapshots plus diffs to its subscribers. It relies only on
// Marathon's documented API, so it works against corral's master and a real
// Marathon alike.
//
// * Leader: asks /v2/leader and streams from the leader; on failure it moves to
//   the next configured address. Redirects (3xx + Location) are followed.
// * Resume: reconnects send Last-Event-ID. The server either replays what was
//   missed (corral's master says so first: ": resumed <id>"), or says
//   ": resync-required", or ignores the header (without the confirmation, the
//   next id does not follow ours, or it sends no ids at all): the latter two
//   trigger a full reload of /v2/apps on the same stream.
// * Reconnects back off exponentially with jitter (backoffInitialMs ..
//   backoffMaxMs). A stream without a byte for deadStreamMs is dropped.
// * Bursts are coalesced: a change after a quiet spell is published at the
//   end of the loop turn that read it (with every event read in that turn),
//   later ones at most one snapshot per coalesceMs (0: one per event).
// * A malformed event or app is skipped with one log line and counted in
//   corral_registry_bad_events_total; the others keep flowing.
// * While disconnected the last good snapshot stays published;
//   corral_registry_snapshot_age_seconds grows.
//
// Everything runs on the loop thread, except current(), which any thread may call.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/http_client.h"
#include "base/loop.h"
#include "base/result.h"
#include "base/sse.h"
#include "registry/catalog.h"
#include "registry/catalog_state.h"

namespace corral::registry {

struct FollowerOptions {
  std::vector<std::string> masters;  // "host:port" of Marathon / corral masters
  uint64_t coalesceMs = 5;
  uint64_t deadStreamMs = 35000;  // the server heartbeats every 10 s
  uint64_t backoffInitialMs = 100;
  uint64_t backoffMaxMs = 5000;
  uint64_t requestTimeoutMs = 10000;  // /v2/leader, /v2/apps, stream headers
  bool followLeader = true;
  size_t maxBufferedEvents = 100000;  // events held while a full reload runs
  // Pre-rendered Prometheus labels for this follower's metrics, e.g.
  // `consumer="dns"`; "" for none.
  std::string metricsLabels;
  // The Authorization header sent with every request to the masters
  // ("Basic ..." of an API user; a viewer is enough); "" for none.
  std::string authorization;
  // HTTPS to the masters with this client context (masters given as
  // https://); null: plain HTTP.
  std::shared_ptr<const tls::Context> tls;
};

using Subscriber = std::function<void(std::shared_ptr<const Snapshot>, const Diff&)>;

class MarathonFollower {
 public:
  // Fails when no master address is given or one is not "host:port".
  static Result<std::unique_ptr<MarathonFollower>> create(Loop& loop, FollowerOptions options);
  ~MarathonFollower();
  MarathonFollower(const MarathonFollower&) = delete;
  MarathonFollower& operator=(const MarathonFollower&) = delete;

  void start();
  // Cancels every request, the stream and the timers; no callback runs after.
  // The last snapshot stays readable.
  void stop();

  // fn runs on the loop thread: now with the current snapshot (every app
  // "added"), then once per published snapshot. Returns a token for unsubscribe.
  uint64_t subscribe(Subscriber fn);
  void unsubscribe(uint64_t token);

  // The last published snapshot (version 0 before the first load). Thread-safe.
  std::shared_ptr<const Snapshot> current() const;

  // The stream is open and the catalog is in sync with it.
  bool live() const { return phase_ == Phase::kLive; }
  bool connected() const { return connected_; }
  const std::string& lastEventId() const { return lastEventId_; }
  // The address the stream comes from ("" when disconnected).
  const std::string& source() const { return source_; }

 private:
  enum class Phase { kIdle, kConnecting, kSyncing, kLive, kBackoff, kStopped };
  struct BufferedEvent {
    std::string id;
    std::string type;
    std::string data;
    int64_t arrivedMs = 0;
  };
  struct Request;
  struct Stats;
  using ResponseCallback = std::function<void(Result<http::Response>)>;

  MarathonFollower(Loop& loop, FollowerOptions options);

  void connect();
  void openEvents(const std::string& hostPort);
  void onStreamHead(const http::Response& head);
  void onStreamData(std::string_view chunk);
  void onEvent(BufferedEvent ev);
  void onComment(std::string_view text);
  void startFullSync(const std::string& why);
  void onFullSync(Result<http::Response> r);
  void apply(const BufferedEvent& ev);
  void refetch(const std::string& appId);
  void onRefetch(const std::string& appId, Result<http::Response> r);
  void fail(const std::string& why);
  void teardown();
  void armDeadTimer();
  void schedulePublish();
  void publish();
  void get(const std::string& hostPort, const std::string& target, ResponseCallback cb,
           int redirects = 0);
  void finishRequest(uint64_t id, Result<http::Response> r);

  Loop& loop_;
  FollowerOptions options_;
  CatalogState catalog_;
  std::shared_ptr<Stats> stats_;

  Phase phase_ = Phase::kIdle;
  uint64_t gen_ = 0;        // bumps on every (re)connect and teardown
  uint64_t syncEpoch_ = 0;  // bumps on every full reload
  size_t masterIndex_ = 0;
  std::string leaderHint_;   // from /v2/leader or a redirect
  bool directNext_ = false;  // skip the /v2/leader lookup once
  std::string source_;       // where the current stream comes from
  bool connected_ = false;
  bool resuming_ = false;     // sent Last-Event-ID on this stream
  bool resumeCheck_ = false;  // the next event id must follow lastEventId_
  bool started_ = false;
  bool haveState_ = false;  // a full load succeeded at least once
  bool batching_ = false;   // suppress publishing while replaying
  std::string lastEventId_;
  uint32_t attempts_ = 0;
  int redirects_ = 0;
  uint64_t startedAtMs_ = 0;

  CancelHandle stream_;  // the event stream
  sse::Parser parser_;   // the event stream; reset() per connection
  std::vector<BufferedEvent> syncBuffer_;
  // Apps being re-read, with the events that arrived meanwhile (replayed on the answer).
  std::map<std::string, std::vector<BufferedEvent>> refetching_;
  std::map<uint64_t, std::unique_ptr<Request>> requests_;
  uint64_t nextRequestId_ = 1;

  Timer retryTimer_;
  Timer deadTimer_;
  Timer publishTimer_;
  uint64_t lastPublishMs_ = 0;  // loop time of the last snapshot build (0: none yet)

  std::vector<std::pair<uint64_t, std::shared_ptr<Subscriber>>> subscribers_;
  uint64_t nextToken_ = 1;
  mutable std::mutex currentMu_;
  std::shared_ptr<const Snapshot> current_;
};

}  // namespace corral::registry
