// Multi-app deployments through the scheduler (a FakeDriver stands in for the
// master): ordered steps that wait for health, one deployment id, dry runs,
// rollbacks by cancelling, and recovery of groups and steps from the state.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core_cluster/scheduler/deployment_plan.h"
#include "core_cluster/scheduler/service_scheduler.h"
#include "core_cluster/state/in_memory_state_store.h"
#include "tests/core_cluster/cluster_test_util.h"

namespace corral::scheduler {
namespace {

using corral::testing::drain;
using corral::testing::EventRecorder;
using corral::testing::FakeDriver;

constexpr const char* kOffer = "cpus:16;mem:16384;disk:10000;ports:[31000-31999]";

Json parse(const std::string& text) {
  auto j = parseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

class GroupDeploymentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    driver_.addAgent("a1", "127.0.0.2");
    sched_.registered(&driver_);
  }

  // The db <- api <- web product (web depends on api, api on db).
  GroupChange product(int instances = 1) {
    GroupChange c;
    c.groupId = "/p";
    c.recordVersion = true;
    c.groups.push_back({"/p", {}});
    std::string n = std::to_string(instances);
    c.apps.push_back({parse(R"({"id":"/p/web","cmd":"w","cpus":0.1,"mem":16,"instances":)" + n +
                            R"(,"dependencies":["/p/api"]})"),
                      false});
    c.apps.push_back(
        {parse(R"({"id":"/p/db","cmd":"d","cpus":0.1,"mem":16,"instances":)" + n + "}"), false});
    c.apps.push_back({parse(R"({"id":"/p/api","cmd":"a","cpus":0.1,"mem":16,"instances":)" + n +
                            R"(,"dependencies":["/p/db"]})"),
                      false});
    return c;
  }

  void offer() {
    sched_.resourceOffers({driver_.offer("a1", kOffer)});
    drain(loop_);
  }

  void runAll(const std::string& appId) {
    for (const auto& id : driver_.activeTaskIds(appId)) {
      auto* t = driver_.mutableTask(id);
      if (t->state != conf::TaskState::kStaging) continue;
      conf::TaskState prev = t->state;
      t->state = conf::TaskState::kRunning;
      sched_.statusUpdate(*t, prev, std::nullopt);
      drain(loop_);
    }
  }

  size_t launched(const std::string& appId) { return driver_.activeTaskIds(appId).size(); }

  Loop loop_;
  state::InMemoryStateStore store_;
  events::EventBus bus_{loop_};
  FakeDriver driver_;
  ServiceScheduler sched_{loop_, store_, bus_};
  EventRecorder events_{bus_};
};

TEST_F(GroupDeploymentTest, OneDeploymentStartsAppsInDependencyOrderEachAfterTheLastIsHealthy) {
  auto r = sched_.applyGroupChange(product(), false, false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(sched_.deployments().size(), 1u);
  const Deployment& d = sched_.deployments().at(r->deploymentId);
  ASSERT_EQ(d.steps.size(), 3u);
  EXPECT_EQ(d.steps[0][0].appId, "/p/db");
  EXPECT_EQ(d.steps[1][0].appId, "/p/api");
  EXPECT_EQ(d.steps[2][0].appId, "/p/web");
  // The plan carries the root-group trees: nothing before, the product after.
  EXPECT_EQ(d.original["id"], "/");
  EXPECT_TRUE(d.original["groups"].empty());
  EXPECT_EQ(d.target["groups"][0]["id"], "/p");
  EXPECT_EQ(d.target["groups"][0]["apps"].size(), 3u);
  for (const auto* app : {"/p/db", "/p/api", "/p/web"}) {
    ASSERT_NE(sched_.deploymentOfApp(app), nullptr);
    EXPECT_EQ(sched_.deploymentOfApp(app)->id, r->deploymentId);
  }

  offer();
  EXPECT_EQ(launched("/p/db"), 1u);
  EXPECT_EQ(launched("/p/api"), 0u);  // held until db is healthy
  EXPECT_EQ(launched("/p/web"), 0u);
  runAll("/p/db");
  EXPECT_EQ(events_.count("deployment_step_success"), 1u);
  EXPECT_EQ(sched_.deployments().at(r->deploymentId).currentStep, 1u);
  offer();
  EXPECT_EQ(launched("/p/api"), 1u);
  EXPECT_EQ(launched("/p/web"), 0u);
  runAll("/p/api");
  offer();
  EXPECT_EQ(launched("/p/web"), 1u);
  runAll("/p/web");
  EXPECT_TRUE(sched_.deployments().empty());
  EXPECT_EQ(events_.count("deployment_step_success"), 3u);
  EXPECT_EQ(events_.count("deployment_success"), 1u);
  // deployment_info at each step's start, naming that step.
  auto infos = events_.ofType("deployment_info");
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0]["currentStep"]["actions"][0]["app"], "/p/db");
  EXPECT_EQ(infos[2]["currentStep"]["actions"][0]["app"], "/p/web");
  EXPECT_EQ(infos[0]["plan"]["target"]["id"], "/");
  auto changes = events_.ofType("group_change_success");
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0]["groupId"], "/p");
  EXPECT_EQ(changes[0]["version"], r->version);
}

