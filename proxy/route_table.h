// The proxy's routing table: immutable, built from route specs on the control
// thread, shared with every worker as shared_ptr<const RouteTable>.
//
// HTTP precedence (docs/LABELS.md), first match wins:
//   1. the request's host has a route whose path is the longest prefix of the
//      request's path;
//   2. the host has a route without a path;
//   3. a host-independent route (CORRAL_{n}_HTTP_DEFAULT) with the longest
//      matching path prefix;
//   4. a host-independent route without a path (the default).
// Routes that share a host and path are ordered by BACKEND_WEIGHT (highest
// first), then app id and port index; the first one serves, and apps of the
// same HAPROXY_DEPLOYMENT_GROUP on that slot join it as extra backends (the
// one that started earlier draining: blue/green).
//
// Hosts are found by hash (lower-cased, port and trailing dot removed) and
// paths by probing the distinct prefix lengths of that host: lookup cost is
// independent of the number of routes. Service ports map to their route the
// same way.
//
// Updates are incremental: `update` takes the previous table and the routes
// of the apps that changed and shares everything else (persistent maps), so
// its cost follows the size of the change, not of the table.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conf/proxy_labels.h"
#include "proxy/persistent_map.h"

namespace corral::proxy {

// A backend's stable identity: per-worker pools and counters are keyed by it
// and survive any number of new tables.
struct BackendKey {
  std::string appId;
  int portIndex = 0;
  bool operator==(const BackendKey&) const = default;
  auto operator<=>(const BackendKey&) const = default;
};

struct RouteMember {
  BackendKey key;
  bool draining = false;  // the older colour of a blue/green pair: no new work when avoidable
  bool operator==(const RouteMember&) const = default;
};

// What a lookup answers: the serving route's settings and its backends.
struct RouteTarget {
  std::shared_ptr<const conf::RouteSpec> spec;
  std::vector<RouteMember> members;  // members[0] is spec's own backend
};

using RouteSpecPtr = std::shared_ptr<const conf::RouteSpec>;

// The routes of one app after a change; empty `routes` removes the app.
// Only routed specs (spec.routed()) are used; others are ignored.
struct AppRoutes {
  std::string appId;
  std::vector<RouteSpecPtr> routes;
};

// One host's routes (or the host-independent ones): path -> slot.
struct PathSlot {
  std::vector<RouteSpecPtr> candidates;  // sorted: weight desc, app id, port index
  RouteTarget target;
};
struct HostRoutes;

class RouteTable {
 public:
  struct BuildStats {
    size_t changedApps = 0;
    size_t copiedNodes = 0;   // persistent map nodes allocated
    size_t rebuiltSlots = 0;  // host/port slots whose candidates were recomputed
  };

  // The empty table.
  RouteTable();
  ~RouteTable();

  // A new table: `previous` with the given apps replaced (or removed).
  static std::shared_ptr<const RouteTable> update(const RouteTable& previous,
                                                  std::span<const AppRoutes> changes,
                                                  uint64_t generation);

  // HTTP routing; nullptr when nothing matches (the caller answers 404/503).
  const RouteTarget* lookupHttp(std::string_view host, std::string_view path) const;
  // The route of a service port listener (tcp or http mode).
  const RouteTarget* lookupPort(int servicePort) const;

  uint64_t generation() const { return generation_; }
  size_t appCount() const { return apps_.size(); }
  size_t hostCount() const { return hosts_.size(); }
  size_t portCount() const { return ports_.size(); }
  const BuildStats& buildStats() const { return stats_; }

  // The host part of a Host header, normalised as lookups do: lower case,
  // no port, no trailing dot; "" when it cannot be a host name.
  static std::string normalizeHost(std::string_view host);

  // Every service port and its target (for listeners and /routes).
  template <class F>
  void forEachPort(F&& visit) const {
    ports_.forEach(
        [&](int port, const std::shared_ptr<const PathSlot>& slot) { visit(port, slot->target); });
  }

 private:
  struct AppEntry;
  using AppMap = PersistentMap<std::string, std::shared_ptr<const AppEntry>, StringKeyHash>;
  using HostMap = PersistentMap<std::string, std::shared_ptr<const HostRoutes>, StringKeyHash>;
  using PortMap = PersistentMap<int, std::shared_ptr<const PathSlot>, IntKeyHash>;

  AppMap apps_;
  HostMap hosts_;
  PortMap ports_;
  std::shared_ptr<const HostRoutes> hostless_;  // CORRAL_{n}_HTTP_DEFAULT routes
  uint64_t generation_ = 0;
  BuildStats stats_;
};

}  // namespace corral::proxy
