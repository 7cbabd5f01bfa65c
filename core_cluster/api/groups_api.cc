#include "core_cluster/api/groups_api.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "conf/app_definition.h"
#include "core_cluster/api/marathon_json.h"
#include "core_cluster/scheduler/service_scheduler.h"

namespace corral::api {

namespace {

using scheduler::GroupChange;
using scheduler::ServiceScheduler;

http::Response json(int status, const Json& body) {
  return http::Response::json(status, dumpJson(body));
}

http::Response message(int status, const std::string& msg) {
  return json(status, Json{{"message", msg}});
}

http::Response fromError(const Error& e) {
  int code = http::statusFor(e.kind);
  Json j;
  j["message"] = e.message;
  if (code == 409 && !e.path.empty()) j["deployments"] = Json::array({Json{{"id", e.path}}});
  return json(code, j);
}

bool truthy(const http::Request& req, const std::string& name, bool dflt = false) {
  auto v = req.queryParam(name);
  if (!v) return dflt;
  return *v == "true" || *v == "True" || *v == "TRUE" || *v == "1" || v->empty();
}

// What the change answered: Marathon's {version, deploymentId}, or for a dry run {steps}.
http::Response changed(const Result<scheduler::ChangeResult>& r, int status, bool dryRun,
                       const std::string& location = "") {
  if (!r.ok()) return fromError(r.error());
  if (dryRun) return json(200, Json{{"steps", r->steps}});
  http::Response resp =
      json(status, Json{{"version", r->version}, {"deploymentId", r->deploymentId}});
  resp.headers.emplace_back("Marathon-Deployment-Id", r->deploymentId);
  if (!location.empty()) resp.headers.emplace_back("Location", "/v2/groups" + location);
  return resp;
}

std::string prefixOf(const std::string& group) { return group == "/" ? "/" : group + "/"; }

// The direct child groups of `group` now: those holding apps and those defined.
std::set<std::string> childGroups(const ServiceScheduler& s, const std::string& group) {
  std::set<std::string> out;
  std::string prefix = prefixOf(group);
  auto childOf = [&](const std::string& id) {
    if (id.rfind(prefix, 0) != 0 || id == group) return;
    auto slash = id.find('/', prefix.size());
    if (slash != std::string::npos) out.insert(id.substr(0, slash));
  };
  for (const auto& [id, a] : s.apps()) childOf(id);
  for (const auto& [id, g] : s.groups().all()) {
    childOf(id);
    if (id.rfind(prefix, 0) == 0 && id != group &&
        id.find('/', prefix.size()) == std::string::npos) {
      out.insert(id);
    }
  }
  return out;
}

bool groupExists(const ServiceScheduler& s, const std::string& id) {
  if (id == "/" || s.groups().find(id)) return true;
  std::string prefix = prefixOf(id);
  auto it = s.apps().lower_bound(prefix);
  return it != s.apps().end() && it->first.rfind(prefix, 0) == 0;
}

struct Embeds {
  bool apps = true, groups = true, tasks = false, counts = false, deployments = false,
       readiness = false, lastTaskFailure = false;
};

Embeds embedsOf(const http::Request& req) {
  auto given = req.queryParams("embed");
  Embeds e;
  if (given.empty()) return e;  // Marathon's default: group.apps and group.groups
  std::set<std::string> set(given.begin(), given.end());
  e.apps = set.count("group.apps") > 0;
  e.groups = set.count("group.groups") > 0;
  e.tasks = set.count("group.apps.tasks") > 0;
  e.counts = set.count("group.apps.counts") > 0;
  e.deployments = set.count("group.apps.deployments") > 0;
  e.readiness = set.count("group.apps.readiness") > 0;
  e.lastTaskFailure = set.count("group.apps.lastTaskFailure") > 0;
  // An app embed implies the apps.
  e.apps |= e.tasks || e.counts || e.deployments || e.readiness || e.lastTaskFailure;
  return e;
}

Json appOfGroup(const ServiceScheduler& s, const scheduler::AppState& app, const Embeds& e) {
  Json j;
  if (e.tasks) {
    auto parsed = parseJson(appJsonText(s, app, true, e.counts, e.deployments, e.lastTaskFailure));
    j = parsed.ok() ? *parsed : appJson(s, app, e.counts, e.deployments, e.lastTaskFailure);
  } else {
    j = appJson(s, app, e.counts, e.deployments, e.lastTaskFailure);
  }
  if (e.readiness) j["readinessCheckResults"] = Json::array();
  return j;
}

// The live group tree: its apps and child groups as embedded, its dependencies and version.
Json groupJson(const ServiceScheduler& s, const std::string& id, const Embeds& e) {
  Json g;
  g["id"] = id;
  std::string prefix = prefixOf(id);
  std::string version;
  Json apps = Json::array();
  for (auto it = s.apps().lower_bound(prefix); it != s.apps().end(); ++it) {
    if (it->first.rfind(prefix, 0) != 0) break;
    const auto& a = it->second;
    if (a.def.version && *a.def.version > version) version = *a.def.version;
    if (e.apps && it->first.find('/', prefix.size()) == std::string::npos) {
      apps.push_back(appOfGroup(s, a, e));
    }
  }
  const auto* defined = s.groups().find(id);
  if (defined && defined->version > version) version = defined->version;
  if (e.apps) g["apps"] = apps;
  if (e.groups) {
    Json groups = Json::array();
    for (const auto& child : childGroups(s, id)) groups.push_back(groupJson(s, child, e));
    g["groups"] = groups;
  }
  g["pods"] = Json::array();
  g["dependencies"] = defined ? defined->dependencies : std::vector<std::string>{};
  g["version"] = version.empty() ? isoNow() : version;
  return g;
}

// Collects a group body (and its subgroups) into the change. `replace`: apps
// and subgroups of the group that the body's "apps" / "groups" no longer
// list are removed (PUT); absent fields keep what is there.
Status collect(const ServiceScheduler& s, const Json& body, const std::string& gid, bool replace,
               GroupChange& change, Json& invalid) {
  if (!body.is_object()) return makeError(ErrorKind::kInvalid, "a group must be a JSON object");
  if (body.contains("pods") && body["pods"].is_array() && !body["pods"].empty()) {
    return makeError(ErrorKind::kInvalid, "pods are not supported: define apps instead");
  }
  GroupChange::Group group{gid, {}};
  if (body.contains("dependencies")) {
    if (!body["dependencies"].is_array()) {
      return makeError(ErrorKind::kInvalid, gid + ": dependencies must be an array of ids");
    }
    for (const auto& d : body["dependencies"]) {
      if (!d.is_string()) return makeError(ErrorKind::kInvalid, gid + ": dependencies must be ids");
      auto r = conf::resolveAppId(d.get<std::string>(), conf::parentGroup(gid), "/dependencies");
      if (!r.ok()) return makeError(ErrorKind::kInvalid, gid + ": " + r.error().message);
      group.dependencies.push_back(*r);
    }
  } else if (const auto* old = s.groups().find(gid)) {
    group.dependencies = old->dependencies;
  }
  change.groups.push_back(group);
  std::string prefix = prefixOf(gid);
  if (body.contains("apps")) {
    if (!body["apps"].is_array())
      return makeError(ErrorKind::kInvalid, gid + ": apps must be an array");
    std::set<std::string> listed;
    for (auto app : body["apps"]) {
      if (!app.is_object() || !app.contains("id") || !app["id"].is_string()) {
        return makeError(ErrorKind::kInvalid, "every app in a group needs an id");
      }
      auto id = conf::resolveAppId(app["id"].get<std::string>(), gid);
      if (!id.ok()) return makeError(ErrorKind::kInvalid, id.error().message);
      app["id"] = *id;
      // Relative dependencies name the app's siblings.
      if (app.contains("dependencies") && app["dependencies"].is_array()) {
        for (auto& d : app["dependencies"]) {
          if (!d.is_string()) continue;
          auto r = conf::resolveAppId(d.get<std::string>(), gid, "/dependencies");
          if (r.ok()) d = *r;
        }
      }
      auto errors = conf::validateApp(app);
      if (!errors.empty()) {
        invalid = conf::validationErrorBody(errors);
        return makeError(ErrorKind::kInvalid, "invalid app " + *id);
      }
      listed.insert(*id);
      change.apps.push_back({app, false});
    }
    if (replace) {
      for (auto it = s.apps().lower_bound(prefix); it != s.apps().end(); ++it) {
        if (it->first.rfind(prefix, 0) != 0) break;
        bool direct = it->first.find('/', prefix.size()) == std::string::npos;
        if (direct && !listed.count(it->first)) change.removeApps.push_back(it->first);
      }
    }
  }
  if (body.contains("groups")) {
    if (!body["groups"].is_array()) {
      return makeError(ErrorKind::kInvalid, gid + ": groups must be an array");
    }
    std::set<std::string> listed;
    for (const auto& sub : body["groups"]) {
      if (!sub.is_object() || !sub.contains("id") || !sub["id"].is_string()) {
        return makeError(ErrorKind::kInvalid, "every group needs an id");
      }
      auto id = conf::resolveAppId(sub["id"].get<std::string>(), gid);
      if (!id.ok()) return makeError(ErrorKind::kInvalid, id.error().message);
      if (id->rfind(prefix, 0) != 0) {
        return makeError(ErrorKind::kInvalid, "group " + *id + " is not below " + gid);
      }
      listed.insert(*id);
      if (Status st = collect(s, sub, *id, replace, change, invalid); !st.ok()) return st;
    }
    if (replace) {
      for (const auto& child : childGroups(s, gid)) {
        if (listed.count(child)) continue;
        std::string childPrefix = child + "/";
        for (auto it = s.apps().lower_bound(childPrefix); it != s.apps().end(); ++it) {
          if (it->first.rfind(childPrefix, 0) != 0) break;
          change.removeApps.push_back(it->first);
        }
        for (const auto& g : s.groups().under(child)) change.removeGroups.push_back(g);
      }
    }
  }
  return Status::Ok();
}

// Splits "/a/b/versions[/v]" into the group and the version part.
struct GroupPath {
  std::string id = "/";
  bool versions = false;
  std::string version;
};

GroupPath parsePath(std::string_view rest) {
  // Clients send "/v2/groups//x" for absolute ids: empty segments are skipped.
  std::vector<std::string> segs;
  size_t i = 0;
  while (i < rest.size()) {
    size_t j = rest.find('/', i);
    if (j == std::string_view::npos) j = rest.size();
    if (j > i) segs.emplace_back(rest.substr(i, j - i));
    i = j + 1;
  }
  GroupPath p;
  size_t n = segs.size();
  if (n >= 1 && segs[n - 1] == "versions") {
    p.versions = true;
    segs.pop_back();
  } else if (n >= 2 && segs[n - 2] == "versions") {
    p.versions = true;
    p.version = segs[n - 1];
    segs.resize(n - 2);
  }
  std::string id;
  for (const auto& s : segs) id += "/" + s;
  p.id = id.empty() ? "/" : id;
  return p;
}

// POST or PUT of a group; `text` is the body (the request's, or a rollback's).
http::Response createOrUpdate(ServiceScheduler& s, const http::Request& req, std::string gid,
                              const std::string& text) {
  bool post = req.method == "POST";
  bool force = truthy(req, "force");
  bool dryRun = truthy(req, "dryRun");
  auto parsed = parseJson(text);
  if (!parsed.ok()) return message(400, "Invalid JSON: " + parsed.error().message);
  Json body = *parsed;
  if (!body.is_object()) return message(400, "Invalid JSON: expected a group");
  if (body.contains("id") && body["id"].is_string()) {
    auto r = conf::resolveAppId(body["id"].get<std::string>(), gid);
    if (!r.ok()) return message(422, r.error().message);
    gid = *r;
  } else if (post && gid == "/") {
    return message(422, "a new group needs an id");
  }
  if (post && groupExists(s, gid)) {
    return message(409, "Group " + gid + " is already created. Use PUT to change this group.");
  }
  if (post && s.app(gid)) return message(409, "An app with id [" + gid + "] already exists.");
  GroupChange change;
  change.groupId = gid;
  change.recordVersion = true;
  if (!post && body.contains("scaleBy")) {
    if (!body["scaleBy"].is_number() || body["scaleBy"].get<double>() < 0) {
      return message(422, "scaleBy must be a non-negative number");
    }
    if (!groupExists(s, gid)) return message(404, "Group '" + gid + "' does not exist");
    double factor = body["scaleBy"].get<double>();
    std::string prefix = prefixOf(gid);
    for (auto it = s.apps().lower_bound(prefix); it != s.apps().end(); ++it) {
      if (it->first.rfind(prefix, 0) != 0) break;
      // Marathon rounds a scaled instance count up.
      int instances = static_cast<int>(std::ceil(it->second.def.instances * factor - 1e-9));
      change.apps.push_back({Json{{"id", it->first}, {"instances", instances}}, true});
    }
    return changed(s.applyGroupChange(change, force, dryRun), 200, dryRun);
  }
  if (!post && body.contains("version")) {
    if (!body["version"].is_string()) return message(422, "version must be a string");
    auto snapshot = s.groups().version(gid, body["version"].get<std::string>());
    if (!snapshot.ok()) return fromError(snapshot.error());
    // The group as it was: what is not in that version goes.
    body = *snapshot;
    if (!body.contains("apps")) body["apps"] = Json::array();
    if (!body.contains("groups")) body["groups"] = Json::array();
    for (auto& app : body["apps"]) app.erase("version");
  }
  Json invalid;
  if (Status st = collect(s, body, gid, !post, change, invalid); !st.ok()) {
    if (!invalid.is_null()) return json(422, invalid);
    return message(422, st.error().message);
  }
  if (!post && body.contains("version")) {
    // Apps of nested groups in a stored version carry their own version too.
    for (auto& app : change.apps) app.body.erase("version");
  }
  auto r = s.applyGroupChange(change, force, dryRun);
  if (!r.ok() && r.error().kind == ErrorKind::kInvalid) return message(422, r.error().message);
  return changed(r, post ? 201 : 200, dryRun, post ? gid : "");
}

http::Response remove(ServiceScheduler& s, const http::Request& req, const std::string& gid) {
  if (!groupExists(s, gid)) return message(404, "Group '" + gid + "' does not exist");
  GroupChange change;
  change.groupId = gid;
  std::string prefix = prefixOf(gid);
  for (auto it = s.apps().lower_bound(prefix); it != s.apps().end(); ++it) {
    if (it->first.rfind(prefix, 0) != 0) break;
    change.removeApps.push_back(it->first);
  }
  change.removeGroups = s.groups().under(gid);
  return changed(s.applyGroupChange(change, truthy(req, "force"), false), 200, false);
}

}  // namespace

http::Response groupsResponse(ServiceScheduler& s, const http::Request& req,
                              std::string_view rest) {
  GroupPath path = parsePath(rest);
  const std::string& gid = path.id;
  if (path.versions && req.method == "PUT" && !path.version.empty()) {
    // PUT /v2/groups/{id}/versions/{version}: python3-marathon's rollback_group().
    return createOrUpdate(s, req, gid, dumpJson(Json{{"version", path.version}}));
  }
  if (path.versions) {
    if (req.method != "GET") return message(405, "use GET");
    if (!groupExists(s, gid)) return message(404, "Group '" + gid + "' does not exist");
    const auto* g = s.groups().find(gid);
    if (path.version.empty()) {
      std::vector<std::string> newestFirst;
      if (g) newestFirst.assign(g->versions.rbegin(), g->versions.rend());
      return json(200, Json(newestFirst));
    }
    auto v = s.groups().version(gid, path.version);
    if (!v.ok()) return fromError(v.error());
    return json(200, *v);
  }
  if (req.method == "GET") {
    if (!groupExists(s, gid)) return message(404, "Group '" + gid + "' does not exist");
    return json(200, groupJson(s, gid, embedsOf(req)));
  }
  if (req.method == "POST" || req.method == "PUT") return createOrUpdate(s, req, gid, req.body);
  if (req.method == "DELETE") return remove(s, req, gid);
  return message(405, "Method not allowed");
}

}  // namespace corral::api
