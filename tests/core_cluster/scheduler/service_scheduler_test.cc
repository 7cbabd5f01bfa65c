// The service scheduler against a FakeDriver: no master, no agents, no sockets.
// Offers are built by the test; status updates are injected as the master
// would deliver them.
#include "core_cluster/scheduler/service_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "base/clock.h"
#include "core_cluster/state/in_memory_state_store.h"
#include "tests/core_cluster/cluster_test_util.h"

namespace corral::scheduler {
namespace {

using corral::testing::drain;
using corral::testing::EventRecorder;
using corral::testing::FakeDriver;

constexpr const char* kBigOffer = "cpus:16;mem:16384;disk:10000;ports:[31000-31999]";

Json app(const std::string& text) {
  auto j = parseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return *j;
}

class ServiceSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    driver_.addAgent("a1", "127.0.0.2", "rack:r1");
    driver_.addAgent("a2", "127.0.0.3", "rack:r2");
    sched_.registered(&driver_);
  }

  ChangeResult create(const std::string& text) {
    auto r = sched_.createApp(app(text));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? *r : ChangeResult{};
  }

  // Delivers a status change the way the master does: update the record, then call back.
  void status(const std::string& taskId, const std::string& state,
              std::optional<bool> healthy = std::nullopt, const std::string& message = "",
              conf::TaskReason reason = conf::TaskReason::kNone) {
    auto* t = driver_.mutableTask(taskId);
    ASSERT_NE(t, nullptr) << taskId;
    conf::TaskState prev = t->state;
    std::optional<bool> prevHealthy = t->healthy;
    t->state = conf::parseTaskState(state);
    t->reason = reason;
    if (healthy) t->healthy = healthy;
    if (!message.empty()) t->message = message;
    sched_.statusUpdate(*t, prev, prevHealthy);
    drain(loop_);
  }

  void offer(const std::string& agent = "a1", const std::string& res = kBigOffer) {
    sched_.resourceOffers({driver_.offer(agent, res)});
  }

  // Every staging task of the app becomes RUNNING (and healthy when given).
  void runAll(const std::string& appId, std::optional<bool> healthy = std::nullopt) {
    for (const auto& id : driver_.activeTaskIds(appId)) {
      if (driver_.task(id)->state == conf::TaskState::kStaging) status(id, "TASK_RUNNING", healthy);
    }
  }

  size_t deploymentsOf(const std::string& appId) const {
    size_t n = 0;
    for (const auto& [id, d] : sched_.deployments()) {
      for (const auto& a : d.appIds()) n += a == appId;
    }
    return n;
  }

  Loop loop_;
  state::InMemoryStateStore store_;
  events::EventBus bus_{loop_};
  FakeDriver driver_;
  ServiceScheduler sched_{loop_, store_, bus_};
  EventRecorder events_{bus_};
};

TEST_F(ServiceSchedulerTest, CreateLaunchesInstancesWithOfferPortsAndServicePorts) {
  create(R"({"id":"/web","cmd":"python3 -m http.server $PORT0","instances":3,"cpus":0.5,
             "mem":64,"portDefinitions":[{"port":0,"name":"http"},{"port":0}]})");
  const AppState* a = sched_.app("/web");
  ASSERT_NE(a, nullptr);
  ASSERT_EQ(a->def.portDefinitions.size(), 2u);
  EXPECT_EQ(a->def.portDefinitions[0].port, 10000);
  EXPECT_EQ(a->def.portDefinitions[1].port, 10001);
  // The assigned service ports are what is persisted.
  auto snap = store_.snapshot();
  ASSERT_TRUE(snap.count("/apps/web"));
  EXPECT_EQ(snap["/apps/web"]["definition"]["portDefinitions"][0]["port"], 10000);
  EXPECT_EQ(snap["/apps/web"]["definition"]["portDefinitions"][1]["port"], 10001);

  offer("a1", "cpus:4;mem:1024;disk:100;ports:[31000-31005,31010-31010]");
  ASSERT_EQ(driver_.accepted.size(), 1u);
  const auto& specs = driver_.accepted[0].specs;
  ASSERT_EQ(specs.size(), 3u);
  std::set<int> hostPorts;
  for (const auto& s : specs) {
    EXPECT_EQ(s.appId, "/web");
    EXPECT_EQ(s.version, *a->def.version);
    EXPECT_DOUBLE_EQ(s.cpus, 0.5);
    EXPECT_DOUBLE_EQ(s.mem, 64);
    EXPECT_EQ(s.taskId.rfind("web.", 0), 0u) << s.taskId;
    ASSERT_EQ(s.ports.size(), 2u);
    for (int p : s.ports) {
      EXPECT_TRUE((p >= 31000 && p <= 31005) || p == 31010) << p;
      EXPECT_TRUE(hostPorts.insert(p).second) << "port " << p << " given twice";
    }
    EXPECT_EQ(s.servicePorts, (std::vector<int>{10000, 10001}));
    EXPECT_EQ(s.launch.value("cmd", ""), "python3 -m http.server $PORT0");
    EXPECT_EQ(s.launch["portNames"][0], "http");
  }
  EXPECT_TRUE(driver_.declined.empty());

  // A second app gets the next free service ports; a fixed one in use is refused.
  create(R"({"id":"/api","cmd":"x","portDefinitions":[{"port":0}]})");
  EXPECT_EQ(sched_.app("/api")->def.portDefinitions[0].port, 10002);
  auto dup = sched_.createApp(app(R"({"id":"/dup","cmd":"x","portDefinitions":[{"port":10001}]})"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::kInvalid);
}

