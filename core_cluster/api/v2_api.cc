#include "core_cluster/api/v2_api.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <set>

#include "base/clock.h"
#include "base/log.h"
#include "base/metrics.h"
#include "conf/app_definition.h"
#include "core_cluster/api/app_update_request.h"
#include "core_cluster/api/groups_api.h"
#include "core_cluster/api/label_selector.h"
#include "core_cluster/api/marathon_json.h"
#include "core_cluster/api/metrics_json.h"
#include "core_cluster/api/tasks_text.h"

namespace corral::api {

namespace {

http::Response json(int status, const Json& body) {
  return http::Response::json(status, dumpJson(body));
}

http::Response message(int status, const std::string& msg) {
  Json j;
  j["message"] = msg;
  return json(status, j);
}

http::Response fromError(const Error& e) {
  int code = http::statusFor(e.kind);
  Json j;
  j["message"] = e.message;
  if (code == 409 && !e.path.empty()) {
    j["deployments"] = Json::array({Json{{"id", e.path}}});
  }
  return json(code, j);
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::set<std::string> embeds(const http::Request& req) {
  std::set<std::string> out;
  for (const auto& e : req.queryParams("embed")) out.insert(e);
  return out;
}

// Validation failures render as Marathon's 422 with every problem listed.
http::Response validationFailure(const Json& body, const Error& e) {
  if (body.is_object()) {
    auto errors = conf::validateApp(body);
    if (!errors.empty()) return json(422, conf::validationErrorBody(errors));
  }
  Json j;
  j["message"] = "Object is not valid";
  j["details"] = Json::array(
      {Json{{"path", e.path.empty() ? "/" : e.path}, {"errors", Json::array({e.message})}}});
  return json(422, j);
}

// Marathon's script-friendly forms are asked for with Accept: text/plain.
bool wantsText(const http::Request& req) {
  return req.header("Accept").value_or("").find("text/plain") != std::string_view::npos;
}

// Marathon answers scale=true&wipe=true with 400: a wiped task is not
// replaced, so there is nothing left to scale down.
bool scaleWithWipe(const http::Request& req) {
  return queryBool(req, "scale") && queryBool(req, "wipe");
}
constexpr const char* kScaleWipe = "scale=true and wipe=true cannot be combined";

// The port of a host:port address (0 when it has none).
int portOf(const std::string& address) {
  auto colon = address.rfind(':');
  return colon == std::string::npos ? 0 : std::atoi(address.c_str() + colon + 1);
}

// The current definition with a PUT patch laid over it; where the patch sets
// one of two alternative fields (cmd/args, ports/portDefinitions, uris/fetch)
// the other one is dropped, as applyAppPatch does.
Json mergedForValidation(Json current, const Json& patch) {
  static const std::vector<std::pair<std::string, std::string>> kAlternatives = {
      {"cmd", "args"}, {"ports", "portDefinitions"}, {"uris", "fetch"}};
  for (const auto& [a, b] : kAlternatives) {
    if (patch.contains(a) && !patch.contains(b)) current.erase(b);
    if (patch.contains(b) && !patch.contains(a)) current.erase(a);
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) current[it.key()] = it.value();
  return current;
}

}  // namespace

bool queryBool(const http::Request& req, const std::string& name, bool dflt) {
  auto v = req.queryParam(name);
  if (!v) return dflt;
  return *v == "true" || *v == "True" || *v == "TRUE" || *v == "1" || v->empty();
}

V2Api::V2Api(scheduler::ServiceScheduler& scheduler, master::Master& master, events::EventBus& bus,
             ApiInfo info)
    : scheduler_(scheduler), master_(master), bus_(bus), info_(std::move(info)) {}

const std::vector<V2Api::Route>& V2Api::routes() {
  using M = Route::Match;
  // Exact paths are tried first, then the longest prefix owning the path.
  static const std::vector<Route> kRoutes = {
      {"/ping", M::kExact, &V2Api::ping},
      {"/metrics", M::kExact, &V2Api::metricsText},
      {"/metrics/prometheus", M::kExact, &V2Api::metricsText},
      {"/v2/events", M::kExact, &V2Api::events},
      {"/v2/info", M::kExact, &V2Api::info},
      {"/v1/agents", M::kExact, &V2Api::agentsV1},
      {"/v1/tasks", M::kPrefix, &V2Api::taskAgentV1},
      {"/v2/leader", M::kExact, &V2Api::leader},
      {"/v2/eventSubscriptions", M::kExact, &V2Api::eventSubscriptions},
      {"/v2/apps", M::kExact, &V2Api::apps},
      {"/v2/apps/", M::kExact, &V2Api::apps},
      {"/v2/apps", M::kPrefix, &V2Api::appSubresource},
      {"/v2/tasks", M::kExact, &V2Api::tasks},
      {"/v2/tasks/delete", M::kExact, &V2Api::tasks},
      {"/v2/deployments", M::kPrefix, &V2Api::deployments},
      {"/v2/groups", M::kPrefix, &V2Api::groups},
      {"/v2/queue", M::kPrefix, &V2Api::queue},
  };
  return kRoutes;
}

void V2Api::handle(http::Request& req, std::shared_ptr<http::Exchange> ex) {
  // Handlers answer before returning (the state commit is synchronous), so
  // the time spent here is the request's latency inside the master.
  static auto& latency = metrics::global().histogram(
      "corral_api_request_seconds", "Time to handle a v2 API request inside the master.",
      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1});
  auto started = std::chrono::steady_clock::now();
  bool stream = req.path == "/v2/events";
  Reply reply(req, std::move(ex));
  dispatch(req, reply);
  if (!stream) {
    latency.observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
}

void V2Api::dispatch(http::Request& req, Reply& reply) {
  // What the scheduler publishes while handling this request names its caller.
  events::ApiCaller caller(bus_, req.remoteAddress);
  std::string_view p = req.path;
  for (const auto& r : routes()) {
    if (r.match == Route::Match::kExact && p == r.path) return (this->*r.handler)(req, reply, "");
  }
  const Route* best = nullptr;
  for (const auto& r : routes()) {
    if (r.match != Route::Match::kPrefix || p.substr(0, r.path.size()) != r.path) continue;
    // A prefix owns itself and what is below it ("/v2/queue/x"), not "/v2/queueX".
    if (p.size() > r.path.size() && p[r.path.size()] != '/') continue;
    if (!best || r.path.size() > best->path.size()) best = &r;
  }
  if (best) return (this->*best->handler)(req, reply, p.substr(best->path.size()));
  if (p == "/v2/pods" || p.rfind("/v2/pods/", 0) == 0) {
    return reply.respond(
        message(404,
                "pods are not supported by corral: run each container "
                "of a pod as an app (/v2/apps), in a group if they belong together"));
  }
  reply.respond(message(404, "Not found: " + req.path));
}

void V2Api::ping(http::Request&, Reply& reply, std::string_view) {
  reply.respond(http::Response::text(200, "pong\n"));
}

void V2Api::metricsText(http::Request& req, Reply& reply, std::string_view) {
  // Prometheus scrapers (Accept: text/plain or OpenMetrics, ?format=prometheus,
  // /metrics/prometheus) get the text format; Marathon's clients its JSON.
  auto format = req.path == "/metrics/prometheus"
                    ? MetricsFormat::kPrometheusText
                    : metricsFormatFor(req.header("Accept").value_or(""),
                                       req.queryParam("format").value_or(""));
  std::string text = metrics::global().render();
  if (format == MetricsFormat::kPrometheusText) {
    return reply.respond(http::Response::text(200, std::move(text), "text/plain; version=0.0.4"));
  }
  auto j = codahaleMetrics(text);
  if (!j.ok()) return reply.respond(message(500, j.error().message));
  reply.respond(json(200, *j));
}

void V2Api::events(http::Request& req, Reply& reply, std::string_view) {
  if (req.method != "GET") return reply.respond(message(405, "use GET"));
  reply.answered(bus_.attach(req, reply.exchange()));
}

void V2Api::agentsV1(http::Request&, Reply& reply, std::string_view) {
  Json list = Json::array();
  for (const auto* a : master_.agents()) {
    Json j = master::agentToJson(*a);
    j["status"] = std::string(master::toString(a->status));
    list.push_back(j);
  }
  reply.respond(json(200, Json{{"agents", list}}));
}

void V2Api::taskAgentV1(http::Request& req, Reply& reply, std::string_view rest) {
  // rest: "/<taskId>/agent"
  constexpr std::string_view kSuffix = "/agent";
  if (rest.size() <= 1 + kSuffix.size() || !endsWith(rest, kSuffix)) {
    return reply.respond(message(404, "Not found: " + req.path));
  }
  std::string tid(rest.substr(1, rest.size() - 1 - kSuffix.size()));
  const auto* t = master_.task(tid);
  const auto* a = t ? master_.agent(t->agentId) : nullptr;
  if (!a) return reply.respond(message(404, "Task '" + tid + "' does not exist"));
  reply.respond(json(200, Json{{"agent", a->hostname + ":" + std::to_string(a->port)}}));
}

void V2Api::leader(http::Request& req, Reply& reply, std::string_view) {
  if (req.method == "DELETE") {
    // Abdicating with no standby would leave the cluster without a master.
    return reply.respond(message(
        409, "Leadership not abdicated: this master is the only one, no standby would take over"));
  }
  reply.respond(json(200, Json{{"leader", info_.advertisedAddress}}));
}

void V2Api::eventSubscriptions(http::Request& req, Reply& reply, std::string_view) {
  // HTTP callback subscriptions left Marathon in 1.7; the list stays readable
  // (and empty) for old dashboards, a subscription is refused as Marathon does.
  if (req.method != "GET") {
    return reply.respond(message(404,
                                 "HTTP callback event subscriptions are not supported "
                                 "(removed in Marathon 1.7): read /v2/events instead"));
  }
  reply.respond(json(200, Json{{"callbackUrls", Json::array()}}));
}

void V2Api::info(http::Request&, Reply& ex, std::string_view) {
  // corral keeps no ZooKeeper state; the zk_* and expunge fields Marathon's
  // schema requires are reported with Marathon's defaults.
  Json j;
  j["name"] = "marathon";
  j["version"] = info_.version;
  j["buildref"] = "corral";
  j["elected"] = true;
  j["leader"] = info_.advertisedAddress;
  j["frameworkId"] = info_.frameworkId;
  j["marathon_config"] = Json{{"master", info_.advertisedAddress},
                              {"framework_name", scheduler_.name()},
                              {"task_launch_timeout", 300000},
                              {"local_port_min", 10000},
                              {"local_port_max", 20000},
                              {"mesos_role", "*"},
                              {"checkpoint", true},
                              {"features", Json::array()},
                              {"task_lost_expunge_initial_delay", 300000},
                              {"task_lost_expunge_interval", 30000}};
  j["zookeeper_config"] = Json{{"zk", info_.zkUrl},
                               {"zk_timeout", 10000},
                               {"zk_session_timeout", 10000},
                               {"zk_connection_timeout", 10000},
                               {"zk_max_versions", 50},
                               {"zk_compression", true},
                               {"zk_compression_threshold", 65536},
                               {"zk_max_node_size", 1024000}};
  // The v2 API is served over plain HTTP only: no HTTPS port (0).
  j["http_config"] =
      Json{{"http_port", portOf(info_.advertisedAddress)}, {"https_port", info_.httpsPort}};
  j["event_subscriber"] = Json{{"type", "sse"}, {"http_endpoints", Json::array()}};
  ex.respond(json(200, j));
}

void V2Api::respondChange(Reply& ex, const Result<scheduler::ChangeResult>& r, int okStatus,
                          const Json* body) {
  if (!r.ok()) {
    if (r.error().kind == ErrorKind::kInvalid && body) {
      return ex.respond(validationFailure(*body, r.error()));
    }
    return ex.respond(fromError(r.error()));
  }
  Json j;
  j["version"] = r->version;
  j["deploymentId"] = r->deploymentId;
  http::Response resp = json(okStatus, j);
  if (!r->deploymentId.empty())
    resp.headers.emplace_back("Marathon-Deployment-Id", r->deploymentId);
  ex.respond(std::move(resp));
}

void V2Api::apps(http::Request& req, Reply& ex, std::string_view) {
  if (req.method == "GET") {
    auto e = embeds(req);
    bool tasks = e.count("apps.tasks") || e.count("app.tasks");
    // Marathon renders the task counts and the deployments of every app
    // whatever is embedded (apps.counts / apps.deployments are accepted and implied).
    const bool counts = true;
    const bool deps = true;
    bool ltf = e.count("apps.lastTaskFailure") || e.count("app.lastTaskFailure");
    auto idFilter = req.queryParam("id");
    auto cmdFilter = req.queryParam("cmd");
    std::optional<LabelSelector> selector;
    if (auto labelFilter = req.queryParam("label")) {
      auto parsed = parseLabelSelector(*labelFilter);
      if (!parsed.ok()) return ex.respond(message(422, parsed.error().message));
      selector = std::move(*parsed);
    }
    renderCache_.retainOnly(scheduler_.apps());
    std::string list = "{\"apps\":[";
    bool first = true;
    for (const auto& [id, a] : scheduler_.apps()) {
      if (idFilter && id.find(*idFilter) == std::string::npos) continue;
      if (cmdFilter && a.def.cmd.value_or("").find(*cmdFilter) == std::string::npos) continue;
      if (selector && !selector->matches(a.def.labels)) continue;
      if (!first) list += ',';
      first = false;
      appendAppJson(list, scheduler_, a, tasks, counts, deps, ltf, &renderCache_);
    }
    list += "]}";
    return ex.respond(http::Response::json(200, std::move(list)));
  }
  if (req.method == "POST") {
    auto body = parseJson(req.body);
    if (!body.ok()) return ex.respond(message(400, "Invalid JSON: " + body.error().message));
    if (!body->is_object()) return ex.respond(message(400, "Invalid JSON: expected an app object"));
    auto r = scheduler_.createApp(*body);
    if (!r.ok()) {
      if (r.error().kind == ErrorKind::kInvalid) {
        return ex.respond(validationFailure(*body, r.error()));
      }
      return ex.respond(fromError(r.error()));
    }
    http::Response resp = json(201, r->app);
    resp.headers.emplace_back("Location", "/v2/apps" + r->app.value("id", std::string()));
    resp.headers.emplace_back("Marathon-Deployment-Id", r->deploymentId);
    return ex.respond(std::move(resp));
  }
  if (req.method == "PUT") {
    auto body = parseJson(req.body);
    if (!body.ok()) return ex.respond(message(400, "Invalid JSON: " + body.error().message));
    if (!body->is_array())
      return ex.respond(message(400, "Invalid JSON: expected an array of apps"));
    // Every app of a bulk update in one deployment, ordered by their dependencies.
    scheduler::GroupChange change;
    for (const auto& app : *body) {
      if (!app.is_object() || !app.contains("id") || !app["id"].is_string()) {
        return ex.respond(message(422, "every app in a bulk update needs an id"));
      }
      auto id = conf::resolveAppId(app["id"].get<std::string>());
      if (!id.ok()) return ex.respond(message(422, id.error().message));
      Json def = app;
      def["id"] = *id;
      bool exists = scheduler_.app(*id) != nullptr;
      if (!exists) {
        auto errors = conf::validateApp(def);
        if (!errors.empty()) return ex.respond(json(422, conf::validationErrorBody(errors)));
      }
      change.apps.push_back({def, exists});
    }
    auto r = scheduler_.applyGroupChange(change, queryBool(req, "force"), false);
    if (!r.ok() && r.error().kind == ErrorKind::kInvalid) {
      return ex.respond(message(422, r.error().message));
    }
    return respondChange(ex, r, 200);
  }
  ex.respond(message(405, "Method not allowed on /v2/apps"));
}

void V2Api::appSubresource(http::Request& req, Reply& ex, std::string_view restView) {
  std::string rest(restView);
  // rest: "/shop/web[/restart|/tasks[/<taskId>]|/versions[/<v>]]"
  std::string id = rest, sub, arg;
  for (const char* s : {"/restart", "/tasks", "/versions"}) {
    auto pos = rest.rfind(s);
    if (pos == std::string::npos || pos == 0) continue;
    std::string after = rest.substr(pos + strlen(s));
    if (!after.empty() && (after[0] != '/' || after.find('/', 1) != std::string::npos)) continue;
    // "/tasks/<id>" and "/versions/<v>" take one more segment; "/restart" none.
    if (std::string(s) == "/restart" && !after.empty()) continue;
    id = rest.substr(0, pos);
    sub = s;
    arg = after.empty() ? "" : after.substr(1);
    break;
  }
  while (id.size() > 1 && id.back() == '/') id.pop_back();
  // Clients build paths like /v2/apps//web from absolute ids: Marathon accepts them.
  while (id.size() > 1 && id[0] == '/' && id[1] == '/') id.erase(0, 1);
  auto resolved = conf::resolveAppId(id);
  if (!resolved.ok()) return ex.respond(message(404, "App '" + id + "' does not exist"));
  id = *resolved;
  const scheduler::AppState* app = scheduler_.app(id);
  bool force = queryBool(req, "force");
  if (sub.empty()) {
    if (req.method == "GET") {
      if (!app) return ex.respond(message(404, "App '" + id + "' does not exist"));
      auto e = embeds(req);
      bool ltf = e.empty() || e.count("app.lastTaskFailure") || e.count("apps.lastTaskFailure");
      return ex.respond(http::Response::json(
          200,
          "{\"app\":" + appJsonText(scheduler_, *app, true, true, true, ltf, &renderCache_) + "}"));
    }
    if (req.method == "PUT" || req.method == "PATCH") {
      auto body = parseJson(req.body);
      if (!body.ok()) return ex.respond(message(400, "Invalid JSON: " + body.error().message));
      if (!body->is_object()) return ex.respond(message(400, "Invalid JSON: expected an object"));
      if (!app) {
        // PUT creates (201 and where the app now lives); PATCH and a rollback
        // need an app.
        if (req.method == "PATCH" || isRollback(*body)) {
          return ex.respond(message(404, "App '" + id + "' does not exist"));
        }
        Json asNew = *body;
        asNew["id"] = id;
        auto created = scheduler_.updateApp(id, asNew, force);
        if (!created.ok()) return respondChange(ex, created, 201, &asNew);
        http::Response resp =
            json(201, Json{{"version", created->version}, {"deploymentId", created->deploymentId}});
        resp.headers.emplace_back("Location", "/v2/apps" + id);
        resp.headers.emplace_back("Marathon-Deployment-Id", created->deploymentId);
        return ex.respond(std::move(resp));
      }
      auto kind = req.method == "PUT" && !queryBool(req, "partialUpdate", true)
                      ? AppUpdateKind::kReplace
                      : AppUpdateKind::kPartial;
      auto patch = appUpdatePatch(id, *body, kind, [this, &id](const std::string& v) {
        return scheduler_.appVersion(id, v);
      });
      if (!patch.ok()) {
        if (patch.error().kind != ErrorKind::kInvalid) return ex.respond(fromError(patch.error()));
        Json asApp = *body;
        asApp["id"] = id;
        return ex.respond(
            validationFailure(kind == AppUpdateKind::kReplace ? asApp : Json(), patch.error()));
      }
      // A partial update is validated as the app it would produce, so the
      // errors name only what the patch got wrong.
      Json merged = mergedForValidation(conf::toMarathonJson(app->def), *patch);
      return respondChange(ex, scheduler_.updateApp(id, *patch, force), 200, &merged);
    }
    if (req.method == "DELETE") {
      // Marathon's default here is force=true: a stuck deployment does not keep an app alive.
      return respondChange(ex, scheduler_.deleteApp(id, queryBool(req, "force", true)), 200);
    }
    return ex.respond(message(405, "Method not allowed"));
  }
  if (!app) return ex.respond(message(404, "App '" + id + "' does not exist"));
  if (sub == "/restart") {
    if (req.method != "POST") return ex.respond(message(405, "use POST"));
    return respondChange(ex, scheduler_.restartApp(id, force), 200);
  }
  if (sub == "/versions") {
    if (arg.empty()) {
      return ex.respond(
          json(200, Json{{"versions", Json(std::vector<std::string>(app->versions.rbegin(),
                                                                    app->versions.rend()))}}));
    }
    auto v = scheduler_.appVersion(id, arg);
    if (!v.ok()) return ex.respond(fromError(v.error()));
    return ex.respond(json(200, conf::toMarathonJson(*v)));
  }
  // /tasks
  if (req.method == "GET") {
    if (wantsText(req)) return ex.respond(http::Response::text(200, tasksText({textApp(*app)})));
    return ex.respond(http::Response::json(200, tasksJsonText(scheduler_, scheduler_.tasksOf(id))));
  }
  if (req.method != "DELETE") return ex.respond(message(405, "Method not allowed"));
  if (scaleWithWipe(req)) return ex.respond(message(400, kScaleWipe));
  bool scale = queryBool(req, "scale");
  bool wipe = queryBool(req, "wipe");
  auto host = req.queryParam("host");
  std::vector<std::string> ids;
  std::vector<const master::TaskRecord*> killed;
  for (const auto* t : scheduler_.tasksOf(id)) {
    if (!arg.empty() && t->id != arg) continue;
    if (host && t->host != *host) continue;
    ids.push_back(t->id);
    killed.push_back(t);
  }
  if (!arg.empty() && ids.empty()) {
    return ex.respond(message(404, "Task '" + arg + "' does not exist"));
  }
  // Rendered before the kill: the records may change once it is under way.
  // One named task answers {"task":X}, otherwise {"tasks":[...]}.
  std::string killedText;
  if (!arg.empty()) {
    killedText = "{\"task\":";
    appendTaskJson(killedText, *killed.front(), !app->def.healthChecks.empty());
    killedText += '}';
  } else {
    killedText = tasksJsonText(scheduler_, killed);
  }
  auto r = scheduler_.killTasks(ids, scale, wipe);
  if (!r.ok()) return ex.respond(fromError(r.error()));
  if (scale) return respondChange(ex, r, 200);
  ex.respond(http::Response::json(200, std::move(killedText)));
}

void V2Api::tasks(http::Request& req, Reply& ex, std::string_view) {
  if (req.path == "/v2/tasks/delete") {
    if (req.method != "POST") return ex.respond(message(405, "use POST"));
    auto body = parseJson(req.body);
    if (!body.ok()) return ex.respond(message(400, "Invalid JSON: " + body.error().message));
    if (!body->is_object() || !body->contains("ids") || !(*body)["ids"].is_array()) {
      return ex.respond(message(422, "expected {\"ids\": [task ids]}"));
    }
    std::vector<std::string> ids;
    for (const auto& v : (*body)["ids"]) {
      if (!v.is_string()) return ex.respond(message(422, "task ids must be strings"));
      ids.push_back(v.get<std::string>());
    }
    if (scaleWithWipe(req)) return ex.respond(message(400, kScaleWipe));
    // Marathon answers with the tasks it kills, rendered before the kill.
    std::set<std::string> wanted(ids.begin(), ids.end());
    std::vector<const master::TaskRecord*> killed;
    for (const auto* t : scheduler_.tasksOf("")) {
      if (wanted.count(t->id)) killed.push_back(t);
    }
    std::string killedText = tasksJsonText(scheduler_, killed);
    auto r = scheduler_.killTasks(ids, queryBool(req, "scale"), queryBool(req, "wipe"));
    if (!r.ok()) return ex.respond(fromError(r.error()));
    if (queryBool(req, "scale")) return respondChange(ex, r, 200);
    return ex.respond(http::Response::json(200, std::move(killedText)));
  }
  if (req.method != "GET") return ex.respond(message(405, "use GET"));
  // ?status=running (Marathon's form) or ?status=TASK_RUNNING.
  std::set<conf::TaskState> statuses;
  bool filtered = false;
  for (const auto& s : req.queryParams("status")) {
    filtered = true;
    std::string up;
    for (char c : s) up.push_back(static_cast<char>(toupper(static_cast<unsigned char>(c))));
    auto state = conf::taskStateFromString(up.rfind("TASK_", 0) == 0 ? up : "TASK_" + up);
    if (!state) {
      return ex.respond(message(400, "unknown status '" + s +
                                         "': use running, staging, starting, killing, finished, "
                                         "failed, killed, lost or another task state"));
    }
    statuses.insert(*state);
  }
  std::vector<const master::TaskRecord*> selected;
  for (const auto* t : scheduler_.tasksOf("")) {
    if (filtered && !statuses.count(t->state)) continue;
    selected.push_back(t);
  }
  if (wantsText(req)) {
    std::vector<TextApp> apps;
    for (const auto& [id, a] : scheduler_.apps()) apps.push_back(textApp(a));
    return ex.respond(http::Response::text(200, tasksText(apps)));
  }
  ex.respond(http::Response::json(200, tasksJsonText(scheduler_, selected)));
}

void V2Api::deployments(http::Request& req, Reply& ex, std::string_view rest) {
  if (rest.empty() || rest == "/") {
    if (req.method != "GET") return ex.respond(message(405, "use GET"));
    Json list = Json::array();
    for (const auto& [id, d] : scheduler_.deployments()) list.push_back(deploymentJson(d));
    return ex.respond(json(200, list));
  }
  std::string id(rest.substr(1));
  if (req.method != "DELETE") return ex.respond(message(405, "use DELETE"));
  bool force = queryBool(req, "force");
  auto r = scheduler_.cancelDeployment(id, force);
  if (!r.ok()) return ex.respond(fromError(r.error()));
  // Marathon: a forced cancel is 202 with no body; a rollback answers its deployment.
  if (force) return ex.respond(http::Response{202, {}, ""});
  respondChange(ex, r, 200);
}

TextApp V2Api::textApp(const scheduler::AppState& app) const {
  TextApp t;
  t.id = app.def.id;
  for (const auto& p : app.def.portDefinitions) t.servicePorts.push_back(p.port);
  for (const auto* task : scheduler_.tasksOf(app.def.id)) {
    if (task->state != conf::TaskState::kRunning) continue;
    t.runningTasks.push_back(TextTask{task->host, task->ports});
  }
  return t;
}

void V2Api::groups(http::Request& req, Reply& ex, std::string_view rest) {
  ex.respond(groupsResponse(scheduler_, req, rest));
}

void V2Api::queue(http::Request& req, Reply& ex, std::string_view rest) {
  if (req.method == "GET") return ex.respond(json(200, queueJson(scheduler_, wallMs())));
  // DELETE /v2/queue/<app id>/delay
  constexpr std::string_view kDelay = "/delay";
  if (req.method == "DELETE" && endsWith(rest, kDelay) && rest.size() > kDelay.size() + 1) {
    std::string appId(rest.substr(0, rest.size() - kDelay.size()));
    // Clients build /v2/queue//web/delay from absolute ids, as for /v2/apps.
    while (appId.size() > 1 && appId[0] == '/' && appId[1] == '/') appId.erase(0, 1);
    auto resolved = conf::resolveAppId(appId);
    if (!resolved.ok()) return ex.respond(message(404, "App '" + appId + "' does not exist"));
    // Marathon: 404 when the app has nothing in the launch queue to delay.
    bool queued = false;
    const Json queue = scheduler_.queueJson();
    for (const auto& item : queue["queue"]) {
      queued |= item["app"].value("id", "") == *resolved;
    }
    if (!queued) {
      return ex.respond(message(404, "Application " + *resolved + " not found in tasks queue."));
    }
    Status st = scheduler_.resetDelay(*resolved);
    if (!st.ok()) return ex.respond(fromError(st.error()));
    return ex.respond(http::Response::json(204, ""));
  }
  ex.respond(message(405, "Method not allowed"));
}

}  // namespace corral::api
