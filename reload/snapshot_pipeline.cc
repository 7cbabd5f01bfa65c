#include "reload/snapshot_pipeline.h"

#include <chrono>

#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"

namespace corral::reload {

SnapshotPipeline::SnapshotPipeline(Loop& loop, PipelineOptions options, Builder build,
                                   Publisher publish, Validator validate)
    : options_(std::move(options)),
      build_(std::move(build)),
      publish_(std::move(publish)),
      validate_(std::move(validate)),
      next_(loop),
      base_(std::make_shared<registry::Snapshot>()) {
  metrics::Registry& reg = options_.metrics ? *options_.metrics : metrics::global();
  const std::string p = options_.metricPrefix + "_";
  const std::string& w = options_.what;
  buildSeconds_ = &reg.histogram(p + w + "_build_seconds", "Time to build a " + w + ".",
                                 {0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1});
  controlSeconds_ = &reg.histogram(
      p + "snapshot_build_seconds",
      "Control-loop time of one " + w + " update: build, validation and publish to the workers.",
      {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
       0.1, 0.25, 0.5, 1, 2.5, 5});
  lastControlSeconds_ = &reg.gauge(p + "snapshot_last_build_seconds",
                                   "Control-loop time of the last published " + w +
                                       " update (as in " + p + "snapshot_build_seconds).");
  eventToPublish_ = &reg.histogram(
      p + "event_to_" + w + "_seconds",
      "Time from a scheduler event arriving to the " + w + " that reflects it being published.",
      {0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1});
  updates_ = &reg.counter(p + w + "_updates_total", "Builds published to the workers.");
  rejectedTotal_ = &reg.counter(p + w + "_rejected_total",
                                "Snapshots that could not be built or validated (last good kept).");
  generationGauge_ =
      &reg.gauge(p + w + "_generation", "Registry snapshot version of the published " + w + ".");
}

SnapshotPipeline::~SnapshotPipeline() = default;

void SnapshotPipeline::offer(std::shared_ptr<const registry::Snapshot> snapshot,
                             const registry::Diff& diff) {
  if (!snapshot) return;
  if (newest_ && snapshot->version < newest_->version) return;  // stale: latest wins
  newest_ = std::move(snapshot);
  for (const auto* ids : {&diff.added, &diff.changed, &diff.removed}) {
    dirty_.insert(ids->begin(), ids->end());
  }
  if (newest_->firstEventArrivedMs > 0 &&
      (firstEventMs_ == 0 || newest_->firstEventArrivedMs < firstEventMs_)) {
    firstEventMs_ = newest_->firstEventArrivedMs;
  }
  pending_ = true;
  if (!next_.active()) next_.start(0, 0, [this] { build(); });
}

void SnapshotPipeline::rebuild() {
  if (!newest_) newest_ = base_;
  pending_ = true;
  if (!next_.active()) next_.start(0, 0, [this] { build(); });
}

void SnapshotPipeline::flush() {
  next_.stop();
  build();
}

registry::Diff SnapshotPipeline::mergedDiff() const {
  registry::Diff d;
  for (const auto& id : dirty_) {  // sorted, so each list is sorted
    const registry::App* before = base_->find(id);
    const registry::App* after = newest_->find(id);
    if (before != nullptr && after != nullptr) {
      if (before != after) d.changed.push_back(id);
    } else if (after != nullptr) {
      d.added.push_back(id);
    } else if (before != nullptr) {
      d.removed.push_back(id);
    }
  }
  return d;
}

void SnapshotPipeline::build() {
  if (!pending_) return;
  pending_ = false;
  auto snapshot = newest_;
  registry::Diff diff = mergedDiff();
  auto t0 = std::chrono::steady_clock::now();
  Result<AnySnapshot> built = build_(*snapshot, diff);
  Status valid = built.ok() ? (validate_ ? validate_(*built) : Status::Ok()) : built.error();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!valid.ok()) {
    ++rejected_;
    rejectedTotal_->inc();
    lastError_ = valid.error().message;
    log::error("{} from snapshot {} rejected, keeping the last good one (from snapshot {}): {}",
               options_.what, snapshot->version, generation_, lastError_);
    return;  // dirty_ and base_ stay: the next build covers these changes again
  }
  buildSeconds_->observe(seconds);
  {
    std::lock_guard<std::mutex> lock(goodMu_);
    lastGood_ = *built;
  }
  uint64_t version = publish_(*built);
  double controlSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  controlSeconds_->observe(controlSeconds);
  lastControlSeconds_->set(controlSeconds);
  base_ = snapshot;
  dirty_.clear();
  generation_ = snapshot->version;
  ++published_;
  lastError_.clear();
  updates_->inc();
  generationGauge_->set(static_cast<double>(generation_));
  if (firstEventMs_ > 0) {
    eventToPublish_->observe(static_cast<double>(wallMs() - firstEventMs_) / 1000.0);
    firstEventMs_ = 0;
  }
  log::info(
      "{} {} published from snapshot {} ({} added, {} changed, {} removed), built in {:.3f} ms, "
      "published in {:.3f} ms",
      options_.what, version, snapshot->version, diff.added.size(), diff.changed.size(),
      diff.removed.size(), seconds * 1000, (controlSeconds - seconds) * 1000);
}

AnySnapshot SnapshotPipeline::lastGood() const {
  std::lock_guard<std::mutex> lock(goodMu_);
  return lastGood_;
}

}  // namespace corral::reload