TEST_F(ServiceSchedulerTest, ServicePortsSkipThoseTakenAndSurviveUpdates) {
  create(R"({"id":"/a","cmd":"x","portDefinitions":[{"port":10000}]})");
  create(R"({"id":"/b","cmd":"x","portDefinitions":[{"port":0},{"port":0}]})");
  EXPECT_EQ(sched_.app("/b")->def.portDefinitions[0].port, 10001);
  EXPECT_EQ(sched_.app("/b")->def.portDefinitions[1].port, 10002);
  // An update that does not touch ports keeps them.
  ASSERT_TRUE(sched_.updateApp("/b", app(R"({"cmd":"y"})"), true).ok());
  EXPECT_EQ(sched_.app("/b")->def.portDefinitions[0].port, 10001);
  EXPECT_EQ(sched_.app("/b")->def.portDefinitions[1].port, 10002);
}

TEST_F(ServiceSchedulerTest, NotEnoughResourcesDeclinesAndQueueSaysWhy) {
  create(R"({"id":"/big","cmd":"x","instances":2,"cpus":2,"mem":256})");
  offer("a1", "cpus:1;mem:4096;ports:[31000-31010]");
  EXPECT_TRUE(driver_.accepted.empty());
  ASSERT_EQ(driver_.declined.size(), 1u);
  EXPECT_GT(driver_.declined[0].second, 0.0);

  Json q = sched_.queueJson();
  ASSERT_EQ(q["queue"].size(), 1u) << q.dump();
  const Json& item = q["queue"][0];
  EXPECT_EQ(item["count"], 2);
  EXPECT_EQ(item["app"]["id"], "/big");
  std::string reason = item["processedOffersSummary"]["waitingReason"];
  EXPECT_NE(reason.find("insufficient resources"), std::string::npos) << reason;
  EXPECT_TRUE(item["delay"].contains("timeLeftSeconds"));

  auto waiting = events_.ofType("launch_queue_waiting_event");
  ASSERT_EQ(waiting.size(), 1u);
  EXPECT_EQ(waiting[0]["count"], 2);
  // The same reason again is not announced twice.
  offer("a1", "cpus:1;mem:4096;ports:[31000-31010]");
  EXPECT_EQ(events_.count("launch_queue_waiting_event"), 1u);

  // Enough resources: both launch and the queue empties.
  offer("a2", "cpus:4;mem:4096;ports:[31000-31010]");
  EXPECT_EQ(driver_.launchedCount(), 2u);
  EXPECT_TRUE(sched_.queueJson()["queue"].empty());
}

TEST_F(ServiceSchedulerTest, TooFewPortsDeclines) {
  create(R"({"id":"/p","cmd":"x","instances":2,"cpus":0.1,"mem":16,
             "portDefinitions":[{"port":0},{"port":0}]})");
  offer("a1", "cpus:4;mem:4096;ports:[31000-31002]");
  // Room for one task's two ports, not for the second's.
  EXPECT_EQ(driver_.launchedCount(), 1u);
  std::string reason = sched_.queueJson()["queue"][0]["processedOffersSummary"]["waitingReason"];
  EXPECT_NE(reason.find("ports"), std::string::npos) << reason;
}

TEST_F(ServiceSchedulerTest, UniqueHostnameSpreadsOverTwoOffers) {
  create(R"({"id":"/u","cmd":"x","instances":2,"cpus":0.1,"mem":16,
             "constraints":[["hostname","UNIQUE"]]})");
  // One offer with room for both: only one may go there.
  offer("a1");
  EXPECT_EQ(driver_.launchedCount(), 1u);
  // The same host again: declined.
  offer("a1");
  EXPECT_EQ(driver_.launchedCount(), 1u);
  EXPECT_FALSE(driver_.declined.empty());
  std::string reason = sched_.queueJson()["queue"][0]["processedOffersSummary"]["waitingReason"];
  EXPECT_FALSE(reason.empty());
  // Another host: accepted.
  offer("a2");
  ASSERT_EQ(driver_.launchedCount(), 2u);
  std::set<std::string> hosts;
  for (const auto& id : driver_.activeTaskIds("/u")) hosts.insert(driver_.task(id)->agentId);
  EXPECT_EQ(hosts, (std::set<std::string>{"a1", "a2"}));
}

TEST_F(ServiceSchedulerTest, UniqueHostnameInOneBatchOfOffers) {
  create(R"({"id":"/u","cmd":"x","instances":2,"cpus":0.1,"mem":16,
             "constraints":[["hostname","UNIQUE"]]})");
  sched_.resourceOffers({driver_.offer("a1", kBigOffer), driver_.offer("a2", kBigOffer)});
  ASSERT_EQ(driver_.accepted.size(), 2u);
  EXPECT_EQ(driver_.accepted[0].specs.size(), 1u);
  EXPECT_EQ(driver_.accepted[1].specs.size(), 1u);
}

