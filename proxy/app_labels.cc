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

}  // namespace corral::proxy
