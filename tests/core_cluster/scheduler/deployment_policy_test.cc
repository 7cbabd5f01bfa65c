// The deployment policy alone: given an app and the facts about its tasks,
// what to launch and kill next, when a deployment is done, and backoff.
#include "core_cluster/scheduler/deployment_policy.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace corral::scheduler {
namespace {

conf::AppDefinition app(int instances, double minHealth = 1.0, double overCapacity = 1.0) {
  conf::AppDefinition d;
  d.id = "/web";
  d.instances = instances;
  d.upgradeStrategy.minimumHealthCapacity = minHealth;
  d.upgradeStrategy.maximumOverCapacity = overCapacity;
  return d;
}

int next_ = 0;
TaskFacts task(bool current, bool healthy, bool stopping = false, bool active = true) {
  ++next_;
  return TaskFacts{"t" + std::to_string(next_), next_, active, current, healthy, stopping};
}

bool kills(const Step& s, const TaskFacts& t) {
  return std::find(s.kill.begin(), s.kill.end(), t.id) != s.kill.end();
}

TEST(DeploymentPolicyTest, ScalesUpAndDownToTheTarget) {
  EXPECT_EQ(nextStep(app(3), {}).launch, 3);
  EXPECT_EQ(nextStep(app(3), {task(true, true)}).launch, 2);
  // Tasks being stopped do not count as instances.
  EXPECT_EQ(nextStep(app(2), {task(true, true), task(true, true, true)}).launch, 1);
  std::vector<TaskFacts> three = {task(true, true), task(true, true), task(true, true)};
  Step s = nextStep(app(3), three);
  EXPECT_EQ(s.launch, 0);
  EXPECT_TRUE(s.kill.empty());
  s = nextStep(app(1), three);
  EXPECT_EQ(s.launch, 0);
  ASSERT_EQ(s.kill.size(), 2u);
}

TEST(DeploymentPolicyTest, ScaleDownKillsUnhealthyFirstThenByKillSelection) {
  std::vector<TaskFacts> tasks = {task(true, true), task(true, false), task(true, true),
                                  task(true, true)};
  conf::AppDefinition d = app(2);
  d.killSelection = conf::KillSelection::kYoungestFirst;
  Step s = nextStep(d, tasks);
  ASSERT_EQ(s.kill.size(), 2u);
  EXPECT_EQ(s.kill[0], tasks[1].id);  // the unhealthy one
  EXPECT_EQ(s.kill[1], tasks[3].id);  // then the youngest
  d.killSelection = conf::KillSelection::kOldestFirst;
  s = nextStep(d, tasks);
  ASSERT_EQ(s.kill.size(), 2u);
  EXPECT_EQ(s.kill[0], tasks[1].id);
  EXPECT_EQ(s.kill[1], tasks[0].id);  // then the oldest
}

TEST(DeploymentPolicyTest, RollingReplacementKeepsFullCapacityWithRoomOverIt) {
  // minimumHealthCapacity 1, maximumOverCapacity 1 (Marathon's default): start
  // every new instance first, kill no old one while it is needed for health.
  std::vector<TaskFacts> old = {task(false, true), task(false, true)};
  Step s = nextStep(app(2), old);
  EXPECT_EQ(s.launch, 2);
  EXPECT_TRUE(s.kill.empty());
  // One new instance healthy: one old one may go.
  std::vector<TaskFacts> mid = {old[0], old[1], task(true, true), task(true, false)};
  s = nextStep(app(2), mid);
  EXPECT_EQ(s.launch, 0);
  EXPECT_EQ(s.kill.size(), 1u);
  // Both new ones healthy: the old ones go.
  std::vector<TaskFacts> done = {old[0], old[1], task(true, true), task(true, true)};
  s = nextStep(app(2), done);
  EXPECT_EQ(s.kill.size(), 2u);
  EXPECT_TRUE(kills(s, old[0]) && kills(s, old[1]));
}

TEST(DeploymentPolicyTest, RollingReplacementWithNoRoomOverCapacityKillsDownToMinimumHealth) {
  // 4 instances, at least half healthy, no room over capacity: kill 2 old first.
  std::vector<TaskFacts> old = {task(false, true), task(false, true), task(false, true),
                                task(false, true)};
  Step s = nextStep(app(4, 0.5, 0.0), old);
  EXPECT_EQ(s.kill.size(), 2u);
  EXPECT_EQ(s.launch, 0);  // the killed ones still hold their resources
  // Unhealthy old tasks are killed first, whatever the health budget.
  std::vector<TaskFacts> mixed = {task(false, true), task(false, false)};
  s = nextStep(app(2, 1.0, 0.0), mixed);
  ASSERT_FALSE(s.kill.empty());
  EXPECT_EQ(s.kill[0], mixed[1].id);
}

TEST(DeploymentPolicyTest, FullHealthAndNoRoomStillMovesOneAtATime) {
  std::vector<TaskFacts> old = {task(false, true), task(false, true)};
  Step s = nextStep(app(2, 1.0, 0.0), old);
  EXPECT_TRUE(s.kill.empty());
  EXPECT_EQ(s.launch, 1);  // one extra allowed, or nothing could move
}

TEST(DeploymentPolicyTest, ADeploymentIsDoneWhenEveryInstanceIsCurrentHealthyAndNoneStops) {
  EXPECT_TRUE(deploymentDone(app(2), {task(true, true), task(true, true)}));
  EXPECT_FALSE(deploymentDone(app(2), {task(true, true)}));
  EXPECT_FALSE(deploymentDone(app(2), {task(true, true), task(true, false)}));
  EXPECT_FALSE(deploymentDone(app(2), {task(true, true), task(true, true), task(false, true)}));
  EXPECT_FALSE(deploymentDone(app(1), {task(true, true), task(true, true, true)}));
  EXPECT_FALSE(deploymentDone(app(1), {task(true, true), task(true, true)}));  // one too many
  EXPECT_TRUE(deploymentDone(app(0), {}));
  // A current task that holds no resources (e.g. unreachable) is not counted.
  EXPECT_TRUE(deploymentDone(app(1), {task(true, true), task(true, false, false, false)}));
}

TEST(DeploymentPolicyTest, LaunchFailuresAndBackoff) {
  using S = conf::TaskState;
  EXPECT_TRUE(isLaunchFailure(S::kFailed, false, false));
  EXPECT_TRUE(isLaunchFailure(S::kLost, false, false));
  EXPECT_TRUE(isLaunchFailure(S::kFinished, false, false));
  EXPECT_TRUE(isLaunchFailure(S::kKilled, true, false));    // killed for failing health checks
  EXPECT_FALSE(isLaunchFailure(S::kKilled, false, false));  // killed on purpose
  EXPECT_FALSE(isLaunchFailure(S::kFailed, false, true));   // we asked it to stop
  EXPECT_FALSE(isLaunchFailure(S::kRunning, false, false));
  EXPECT_FALSE(isLaunchFailure(S::kKilling, true, false));  // not over yet

  conf::AppDefinition d = app(1);
  d.backoffSeconds = 1;
  d.backoffFactor = 2;
  d.maxLaunchDelaySeconds = 5;
  EXPECT_DOUBLE_EQ(launchBackoffSeconds(d, 1), 1);
  EXPECT_DOUBLE_EQ(launchBackoffSeconds(d, 2), 2);
  EXPECT_DOUBLE_EQ(launchBackoffSeconds(d, 3), 4);
  EXPECT_DOUBLE_EQ(launchBackoffSeconds(d, 4), 5);
  EXPECT_DOUBLE_EQ(launchBackoffSeconds(d, 30), 5);
}

}  // namespace
}  // namespace corral::scheduler