TEST_F(ServiceSchedulerTest, InstancesSpreadRoundRobinOverOffers) {
  create(R"({"id":"/spread","cmd":"x","instances":5,"cpus":0.1,"mem":16})");
  sched_.resourceOffers({driver_.offer("a1", kBigOffer), driver_.offer("a2", kBigOffer)});
  ASSERT_EQ(driver_.accepted.size(), 2u);
  size_t a = driver_.accepted[0].specs.size(), b = driver_.accepted[1].specs.size();
  EXPECT_EQ(a + b, 5u);
  EXPECT_LE(a > b ? a - b : b - a, 1u) << a << " vs " << b;
  // An offer that cannot hold even one instance is declined; the others still fill up.
  create(R"({"id":"/big","cmd":"x","instances":2,"cpus":2,"mem":16})");
  sched_.resourceOffers({driver_.offer("a1", "cpus:1;mem:1024"), driver_.offer("a2", kBigOffer)});
  EXPECT_EQ(driver_.activeTaskIds("/big").size(), 2u);
  ASSERT_FALSE(driver_.declined.empty());
}

TEST_F(ServiceSchedulerTest, ScaleUpThenDownYoungestFirst) {
  create(R"({"id":"/s","cmd":"x","instances":3,"cpus":0.1,"mem":16})");
  offer();
  runAll("/s");
  EXPECT_EQ(deploymentsOf("/s"), 0u);
  auto r = sched_.updateApp("/s", app(R"({"instances":5})"), false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(sched_.deployments().at(r->deploymentId).steps[0][0].action, "ScaleApplication");
  offer();
  EXPECT_EQ(driver_.launchedCount(), 5u);
  runAll("/s");
  EXPECT_EQ(deploymentsOf("/s"), 0u);
  EXPECT_TRUE(driver_.killed.empty()) << "scaling up replaces nothing";

  ASSERT_TRUE(sched_.updateApp("/s", app(R"({"instances":3})"), false).ok());
  ASSERT_EQ(driver_.killed.size(), 2u);
  std::set<std::string> killed(driver_.killed.begin(), driver_.killed.end());
  std::set<std::string> youngest(driver_.launchOrder.end() - 2, driver_.launchOrder.end());
  EXPECT_EQ(killed, youngest);
  for (const auto& id : driver_.killed) status(id, "TASK_KILLED");
  EXPECT_EQ(driver_.activeTaskIds("/s").size(), 3u);
  EXPECT_EQ(deploymentsOf("/s"), 0u);
  // Kills we asked for are not failures: no backoff.
  EXPECT_EQ(sched_.app("/s")->failuresInRow, 0);
}

TEST_F(ServiceSchedulerTest, ScaleDownOldestFirst) {
  create(
      R"({"id":"/o","cmd":"x","instances":4,"cpus":0.1,"mem":16,"killSelection":"OLDEST_FIRST"})");
  offer();
  runAll("/o");
  ASSERT_TRUE(sched_.updateApp("/o", app(R"({"instances":1})"), false).ok());
  ASSERT_EQ(driver_.killed.size(), 3u);
  std::set<std::string> killed(driver_.killed.begin(), driver_.killed.end());
  std::set<std::string> oldest(driver_.launchOrder.begin(), driver_.launchOrder.begin() + 3);
  EXPECT_EQ(killed, oldest);
}

TEST_F(ServiceSchedulerTest, ScaleDownKillsUnhealthyAndStagingFirst) {
  create(R"({"id":"/h","cmd":"x","instances":3,"cpus":0.1,"mem":16,
             "healthChecks":[{"protocol":"TCP","portIndex":0}]})");
  offer();
  const auto ids = driver_.launchOrder;
  status(ids[0], "TASK_RUNNING", true);
  status(ids[1], "TASK_RUNNING", false);  // oldest-but-one, unhealthy
  status(ids[2], "TASK_RUNNING", true);
  ASSERT_TRUE(sched_.updateApp("/h", app(R"({"instances":2})"), true).ok());
  EXPECT_EQ(driver_.killed, (std::vector<std::string>{ids[1]}));
}

TEST_F(ServiceSchedulerTest, DeploymentEventsInOrder) {
  auto r = create(R"({"id":"/d","cmd":"x","instances":2,"cpus":0.1,"mem":16})");
  ASSERT_FALSE(r.deploymentId.empty());
  EXPECT_EQ(sched_.deployments().count(r.deploymentId), 1u);
  offer();
  runAll("/d");
  std::vector<std::string> seen;
  for (const auto& t : events_.types()) {
    if (t == "api_post_event" || t.rfind("deployment_", 0) == 0) seen.push_back(t);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"api_post_event", "deployment_info",
                                            "deployment_step_success", "deployment_success"}));
  auto info = events_.ofType("deployment_info");
  EXPECT_EQ(info[0]["plan"]["id"], r.deploymentId);
  EXPECT_EQ(info[0]["plan"]["steps"][0]["actions"][0]["action"], "StartApplication");
  EXPECT_EQ(info[0]["plan"]["steps"][0]["actions"][0]["app"], "/d");
  EXPECT_EQ(events_.ofType("deployment_success")[0]["id"], r.deploymentId);
  EXPECT_TRUE(sched_.deployments().empty());
  EXPECT_FALSE(store_.snapshot().count("/deployments/" + r.deploymentId));
  // status_update_event for each task start, with Marathon's fields.
  auto su = events_.ofType("status_update_event");
  ASSERT_EQ(su.size(), 2u);
  EXPECT_EQ(su[0]["taskStatus"], "TASK_RUNNING");
  EXPECT_EQ(su[0]["appId"], "/d");
  EXPECT_EQ(su[0]["host"], "127.0.0.2");
  EXPECT_EQ(events_.count("instance_changed_event"), 2u);
}

