// The proxy's admin listener answers: /healthz, /routes (the published table
// and its generation), /config (why each app is or is not routed: every
// parsed port with its state, every label issue, listeners that could not
// open), /stats (per route and backend: requests, errors, latency, active,
// health; JSON, or HTML for a browser) and /metrics
// (Prometheus text). Rendering only: the service gathers an AdminView per
// request on the control loop.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/http_message.h"
#include "proxy/route_table.h"
#include "proxy/stats.h"

namespace corral::proxy {

class RoutingBuilder;
struct ProxySnapshot;
struct WorkerCounters;

struct AdminView {
  const RoutingBuilder* builder = nullptr;
  std::shared_ptr<const ProxySnapshot> snapshot;
  std::vector<const WorkerCounters*> workers;
  std::map<int, std::string> servicePorts;    // open: port -> listener key
  std::map<int, std::string> listenerErrors;  // service port -> why it is not open
  uint64_t published = 0;
  uint64_t rejected = 0;
  std::string lastError;
  bool synced = false;      // the follower has loaded the catalog
  std::string baseMetrics;  // the process registry's text (pipeline, follower)
  // Every worker's per-route exchange counters, summed (status classes,
  // errors, latency; at most kStatsPublishMs old).
  std::map<BackendKey, RouteCounters> routeStats;
};

// The answer for the request's path; 404 for an unknown one. /stats is HTML
// when asked (?format=html, or an Accept header naming text/html without
// ?format=json), JSON otherwise.
http::Response adminResponse(const http::Request& request, const AdminView& view);

}  // namespace corral::proxy
