// Rendering alone: Marathon's JSON of scheduler data and the event payloads,
// without a scheduler.
#include "core_cluster/api/marathon_json.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core_cluster/api/marathon_events.h"
#include "tests/core_cluster/cluster_test_util.h"

namespace corral::api {
namespace {

using corral::testing::drain;
using corral::testing::EventRecorder;

scheduler::Deployment deployment() {
  scheduler::Deployment d;
  d.id = "d-1";
  d.version = "2024-01-02T00:00:00.000Z";
  d.steps = {{{"ScaleApplication", "/shop/web"}}};
  d.startedMs = 1;
  return d;
}

TEST(MarathonJsonTest, ADeploymentIsOneStepWithOneActionOnItsApp) {
  Json j = deploymentJson(deployment());
  EXPECT_EQ(j["id"], "d-1");
  EXPECT_EQ(j["version"], "2024-01-02T00:00:00.000Z");
  EXPECT_EQ(j["affectedApps"], Json::array({"/shop/web"}));
  EXPECT_EQ(j["affectedPods"], Json::array());
  ASSERT_EQ(j["steps"].size(), 1u);
  EXPECT_EQ(j["steps"][0]["actions"][0]["action"], "ScaleApplication");
  EXPECT_EQ(j["steps"][0]["actions"][0]["app"], "/shop/web");
  EXPECT_EQ(j["currentActions"][0]["readinessCheckResults"], Json::array());
  EXPECT_EQ(j["currentStep"], 1);
  EXPECT_EQ(j["totalSteps"], 1);

  Json step = deploymentStepEvent(deployment());
  EXPECT_EQ(step["plan"]["steps"], j["steps"]);
  EXPECT_EQ(step["currentStep"], j["steps"][0]);
  Json outcome = deploymentOutcomeEvent(deployment());
  EXPECT_EQ(outcome["id"], "d-1");
  EXPECT_EQ(outcome["plan"]["id"], "d-1");
}

TEST(MarathonJsonTest, AnAppCarriesItsDefinitionAndVersionInfo) {
  scheduler::AppState a;
  auto def = conf::parseAppDefinition(*parseJson(R"({"id":"/web","cmd":"x","instances":2})"));
  ASSERT_TRUE(def.ok());
  a.def = *def;
  a.def.version = "v2";
  a.lastConfigChangeAt = "v1";
  a.lastScalingAt = "v2";
  Json j = appJson(a);
  EXPECT_EQ(j["id"], "/web");
  EXPECT_EQ(j["instances"], 2);
  EXPECT_EQ(j["versionInfo"]["lastConfigChangeAt"], "v1");
  EXPECT_EQ(j["versionInfo"]["lastScalingAt"], "v2");
  EXPECT_FALSE(j.contains("tasksRunning"));
  EXPECT_FALSE(j.contains("deployments"));
}

master::TaskRecord task(conf::TaskState state, std::optional<bool> healthy) {
  master::TaskRecord t;
  t.id = "web.1";
  t.appId = "/web";
  t.agentId = "a1";
  t.host = "127.0.0.2";
  t.ports = {31000};
  t.version = "v1";
  t.state = state;
  t.healthy = healthy;
  t.message = "exited 1";
  return t;
}

TEST(MarathonEventsTest, TaskEventsFollowWhatChanged) {
  Loop loop;
  events::EventBus bus(loop);
  EventRecorder events(bus);
  using S = conf::TaskState;
  // A state change: the status and the instance change.
  publishTaskEvents(bus, task(S::kRunning, std::nullopt), S::kStaging, std::nullopt, nullptr);
  drain(loop);
  EXPECT_EQ(events.types(),
            (std::vector<std::string>{"status_update_event", "instance_changed_event"}));
  Json st = events.ofType("status_update_event")[0];
  EXPECT_EQ(st["taskStatus"], "TASK_RUNNING");
  EXPECT_EQ(st["ports"], Json::array({31000}));
  EXPECT_EQ(st["ipAddresses"][0]["ipAddress"], "127.0.0.2");
  EXPECT_EQ(events.ofType("instance_changed_event")[0]["condition"], "Running");
  events.clear();

  // Health turned bad while running: health changes and a failed check (with the app's check).
  auto def = conf::parseAppDefinition(*parseJson(
      R"({"id":"/web","cmd":"x","portDefinitions":[{"port":0}],"healthChecks":[{"protocol":"TCP","portIndex":0}]})"));
  ASSERT_TRUE(def.ok());
  publishTaskEvents(bus, task(S::kRunning, false), S::kRunning, true, &*def);
  drain(loop);
  EXPECT_EQ(events.types(), (std::vector<std::string>{"health_status_changed_event",
                                                      "instance_health_changed_event",
                                                      "failed_health_check_event"}));
  EXPECT_EQ(events.ofType("health_status_changed_event")[0]["alive"], false);
  EXPECT_EQ(events.ofType("failed_health_check_event")[0]["healthCheck"]["protocol"], "TCP");
  events.clear();

  // Nothing changed: nothing said.
  publishTaskEvents(bus, task(S::kRunning, true), S::kRunning, true, &*def);
  drain(loop);
  EXPECT_TRUE(events.types().empty());
}

TEST(MarathonEventsTest, FailuresAndUnhealthyKillsNameTheTask) {
  master::TaskRecord t = task(conf::TaskState::kFailed, std::nullopt);
  Json f = taskFailureJson(t, "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(f["taskId"], "web.1");
  EXPECT_EQ(f["state"], "TASK_FAILED");
  EXPECT_EQ(f["message"], "exited 1");
  EXPECT_EQ(f["slaveId"], "a1");
  EXPECT_EQ(f["timestamp"], "2024-01-01T00:00:00.000Z");
  Json k = unhealthyKillEvent(t);
  EXPECT_EQ(k["taskId"], "web.1");
  EXPECT_EQ(k["reason"], "exited 1");
  EXPECT_EQ(k["host"], "127.0.0.2");
}

}  // namespace
}  // namespace corral::api
