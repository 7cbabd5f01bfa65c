// Health checks run by the TaskRunner against real task processes.
#include <gtest/gtest.h>

#include "agent_test_util.h"
#include "core_cluster/agent/task_runner.h"

namespace corral::agent {
namespace {

namespace fs = std::filesystem;

constexpr const char* kHttpServer = "exec /usr/bin/python3 -m http.server $PORT0 --bind $HOST";

HealthCheckSpec fastCheck(HealthCheckSpec::Protocol protocol, int maxFailures = 3) {
  HealthCheckSpec hc;
  hc.protocol = protocol;
  hc.gracePeriodSeconds = 0;
  hc.intervalSeconds = 0.1;
  hc.timeoutSeconds = 1;
  hc.delaySeconds = 0;
  hc.maxConsecutiveFailures = maxFailures;
  return hc;
}

class HealthCheckTest : public testing::RunnerTest {
 protected:
  std::optional<TaskStatus> firstHealthChange(const std::string& id) const {
    for (const auto& s : statuses_) {
      if (s.taskId == id && s.reason == StatusReason::kHealthChanged) return s;
    }
    return std::nullopt;
  }
};

TEST_F(HealthCheckTest, HttpCheckAgainstAPythonServerIsHealthy) {
  makeRunner({}, "127.0.0.2");  // a dedicated loopback address, as agents use
  TaskLaunch l = baseLaunch("web", kHttpServer);
  l.hostIp = "127.0.0.2";
  l.dynamicPortCount = 1;
  HealthCheckSpec hc = fastCheck(HealthCheckSpec::Protocol::kHttp);
  hc.path = "/";
  hc.gracePeriodSeconds = 30;  // python needs a moment to bind
  l.healthChecks = {hc};
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return firstHealthChange("web").has_value(); }, 15));
  auto s = *firstHealthChange("web");
  EXPECT_EQ(s.healthy, true);
  EXPECT_EQ(s.state, TaskState::kRunning);
  std::string port = std::to_string(runner_->task("web")->ports[0]);
  EXPECT_EQ(s.message, "HTTP health check on 127.0.0.2:" + port + "/ passed");
  EXPECT_EQ(runner_->task("web")->healthy, true);
}

TEST_F(HealthCheckTest, FailingHttpCheckMarksUnhealthyThenKills) {
  TaskLaunch l = baseLaunch("dead", "sleep 30");  // nothing listens on PORT0
  l.dynamicPortCount = 1;
  l.killGracePeriodSeconds = 0.5;
  HealthCheckSpec hc = fastCheck(HealthCheckSpec::Protocol::kHttp, 3);
  hc.path = "/health";
  l.healthChecks = {hc};
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("dead"); }, 10));
  std::string hostPort = "127.0.0.1:" + std::to_string(runner_->task("dead")->ports[0]);

  auto seq = statusesOf("dead");
  std::vector<TaskStatus> health;
  for (const auto& s : seq) {
    if (s.reason == StatusReason::kHealthChanged || s.reason == StatusReason::kHealthCheckFailed)
      health.push_back(s);
  }
  ASSERT_EQ(health.size(), 2u);  // the transition, then the second failure; the third kills
  EXPECT_EQ(health[0].healthy, false);
  EXPECT_EQ(health[0].reason, StatusReason::kHealthChanged);
  EXPECT_EQ(health[0].message,
            "HTTP health check on " + hostPort + "/health failed: connection refused");
  EXPECT_EQ(health[1].reason, StatusReason::kHealthCheckFailed);

  ASSERT_GE(seq.size(), 2u);
  const TaskStatus& killing = seq[seq.size() - 2];
  EXPECT_EQ(killing.state, TaskState::kKilling);
  EXPECT_EQ(killing.reason, StatusReason::kUnhealthyKill);
  EXPECT_EQ(killing.healthy, false);
  EXPECT_NE(killing.message.find("failed 3 consecutive time(s)"), std::string::npos)
      << killing.message;
  EXPECT_EQ(seq.back().state, TaskState::kKilled);
  EXPECT_EQ(seq.back().reason, StatusReason::kUnhealthyKill);
  EXPECT_EQ(pool_->freeCount(), pool_->size());
}

TEST_F(HealthCheckTest, HttpErrorStatusIsAFailure) {
  TaskLaunch l = baseLaunch("web404", kHttpServer);
  l.dynamicPortCount = 1;
  HealthCheckSpec ok = fastCheck(HealthCheckSpec::Protocol::kHttp, 0);
  ok.path = "/";
  ok.gracePeriodSeconds = 30;
  HealthCheckSpec bad = fastCheck(HealthCheckSpec::Protocol::kHttp, 0);
  bad.path = "/no-such-page";
  l.healthChecks = {ok, bad};  // bad: grace 0, so "connection refused" and then 404s count
  ASSERT_TRUE(runner_->launch(l).ok());
  auto saw404 = [&] {
    for (const auto& s : statusesOf("web404")) {
      if (s.message.find("/no-such-page failed: HTTP status 404") != std::string::npos) return true;
    }
    return false;
  };
  ASSERT_TRUE(runUntil(saw404, 15));
  auto s = *lastStatus("web404");
  EXPECT_EQ(s.state, TaskState::kRunning);
  EXPECT_EQ(s.healthy, false);  // one unhealthy check makes the task unhealthy
  EXPECT_EQ(runner_->task("web404")->healthy, false);
}