TEST_F(ServiceSchedulerTest, OneDeploymentPerAppUnlessForced) {
  auto first = create(R"({"id":"/c","cmd":"x","instances":2,"cpus":0.1,"mem":16})");
  auto blocked = sched_.updateApp("/c", app(R"({"instances":3})"), false);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(blocked.error().path, first.deploymentId);
  EXPECT_EQ(sched_.app("/c")->def.instances, 2);
  auto r2 = sched_.restartApp("/c", false);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().kind, ErrorKind::kConflict);
  auto r3 = sched_.deleteApp("/c", false);
  ASSERT_FALSE(r3.ok());
  EXPECT_EQ(r3.error().kind, ErrorKind::kConflict);
  ASSERT_NE(sched_.app("/c"), nullptr);

  auto forced = sched_.updateApp("/c", app(R"({"instances":3})"), true);
  ASSERT_TRUE(forced.ok());
  EXPECT_EQ(deploymentsOf("/c"), 1u);
  EXPECT_EQ(sched_.deployments().count(first.deploymentId), 0u);
  EXPECT_EQ(sched_.deployments().count(forced->deploymentId), 1u);
  EXPECT_FALSE(store_.snapshot().count("/deployments/" + first.deploymentId));
  EXPECT_TRUE(store_.snapshot().count("/deployments/" + forced->deploymentId));
  // Another app is not blocked.
  create(R"({"id":"/other","cmd":"x"})");
}

TEST_F(ServiceSchedulerTest, DeleteKillsTasksThenAppTerminated) {
  create(R"({"id":"/del","cmd":"x","instances":2,"cpus":0.1,"mem":16})");
  offer();
  runAll("/del");
  auto r = sched_.deleteApp("/del", false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(sched_.app("/del"), nullptr);
  EXPECT_FALSE(store_.snapshot().count("/apps/del"));
  ASSERT_EQ(driver_.killed.size(), 2u);
  EXPECT_EQ(events_.count("app_terminated_event"), 0u);
  EXPECT_EQ(sched_.deployments().at(r->deploymentId).steps[0][0].action, "StopApplication");
  status(driver_.killed[0], "TASK_KILLED");
  EXPECT_EQ(events_.count("app_terminated_event"), 0u) << "one task is still running";
  status(driver_.killed[1], "TASK_KILLED");
  auto term = events_.ofType("app_terminated_event");
  ASSERT_EQ(term.size(), 1u);
  EXPECT_EQ(term[0]["appId"], "/del");
  EXPECT_TRUE(sched_.deployments().empty());
  EXPECT_EQ(events_.ofType("deployment_success").back()["id"], r->deploymentId);
  // Terminal tasks are expunged from the master after the callback.
  EXPECT_TRUE(driver_.activeTaskIds("/del").empty());
  EXPECT_EQ(driver_.expunged.size(), 2u);
  // No replacement is ever launched for a deleted app.
  offer();
  EXPECT_EQ(driver_.launchedCount(), 2u);
}

TEST_F(ServiceSchedulerTest, BackoffGrowsByFactorIsCappedAndResetsWhenHealthy) {
  create(R"({"id":"/crash","cmd":"false","instances":4,"cpus":0.1,"mem":16,
             "backoffSeconds":1,"backoffFactor":2,"maxLaunchDelaySeconds":3})");
  offer();
  auto ids = driver_.launchOrder;
  ASSERT_EQ(ids.size(), 4u);
  auto delayMs = [&] { return sched_.app("/crash")->delayUntilMs - wallMs(); };
  status(ids[0], "TASK_FAILED", std::nullopt, "exited with 1");
  EXPECT_EQ(sched_.app("/crash")->failuresInRow, 1);
  EXPECT_NEAR(static_cast<double>(delayMs()), 1000, 150);
  status(ids[1], "TASK_FAILED");
  EXPECT_NEAR(static_cast<double>(delayMs()), 2000, 150);
  status(ids[2], "TASK_FAILED");
  EXPECT_NEAR(static_cast<double>(delayMs()), 3000, 150) << "4 s capped at maxLaunchDelaySeconds";
  EXPECT_EQ(sched_.app("/crash")->failuresInRow, 3);
  // lastTaskFailure is kept for the API.
  EXPECT_EQ(sched_.app("/crash")->lastTaskFailure["state"], "TASK_FAILED");
  EXPECT_EQ(sched_.app("/crash")->lastTaskFailure["taskId"], ids[2]);

  // While backing off, offers are declined and the queue shows the delay.
  size_t launched = driver_.launchedCount();
  offer();
  EXPECT_EQ(driver_.launchedCount(), launched);
  Json q = sched_.queueJson()["queue"][0];
  EXPECT_EQ(q["count"], 3);
  EXPECT_GE(q["delay"]["timeLeftSeconds"].get<int>(), 2);
  EXPECT_EQ(q["delay"]["overdue"], false);
  EXPECT_NE(q["processedOffersSummary"]["waitingReason"].get<std::string>().find("backing off"),
            std::string::npos);

  // A task that runs (no health checks: running is healthy) resets the count.
  status(ids[3], "TASK_RUNNING");
  EXPECT_EQ(sched_.app("/crash")->failuresInRow, 0);
  status(ids[3], "TASK_FAILED");
  EXPECT_EQ(sched_.app("/crash")->failuresInRow, 1);
  EXPECT_NEAR(static_cast<double>(delayMs()), 1000, 150);
}