TEST_F(GroupDeploymentTest, ACycleIsRefusedAndChangesNothing) {
  GroupChange c = product();
  c.apps[1].body["dependencies"] = Json::array({"/p/web"});  // db -> web -> api -> db
  auto r = sched_.applyGroupChange(c, false, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(r.error().message.find("cyclic"), std::string::npos);
  EXPECT_TRUE(sched_.apps().empty());
  EXPECT_TRUE(store_.snapshot().empty());
  // A single app update closing a cycle is refused too.
  ASSERT_TRUE(sched_.applyGroupChange(product(), false, false).ok());
  auto u = sched_.updateApp("/p/db", parse(R"({"dependencies":["/p/web"]})"), true);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().kind, ErrorKind::kInvalid);
}

TEST_F(GroupDeploymentTest, ADryRunAnswersTheStepsAndChangesNothing) {
  auto r = sched_.applyGroupChange(product(), false, true);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->steps.size(), 3u);
  EXPECT_EQ(r->steps[0]["actions"][0]["action"], "StartApplication");
  EXPECT_EQ(r->steps[0]["actions"][0]["app"], "/p/db");
  EXPECT_TRUE(r->deploymentId.empty());
  EXPECT_TRUE(sched_.apps().empty());
  EXPECT_TRUE(sched_.deployments().empty());
  EXPECT_TRUE(store_.snapshot().empty());
  EXPECT_EQ(events_.count("deployment_info"), 0u);
}

TEST_F(GroupDeploymentTest, RemovedAppsStopInTheFirstStepAndUnchangedAppsAreLeftAlone) {
  ASSERT_TRUE(sched_.applyGroupChange(product(), false, false).ok());
  offer();
  runAll("/p/db");
  offer();
  runAll("/p/api");
  offer();
  runAll("/p/web");
  ASSERT_TRUE(sched_.deployments().empty());
  std::string apiVersion = *sched_.app("/p/api")->def.version;
  GroupChange c = product(2);
  c.apps.erase(c.apps.begin());     // web goes
  c.apps[1].body["instances"] = 1;  // api unchanged
  c.removeApps.push_back("/p/web");
  auto r = sched_.applyGroupChange(c, false, false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const Deployment& d = sched_.deployments().at(r->deploymentId);
  ASSERT_EQ(d.steps.size(), 2u);
  EXPECT_EQ(d.steps[0], (std::vector<DeploymentAction>{{"StopApplication", "/p/web"}}));
  EXPECT_EQ(d.steps[1], (std::vector<DeploymentAction>{{"ScaleApplication", "/p/db"}}));
  EXPECT_EQ(sched_.app("/p/web"), nullptr);
  EXPECT_EQ(*sched_.app("/p/api")->def.version, apiVersion);
  EXPECT_EQ(d.original["groups"][0]["apps"].size(), 2u);  // db and web as they were
}

TEST_F(GroupDeploymentTest, CancellingACreateRollsItBackByRemovingTheApps) {
  auto r = sched_.applyGroupChange(product(), false, false);
  ASSERT_TRUE(r.ok());
  auto back = sched_.cancelDeployment(r->deploymentId, false);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_FALSE(back->deploymentId.empty());
  EXPECT_NE(back->deploymentId, r->deploymentId);
  EXPECT_EQ(sched_.app("/p/db"), nullptr);
  EXPECT_EQ(sched_.app("/p/web"), nullptr);
  // Nothing ran, so the rollback's stops are done at once.
  EXPECT_TRUE(sched_.deployments().empty());
  auto outcomes = events_.ofType("deployment_success");
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0]["id"], back->deploymentId);
  EXPECT_EQ(outcomes[0]["plan"]["steps"][0]["actions"][0]["action"], "StopApplication");
  auto failed = events_.ofType("deployment_failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0]["id"], r->deploymentId);
}