TEST_F(HealthCheckTest, TcpCheck) {
  TaskLaunch l = baseLaunch("tcp", kHttpServer);
  l.dynamicPortCount = 1;
  HealthCheckSpec hc = fastCheck(HealthCheckSpec::Protocol::kTcp);
  hc.gracePeriodSeconds = 30;
  l.healthChecks = {hc};
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return firstHealthChange("tcp").has_value(); }, 15));
  EXPECT_EQ(firstHealthChange("tcp")->healthy, true);
  EXPECT_NE(firstHealthChange("tcp")->message.find("TCP health check on 127.0.0.1:"),
            std::string::npos);

  // An absolute port nobody listens on.
  TaskLaunch l2 = baseLaunch("tcpdead", "sleep 30");
  HealthCheckSpec dead = fastCheck(HealthCheckSpec::Protocol::kTcp, 0);
  dead.port = testing::freePort();
  l2.healthChecks = {dead};
  ASSERT_TRUE(runner_->launch(l2).ok());
  ASSERT_TRUE(runUntil([&] { return firstHealthChange("tcpdead").has_value(); }));
  EXPECT_EQ(firstHealthChange("tcpdead")->healthy, false);
  EXPECT_NE(firstHealthChange("tcpdead")->message.find(":" + std::to_string(*dead.port) +
                                                       " failed: connection refused"),
            std::string::npos);
}

TEST_F(HealthCheckTest, CommandCheckRunsInSandboxWithTaskEnv) {
  TaskLaunch l = baseLaunch("cmd", "touch ok; sleep 30");
  l.env = {{"EXPECTED", "yes"}};
  HealthCheckSpec hc = fastCheck(HealthCheckSpec::Protocol::kCommand);
  hc.command = "test -f ok && test \"$EXPECTED\" = yes && test \"$MESOS_TASK_ID\" = cmd";
  hc.gracePeriodSeconds = 30;
  l.healthChecks = {hc};
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return firstHealthChange("cmd").has_value(); }));
  EXPECT_EQ(firstHealthChange("cmd")->healthy, true);

  // maxConsecutiveFailures 0: unhealthy forever, never killed.
  TaskLaunch l2 = baseLaunch("cmdfail", "sleep 30");
  HealthCheckSpec fail = fastCheck(HealthCheckSpec::Protocol::kCommand, 0);
  fail.command = "exit 4";
  l2.healthChecks = {fail};
  ASSERT_TRUE(runner_->launch(l2).ok());
  auto failures = [&] {
    int n = 0;
    for (const auto& s : statusesOf("cmdfail")) {
      n += s.reason == StatusReason::kHealthChanged || s.reason == StatusReason::kHealthCheckFailed;
    }
    return n;
  };
  ASSERT_TRUE(runUntil([&] { return failures() >= 5; }));
  EXPECT_EQ(runner_->task("cmdfail")->state, TaskState::kRunning);
  EXPECT_EQ(firstHealthChange("cmdfail")->message,
            "COMMAND health check `exit 4` failed: command exited with status 4");
}

TEST_F(HealthCheckTest, HttpsCheckRunsCurlAndReportsItsFailure) {
  // A plain-HTTP server cannot pass an HTTPS check.
  TaskLaunch l = baseLaunch("tls", kHttpServer);
  l.dynamicPortCount = 1;
  HealthCheckSpec hc = fastCheck(HealthCheckSpec::Protocol::kHttps, 0);
  hc.path = "/";
  l.healthChecks = {hc};
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return firstHealthChange("tls").has_value(); }, 15));
  auto s = *firstHealthChange("tls");
  EXPECT_EQ(s.healthy, false);
  std::string port = std::to_string(runner_->task("tls")->ports[0]);
  EXPECT_EQ(s.message.rfind("HTTPS health check on 127.0.0.1:" + port + "/ failed: ", 0), 0u)
      << s.message;
}

TEST_F(HealthCheckTest, CommandCheckTimesOut) {
  TaskLaunch l = baseLaunch("slowcmd", "sleep 30");
  HealthCheckSpec hc = fastCheck(HealthCheckSpec::Protocol::kCommand, 1);
  hc.command = "sleep 30";
  hc.timeoutSeconds = 0.2;
  l.healthChecks = {hc};
  l.killGracePeriodSeconds = 0.1;
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("slowcmd"); }));
  bool sawTimeout = false;
  for (const auto& s : statusesOf("slowcmd")) {
    if (s.state == TaskState::kKilling) {
      sawTimeout = s.message.find("timed out after 0.2s") != std::string::npos;
      EXPECT_EQ(s.reason, StatusReason::kUnhealthyKill);
    }
  }
  EXPECT_TRUE(sawTimeout);
}

}  // namespace
}  // namespace corral::agent
