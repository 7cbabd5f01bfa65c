// The agent's /internal/* endpoints (what the master calls): only the master
// the agent registered with may call them (its per-registration token), and no
// body crashes the agent: a malformed field is a 400 naming it, nothing of the
// request runs, and the agent keeps serving.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "base/http_client.h"
#include "base/http_server.h"
#include "base/json.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "core_cluster/agent_daemon/agent_daemon.h"
#include "core_cluster/auth/refusal.h"
#include "tests/core_cluster/cluster_test_util.h"

namespace corral::agent {
namespace {

namespace fs = std::filesystem;
using corral::testing::fetchSync;

class AgentInternalApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("agent-internal-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    master_ = std::make_unique<http::Server>(
        loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
          if (req.path == "/internal/agents/register") {
            registrationAuth_ = std::string(req.header("Authorization").value_or(""));
            return ex->respond(
                http::Response::json(200, R"({"agentId":"agent-1","token":"the-token"})"));
          }
          if (req.path == "/internal/status") statuses_.push_back(req.body);
          ex->respond(http::Response::json(200, R"({"ack":true})"));
        });
    auto mp = master_->listen("127.0.0.1", 0);
    ASSERT_TRUE(mp.ok());
    AgentDaemonOptions o;
    o.ip = "127.0.0.1";
    o.port = 0;
    o.masterPort = *mp;
    o.workDir = dir_.string();
    o.resources = "cpus:1;mem:128;disk:100;ports:[41100-41110]";
    o.heartbeatMs = 60000;
    o.masterAuthorization = "Basic YWdlbnQ6c2VjcmV0";
    o.httpUsers.add(auth::HttpUser{"reader", "read-pw", auth::HttpRole::kViewer});
    auto d = AgentDaemon::create(loop_, o);
    ASSERT_TRUE(d.ok()) << d.error().message;
    daemon_ = std::move(*d);
    ASSERT_TRUE(loop_.runUntil([&] { return daemon_->agentId() == "agent-1"; }, 5000));
  }

  void TearDown() override {
    if (daemon_) {
      bool stopped = false;
      daemon_->shutdown([&] { stopped = true; });
      loop_.runUntil([&] { return stopped; }, 10000);
      daemon_.reset();
    }
    master_->close();
    loop_.runUntil([] { return false; }, 50);
    fs::remove_all(dir_);
  }

  http::Response call(const std::string& path, const std::string& body,
                      const std::string& authorization = "Bearer the-token") {
    http::Headers h;
    if (!authorization.empty()) h.emplace_back("Authorization", authorization);
    return fetchSync(loop_, daemon_->port(), "POST", path, body, h);
  }

  // The task's state in the agent's /state, "" when the agent does not know it.
  std::string taskState(const std::string& taskId) {
    auto r = fetchSync(loop_, daemon_->port(), "GET", "/state", "",
                       {{"Authorization", "Bearer the-token"}});
    auto j = parseJson(r.body);
    if (!j.ok()) return "?";
    for (const auto& t : (*j)["tasks"]) {
      if (t.value("id", "") == taskId) return t.value("state", "");
    }
    return "";
  }

  Loop loop_;
  fs::path dir_;
  std::unique_ptr<http::Server> master_;
  std::unique_ptr<AgentDaemon> daemon_;
  std::string registrationAuth_;
  std::vector<std::string> statuses_;
};

TEST_F(AgentInternalApiTest, RegistersWithItsCredential) {
  EXPECT_EQ(registrationAuth_, "Basic YWdlbnQ6c2VjcmV0");
}