TEST_F(ServiceSchedulerTest, UnhealthyTaskKilledAndReplaced) {
  create(R"({"id":"/hc","cmd":"x","instances":1,"cpus":0.1,"mem":16,"backoffSeconds":0,
             "healthChecks":[{"protocol":"HTTP","path":"/health","portIndex":0,
                              "maxConsecutiveFailures":3}]})");
  offer();
  std::string first = driver_.launchOrder[0];
  status(first, "TASK_RUNNING");
  EXPECT_EQ(deploymentsOf("/hc"), 1u) << "running but not yet healthy";
  status(first, "TASK_RUNNING", true);
  EXPECT_EQ(deploymentsOf("/hc"), 0u);
  EXPECT_EQ(events_.ofType("health_status_changed_event").back()["alive"], true);

  status(first, "TASK_RUNNING", false, "HTTP health check failed: connection refused");
  EXPECT_EQ(events_.count("failed_health_check_event"), 1u);
  EXPECT_EQ(events_.ofType("health_status_changed_event").back()["alive"], false);
  EXPECT_EQ(events_.ofType("instance_health_changed_event").back()["healthy"], false);
  EXPECT_EQ(events_.ofType("failed_health_check_event")[0]["healthCheck"]["path"], "/health");

  // The agent kills it after maxConsecutiveFailures.
  status(first, "TASK_KILLED", false,
         "HTTP health check failed 3 consecutive time(s), last: refused; killing the task",
         conf::TaskReason::kTaskHealthCheckStatusUpdated);
  auto kills = events_.ofType("unhealthy_instance_kill_event");
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0]["taskId"], first);
  EXPECT_EQ(kills[0]["appId"], "/hc");
  // A replacement goes out with the next offer.
  offer();
  ASSERT_EQ(driver_.launchedCount(), 2u);
  EXPECT_NE(driver_.launchOrder[1], first);
}

TEST_F(ServiceSchedulerTest, HealthKillIsDecidedByTheReasonNotTheMessage) {
  create(R"({"id":"/hk","cmd":"x","instances":2,"cpus":0.1,"mem":16,"backoffSeconds":0,
             "healthChecks":[{"protocol":"HTTP","path":"/","portIndex":0}]})");
  offer();
  runAll("/hk", true);
  // The agent's health kill, with a message that never says "health".
  status(driver_.launchOrder[0], "TASK_KILLED", false, "gone fishing",
         conf::TaskReason::kTaskHealthCheckStatusUpdated);
  auto kills = events_.ofType("unhealthy_instance_kill_event");
  ASSERT_EQ(kills.size(), 1u);
  EXPECT_EQ(kills[0]["taskId"], driver_.launchOrder[0]);
  EXPECT_EQ(sched_.app("/hk")->failuresInRow, 1);
  EXPECT_EQ(sched_.app("/hk")->lastTaskFailure["taskId"], driver_.launchOrder[0]);

  // A kill whose message talks about health but carries no health reason is not one.
  status(driver_.launchOrder[1], "TASK_KILLED", std::nullopt,
         "operator said: health of the rack is poor, stopping");
  EXPECT_EQ(events_.count("unhealthy_instance_kill_event"), 1u);
  EXPECT_EQ(sched_.app("/hk")->lastTaskFailure["taskId"], driver_.launchOrder[0]);
}

