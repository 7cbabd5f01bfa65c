// SnapshotPipeline: the control loop's path from the registry to the workers.
//
//   registry snapshot + Diff  ->  builder  ->  validate  ->  publish
//                                   |  error        |  error
//                                   +---------------+--> keep the last good one,
//                                                        one log line, counted
//
// * offer() is called with each snapshot the follower publishes
//   (registry/marathon_follower.h). Offers are coalesced latest-wins: the build
//   runs on the next loop turn with the newest snapshot and ONE diff, merged
//   from every diff since the last accepted build (each id classified added /
//   changed / removed by comparing that build's snapshot with the newest).
// * The builder gets (snapshot, diff) and returns the built value or an error.
//   An incremental builder (e.g. dns::ZoneBuilder) works from the diff; when
//   it fails it must keep its state, and the next diff again covers the
//   changes it refused.
// * Metrics (base/metrics.h), with names from PipelineOptions
//   (prefix "corral_dns", what "zone"): corral_dns_zone_build_seconds,
//   corral_dns_event_to_zone_seconds (first event folded in -> published),
//   corral_dns_zone_updates_total, corral_dns_zone_rejected_total,
//   corral_dns_zone_generation (registry version of the published build),
//   and the control loop's whole cost per build (builder, validation and
//   publishing: what one event costs the loop) with buckets fine enough for
//   a sub-millisecond update: corral_dns_snapshot_build_seconds, and the
//   last one alone, corral_dns_snapshot_last_build_seconds (so that a bench
//   driving one change at a time reads each sample exactly).
// Loop thread only, except lastGood().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "base/loop.h"
#include "base/result.h"
#include "registry/catalog.h"
#include "reload/worker_pool.h"

namespace corral::metrics {
class Registry;
class Counter;
class Gauge;
class Histogram;
}  // namespace corral::metrics

namespace corral::reload {

struct PipelineOptions {
  std::string metricPrefix = "corral_reload";  // "corral_dns"
  std::string what = "snapshot";               // "zone", "routes": in names and log lines
  metrics::Registry* metrics = nullptr;        // null: metrics::global()
};

class SnapshotPipeline {
 public:
  using Builder =
      std::function<Result<AnySnapshot>(const registry::Snapshot&, const registry::Diff&)>;
  using Validator = std::function<Status(const AnySnapshot&)>;
  // Hands a good build to the workers (WorkerPool::publish); returns its version.
  using Publisher = std::function<uint64_t(const AnySnapshot&)>;

  // `validate` may be empty (the builder's own checks suffice).
  SnapshotPipeline(Loop& loop, PipelineOptions options, Builder build, Publisher publish,
                   Validator validate = {});
  ~SnapshotPipeline();
  SnapshotPipeline(const SnapshotPipeline&) = delete;
  SnapshotPipeline& operator=(const SnapshotPipeline&) = delete;

  // Adapts a typed builder, e.g. Result<shared_ptr<const Zone>>(snapshot, diff).
  template <typename T, typename F>
  static Builder typed(F f) {
    return [f = std::move(f)](const registry::Snapshot& s,
                              const registry::Diff& d) -> Result<AnySnapshot> {
      Result<std::shared_ptr<const T>> r = f(s, d);
      if (!r.ok()) return r.error();
      if (!*r) return makeError(ErrorKind::kInternal, "the builder returned nothing");
      return AnySnapshot::of<T>(std::move(*r));
    };
  }

  // Queues a snapshot and its diff from the previous one; builds next turn.
  void offer(std::shared_ptr<const registry::Snapshot> snapshot, const registry::Diff& diff);
  // Builds again from the newest snapshot with an empty diff (an input
  // outside the registry changed, e.g. the agents known to DNS).
  void rebuild();
  // Builds what is queued now instead of next turn (tests, shutdown).
  void flush();

  // The last published build (empty before the first). Thread-safe.
  AnySnapshot lastGood() const;
  template <typename T>
  std::shared_ptr<const T> lastGood() const {
    return lastGood().as<T>();
  }
  // Registry version of the last published build.
  uint64_t generation() const { return generation_; }
  uint64_t published() const { return published_; }
  uint64_t rejected() const { return rejected_; }
  // Why the last build was refused ("" after a good one).
  const std::string& lastError() const { return lastError_; }

 private:
  void build();
  registry::Diff mergedDiff() const;

  PipelineOptions options_;
  Builder build_;
  Publisher publish_;
  Validator validate_;
  Timer next_;  // owned: its callback may use `this`

  std::shared_ptr<const registry::Snapshot> base_;    // of the last accepted build
  std::shared_ptr<const registry::Snapshot> newest_;  // offered, not built yet
  std::set<std::string> dirty_;                       // app ids changed since base_
  bool pending_ = false;
  int64_t firstEventMs_ = 0;  // oldest event waiting to be published (0: none)

  uint64_t generation_ = 0;
  uint64_t published_ = 0;
  uint64_t rejected_ = 0;
  std::string lastError_;
  mutable std::mutex goodMu_;
  AnySnapshot lastGood_;

  metrics::Histogram* buildSeconds_;
  metrics::Histogram* controlSeconds_;
  metrics::Gauge* lastControlSeconds_;
  metrics::Histogram* eventToPublish_;
  metrics::Counter* updates_;
  metrics::Counter* rejectedTotal_;
  metrics::Gauge* generationGauge_;
};

}  // namespace corral::reload
