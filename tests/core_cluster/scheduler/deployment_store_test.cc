// The deployment store alone: one deployment per app, superseding, and the
// mutations that recover it.
#include "core_cluster/scheduler/deployment_store.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace corral::scheduler {
namespace {

TEST(DeploymentStoreTest, ANewDeploymentOfAnAppSupersedesItsRunningOne) {
  DeploymentStore store;
  state::StateMap state;
  DeploymentPlan first = store.plan("/web", "StartApplication", "v1", 1000);
  EXPECT_TRUE(first.superseded.empty());
  state::applyBatch(state, first.mutations);
  store.start(first);
  DeploymentPlan other = store.plan("/api", "StartApplication", "v1", 1000);
  state::applyBatch(state, other.mutations);
  store.start(other);
  ASSERT_NE(store.ofApp("/web"), nullptr);
  EXPECT_EQ(store.ofApp("/web")->id, first.deployment.id);

  DeploymentPlan second = store.plan("/web", "ScaleApplication", "v2", 2000);
  EXPECT_NE(second.deployment.id, first.deployment.id);
  EXPECT_EQ(second.superseded, std::vector<std::string>{first.deployment.id});
  state::applyBatch(state, second.mutations);
  store.start(second);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(store.find(first.deployment.id), nullptr);
  EXPECT_EQ(store.ofApp("/web")->steps[0][0].action, "ScaleApplication");
  EXPECT_EQ(store.ofApp("/api")->id, other.deployment.id);
  // The state holds exactly what runs.
  EXPECT_EQ(state.size(), 2u);
  EXPECT_FALSE(state.count("/deployments/" + first.deployment.id));

  state::applyBatch(state, {DeploymentStore::doneMutation(second.deployment.id)});
  store.erase(second.deployment.id);
  EXPECT_EQ(store.ofApp("/web"), nullptr);
  EXPECT_EQ(store.byApp().size(), 1u);
  EXPECT_EQ(state.size(), 1u);

  DeploymentStore recovered;
  for (const auto& [key, value] : state) EXPECT_TRUE(recovered.recoverEntry(key, value));
  EXPECT_FALSE(recovered.recoverEntry("/apps/web", Json::object()));
  ASSERT_NE(recovered.ofApp("/api"), nullptr);
  const Deployment& d = *recovered.ofApp("/api");
  EXPECT_EQ(d.id, other.deployment.id);
  EXPECT_EQ(d.version, "v1");
  EXPECT_EQ(d.steps, (std::vector<std::vector<DeploymentAction>>{{{"StartApplication", "/api"}}}));
  EXPECT_EQ(d.startedMs, 1000);
}

TEST(DeploymentStoreTest, ErasingASupersededIdLeavesTheAppsIndexAlone) {
  DeploymentStore store;
  DeploymentPlan a = store.plan("/web", "StartApplication", "v1", 0);
  store.start(a);
  DeploymentPlan b = store.plan("/web", "RestartApplication", "v2", 0);
  store.start(b);
  store.erase(a.deployment.id);  // already gone: no effect on /web's current one
  ASSERT_NE(store.ofApp("/web"), nullptr);
  EXPECT_EQ(store.ofApp("/web")->id, b.deployment.id);
}

}  // namespace
}  // namespace corral::scheduler
