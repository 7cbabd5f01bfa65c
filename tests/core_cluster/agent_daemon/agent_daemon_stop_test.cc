// Stopping an agent is bounded even when its master is down: the tasks get
// their grace period, the statuses a short delivery window, and what was not
// delivered stays on disk and rides along with the next registration.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/http_client.h"
#include "base/http_server.h"
#include "base/json.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "core_cluster/agent_daemon/agent_daemon.h"

namespace corral::agent {
namespace {

namespace fs = std::filesystem;

// A loopback port nothing listens on: the master is down.
int deadPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string readAll(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A master stand-in: accepts registrations (remembering their bodies) and acknowledges statuses.
struct FakeMaster {
  explicit FakeMaster(Loop& loop)
      : server(loop, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
          if (req.path == "/internal/agents/register") registrations.push_back(req.body);
          if (req.path == "/internal/status") statuses.push_back(req.body);
          ex->respond(http::Response::json(200, R"({"agentId":"agent-1","token":"tok-1"})"));
        }) {}
  http::Server server;
  std::vector<std::string> registrations;
  std::vector<std::string> statuses;
};

class AgentDaemonStopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("agent-stop-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  AgentDaemonOptions options(int masterPort) {
    AgentDaemonOptions o;
    o.ip = "127.0.0.1";
    o.port = 0;
    o.masterPort = masterPort;
    o.workDir = dir_.string();
    o.resources = "cpus:1;mem:128;disk:100;ports:[41000-41010]";
    o.heartbeatMs = 100;
    o.retryMs = 100;
    return o;
  }

  // GET /state of the agent; the task's state, or "" while unknown.
  std::string taskState(Loop& loop, int port, const std::string& taskId) {
    std::string state;
    bool done = false;
    http::Request req;
    req.method = "GET";
    req.target = "/state";
    // The handle is kept until the answer: dropping it would cancel the call.
    CancelHandle call = http::fetch(loop, "127.0.0.1", port, req, [&](Result<http::Response> r) {
      done = true;
      if (!r.ok()) return;
      auto j = parseJson(r->body);
      if (!j.ok()) return;
      for (const auto& t : (*j)["tasks"]) {
        if (t.value("id", "") == taskId) state = t.value("state", "");
      }
    });
    loop.runUntil([&] { return done; }, 5000);
    return state;
  }

  // POST /internal/launch as the fake master (its token); the answer's status.
  int launch(Loop& loop, int port, const std::string& body) {
    int status = 0;
    http::Request req;
    req.method = "POST";
    req.target = "/internal/launch";
    req.headers.emplace_back("Authorization", "Bearer tok-1");
    req.body = body;
    CancelHandle call = http::fetch(loop, "127.0.0.1", port, req, [&](Result<http::Response> r) {
      status = r.ok() ? r->status : -1;
    });
    EXPECT_TRUE(loop.runUntil([&] { return status != 0; }, 5000));
    return status;
  }

