// Adapts a registry::App (the catalog's view of an app) to the label parser's
// plain input, and turns its route specs into the routing table's AppRoutes.
#pragma once

#include <vector>

#include "conf/proxy_labels.h"
#include "proxy/route_table.h"

namespace corral::registry {
struct App;
}

namespace corral::proxy {

// The catalog does not yet tell a health check's protocol or port index, so
// no port is marked httpHealthCheck here: vhosts and HAPROXY_{n}_MODE decide.
conf::LabelApp labelAppFrom(const registry::App& app);

struct AppRouting {
  AppRoutes routes;                  // the routed specs, for RouteTable::update
  std::vector<conf::RouteSpec> all;  // every parsed port (any state), for /config
  std::vector<conf::LabelIssue> issues;
};

AppRouting routeApp(const registry::App& app, const conf::ProxyLabelOptions& options);

}  // namespace corral::proxy
