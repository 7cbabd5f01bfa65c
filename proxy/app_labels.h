// Adapts a registry::App (the catalog's view of an app) to the label parser's
// plain input, and turns its route specs into the routing table's AppRoutes.
#pragma once

#include <vector>

#include "conf/proxy_labels.h"
#include "proxy/balancer.h"
#include "proxy/route_table.h"

namespace corral::registry {
struct App;
}

namespace corral::proxy {

// A port is marked httpHealthCheck when its health check (marathon-lb's
// choice: the first check with a fixed port or naming the port's index)
// speaks HTTP or HTTPS.
conf::LabelApp labelAppFrom(const registry::App& app);

struct AppRouting {
  AppRoutes routes;                  // the routed specs, for RouteTable::update
  std::vector<conf::RouteSpec> all;  // every parsed port (any state), for /config
  std::vector<conf::LabelIssue> issues;
};

AppRouting routeApp(const registry::App& app, const conf::ProxyLabelOptions& options);

// The tasks that may serve port `portIndex` of `app`, as balancer peers:
// running tasks with an address and that port; when the app has health
// checks, only tasks reported healthy (marathon-lb's rule: no result yet is
// not healthy). Ids are "<task id>:<port>", stable across snapshots.
std::vector<PeerInfo> peersOf(const registry::App& app, int portIndex, bool draining);

// HAPROXY_{n}_HTTP_BACKEND_PROXYPASS_PATH: the path the task sees. As
// marathon-lb's rule, the prefix and one '/' after it are removed and the
// rest is put under "/" ("/api/users" -> "/users", "/api" -> "/"); a path
// without the prefix is unchanged.
std::string proxyPassPath(std::string_view prefix, std::string_view path);

}  // namespace corral::proxy