  fs::path dir_;
};

TEST_F(AgentDaemonStopTest, StopWhileMasterIsDownIsBoundedAndKeepsTheStatusesForNextTime) {
  Loop loop;
  auto master = std::make_unique<FakeMaster>(loop);
  auto masterPort = master->server.listen("127.0.0.1", 0);
  ASSERT_TRUE(masterPort.ok());
  auto d = AgentDaemon::create(loop, options(*masterPort));
  ASSERT_TRUE(d.ok()) << d.error().message;
  int port = (*d)->port();
  ASSERT_TRUE(loop.runUntil([&] { return (*d)->agentId() == "agent-1"; }, 5000));
  // The task ignores SIGTERM: only the SIGKILL at the end of its 1 s grace stops it.
  ASSERT_EQ(202, launch(loop, port,
                        R"({"tasks":[{"taskId":"t1","appId":"/a","cmd":"trap '' TERM; sleep 60",)"
                        R"("killGracePeriodSeconds":1}]})"));
  ASSERT_TRUE(loop.runUntil([&] { return taskState(loop, port, "t1") == "TASK_RUNNING"; }, 10000));

  master.reset();  // the master goes down
  bool stopped = false;
  auto t0 = std::chrono::steady_clock::now();
  (*d)->shutdown([&] { stopped = true; });
  ASSERT_TRUE(loop.runUntil([&] { return stopped; }, 15000)) << "agent did not stop in 15 s";
  auto elapsed = std::chrono::steady_clock::now() - t0;
  // Grace 1 s + kill slack 1 s + delivery window 2 s, and a margin for a loaded machine.
  EXPECT_LT(elapsed, std::chrono::milliseconds(6500));
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));  // the task's grace was honoured
  loop.runUntil([] { return false; }, 200);            // let refused connects report
  d->reset();

  // The undelivered TASK_KILLED is on disk ...
  std::string pending = readAll(dir_ / "pending_updates.json");
  EXPECT_NE(pending.find("TASK_KILLED"), std::string::npos) << pending;
  EXPECT_NE(pending.find("\"t1\""), std::string::npos) << pending;

  // ... and the next agent on this work dir sends it with its registration.
  FakeMaster again(loop);
  auto againPort = again.server.listen("127.0.0.1", 0);
  ASSERT_TRUE(againPort.ok());
  auto d2 = AgentDaemon::create(loop, options(*againPort));
  ASSERT_TRUE(d2.ok());
  ASSERT_TRUE(loop.runUntil([&] { return !again.registrations.empty(); }, 5000));
  auto reg = parseJson(again.registrations.front());
  ASSERT_TRUE(reg.ok());
  bool carried = false;
  for (const auto& u : (*reg)["updates"]) {
    carried |= u.value("taskId", "") == "t1" && u.value("state", "") == "TASK_KILLED";
  }
  EXPECT_TRUE(carried) << again.registrations.front();
  bool stopped2 = false;
  (*d2)->shutdown([&] { stopped2 = true; });
  ASSERT_TRUE(loop.runUntil([&] { return stopped2; }, 10000));
  loop.runUntil([] { return false; }, 200);
}

// An agent that never reached its master has no master token: a launch (from
// anyone) is refused and nothing runs; stopping it waits for nothing.
TEST_F(AgentDaemonStopTest, StopWithNoMasterEverReachedRunsNothingAndDoesNotWait) {
  Loop loop;
  auto d = AgentDaemon::create(loop, options(deadPort()));
  ASSERT_TRUE(d.ok()) << d.error().message;
  int port = (*d)->port();
  EXPECT_EQ(launch(loop, port, R"({"tasks":[{"taskId":"t2","appId":"/a","cmd":"sleep 60"}]})"),
            401);
  loop.runUntil([] { return false; }, 100);
  EXPECT_EQ(taskState(loop, port, "t2"), "");
  bool stopped = false;
  auto t0 = std::chrono::steady_clock::now();
  (*d)->shutdown([&] { stopped = true; });
  ASSERT_TRUE(loop.runUntil([&] { return stopped; }, 15000));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2500));
  loop.runUntil([] { return false; }, 200);
  d->reset();
  EXPECT_FALSE(fs::exists(dir_ / "sandboxes" / "t2"));
}

// pending_updates.json cannot be replaced (a directory is in the way): the
// failure is counted and logged, and the updates are still delivered from memory.
TEST_F(AgentDaemonStopTest, UpdatesThatCannotBePersistedAreCountedAndStillDelivered) {
  fs::create_directories(dir_ / "pending_updates.json" / "inside");
  Loop loop;
  FakeMaster master(loop);
  auto masterPort = master.server.listen("127.0.0.1", 0);
  ASSERT_TRUE(masterPort.ok());
  auto d = AgentDaemon::create(loop, options(*masterPort));
  ASSERT_TRUE(d.ok()) << d.error().message;
  ASSERT_TRUE(loop.runUntil([&] { return (*d)->agentId() == "agent-1"; }, 5000));
  ASSERT_EQ(202, launch(loop, (*d)->port(),
                        R"({"tasks":[{"taskId":"t3","appId":"/a","cmd":"sleep 60"}]})"));
  auto sent = [&] {
    for (const auto& s : master.statuses) {
      if (s.find("TASK_RUNNING") != std::string::npos) return true;
    }
    return false;
  };
  ASSERT_TRUE(loop.runUntil(sent, 10000));
  std::string metrics = metrics::global().render();
  const std::string name = "\ncorral_agent_status_updates_persist_failures ";
  size_t at = metrics.find(name);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::stod(metrics.substr(at + name.size())), 1.0) << metrics.substr(at, 80);
  EXPECT_FALSE(fs::exists(dir_ / "pending_updates.json.tmp"));
  bool stopped = false;
  (*d)->shutdown([&] { stopped = true; });
  ASSERT_TRUE(loop.runUntil([&] { return stopped; }, 10000));
  loop.runUntil([] { return false; }, 200);
}

}  // namespace
}  // namespace corral::agent
