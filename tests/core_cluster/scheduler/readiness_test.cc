// Readiness checks gate deployments; DELETE /v2/queue/{app}/delay resets backoff.
#include <gtest/gtest.h>

#include "base/clock.h"
#include "base/http_server.h"
#include "core_cluster/scheduler/service_scheduler.h"
#include "core_cluster/state/in_memory_state_store.h"
#include "tests/core_cluster/cluster_test_util.h"

namespace corral::scheduler {
namespace {

using corral::testing::drain;
using corral::testing::FakeDriver;

Json parse(const std::string& text) {
  auto j = parseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  return j.ok() ? *j : Json();
}

class ReadinessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    driver_.addAgent("a1", "127.0.0.2");
    sched_.registered(&driver_);
  }
  void status(const std::string& taskId, const std::string& state) {
    auto* t = driver_.mutableTask(taskId);
    ASSERT_NE(t, nullptr);
    conf::TaskState prev = t->state;
    t->state = conf::parseTaskState(state);
    sched_.statusUpdate(*t, prev, t->healthy);
    drain(loop_);
  }

  Loop loop_;
  state::InMemoryStateStore store_;
  events::EventBus bus_{loop_};
  FakeDriver driver_;
  ServiceScheduler sched_{loop_, store_, bus_};
};

TEST_F(ReadinessTest, DeploymentWaitsUntilTheTaskAnswersReady) {
  int readyStatus = 503;
  int probes = 0;
  http::Server server(loop_, [&](http::Request& req, std::shared_ptr<http::Exchange> ex) {
    if (req.path == "/ready") ++probes;
    ex->respond(http::Response::text(req.path == "/ready" ? readyStatus : 404, "x"));
  });
  auto port = server.listen("127.0.0.2", 0);
  ASSERT_TRUE(port.ok()) << port.error().message;
  // Marathon requires timeoutSeconds < intervalSeconds.
  auto r = sched_.createApp(parse(R"({"id":"/ready-app","cmd":"x","instances":1,
      "portDefinitions":[{"port":0,"name":"http"}],
      "readinessChecks":[{"name":"r","protocol":"HTTP","path":"/ready","portName":"http",
                          "intervalSeconds":2,"timeoutSeconds":1 }]})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  sched_.start();
  std::string ports =
      "cpus:4;mem:1024;disk:10;ports:[" + std::to_string(*port) + "-" + std::to_string(*port) + "]";
  sched_.resourceOffers({driver_.offer("a1", ports)});
  auto ids = driver_.activeTaskIds("/ready-app");
  ASSERT_EQ(ids.size(), 1u);
  status(ids[0], "TASK_RUNNING");
  // Running but not ready: the deployment stays.
  ASSERT_TRUE(loop_.runUntil([&] { return probes >= 1; }, 5000));
  EXPECT_EQ(sched_.deployments().size(), 1u);
  readyStatus = 200;
  ASSERT_TRUE(loop_.runUntil([&] { return sched_.deployments().empty(); }, 6000))
      << "probes=" << probes;
  EXPECT_GE(probes, 2);
}

TEST_F(ReadinessTest, ResetDelayLaunchesAgainAtOnce) {
  auto r = sched_.createApp(parse(
      R"({"id":"/crash","cmd":"false","instances":1,"backoffSeconds":300,"portDefinitions":[]})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  sched_.resourceOffers({driver_.offer("a1", "cpus:4;mem:1024;disk:10")});
  auto ids = driver_.activeTaskIds("/crash");
  ASSERT_EQ(ids.size(), 1u);
  status(ids[0], "TASK_FAILED");
  EXPECT_GT(sched_.app("/crash")->delayUntilMs, wallMs() + 100 * 1000);
  size_t before = driver_.launchedCount();
  sched_.resourceOffers({driver_.offer("a1", "cpus:4;mem:1024;disk:10")});
  EXPECT_EQ(driver_.launchedCount(), before) << "launched during the backoff";
  ASSERT_TRUE(sched_.resetDelay("/crash").ok());
  EXPECT_EQ(sched_.app("/crash")->delayUntilMs, 0);
  sched_.resourceOffers({driver_.offer("a1", "cpus:4;mem:1024;disk:10")});
  EXPECT_EQ(driver_.launchedCount(), before + 1);
  EXPECT_EQ(sched_.resetDelay("/nope").error().kind, ErrorKind::kNotFound);
}

}  // namespace
}  // namespace corral::scheduler
