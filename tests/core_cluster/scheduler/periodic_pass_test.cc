// The periodic reconcile pass visits only the apps that need work: quiet apps
// cost nothing per tick, and an app that loses an instance (agent lost, task
// failed) is still brought back to its target.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "core_cluster/scheduler/service_scheduler.h"
#include "core_cluster/state/in_memory_state_store.h"
#include "tests/core_cluster/cluster_test_util.h"

namespace corral::scheduler {
namespace {

using corral::testing::drain;
using corral::testing::FakeDriver;

constexpr int kApps = 200;
constexpr const char* kOffer = "cpus:64;mem:65536;disk:1000;ports:[31000-31999]";

class PeriodicPassTest : public ::testing::Test {
 protected:
  void SetUp() override {
    driver_.addAgent("a1", "127.0.0.2");
    sched_.registered(&driver_);
    for (int i = 0; i < kApps; ++i) {
      auto body = parseJson(fmt::format(
          R"({{"id":"/app-{}","cmd":"x","instances":1,"cpus":0.01,"mem":1,"backoffSeconds":0}})",
          i));
      ASSERT_TRUE(body.ok());
      auto r = sched_.createApp(*body);
      ASSERT_TRUE(r.ok()) << r.error().message;
    }
    // Every app launched and running: the deployments are over.
    for (int round = 0; round < 10 && driver_.launchedCount() < kApps; ++round) {
      sched_.resourceOffers({driver_.offer("a1", kOffer)});
    }
    ASSERT_EQ(driver_.activeTaskIds().size(), static_cast<size_t>(kApps));
    for (const auto& id : driver_.activeTaskIds()) status(id, conf::TaskState::kRunning);
    ASSERT_TRUE(sched_.deployments().empty());
    ASSERT_TRUE(sched_.appsNeedingWork().empty());
  }

  void status(const std::string& taskId, conf::TaskState state) {
    auto* t = driver_.mutableTask(taskId);
    ASSERT_NE(t, nullptr);
    conf::TaskState prev = t->state;
    t->state = state;
    sched_.statusUpdate(*t, prev, t->healthy);
    drain(loop_);
  }

  void runPasses(uint64_t n) {
    uint64_t target = sched_.passStats().passes + n;
    ASSERT_TRUE(loop_.runUntil([&] { return sched_.passStats().passes >= target; }, 5000));
  }

  size_t appScans() const {
    size_t n = 0;
    for (const auto& [app, count] : driver_.appScans) n += count;
    return n;
  }

