// A multi-app deployment's steps alone: dependency layers (app and group
// dependencies, transitive), stops first, cycles refused; and the group trees.
#include "core_cluster/scheduler/deployment_plan.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>

namespace corral::scheduler {
namespace {

// A world of apps (id -> dependencies) and groups (id -> dependencies).
struct World {
  std::map<std::string, std::vector<std::string>> apps;
  std::map<std::string, std::vector<std::string>> groups;

  DependencyView view() const {
    DependencyView v;
    v.appDependencies = [this](const std::string& id) -> const std::vector<std::string>* {
      auto it = apps.find(id);
      return it == apps.end() ? nullptr : &it->second;
    };
    v.groupDependencies = [this](const std::string& id) {
      auto it = groups.find(id);
      return it == groups.end() ? std::vector<std::string>{} : it->second;
    };
    v.appsUnder = [this](const std::string& g) {
      std::vector<std::string> out;
      for (const auto& [id, d] : apps) {
        if (g == "/" || id.rfind(g + "/", 0) == 0) out.push_back(id);
      }
      return out;
    };
    return v;
  }
};

std::vector<std::vector<std::string>> appsPerStep(
    const std::vector<std::vector<DeploymentAction>>& steps) {
  std::vector<std::vector<std::string>> out;
  for (const auto& s : steps) {
    std::vector<std::string> ids;
    for (const auto& a : s) ids.push_back(a.action.substr(0, 4) + " " + a.appId);
    out.push_back(ids);
  }
  return out;
}

TEST(DeploymentPlanTest, DependenciesComeFirstTransitively) {
  World w;
  w.apps = {{"/p/db", {}}, {"/p/api", {"/p/db"}}, {"/p/web", {"/p/api"}}, {"/p/cache", {}}};
  auto steps = orderSteps({{"StartApplication", "/p/web"},
                           {"StartApplication", "/p/api"},
                           {"StartApplication", "/p/db"},
                           {"StartApplication", "/p/cache"}},
                          w.view());
  ASSERT_TRUE(steps.ok()) << steps.error().message;
  EXPECT_EQ(appsPerStep(*steps),
            (std::vector<std::vector<std::string>>{
                {"Star /p/cache", "Star /p/db"}, {"Star /p/api"}, {"Star /p/web"}}));
}

TEST(DeploymentPlanTest, StopsGoFirstAndUnchangedDependenciesStillCountForTheLayer) {
  World w;
  // /db is not part of the change but /web depends on /api which depends on it.
  w.apps = {{"/db", {}}, {"/api", {"/db"}}, {"/web", {"/api"}}};
  auto steps = orderSteps(
      {{"RestartApplication", "/web"}, {"StopApplication", "/old"}, {"ScaleApplication", "/api"}},
      w.view());
  ASSERT_TRUE(steps.ok());
  EXPECT_EQ(appsPerStep(*steps),
            (std::vector<std::vector<std::string>>{{"Stop /old"}, {"Scal /api"}, {"Rest /web"}}));
}

TEST(DeploymentPlanTest, GroupDependenciesOrderEveryAppOfTheGroup) {
  World w;
  w.apps = {
      {"/shop/db/pg", {}}, {"/shop/db/redis", {}}, {"/shop/svc/a", {}}, {"/shop/svc/inner/b", {}}};
  // The service group depends on the database group: every app under it waits.
  w.groups = {{"/shop/svc", {"/shop/db"}}};
  auto steps = orderSteps({{"StartApplication", "/shop/svc/a"},
                           {"StartApplication", "/shop/svc/inner/b"},
                           {"StartApplication", "/shop/db/pg"},
                           {"StartApplication", "/shop/db/redis"}},
                          w.view());
  ASSERT_TRUE(steps.ok());
  EXPECT_EQ(appsPerStep(*steps), (std::vector<std::vector<std::string>>{
                                     {"Star /shop/db/pg", "Star /shop/db/redis"},
                                     {"Star /shop/svc/a", "Star /shop/svc/inner/b"}}));
}

TEST(DeploymentPlanTest, ACycleIsRefusedNamingIt) {
  World w;
  w.apps = {{"/a", {"/b"}}, {"/b", {"/c"}}, {"/c", {"/a"}}};
  auto steps = orderSteps({{"StartApplication", "/a"}}, w.view());
  ASSERT_FALSE(steps.ok());
  EXPECT_EQ(steps.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(steps.error().message.find("cyclic"), std::string::npos);
  EXPECT_NE(steps.error().message.find("/a -> /b -> /c -> /a"), std::string::npos)
      << steps.error().message;
  // Through a group dependency too.
  World g;
  g.apps = {{"/x/one", {"/y"}}, {"/y/two", {}}};
  g.groups = {{"/y", {"/x"}}};
  EXPECT_FALSE(orderSteps({{"StartApplication", "/y/two"}}, g.view()).ok());
}

TEST(DeploymentPlanTest, UnknownDependenciesAndEmptyChangesMakeNoSteps) {
  World w;
  w.apps = {{"/a", {"/nowhere"}}};
  auto steps = orderSteps({{"StartApplication", "/a"}}, w.view());
  ASSERT_TRUE(steps.ok());
  EXPECT_EQ(steps->size(), 1u);
  auto none = orderSteps({}, w.view());
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(DeploymentPlanTest, GroupTreeHoldsEveryGroupDownToItsApps) {
  std::vector<Json> apps = {Json{{"id", "/shop/back/db"}}, Json{{"id", "/top"}}};
  auto deps = [](const std::string& g) {
    return g == "/shop" ? std::vector<std::string>{"/top"} : std::vector<std::string>{};
  };
  Json t = groupTree("/", apps, {"/empty"}, deps, "v1");
  EXPECT_EQ(t["id"], "/");
  EXPECT_EQ(t["version"], "v1");
  ASSERT_EQ(t["apps"].size(), 1u);
  EXPECT_EQ(t["apps"][0]["id"], "/top");
  ASSERT_EQ(t["groups"].size(), 2u);
  EXPECT_EQ(t["groups"][0]["id"], "/empty");
  EXPECT_EQ(t["groups"][0]["apps"], Json::array());
  const Json& shop = t["groups"][1];
  EXPECT_EQ(shop["id"], "/shop");
  EXPECT_EQ(shop["dependencies"], Json::array({"/top"}));
  EXPECT_EQ(shop["groups"][0]["id"], "/shop/back");
  EXPECT_EQ(shop["groups"][0]["apps"][0]["id"], "/shop/back/db");
  for (const char* key : {"id", "apps", "groups", "pods", "dependencies", "version"}) {
    EXPECT_TRUE(shop.contains(key)) << key;
  }
  auto back = appsOfTree(t);
  ASSERT_EQ(back.size(), 2u);
  // A subtree rooted below "/" leaves out what is outside it.
  Json sub = groupTree("/shop", apps, {}, nullptr, "v2");
  EXPECT_EQ(sub["id"], "/shop");
  EXPECT_EQ(appsOfTree(sub).size(), 1u);
}

}  // namespace
}  // namespace corral::scheduler
