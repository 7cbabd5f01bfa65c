#include "proxy/admin.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>

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

// One backend (app port) as /stats shows it: live picks from the shared
// counters, exchanges from the workers' published route counters.
struct BackendStats {
  std::string appId;
  const BackendSet* set = nullptr;
  const conf::RouteSpec* spec = nullptr;  // null when the report is gone
  size_t tasks = 0;                       // the app's non-terminal tasks
  RouteCounters exchanges;
};

std::vector<BackendStats> backendStats(const AdminView& view) {
  std::vector<BackendStats> out;
  view.snapshot->backends.forEach(
      [&](const std::string& appId, const std::shared_ptr<const AppBackends>& app) {
        for (const auto& set : app->ports) {
          if (!set) continue;
          BackendStats b;
          b.appId = appId;
          b.set = set.get();
          auto report = view.builder->reports().find(appId);
          if (report != view.builder->reports().end()) {
            b.tasks = report->second.tasks;
            for (const conf::RouteSpec& spec : report->second.specs) {
              if (spec.portIndex == set->key.portIndex) b.spec = &spec;
            }
          }
          auto counters = view.routeStats.find(set->key);
          if (counters != view.routeStats.end()) b.exchanges = counters->second;
          out.push_back(std::move(b));
        }
      });
  std::sort(out.begin(), out.end(),
            [](const BackendStats& a, const BackendStats& b) { return a.set->key < b.set->key; });
  return out;
}

double averageMs(const RouteCounters& c) {
  return c.latencyCount == 0
             ? 0.0
             : static_cast<double>(c.latencyUsSum) / 1000.0 / static_cast<double>(c.latencyCount);
}

// "shop.example.com/api, :10000" - where the route listens.
std::string routeWhere(const conf::RouteSpec& spec) {
  std::string out;
  for (const std::string& host : spec.vhosts) {
    if (spec.paths.empty()) {
      out += (out.empty() ? "" : " ") + host;
    }
    for (const std::string& path : spec.paths) out += (out.empty() ? "" : " ") + host + path;
  }
  if (spec.vhosts.empty() && spec.httpDefault) {
    out += spec.paths.empty() ? std::string("(default)") : fmt::format("*{}", spec.paths[0]);
  }
  out += fmt::format("{}:{}", out.empty() ? "" : " ", spec.servicePort);
  return out;
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
  for (const BackendStats& b : backendStats(view)) {
    const BackendCounters& live = *b.set->counters;
    Json responses = Json::object();
    for (int cls = 1; cls <= 5; ++cls) {
      responses[fmt::format("{}xx", cls)] = b.exchanges.statusClass[cls];
    }
    Json j{{"app", b.appId},
           {"portIndex", b.set->key.portIndex},
           {"taskPorts", b.set->labels},
           {"requests", live.requests.load()},
           {"failures", live.failures.load()},
           {"noTask", live.noPeer.load()},
           {"active", live.active.load()},
           {"health", {{"taskPortsUp", b.set->peers.size()}, {"tasks", b.tasks}}},
           {"http",
            {{"exchanges", b.exchanges.requests},
             {"responses", std::move(responses)},
             {"cut", b.exchanges.statusClass[0]},
             {"errors", b.exchanges.errors},
             {"latencyAvgMs", averageMs(b.exchanges)}}}};
    if (b.spec != nullptr) {
      j["route"] = routeWhere(*b.spec);
      j["mode"] = std::string(conf::routeModeName(b.spec->mode));
    }
    backends.push_back(std::move(j));
  }
  return Json{{"generation", view.snapshot->generation},
              {"workers", std::move(workers)},
              {"backends", std::move(backends)}};
}

