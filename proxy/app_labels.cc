#include "proxy/app_labels.h"

#include "registry/catalog.h"

namespace corral::proxy {

conf::LabelApp labelAppFrom(const registry::App& app) {
  conf::LabelApp out;
  out.id = app.id;
  out.labels.insert(app.labels.begin(), app.labels.end());
  out.hasHealthChecks = app.hasHealthChecks;
  for (const registry::PortDefinition& port : app.portDefinitions) {
    out.ports.push_back(conf::LabelPort{port.port, false});
  }
  for (size_t n = 0; n < out.ports.size(); ++n) {
    // marathon-lb's get_health_check: the first check with a fixed port, or
    // naming this port index, is the port's check.
    for (const registry::HealthCheck& check : app.healthChecks) {
      if (check.port || check.portIndex == static_cast<int>(n)) {
        out.ports[n].httpHealthCheck = check.http;
        break;
      }
    }
  }
  return out;
}

AppRouting routeApp(const registry::App& app, const conf::ProxyLabelOptions& options) {
  conf::AppRouteSpecs specs = conf::parseProxyLabels(labelAppFrom(app), options);
  AppRouting out;
  out.routes.appId = app.id;
  for (const conf::RouteSpec& spec : specs.routes) {
    if (spec.routed()) out.routes.routes.push_back(std::make_shared<const conf::RouteSpec>(spec));
  }
  out.all = std::move(specs.routes);
  out.issues = std::move(specs.issues);
  return out;
}

std::vector<PeerInfo> peersOf(const registry::App& app, int portIndex, bool draining) {
  std::vector<PeerInfo> peers;
  if (portIndex < 0) return peers;
  size_t index = static_cast<size_t>(portIndex);
  for (const registry::Task& task : app.tasks) {
    if (!task.running() || index >= task.ports.size()) continue;
    if (app.hasHealthChecks && task.healthy != true) continue;
    std::string host = task.ip.empty() ? task.host : task.ip;
    if (host.empty()) continue;
    int port = task.ports[index];
    peers.push_back(PeerInfo{task.id + ":" + std::to_string(port), 1, draining, host, port});
  }
  return peers;
}

std::string proxyPassPath(std::string_view prefix, std::string_view path) {
  if (prefix.empty() || !path.starts_with(prefix)) return std::string(path);
  std::string_view rest = path.substr(prefix.size());
  if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  // Appended, not `"/" + std::string(rest)`: GCC 12 at -O3 flags that with a
  // false -Wrestrict (GCC bug 105329).
  std::string out;
  out.reserve(rest.size() + 1);
  out.push_back('/');
  out.append(rest);
  return out;
}

}  // namespace corral::proxy
