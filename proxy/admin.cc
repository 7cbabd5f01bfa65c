#include "proxy/admin.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/json.h"
#include "base/metrics.h"
#include "proxy/proxy_snapshot.h"
#include "proxy/routing_builder.h"
#include "proxy/worker_routing.h"

namespace corral::proxy {

namespace {

Json specJson(const conf::RouteSpec& spec) {
  Json j;
  j["portIndex"] = spec.portIndex;
  j["servicePort"] = spec.servicePort;
  j["state"] = std::string(conf::routeStateName(spec.state));
  j["mode"] = std::string(conf::routeModeName(spec.mode));
  j["vhosts"] = spec.vhosts;
  j["paths"] = spec.paths;
  j["groups"] = spec.groups;
  if (!spec.proxyPassPath.empty()) j["proxyPassPath"] = spec.proxyPassPath;
  j["balance"] = std::string(conf::balanceName(spec.balance.algorithm));
  if (!spec.balance.hashKey.empty()) j["hashKey"] = spec.balance.hashKey;
  j["sticky"] = spec.sticky;
  j["backendWeight"] = spec.backendWeight;
  if (spec.httpDefault) j["httpDefault"] = true;
  return j;
}

Json issueJson(const conf::LabelIssue& issue) {
  Json j;
  j["kind"] = std::string(conf::labelIssueKindName(issue.kind));
  j["label"] = issue.label;
  j["value"] = issue.value;
  j["portIndex"] = issue.portIndex;
  j["rejects"] = issue.rejects();
  j["message"] = issue.toString();
  return j;
}

Json routesJson(const AdminView& view) {
  Json out;
  out["generation"] = view.snapshot->generation;
  out["tableGeneration"] = view.snapshot->table->generation();
  out["hosts"] = view.snapshot->table->hostCount();
  Json routes = Json::array();
  for (const auto& [appId, report] : view.builder->reports()) {
    for (const conf::RouteSpec& spec : report.specs) {
      if (!spec.routed()) continue;
      Json r = specJson(spec);
      r["app"] = appId;
      Json backends = Json::array();
      if (const BackendSet* set = view.snapshot->backend(BackendKey{appId, spec.portIndex})) {
        for (const std::string& b : set->labels) backends.push_back(b);
      }
      r["backends"] = std::move(backends);
      routes.push_back(std::move(r));
    }
  }
  out["routes"] = std::move(routes);
  Json ports = Json::object();
  view.snapshot->table->forEachPort([&](int port, const RouteTarget& target) {
    ports[std::to_string(port)] = {{"app", target.spec->appId},
                                   {"portIndex", target.spec->portIndex},
                                   {"mode", std::string(conf::routeModeName(target.spec->mode))},
                                   {"listening", view.servicePorts.count(port) != 0}};
  });
  out["servicePorts"] = std::move(ports);
  return out;
}

Json configJson(const AdminView& view) {
  Json apps = Json::object();
  for (const auto& [appId, report] : view.builder->reports()) {
    Json a;
    bool routed = false;
    Json ports = Json::array();
    for (const conf::RouteSpec& spec : report.specs) {
      routed = routed || spec.routed();
      ports.push_back(specJson(spec));
    }
    Json issues = Json::array();
    for (const auto& issue : report.issues) issues.push_back(issueJson(issue));
    a["routed"] = routed;
    a["ports"] = std::move(ports);
    a["issues"] = std::move(issues);
    a["tasks"] = report.tasks;
    a["eligibleTaskPorts"] = report.eligible;
    if (!routed) {
      a["reason"] = report.specs.empty()
                        ? "no routable port (see issues)"
                        : "no port is routed by this proxy (see each port's state)";
    }
    apps[appId] = std::move(a);
  }
  Json errors = Json::object();
  for (const auto& [port, why] : view.listenerErrors) errors[std::to_string(port)] = why;
  return Json{{"generation", view.snapshot->generation},
              {"apps", std::move(apps)},
              {"listenerErrors", std::move(errors)},
              {"pipeline",
               {{"published", view.published},
                {"rejected", view.rejected},
                {"lastError", view.lastError}}}};
}

Json statsJson(const AdminView& view) {
  Json workers = Json::array();
  for (size_t i = 0; i < view.workers.size(); ++i) {
    const WorkerCounters& w = *view.workers[i];
    workers.push_back({{"worker", i},
                       {"requests", w.requests.load()},
                       {"noRoute", w.noRoute.load()},
                       {"tcpConnections", w.tcpConnections.load()}});
  }
  Json backends = Json::array();
  view.snapshot->backends.forEach(
      [&](const std::string& appId, const std::shared_ptr<const AppBackends>& app) {
        for (const auto& set : app->ports) {
          if (!set) continue;
          backends.push_back({{"app", appId},
                              {"portIndex", set->key.portIndex},
                              {"taskPorts", set->labels},
                              {"requests", set->counters->requests.load()},
                              {"failures", set->counters->failures.load()},
                              {"noTask", set->counters->noPeer.load()},
                              {"active", set->counters->active.load()}});
        }
      });
  return Json{{"generation", view.snapshot->generation},
              {"workers", std::move(workers)},
              {"backends", std::move(backends)}};
}

std::string metricsText(const AdminView& view) {
  std::string out = view.baseMetrics;
  uint64_t requests = 0, noRoute = 0, tcp = 0;
  for (const WorkerCounters* w : view.workers) {
    requests += w->requests.load();
    noRoute += w->noRoute.load();
    tcp += w->tcpConnections.load();
  }
  out +=
      "# HELP corral_proxy_requests_total HTTP requests routed to a backend.\n"
      "# TYPE corral_proxy_requests_total counter\n";
  out += fmt::format("corral_proxy_requests_total {}\n", requests);
  out +=
      "# HELP corral_proxy_no_route_total Requests and connections that matched no route.\n"
      "# TYPE corral_proxy_no_route_total counter\n";
  out += fmt::format("corral_proxy_no_route_total {}\n", noRoute);
  out +=
      "# HELP corral_proxy_tcp_connections_total Connections accepted on TCP service ports.\n"
      "# TYPE corral_proxy_tcp_connections_total counter\n";
  out += fmt::format("corral_proxy_tcp_connections_total {}\n", tcp);
  std::string picks, failures, noTask, active, taskPorts;
  view.snapshot->backends.forEach(
      [&](const std::string& appId, const std::shared_ptr<const AppBackends>& app) {
        for (const auto& set : app->ports) {
          if (!set) continue;
          std::string labels = fmt::format("app=\"{}\",port_index=\"{}\"",
                                           metrics::escapeLabel(appId), set->key.portIndex);
          picks += fmt::format("corral_proxy_backend_requests_total{{{}}} {}\n", labels,
                               set->counters->requests.load());
          failures += fmt::format("corral_proxy_backend_failures_total{{{}}} {}\n", labels,
                                  set->counters->failures.load());
          noTask += fmt::format("corral_proxy_backend_no_task_total{{{}}} {}\n", labels,
                                set->counters->noPeer.load());
          active += fmt::format("corral_proxy_backend_active{{{}}} {}\n", labels,
                                set->counters->active.load());
          taskPorts +=
              fmt::format("corral_proxy_backend_task_ports{{{}}} {}\n", labels, set->peers.size());
        }
      });
  out +=
      "# HELP corral_proxy_backend_requests_total Requests and connections sent to an app port.\n"
      "# TYPE corral_proxy_backend_requests_total counter\n" +
      picks;
  out +=
      "# HELP corral_proxy_backend_failures_total Failed connects or responses of an app port.\n"
      "# TYPE corral_proxy_backend_failures_total counter\n" +
      failures;
  out +=
      "# HELP corral_proxy_backend_no_task_total Requests refused: no task available.\n"
      "# TYPE corral_proxy_backend_no_task_total counter\n" +
      noTask;
  out +=
      "# HELP corral_proxy_backend_active Requests and connections in progress.\n"
      "# TYPE corral_proxy_backend_active gauge\n" +
      active;
  out +=
      "# HELP corral_proxy_backend_task_ports Task ports taking requests.\n"
      "# TYPE corral_proxy_backend_task_ports gauge\n" +
      taskPorts;
  out +=
      "# HELP corral_proxy_label_issues Label issues in the current apps, by kind.\n"
      "# TYPE corral_proxy_label_issues gauge\n";
  auto counts = view.builder->issueCounts();
  for (auto kind : {conf::LabelIssueKind::kBadValue, conf::LabelIssueKind::kUnsupported,
                    conf::LabelIssueKind::kUnknownLabel, conf::LabelIssueKind::kIgnored,
                    conf::LabelIssueKind::kNoServicePort}) {
    out += fmt::format("corral_proxy_label_issues{{kind=\"{}\"}} {}\n",
                       conf::labelIssueKindName(kind), counts[kind]);
  }
  size_t routed = 0, rejected = 0;
  for (const auto& [id, report] : view.builder->reports()) {
    bool any = false;
    for (const auto& spec : report.specs) any = any || spec.routed();
    routed += any;
    for (const auto& issue : report.issues) {
      if (issue.rejects()) {
        ++rejected;
        break;
      }
    }
  }
  out +=
      "# HELP corral_proxy_apps_routed Apps with at least one routed port.\n"
      "# TYPE corral_proxy_apps_routed gauge\n";
  out += fmt::format("corral_proxy_apps_routed {}\n", routed);
  out +=
      "# HELP corral_proxy_apps_with_rejected_labels Apps with a rejected label.\n"
      "# TYPE corral_proxy_apps_with_rejected_labels gauge\n";
  out += fmt::format("corral_proxy_apps_with_rejected_labels {}\n", rejected);
  out +=
      "# HELP corral_proxy_service_listeners Service port listeners open.\n"
      "# TYPE corral_proxy_service_listeners gauge\n";
  out += fmt::format("corral_proxy_service_listeners {}\n", view.servicePorts.size());
  out +=
      "# HELP corral_proxy_listener_errors Service ports that could not be opened.\n"
      "# TYPE corral_proxy_listener_errors gauge\n";
  out += fmt::format("corral_proxy_listener_errors {}\n", view.listenerErrors.size());
  return out;
}

}  // namespace

http::Response adminResponse(const std::string& path, const AdminView& view) {
  if (path == "/healthz") {
    if (!view.synced) return http::Response::text(503, "waiting for the first catalog load\n");
    return http::Response::text(200, "ok\n");
  }
  if (path == "/routes") return http::Response::json(200, dumpJson(routesJson(view)));
  if (path == "/config") return http::Response::json(200, dumpJson(configJson(view)));
  if (path == "/stats") return http::Response::json(200, dumpJson(statsJson(view)));
  if (path == "/metrics") {
    return http::Response::text(200, metricsText(view), "text/plain; version=0.0.4");
  }
  return http::Response::text(404, "unknown path; try /healthz /routes /config /stats /metrics\n");
}

}  // namespace corral::proxy