std::string htmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// The /stats page for a browser: one row per backend, as HAProxy's stats page.
std::string statsHtml(const AdminView& view) {
  std::string out =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>corral proxy stats</title>\n"
      "<style>body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
      "th,td{border:1px solid #999;padding:2px 6px;text-align:right}"
      "th{background:#dde}td.l{text-align:left}tr.down td{background:#fcc}"
      "tr.partial td{background:#ffd}</style></head><body>\n";
  uint64_t requests = 0, noRoute = 0, tcp = 0;
  for (const WorkerCounters* w : view.workers) {
    requests += w->requests.load();
    noRoute += w->noRoute.load();
    tcp += w->tcpConnections.load();
  }
  out += fmt::format(
      "<h1>corral proxy</h1>\n<p>generation {} &middot; {} worker(s) &middot; {} requests routed "
      "&middot; {} without a route &middot; {} TCP connections &middot; "
      "<a href=\"/stats?format=json\">JSON</a></p>\n",
      view.snapshot->generation, view.workers.size(), requests, noRoute, tcp);
  out +=
      "<table>\n<tr><th>app</th><th>port</th><th>route</th><th>mode</th><th>requests</th>"
      "<th>active</th><th>errors</th><th>task failures</th><th>no task</th><th>1xx</th>"
      "<th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th><th>avg ms</th><th>health</th>"
      "<th>task ports</th></tr>\n";
  for (const BackendStats& b : backendStats(view)) {
    const BackendCounters& live = *b.set->counters;
    size_t up = b.set->peers.size();
    const char* rowClass = up == 0 ? "down" : up < b.tasks ? "partial" : "up";
    std::string taskPorts;
    for (const std::string& label : b.set->labels) {
      taskPorts += (taskPorts.empty() ? "" : "<br>") + htmlEscape(label);
    }
    out += fmt::format(
        "<tr class=\"{}\"><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td>"
        "<td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        rowClass, htmlEscape(b.appId), b.set->key.portIndex,
        b.spec ? htmlEscape(routeWhere(*b.spec)) : std::string("-"),
        b.spec ? conf::routeModeName(b.spec->mode) : std::string_view("-"), live.requests.load(),
        live.active.load(), b.exchanges.errors, live.failures.load(), live.noPeer.load());
    for (int cls = 1; cls <= 5; ++cls)
      out += fmt::format("<td>{}</td>", b.exchanges.statusClass[cls]);
    out += fmt::format("<td>{:.3f}</td><td>{}/{} up</td><td class=\"l\">{}</td></tr>\n",
                       averageMs(b.exchanges), up, b.tasks, taskPorts);
  }
  out +=
      "</table>\n<p>requests, active, task failures, no task: live, every HTTP request and TCP "
      "connection. errors (answered by the proxy or cut off), status classes and latency: HTTP "
      "exchanges, refreshed every half second.</p>\n</body></html>\n";
  return out;
}

// ?format=html or ?format=json decide; else an Accept naming text/html.
bool wantsHtml(const http::Request& request) {
  if (auto format = request.queryParam("format")) return *format == "html";
  std::string_view accept = request.header("Accept").value_or(std::string_view());
  return accept.find("text/html") != std::string_view::npos;
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

http::Response adminResponse(const http::Request& request, const AdminView& view) {
  const std::string& path = request.path;
  if (path == "/healthz") {
    if (!view.synced) return http::Response::text(503, "waiting for the first catalog load\n");
    return http::Response::text(200, "ok\n");
  }
  if (path == "/routes") return http::Response::json(200, dumpJson(routesJson(view)));
  if (path == "/config") return http::Response::json(200, dumpJson(configJson(view)));
  if (path == "/stats") {
    if (wantsHtml(request)) {
      return http::Response::text(200, statsHtml(view), "text/html; charset=utf-8");
    }
    return http::Response::json(200, dumpJson(statsJson(view)));
  }
  if (path == "/metrics") {
    return http::Response::text(200, metricsText(view), "text/plain; version=0.0.4");
  }
  return http::Response::text(404, "unknown path; try /healthz /routes /config /stats /metrics\n");
}

}  // namespace corral::proxy