// A status update reconciles its own app only: it reads no other app's tasks
// and never every task, so its cost does not grow with the number of apps.
TEST_F(ServiceSchedulerTest, StatusUpdateTouchesOnlyItsApp) {
  for (int i = 0; i < 200; ++i) {
    create(fmt::format(R"({{"id":"/other{}","cmd":"x","instances":1,"cpus":0.01,"mem":1}})", i));
  }
  create(R"({"id":"/mine","cmd":"x","instances":2,"cpus":0.01,"mem":1,"backoffSeconds":0})");
  // An offer holds at most maxTasksPerOffer launches.
  for (int k = 0; k < 10 && driver_.launchedCount() < 202; ++k) offer();
  ASSERT_EQ(driver_.launchedCount(), 202u);
  runAll("/mine");
  driver_.fullScans = 0;
  driver_.appScans.clear();
  std::string victim = driver_.activeTaskIds("/mine")[0];
  status(victim, "TASK_FAILED", std::nullopt, "exited with 1");
  EXPECT_EQ(driver_.fullScans, 0u) << "a status update must not read every task";
  ASSERT_FALSE(driver_.appScans.empty());
  for (const auto& [appId, n] : driver_.appScans) {
    EXPECT_EQ(appId, "/mine") << "read the tasks of another app";
  }
  // The work per update stays bounded: a handful of reads of its own app.
  EXPECT_LE(driver_.appScans["/mine"], 10u);
  // And it still did its job: the failed instance is queued for replacement.
  offer();
  EXPECT_EQ(driver_.launchedCount(), 203u);
}

TEST_F(ServiceSchedulerTest, KillWeAskedForIsNotAnUnhealthyKill) {
  create(R"({"id":"/k","cmd":"x","instances":2,"cpus":0.1,"mem":16})");
  offer();
  runAll("/k");
  auto r = sched_.killTasks({driver_.launchOrder[0]}, false, false);
  ASSERT_TRUE(r.ok());
  status(driver_.launchOrder[0], "TASK_KILLED", std::nullopt, "kill requested");
  EXPECT_EQ(events_.count("unhealthy_instance_kill_event"), 0u);
  EXPECT_EQ(sched_.app("/k")->failuresInRow, 0);
  // killed without scale: replaced
  offer();
  EXPECT_EQ(driver_.launchedCount(), 3u);
}

TEST_F(ServiceSchedulerTest, KillWithScaleLowersInstances) {
  create(R"({"id":"/ks","cmd":"x","instances":3,"cpus":0.1,"mem":16})");
  offer();
  runAll("/ks");
  std::string victim = driver_.launchOrder[0];  // the oldest, not what YOUNGEST_FIRST would pick
  auto r = sched_.killTasks({victim}, true, false);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(sched_.app("/ks")->def.instances, 2);
  EXPECT_EQ(driver_.killed, (std::vector<std::string>{victim}));
  status(victim, "TASK_KILLED");
  offer();
  EXPECT_EQ(driver_.launchedCount(), 3u);
}

