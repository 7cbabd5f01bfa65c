// Turns registry snapshots and their diffs into ProxySnapshots, touching only
// the apps in the diff: their labels are parsed again only when labels, port
// definitions or health checks changed, the routing table is updated only
// when a route spec changed, and their backend sets are rebuilt from the
// tasks. Keeps, per app, why it is or is not routed (for /config), and logs
// each label issue once per change of the app's issues, one line each.
// Control loop only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "conf/proxy_labels.h"
#include "proxy/proxy_snapshot.h"

namespace corral::registry {
struct Snapshot;
struct Diff;
struct App;
}  // namespace corral::registry

namespace corral::proxy {

// Why an app is (or is not) routed, as /config shows it.
struct AppReport {
  std::vector<conf::RouteSpec> specs;  // every parsed port, any state
  std::vector<conf::LabelIssue> issues;
  size_t tasks = 0;     // non-terminal tasks
  size_t eligible = 0;  // task ports taking requests, over every routed port
};

class RoutingBuilder {
 public:
  explicit RoutingBuilder(conf::ProxyLabelOptions options);

  Result<std::shared_ptr<const ProxySnapshot>> update(const registry::Snapshot& snapshot,
                                                      const registry::Diff& diff);
  // The last snapshot built (an empty one before the first update).
  const std::shared_ptr<const ProxySnapshot>& current() const { return current_; }
  const std::map<std::string, AppReport>& reports() const { return reports_; }
  // Label issues in the current reports, by kind.
  std::map<conf::LabelIssueKind, size_t> issueCounts() const;

 private:
  struct AppState {
    std::shared_ptr<const registry::App> app;  // the version last built
    std::vector<RouteSpecPtr> parsed;          // the routed specs of its own labels
    std::vector<RouteSpecPtr> routed;          // as in the table (blue/green ports applied)
    std::string deploymentGroup;               // "" = none
  };
  // Blue/green: the specs of `id` as the table gets them. In a deployment
  // group, the colours serve on the service ports of the colour that started
  // first (marathon-lb merges the group into its oldest app).
  std::vector<RouteSpecPtr> groupRouted(const std::string& id) const;
  bool labelsChanged(const registry::App* before, const registry::App& after) const;
  std::shared_ptr<const AppBackends> backendsOf(const registry::App& app,
                                                const std::vector<RouteSpecPtr>& routed,
                                                size_t* eligible);
  std::shared_ptr<BackendCounters> countersFor(const BackendKey& key);

  conf::ProxyLabelOptions options_;
  std::shared_ptr<const ProxySnapshot> current_;
  std::map<std::string, AppState> apps_;
  std::map<std::string, std::set<std::string>> groups_;  // deployment group -> app ids
  std::map<std::string, AppReport> reports_;
  std::map<BackendKey, std::shared_ptr<BackendCounters>> counters_;
  std::map<std::string, sockaddr_storage> resolved_;  // task host -> address
};

}  // namespace corral::proxy