TEST_F(GroupDeploymentTest, CancellingAScaleScalesBackAndForceCancelsWithoutRollback) {
  auto c = sched_.createApp(parse(R"({"id":"/s","cmd":"x","cpus":0.1,"mem":16,"instances":1})"));
  ASSERT_TRUE(c.ok());
  offer();
  runAll("/s");
  ASSERT_TRUE(sched_.deployments().empty());
  auto up = sched_.updateApp("/s", parse(R"({"instances":3})"), false);
  ASSERT_TRUE(up.ok());
  auto back = sched_.cancelDeployment(up->deploymentId, false);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(sched_.app("/s")->def.instances, 1);
  EXPECT_NE(back->deploymentId, up->deploymentId);
  EXPECT_EQ(sched_.deploymentOfApp("/s"), nullptr);  // one healthy instance: done at once

  auto again = sched_.updateApp("/s", parse(R"({"instances":5})"), true);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE(sched_.cancelDeployment(again->deploymentId, true).ok());
  EXPECT_EQ(sched_.app("/s")->def.instances, 5);  // no rollback
  EXPECT_TRUE(sched_.deployments().empty());
  EXPECT_EQ(sched_.cancelDeployment("nope", false).error().kind, ErrorKind::kNotFound);
}

TEST_F(GroupDeploymentTest, GroupsVersionsAndTheStepInProgressSurviveARestart) {
  auto r = sched_.applyGroupChange(product(), false, false);
  ASSERT_TRUE(r.ok());
  offer();
  runAll("/p/db");  // step 2 of 3 in progress
  GroupChange empty;
  empty.groupId = "/e";
  empty.recordVersion = true;
  empty.groups.push_back({"/e", {"/p"}});
  auto e = sched_.applyGroupChange(empty, false, false);
  ASSERT_TRUE(e.ok());
  EXPECT_FALSE(e->deploymentId.empty());  // nothing to deploy, still answered with an id

  ServiceScheduler recovered(loop_, store_, bus_);
  ASSERT_TRUE(recovered.recover(store_.snapshot()).ok());
  ASSERT_NE(recovered.groups().find("/p"), nullptr);
  EXPECT_EQ(recovered.groups().find("/p")->versions, std::vector<std::string>{r->version});
  ASSERT_NE(recovered.groups().find("/e"), nullptr);
  EXPECT_EQ(recovered.groups().find("/e")->dependencies, std::vector<std::string>{"/p"});
  auto snapshot = recovered.groups().version("/p", r->version);
  ASSERT_TRUE(snapshot.ok());
  EXPECT_EQ(appsOfTree(*snapshot).size(), 3u);
  ASSERT_EQ(recovered.deployments().size(), 1u);
  const Deployment& d = recovered.deployments().at(r->deploymentId);
  EXPECT_EQ(d.currentStep, 1u);
  EXPECT_EQ(d.steps.size(), 3u);
  EXPECT_EQ(d.target["groups"][0]["id"], "/p");
}

}  // namespace
}  // namespace corral::scheduler