  Loop loop_;
  state::InMemoryStateStore store_;
  events::EventBus bus_{loop_};
  FakeDriver driver_;
  ServiceScheduler sched_{loop_, store_, bus_, SchedulerOptions{.reconcileIntervalMs = 2}};
};

TEST_F(PeriodicPassTest, QuietAppsAreNotVisited) {
  sched_.start();
  // The first pass looks at every app once (a start may follow a recovery).
  runPasses(1);
  EXPECT_EQ(sched_.passStats().appsVisited, static_cast<uint64_t>(kApps));
  uint64_t visited = sched_.passStats().appsVisited;
  size_t scans = appScans(), fullScans = driver_.fullScans;
  runPasses(20);
  EXPECT_EQ(sched_.passStats().appsVisited, visited);
  EXPECT_EQ(appScans(), scans) << "a quiet app's tasks were read";
  EXPECT_EQ(driver_.fullScans, fullScans) << "every task was read";
}

TEST_F(PeriodicPassTest, AnAppThatLosesAnInstanceIsVisitedUntilItIsFixed) {
  sched_.start();
  runPasses(1);
  // Its agent became unreachable: the instance is gone.
  std::string lost = driver_.activeTaskIds("/app-7").at(0);
  status(lost, conf::TaskState::kUnreachable);
  // A task of another app failed.
  std::string failed = driver_.activeTaskIds("/app-42").at(0);
  status(failed, conf::TaskState::kFailed);
  EXPECT_EQ(sched_.appsNeedingWork(), (std::set<std::string>{"/app-42", "/app-7"}));
  // The passes keep asking for offers for exactly those two apps.
  int revives = driver_.revives;
  uint64_t visited = sched_.passStats().appsVisited, passes = sched_.passStats().passes;
  runPasses(3);
  EXPECT_GT(driver_.revives, revives);
  EXPECT_EQ(sched_.passStats().appsVisited - visited, 2u * (sched_.passStats().passes - passes));

  sched_.resourceOffers({driver_.offer("a1", kOffer)});
  auto seven = driver_.activeTaskIds("/app-7");
  auto fortyTwo = driver_.activeTaskIds("/app-42");
  // The unreachable task is not terminal: still listed, with a replacement beside it.
  ASSERT_EQ(seven.size(), 2u);
  ASSERT_EQ(fortyTwo.size(), 1u);
  EXPECT_NE(fortyTwo[0], failed);
  for (const auto& id : seven) {
    if (id != lost) status(id, conf::TaskState::kRunning);
  }
  status(fortyTwo[0], conf::TaskState::kRunning);
  // The next pass finds them at their target and drops them.
  runPasses(2);
  EXPECT_TRUE(sched_.appsNeedingWork().empty());
  uint64_t after = sched_.passStats().appsVisited;
  runPasses(10);
  EXPECT_EQ(sched_.passStats().appsVisited, after);
}

TEST_F(PeriodicPassTest, ADeploymentInProgressIsVisitedUntilItEnds) {
  sched_.start();
  runPasses(1);
  ASSERT_TRUE(sched_.updateApp("/app-3", *parseJson(R"({"instances":2})"), false).ok());
  EXPECT_EQ(sched_.appsNeedingWork(), std::set<std::string>{"/app-3"});
  sched_.resourceOffers({driver_.offer("a1", kOffer)});
  runPasses(2);
  EXPECT_EQ(sched_.deployments().size(), 1u) << "done before the new task runs";
  EXPECT_EQ(sched_.appsNeedingWork(), std::set<std::string>{"/app-3"});
  for (const auto& id : driver_.activeTaskIds("/app-3")) status(id, conf::TaskState::kRunning);
  EXPECT_TRUE(sched_.deployments().empty());
  runPasses(2);
  EXPECT_TRUE(sched_.appsNeedingWork().empty());
}

TEST_F(PeriodicPassTest, AfterARecoveryEveryAppIsLookedAtOnceAndOrphansAreStopped) {
  // While the master was down: one app lost its task, and a task of an app
  // deleted mid-deletion is still running.
  driver_.expungeTask(driver_.activeTaskIds("/app-5").at(0));
  master::TaskLaunchSpec orphan;
  orphan.taskId = "gone.1";
  orphan.appId = "/gone";
  orphan.version = "v1";
  ASSERT_TRUE(*driver_.acceptOffer(driver_.offer("a1", kOffer).id, {orphan}));
  driver_.mutableTask("gone.1")->state = conf::TaskState::kRunning;

  ServiceScheduler restarted(loop_, store_, bus_, SchedulerOptions{.reconcileIntervalMs = 2});
  ASSERT_TRUE(restarted.recover(store_.snapshot()).ok());
  restarted.registered(&driver_);
  restarted.start();
  ASSERT_TRUE(loop_.runUntil([&] { return restarted.passStats().passes >= 3; }, 5000));
  EXPECT_EQ(restarted.passStats().appsVisited,
            static_cast<uint64_t>(kApps) + (restarted.passStats().passes - 1))
      << "every app once, then only /app-5";
  EXPECT_EQ(driver_.killed, std::vector<std::string>{"gone.1"});
  EXPECT_EQ(restarted.launchQueue(), (std::map<std::string, int>{{"/app-5", 1}}));
  EXPECT_EQ(restarted.appsNeedingWork(), std::set<std::string>{"/app-5"});
}

}  // namespace
}  // namespace corral::scheduler
