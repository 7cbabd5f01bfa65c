// The registry's state machine, socket-free: full loads of /v2/apps and
// Marathon events go in, immutable versioned snapshots plus diffs come out.
// Changes accumulate (copy-on-write per app) until build(), so a burst of
// events costs one copy of each touched app and one snapshot.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "registry/catalog.h"
#include "registry/status_update_event.h"

namespace corral::registry {

enum class ApplyOutcome {
  kApplied,  // the catalog changed
  kNoop,     // understood, nothing to change (e.g. a kill of an unknown task)
  kIgnored,  // an event type the catalog does not use
  kBad,      // malformed: skipped (see ApplyResult::error)
};

struct ApplyResult {
  ApplyOutcome outcome = ApplyOutcome::kIgnored;
  std::string appId;                 // the app the event is about, when known
  std::vector<std::string> refetch;  // apps to re-read with /v2/apps/{id}?embed=app.tasks
  std::string error;                 // for kBad
};

struct LoadReport {
  size_t apps = 0;         // apps read successfully
  std::vector<Error> bad;  // apps skipped (their previous version, if any, is kept)
};

class CatalogState {
 public:
  CatalogState();

  // Replaces the whole catalog with the text of a /v2/apps response
  // ({"apps":[...]}). An error, and nothing changed, when the text is not
  // JSON or its envelope is unusable; unreadable apps are in the report.
  Result<LoadReport> loadApps(std::string_view body);
  // Applies one Marathon event (type = SSE "event:" field, data = its JSON
  // text); unreadable data is kBad.
  ApplyResult applyEvent(std::string_view type, std::string_view data);
  // The result of re-reading one app.
  void upsertApp(App app);
  void removeApp(const std::string& appId);
  void setLeader(std::string leader);
  // Records that a stream event arrived at wall-clock ms (for latency reporting).
  void noteEventArrival(int64_t arrivedMs);
  void setLastEventId(std::string id) { lastEventId_ = std::move(id); }

  // Something changed since the last build().
  bool dirty() const { return !pending_.empty() || metaDirty_; }
  // Builds the next snapshot (version + 1) from the last one plus the pending
  // changes. Apps whose content did not change keep their shared pointer.
  std::pair<std::shared_ptr<const Snapshot>, Diff> build(int64_t nowMs);
  const std::shared_ptr<const Snapshot>& last() const { return last_; }
  // The app as it will be in the next snapshot (pending changes included).
  const App* peek(std::string_view appId) const;

 private:
  // A mutable copy of the app, made once per build cycle; nullptr if absent.
  App* mutableApp(const std::string& appId);
  ApplyResult applyStatusUpdate(const StatusUpdateEvent& event);
  ApplyResult applyHealth(const Json& data);
  ApplyResult applyAppDefinition(const Json& data);
  ApplyResult applyTerminated(const Json& data);
  ApplyResult applyDeployment(const Json& data);

  std::shared_ptr<const Snapshot> last_;
  // Changed apps since last_: a mutable copy, or nullptr for "removed".
  std::map<std::string, std::shared_ptr<App>, std::less<>> pending_;
  std::string leader_;
  std::string lastEventId_;
  bool metaDirty_ = false;
  int64_t firstEventMs_ = 0;
  int64_t lastEventMs_ = 0;
};

}  // namespace corral::registry