TEST_F(ServiceSchedulerTest, PersistenceFailureLeavesMemoryUnchanged) {
  store_.failNextCommit(makeError(ErrorKind::kUnavailable, "disk full"));
  auto c = sched_.createApp(app(R"({"id":"/p","cmd":"x","instances":2})"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(sched_.app("/p"), nullptr);
  EXPECT_TRUE(sched_.deployments().empty());
  EXPECT_EQ(events_.count("api_post_event"), 0u);

  create(R"({"id":"/p","cmd":"x","instances":2,"cpus":0.1,"mem":16})");
  offer();
  runAll("/p");
  const AppState before = *sched_.app("/p");
  auto snapBefore = store_.snapshot();
  size_t killsBefore = driver_.killed.size();

  store_.failNextCommit(makeError(ErrorKind::kUnavailable, "disk full"));
  auto u = sched_.updateApp("/p", app(R"({"instances":5,"cmd":"y"})"), false);
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(sched_.app("/p")->def, before.def);
  EXPECT_EQ(sched_.app("/p")->versions, before.versions);
  EXPECT_EQ(sched_.app("/p")->lastConfigChangeAt, before.lastConfigChangeAt);

  store_.failNextCommit(makeError(ErrorKind::kUnavailable, "disk full"));
  auto rs = sched_.restartApp("/p", false);
  ASSERT_FALSE(rs.ok());
  EXPECT_EQ(rs.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(sched_.app("/p")->def, before.def);
  EXPECT_EQ(sched_.app("/p")->versions, before.versions);
  EXPECT_EQ(sched_.app("/p")->lastConfigChangeAt, before.lastConfigChangeAt);

  store_.failNextCommit(makeError(ErrorKind::kUnavailable, "disk full"));
  auto d = sched_.deleteApp("/p", false);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().kind, ErrorKind::kUnavailable);
  ASSERT_NE(sched_.app("/p"), nullptr);

  EXPECT_EQ(store_.snapshot(), snapBefore);
  EXPECT_TRUE(sched_.deployments().empty());
  EXPECT_EQ(driver_.killed.size(), killsBefore) << "a failed change kills nothing";
  offer();
  EXPECT_EQ(driver_.launchedCount(), 2u) << "a failed change launches nothing";
}

TEST_F(ServiceSchedulerTest, AppChangeAndItsDeploymentAreOneCommit) {
  size_t commits = store_.commitCount();
  auto c = create(R"({"id":"/one","cmd":"x","instances":1,"cpus":0.1,"mem":16})");
  EXPECT_EQ(store_.commitCount(), commits + 1);
  auto snap = store_.snapshot();
  EXPECT_TRUE(snap.count("/apps/one"));
  EXPECT_TRUE(snap.count("/deployments/" + c.deploymentId));
  // A forced change supersedes the running deployment in that same commit.
  commits = store_.commitCount();
  auto u = sched_.updateApp("/one", app(R"({"cmd":"y"})"), true);
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(store_.commitCount(), commits + 1);
  snap = store_.snapshot();
  EXPECT_FALSE(snap.count("/deployments/" + c.deploymentId));
  EXPECT_TRUE(snap.count("/deployments/" + u->deploymentId));
  EXPECT_EQ(sched_.deployments().size(), 1u);
}

TEST_F(ServiceSchedulerTest, DeploymentEndThatCannotPersistStaysInProgress) {
  create(R"({"id":"/fin","cmd":"x","instances":1,"cpus":0.1,"mem":16})");
  offer();
  std::string id = driver_.launchOrder[0];
  store_.failNextCommit(makeError(ErrorKind::kUnavailable, "disk full"));
  status(id, "TASK_RUNNING");
  EXPECT_EQ(deploymentsOf("/fin"), 1u) << "not done while its end is not durable";
  EXPECT_EQ(events_.count("deployment_success"), 0u);
  status(id, "TASK_RUNNING", true);  // any later reconcile of the app retries
  EXPECT_EQ(deploymentsOf("/fin"), 0u);
  EXPECT_EQ(events_.count("deployment_success"), 1u);
  EXPECT_TRUE(store_.snapshot().count("/apps/fin"));
}

TEST_F(ServiceSchedulerTest, CancelThatCannotPersistChangesNothing) {
  auto c = create(R"({"id":"/cx","cmd":"x","instances":1,"cpus":0.1,"mem":16})");
  store_.failNextCommit(makeError(ErrorKind::kUnavailable, "disk full"));
  auto r = sched_.cancelDeployment(c.deploymentId, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(deploymentsOf("/cx"), 1u);
  EXPECT_EQ(events_.count("deployment_failed"), 0u);
  ASSERT_TRUE(sched_.cancelDeployment(c.deploymentId, true).ok());
  EXPECT_EQ(deploymentsOf("/cx"), 0u);
  EXPECT_FALSE(store_.snapshot().count("/deployments/" + c.deploymentId));
}

TEST_F(ServiceSchedulerTest, KillWithScaleThatCannotPersistKillsNothing) {
  create(R"({"id":"/kp","cmd":"x","instances":3,"cpus":0.1,"mem":16})");
  offer();
  runAll("/kp");
  store_.failNextCommit(makeError(ErrorKind::kUnavailable, "disk full"));
  auto r = sched_.killTasks({driver_.launchOrder[0]}, true, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
  EXPECT_TRUE(driver_.killed.empty());
  EXPECT_EQ(sched_.app("/kp")->def.instances, 3);
  // And the task it meant to kill still counts: nothing extra is launched
  // (after any later reconcile, here one triggered by a health report).
  status(driver_.launchOrder[1], "TASK_RUNNING");
  offer();
  EXPECT_EQ(driver_.launchedCount(), 3u);
}

TEST_F(ServiceSchedulerTest, RecoverRestoresAppsVersionsAndDeployments) {
  auto c = create(R"({"id":"/shop/web","cmd":"x","instances":2,"cpus":0.1,"mem":16,
                      "labels":{"team":"a"},"portDefinitions":[{"port":0}]})");
  auto u = sched_.updateApp("/shop/web", app(R"({"cmd":"y"})"), true);
  ASSERT_TRUE(u.ok());
  const AppState live = *sched_.app("/shop/web");
  ASSERT_EQ(live.versions.size(), 2u);

  Loop loop2;
  events::EventBus bus2(loop2);
  ServiceScheduler recovered(loop2, store_, bus2);
  ASSERT_TRUE(recovered.recover(store_.snapshot()).ok());
  const AppState* a = recovered.app("/shop/web");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->def, live.def);
  EXPECT_EQ(a->versions, live.versions);
  EXPECT_EQ(a->lastConfigChangeAt, live.lastConfigChangeAt);
  auto v1 = recovered.appVersion("/shop/web", live.versions[0]);
  ASSERT_TRUE(v1.ok()) << v1.error().message;
  EXPECT_EQ(v1->cmd, "x");
  EXPECT_EQ(recovered.appVersion("/shop/web", live.versions[1])->cmd, "y");
  ASSERT_EQ(recovered.deployments().size(), 1u);
  EXPECT_EQ(recovered.deployments().begin()->first, u->deploymentId);
  EXPECT_EQ(recovered.deployments().begin()->second.appIds(),
            std::vector<std::string>{"/shop/web"});
  // Service ports stay reserved after a restart.
  auto other = recovered.createApp(app(R"({"id":"/x","cmd":"x","portDefinitions":[{"port":0}]})"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(recovered.app("/x")->def.portDefinitions[0].port, 10001);
}

// Rolling replacement under every upgrade strategy: status updates arrive one
// at a time; after each the invariants must hold.
struct Strategy {
  double mhc;
  double moc;
  bool healthChecks = false;  // healthy only once a check passes, not when running
};

class RollingUpdateTest : public ServiceSchedulerTest,
                          public ::testing::WithParamInterface<Strategy> {};

TEST_P(RollingUpdateTest, HonoursUpgradeStrategy) {
  const Strategy s = GetParam();
  const int n = 4;
  create(fmt::format(R"({{"id":"/r","cmd":"v1","instances":{},"cpus":0.1,"mem":16,{}
      "upgradeStrategy":{{"minimumHealthCapacity":{},"maximumOverCapacity":{}}}}})",
                     n, s.healthChecks ? R"("healthChecks":[{"protocol":"TCP"}],)" : "", s.mhc,
                     s.moc));
  offer();
  runAll("/r", s.healthChecks ? std::optional<bool>(true) : std::nullopt);
  ASSERT_EQ(deploymentsOf("/r"), 0u);
  events_.clear();

  int minHealthy = static_cast<int>(std::ceil(n * s.mhc - 1e-9));
  int maxTotal = n + static_cast<int>(std::floor(n * s.moc + 1e-9));
  if (minHealthy >= maxTotal) maxTotal = n + 1;  // Marathon allows one over so it can move

  auto u = sched_.updateApp("/r", app(R"({"cmd":"v2"})"), false);
  ASSERT_TRUE(u.ok()) << u.error().message;
  std::string v2 = u->version;
  EXPECT_EQ(sched_.deployments().at(u->deploymentId).steps[0][0].action, "RestartApplication");

  auto check = [&](const std::string& when) {
    int healthy = 0, total = 0;
    for (const auto& id : driver_.activeTaskIds("/r")) {
      const auto* t = driver_.task(id);
      ++total;
      healthy += t->state == conf::TaskState::kRunning && !t->killRequested &&
                 (!s.healthChecks || t->healthy == true);
    }
    EXPECT_GE(healthy, minHealthy) << when;
    EXPECT_LE(total, maxTotal) << when;
  };
  check("after the update");
  int steps = 0;
  for (; steps < 200 && deploymentsOf("/r") > 0; ++steps) {
    offer();
    check("after an offer");
    // Deliver one update: alternate between finishing a kill and starting a task, so both
    // orders of arrival are exercised.
    std::string kill, start, pass;
    for (const auto& id : driver_.activeTaskIds("/r")) {
      const auto* t = driver_.task(id);
      if (t->killRequested && kill.empty()) kill = id;
      if (t->state == conf::TaskState::kStaging && !t->killRequested && start.empty()) start = id;
      if (s.healthChecks && t->state == conf::TaskState::kRunning && !t->healthy && pass.empty())
        pass = id;
    }
    if (!kill.empty() && (steps % 2 == 0 || (start.empty() && pass.empty()))) {
      status(kill, "TASK_KILLED");
      check("after " + kill + " was killed");
    } else if (!pass.empty()) {
      status(pass, "TASK_RUNNING", true);
      check("after " + pass + " became healthy");
    } else if (!start.empty()) {
      status(start, "TASK_RUNNING");
      check("after " + start + " started");
    } else if (kill.empty()) {
      break;  // nothing in flight and nothing more to do: stuck
    }
  }
  EXPECT_EQ(deploymentsOf("/r"), 0u) << "deployment did not finish after " << steps << " steps";
  auto ids = driver_.activeTaskIds("/r");
  EXPECT_EQ(ids.size(), static_cast<size_t>(n));
  for (const auto& id : ids) EXPECT_EQ(driver_.task(id)->version, v2);
  std::vector<std::string> seen;
  for (const auto& t : events_.types()) {
    if (t.rfind("deployment_", 0) == 0) seen.push_back(t);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"deployment_info", "deployment_step_success",
                                            "deployment_success"}));
}