TEST_F(AgentInternalApiTest, MalformedLaunchFieldIsA400NamingItAndTheAgentLives) {
  auto r = call("/internal/launch", R"({"tasks":[{"taskId":"x.1","appId":"/x","cmd":"sleep 30",)"
                                    R"("killGracePeriodSeconds":"abc"}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("tasks[0].killGracePeriodSeconds"), std::string::npos) << r.body;
  loop_.runUntil([] { return false; }, 100);
  EXPECT_EQ(taskState("x.1"), "");
  // Still serving, and a good launch still runs.
  r = call("/internal/launch", R"({"tasks":[{"taskId":"x.2","appId":"/x","cmd":"sleep 30"}]})");
  EXPECT_EQ(r.status, 202) << r.body;
  EXPECT_TRUE(loop_.runUntil([&] { return taskState("x.2") == "TASK_RUNNING"; }, 10000));
}

TEST_F(AgentInternalApiTest, EveryMalformedFieldIsNamed) {
  struct Case {
    const char* body;
    const char* field;
  };
  const Case cases[] = {
      {R"({"tasks":{}})", "tasks"},
      {R"({})", "tasks"},
      {R"([1,2])", "message"},
      {R"({"tasks":[{"appId":"/x","cmd":"true"}]})", "tasks[0].taskId"},
      {R"({"tasks":[{"taskId":7,"cmd":"true"}]})", "tasks[0].taskId"},
      {R"({"tasks":[{"taskId":"a","cmd":["true"]}]})", "tasks[0].cmd"},
      {R"({"tasks":[{"taskId":"a","cmd":"true","args":[1]}]})", "tasks[0].args[0]"},
      {R"({"tasks":[{"taskId":"a","cmd":"true","env":{"A":1}}]})", "tasks[0].env.A"},
      {R"({"tasks":[{"taskId":"a","cmd":"true","ports":[70000]}]})", "tasks[0].ports[0]"},
      {R"({"tasks":[{"taskId":"a","cmd":"true","ports":["80"]}]})", "tasks[0].ports[0]"},
      {R"({"tasks":[{"taskId":"a","cmd":"true","killGracePeriodSeconds":-1}]})",
       "tasks[0].killGracePeriodSeconds"},
      {R"({"tasks":[{"taskId":"a","cmd":"true","fetch":[{"uri":3}]}]})", "tasks[0].fetch[0].uri"},
      {R"({"tasks":[{"taskId":"a","cmd":"true","fetch":[{"uri":"/x","extract":"yes"}]}]})",
       "tasks[0].fetch[0].extract"},
      {R"({"tasks":[{"taskId":"a","cmd":"true","healthChecks":[{"protocol":"SMTP"}]}]})",
       "tasks[0].healthChecks[0].protocol"},
      {R"({"tasks":[{"taskId":"a","cmd":"true","healthChecks":[{"portIndex":1.5}]}]})",
       "tasks[0].healthChecks[0].portIndex"},
      {R"({"tasks":[{"taskId":"a","cmd":"true","healthChecks":[{"intervalSeconds":"1"}]}]})",
       "tasks[0].healthChecks[0].intervalSeconds"},
      {"{not json", "not JSON"},
  };
  for (const auto& c : cases) {
    auto r = call("/internal/launch", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_NE(r.body.find(c.field), std::string::npos) << c.body << " -> " << r.body;
  }
  auto r = call("/internal/kill", R"({"taskId":"a","gracePeriodSeconds":"abc"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("gracePeriodSeconds"), std::string::npos) << r.body;
  r = call("/internal/kill", R"({"taskId":5})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("taskId"), std::string::npos) << r.body;
  loop_.runUntil([] { return false; }, 100);
  EXPECT_EQ(taskState("a"), "");
  EXPECT_EQ(fetchSync(loop_, daemon_->port(), "GET", "/ping").status, 200);
}

TEST_F(AgentInternalApiTest, CallsWithoutTheMastersTokenAreRefusedAndNothingRuns) {
  const std::string launch = R"({"tasks":[{"taskId":"evil.1","appId":"/evil","cmd":"sleep 30"}]})";
  EXPECT_EQ(call("/internal/launch", launch, "").status, 401);
  EXPECT_EQ(call("/internal/launch", launch, "Bearer not-the-token").status, 401);
  EXPECT_EQ(call("/internal/launch", launch, "Basic YWdlbnQ6c2VjcmV0").status, 401);
  EXPECT_EQ(call("/internal/kill", R"({"taskId":"evil.1"})", "").status, 401);
  loop_.runUntil([] { return false; }, 200);
  EXPECT_EQ(taskState("evil.1"), "");
  EXPECT_FALSE(fs::exists(dir_ / "sandboxes" / "evil.1"));
  std::string m = metrics::global().render();
  size_t at = m.find("\ncorral_agent_auth_failures_total ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GE(std::stod(m.substr(at + 34)), 4.0);
}

TEST_F(AgentInternalApiTest, ReadsNeedTheMastersTokenOrAnHttpUser) {
  const std::string reader = "Basic cmVhZGVyOnJlYWQtcHc=";  // reader:read-pw
  const std::string wrong = "Basic cmVhZGVyOm5vcGU=";       // reader:nope
  for (const char* target : {"/state", "/files/read?taskId=a&path=stdout", "/metrics"}) {
    for (const std::string& auth : {std::string(), wrong, std::string("Bearer forged")}) {
      http::Headers h;
      if (!auth.empty()) h.emplace_back("Authorization", auth);
      auto r = fetchSync(loop_, daemon_->port(), "GET", target, "", h);
      EXPECT_EQ(r.status, 401) << target << " with '" << auth << "'";
      EXPECT_EQ(r.body.find("agent-1"), std::string::npos) << r.body;
    }
    EXPECT_NE(fetchSync(loop_, daemon_->port(), "GET", target, "",
                        {{"Authorization", "Bearer the-token"}})
                  .status,
              401)
        << target;
    EXPECT_NE(
        fetchSync(loop_, daemon_->port(), "GET", target, "", {{"Authorization", reader}}).status,
        401)
        << target;
  }
  auto state = fetchSync(loop_, daemon_->port(), "GET", "/state", "", {{"Authorization", reader}});
  EXPECT_EQ(state.status, 200);
  EXPECT_NE(state.body.find("agent-1"), std::string::npos);
  // Liveness stays open; an HTTP user is no master: /internal/* still refuses it.
  EXPECT_EQ(fetchSync(loop_, daemon_->port(), "GET", "/ping").status, 200);
  EXPECT_EQ(call("/internal/kill", R"({"taskId":"x"})", reader).status, 401);
  EXPECT_GE(auth::refusalCount(auth::RefusalEndpoint::kAgent, auth::RefusalReason::kNoCredentials),
            3u);
  EXPECT_GE(
      auth::refusalCount(auth::RefusalEndpoint::kAgent, auth::RefusalReason::kWrongCredentials),
      3u);
  EXPECT_GE(auth::refusalCount(auth::RefusalEndpoint::kAgent, auth::RefusalReason::kWrongToken),
            3u);
}

}  // namespace
}  // namespace corral::agent
