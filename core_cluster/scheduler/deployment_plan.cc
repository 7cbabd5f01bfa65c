#include "core_cluster/scheduler/deployment_plan.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "conf/app_definition.h"

namespace corral::scheduler {

namespace {

constexpr const char* kStop = "StopApplication";

// Longest dependency path below each app, found depth-first; a path that
// comes back to an app still being walked is a cycle.
class Layering {
 public:
  explicit Layering(const DependencyView& view) : view_(view) {}

  Result<int> depth(const std::string& app) {
    auto done = depth_.find(app);
    if (done != depth_.end()) return done->second;
    auto open = std::find(path_.begin(), path_.end(), app);
    if (open != path_.end()) {
      std::string cycle;
      for (auto it = open; it != path_.end(); ++it) cycle += *it + " -> ";
      return makeError(ErrorKind::kInvalid,
                       "Dependency graph has cyclic dependencies: " + cycle + app);
    }
    path_.push_back(app);
    int d = 0;
    for (const auto& dep : dependenciesOf(app)) {
      auto below = depth(dep);
      if (!below.ok()) return below.error();
      d = std::max(d, *below + 1);
    }
    path_.pop_back();
    depth_[app] = d;
    return d;
  }

 private:
  // The apps `app` depends on: what it names and what its groups name, a
  // group standing for every app under it.
  std::set<std::string> dependenciesOf(const std::string& app) const {
    std::vector<std::string> named;
    if (const auto* own = view_.appDependencies(app)) named = *own;
    std::string g = conf::parentGroup(app);
    while (true) {
      for (auto& d : view_.groupDependencies(g)) named.push_back(std::move(d));
      if (g == "/") break;
      g = conf::parentGroup(g);
    }
    std::set<std::string> out;
    for (const auto& d : named) {
      if (view_.appDependencies(d)) {
        out.insert(d);
        continue;
      }
      for (auto& a : view_.appsUnder(d)) out.insert(std::move(a));
    }
    out.erase(app);
    return out;
  }

  const DependencyView& view_;
  std::map<std::string, int> depth_;
  std::vector<std::string> path_;
};

Json emptyGroup(const std::string& id, const std::string& version) {
  Json g;
  g["id"] = id;
  g["apps"] = Json::array();
  g["groups"] = Json::array();
  g["pods"] = Json::array();
  g["dependencies"] = Json::array();
  g["version"] = version;
  return g;
}

}  // namespace

Result<std::vector<std::vector<DeploymentAction>>> orderSteps(
    const std::vector<DeploymentAction>& actions, const DependencyView& view) {
  std::vector<DeploymentAction> stops;
  std::map<int, std::vector<DeploymentAction>> layers;
  Layering layering(view);
  for (const auto& a : actions) {
    if (a.action == kStop) {
      stops.push_back(a);
      continue;
    }
    auto d = layering.depth(a.appId);
    if (!d.ok()) return d.error();
    layers[*d].push_back(a);
  }
  auto byApp = [](const DeploymentAction& x, const DeploymentAction& y) {
    return x.appId < y.appId;
  };
  std::vector<std::vector<DeploymentAction>> steps;
  if (!stops.empty()) {
    std::sort(stops.begin(), stops.end(), byApp);
    steps.push_back(std::move(stops));
  }
  for (auto& [depth, layer] : layers) {
    std::sort(layer.begin(), layer.end(), byApp);
    steps.push_back(std::move(layer));
  }
  return steps;
}

Json groupTree(const std::string& rootId, const std::vector<Json>& apps,
               const std::vector<std::string>& groups,
               const std::function<std::vector<std::string>(const std::string&)>& groupDependencies,
               const std::string& version) {
  // Group id -> its direct apps and child groups.
  std::map<std::string, std::vector<const Json*>> appsIn;
  std::map<std::string, std::set<std::string>> childrenOf;
  std::set<std::string> known{rootId};
  auto addGroup = [&](std::string g) {
    while (g != rootId && known.insert(g).second) {
      std::string parent = conf::parentGroup(g);
      childrenOf[parent].insert(g);
      if (parent == g) break;
      g = parent;
    }
  };
  std::string prefix = rootId == "/" ? "/" : rootId + "/";
  for (const auto& app : apps) {
    std::string id = app.value("id", "");
    if (id.rfind(prefix, 0) != 0) continue;
    std::string parent = conf::parentGroup(id);
    addGroup(parent);
    appsIn[parent].push_back(&app);
  }
  for (const auto& g : groups) {
    if (g.rfind(prefix, 0) == 0) addGroup(g);
  }
  std::function<Json(const std::string&)> build = [&](const std::string& id) {
    Json node = emptyGroup(id, version);
    for (const auto* app : appsIn[id]) node["apps"].push_back(*app);
    for (const auto& child : childrenOf[id]) node["groups"].push_back(build(child));
    if (groupDependencies) node["dependencies"] = groupDependencies(id);
    return node;
  };
  return build(rootId);
}

Json stepsJson(const std::vector<std::vector<DeploymentAction>>& steps) {
  Json out = Json::array();
  for (const auto& step : steps) {
    Json actions = Json::array();
    for (const auto& a : step) actions.push_back(Json{{"action", a.action}, {"app", a.appId}});
    out.push_back(Json{{"actions", actions}});
  }
  return out;
}

std::vector<Json> appsOfTree(const Json& tree) {
  std::vector<Json> out;
  if (!tree.is_object()) return out;
  if (tree.contains("apps") && tree["apps"].is_array()) {
    for (const auto& a : tree["apps"]) out.push_back(a);
  }
  if (tree.contains("groups") && tree["groups"].is_array()) {
    for (const auto& g : tree["groups"]) {
      for (auto& a : appsOfTree(g)) out.push_back(std::move(a));
    }
  }
  return out;
}

}  // namespace corral::scheduler