INSTANTIATE_TEST_SUITE_P(
    Strategies, RollingUpdateTest,
    ::testing::Values(Strategy{1.0, 1.0}, Strategy{1.0, 0.0}, Strategy{0.5, 0.5},
                      Strategy{0.5, 0.0}, Strategy{0.75, 0.25}, Strategy{0.0, 0.0},
                      Strategy{0.0, 1.0}, Strategy{1.0, 0.0, true}, Strategy{0.5, 0.25, true}),
    [](const auto& info) {
      return fmt::format("mhc{}_moc{}{}", static_cast<int>(info.param.mhc * 100),
                         static_cast<int>(info.param.moc * 100),
                         info.param.healthChecks ? "_checked" : "");
    });

TEST_F(ServiceSchedulerTest, RestartReplacesEveryTask) {
  create(R"({"id":"/rs","cmd":"x","instances":2,"cpus":0.1,"mem":16})");
  offer();
  runAll("/rs");
  auto before = driver_.activeTaskIds("/rs");
  auto r = sched_.restartApp("/rs", false);
  ASSERT_TRUE(r.ok());
  for (int i = 0; i < 20 && deploymentsOf("/rs") > 0; ++i) {
    offer();
    runAll("/rs");
    for (const auto& id : driver_.activeTaskIds("/rs")) {
      if (driver_.task(id)->killRequested) status(id, "TASK_KILLED");
    }
  }
  EXPECT_EQ(deploymentsOf("/rs"), 0u);
  for (const auto& id : driver_.activeTaskIds("/rs")) {
    EXPECT_EQ(std::count(before.begin(), before.end(), id), 0) << id << " survived the restart";
  }
}

}  // namespace
}  // namespace corral::scheduler
