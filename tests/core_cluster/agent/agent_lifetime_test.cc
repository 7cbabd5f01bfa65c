// The lifetime rule (base/loop.h) for the agent runtime: a health checker or a
// task runner destroyed with a probe in flight closes everything it owns, and
// nothing of it runs afterwards (under ASan, any later call would be a
// use-after-free).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>

#include "agent_test_util.h"
#include "core_cluster/agent/health.h"

namespace corral::agent {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A TCP listener that never accepts: connections complete in its backlog and
// get no answer, so an HTTP probe against it stays in flight.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }
  // A connection is waiting in the backlog.
  bool connected() const {
    pollfd p{fd_, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class AgentLifetimeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    // Everything was closed by its owner: the close callbacks finish, nothing stays open.
    uv_run(&loop_, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  bool runUntil(const std::function<bool()>& pred, double seconds = 10) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    uv_timer_t tick;
    uv_timer_init(&loop_, &tick);
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 10, 10);
    while (!pred() && std::chrono::steady_clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return pred();
  }

  static HealthCheckSpec slowCheck(HealthCheckSpec::Protocol protocol) {
    HealthCheckSpec hc;
    hc.protocol = protocol;
    hc.path = "/health";
    hc.delaySeconds = 0;
    hc.intervalSeconds = 10;
    hc.timeoutSeconds = 10;
    hc.gracePeriodSeconds = 0;
    return hc;
  }

  std::unique_ptr<HealthChecker> checker(HealthCheckSpec spec, HealthChecker::Target target) {
    return std::make_unique<HealthChecker>(
        &loop_, std::move(spec), std::move(target),
        [this](HealthChecker::Outcome, const std::string&) { ++results_; }, [this] { ++idle_; });
  }

  uv_loop_t loop_;
  TempDir dir_;
  int results_ = 0;
  int idle_ = 0;
};

TEST_F(AgentLifetimeTest, CheckerDestroyedWithAnHttpProbeInFlightCallsNothing) {
  SilentListener server;
  HealthChecker::Target target{"127.0.0.1", server.port(), "", {}, std::nullopt, ""};
  auto c = checker(slowCheck(HealthCheckSpec::Protocol::kHttp), target);
  c->start();
  ASSERT_TRUE(runUntil([&] { return server.connected(); }));
  EXPECT_EQ(results_, 0) << "the probe must still be waiting for an answer";
  c.reset();
  uv_run(&loop_, UV_RUN_DEFAULT);  // cancelled connect/write callbacks run here
  EXPECT_EQ(results_, 0);
  EXPECT_EQ(idle_, 0);
}

TEST_F(AgentLifetimeTest, CheckerDestroyedWithACommandProbeInFlightKillsItAndCallsNothing) {
  fs::path pidFile = dir_.path() / "probe.pid";
  HealthCheckSpec spec = slowCheck(HealthCheckSpec::Protocol::kCommand);
  spec.command = "echo $$ > " + pidFile.string() + ".tmp && mv " + pidFile.string() + ".tmp " +
                 pidFile.string() + " && exec sleep 30";
  auto c = checker(
      spec, HealthChecker::Target{"127.0.0.1", 0, dir_.path().string(), {}, std::nullopt, ""});
  c->start();
  ASSERT_TRUE(runUntil([&] { return fs::exists(pidFile); }));
  pid_t pid = std::stoi(testing::readFile(pidFile));
  c.reset();
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(results_, 0);
  EXPECT_EQ(idle_, 0);
  // The probe's process was SIGKILLed (reaped here: its handle is closed).
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
}

TEST_F(AgentLifetimeTest, StoppedCheckerKeepsItsKilledProbeUntilReapedThenSaysIdle) {
  fs::path pidFile = dir_.path() / "probe.pid";
  HealthCheckSpec spec = slowCheck(HealthCheckSpec::Protocol::kCommand);
  spec.command = "echo $$ > " + pidFile.string() + ".tmp && mv " + pidFile.string() + ".tmp " +
                 pidFile.string() + " && exec sleep 30";
  auto c = checker(
      spec, HealthChecker::Target{"127.0.0.1", 0, dir_.path().string(), {}, std::nullopt, ""});
  c->start();
  ASSERT_TRUE(runUntil([&] { return fs::exists(pidFile); }));
  c->stop();
  EXPECT_FALSE(c->idle()) << "the killed probe is not reaped yet";
  ASSERT_TRUE(runUntil([&] { return c->idle(); }));
  EXPECT_EQ(idle_, 1);
  EXPECT_EQ(results_, 0) << "no result after stop()";
  pid_t pid = std::stoi(testing::readFile(pidFile));
  EXPECT_NE(kill(pid, 0), 0) << "the probe process was reaped";
  c.reset();
}

TEST_F(AgentLifetimeTest, RunnerDestroyedWithATaskAndAProbeInFlightCallsNothing) {
  SilentListener server;
  auto pool = PortPool::create(
      {{static_cast<uint16_t>(server.port()), static_cast<uint16_t>(server.port())}});
  ASSERT_TRUE(pool.ok());
  int statuses = 0;
  auto runner =
      std::make_unique<TaskRunner>(&loop_, &*pool, [&](const TaskStatus&) { ++statuses; });
  TaskLaunch l;
  l.taskId = "t1";
  l.appId = "/app";
  l.cmd = "echo $$ > pid && exec sleep 30";
  l.sandboxRoot = dir_.path().string();
  l.hostIp = "127.0.0.1";
  l.ports = {static_cast<uint16_t>(server.port())};
  HealthCheckSpec hc = slowCheck(HealthCheckSpec::Protocol::kHttp);
  hc.portIndex = 0;
  l.healthChecks = {hc};
  ASSERT_TRUE(runner->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return server.connected() && fs::exists(dir_.path() / "t1/pid"); }));
  ASSERT_TRUE(runUntil([&] { return !testing::readFile(dir_.path() / "t1/pid").empty(); }));
  pid_t pid = std::stoi(testing::readFile(dir_.path() / "t1/pid"));
  int before = statuses;
  runner.reset();  // no shutdown(): the forced path
  uv_run(&loop_, UV_RUN_DEFAULT);
  EXPECT_EQ(statuses, before) << "no status after the runner is gone";
  int st = 0;
  ASSERT_EQ(waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << "the task's group was SIGKILLed";
}

}  // namespace
}  // namespace corral::agent
